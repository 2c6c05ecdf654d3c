"""The precision rule (agents.precision) and the LM agent's use of it."""
from __future__ import annotations

import math
from pathlib import Path

import pytest
import torch
from test_lm_agent import INFOS, tiny_model  # noqa: F401 (a fixture)

from agents.lm import LMAgent
from agents.precision import BF16_CPU_FLAGS, autocast, cpu_bf16_flags, resolve_precision


def test_auto_is_bf16_on_cuda_and_on_cpus_with_the_flags_and_fp32_elsewhere():
    assert resolve_precision("auto", "cuda") == resolve_precision("auto", torch.device("cuda:0")) == "bf16"
    assert resolve_precision("auto", "cpu") == ("bf16" if cpu_bf16_flags() else "fp32")
    assert resolve_precision("auto", "mps") == "fp32"
    for forced in ("bf16", "fp32"):
        assert resolve_precision(forced, "cpu") == resolve_precision(forced, "cuda") == forced
    with pytest.raises(ValueError, match=r"precision='half': expected one of auto, bf16, fp32"):
        resolve_precision("half", "cpu")


def test_cpu_flags_are_read_from_cpuinfo():
    cpuinfo = Path("/proc/cpuinfo")
    if not cpuinfo.is_file():
        pytest.skip("no /proc/cpuinfo here")
    flags = next((line.split(":", 1)[1].split() for line in cpuinfo.read_text().splitlines()
                  if line.startswith("flags")), [])
    assert cpu_bf16_flags() == tuple(f for f in BF16_CPU_FLAGS if f in flags)


def test_autocast_computes_matmuls_in_bf16_or_leaves_fp32():
    a = torch.randn(4, 8)
    with autocast("bf16", "cpu"):
        assert (a @ a.T).dtype == torch.bfloat16
    with autocast("fp32", "cpu"):
        assert (a @ a.T).dtype == torch.float32
    with pytest.raises(ValueError, match="resolve it first"):
        autocast("auto", "cpu")


def test_the_lm_agent_records_its_precision_and_logs_fp32_logprobs(tiny_model):  # noqa: F811
    assert LMAgent(tiny_model, env="webshop").precision == resolve_precision("auto", "cpu")
    with pytest.raises(ValueError, match="precision='half'"):
        LMAgent(tiny_model, env="webshop", precision="half")
    for precision, dtype in (("bf16", torch.bfloat16), ("fp32", torch.float32)):
        agent = LMAgent(tiny_model, env="webshop", max_new_tokens=6, log_topk=1000, precision=precision)
        assert agent.precision == precision and agent.model.dtype == dtype
        agent.reset(INFOS[0])
        step = agent.act("WebShop [Search]")
        assert step.token_ids
        for logprobs in step.topk_logprobs:  # the full vocabulary, normalised in fp32 even under bf16
            assert abs(math.log(sum(math.exp(x) for x in logprobs))) < 1e-5
