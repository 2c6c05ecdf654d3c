"""LoRA fine-tuning (``lora_rank > 0``): only the adapters train, the saved model is the base with the
adapters merged in (a plain transformers directory that computes what the adapted model did), and without
peft the training stops before anything is written, saying how to install it."""
from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest
import torch
from conftest import completion_text
from transformers import AutoModelForCausalLM

from distill.config import SFTConfig
from distill.lora import apply_lora
from distill.models import build_tiny
from distill.train import train

TRAINING = {"max_steps": 4, "batch_size": 4, "micro_batch_size": 4, "max_length": 384, "lr": 1e-2,
            "warmup_steps": 0, "eval_every": 4, "save_every": 4, "eval_fraction": 0.2, "progress": False,
            "tensorboard": False, "role": "teacher"}
LORA = {"lora_rank": 4, "lora_alpha": 8.0, "lora_targets": ["q_proj", "v_proj", "down_proj"]}


@pytest.fixture(scope="module")
def base_model(distill_root, react_episodes) -> Path:
    """A tiny Llama (random weights, its own BPE) saved as a plain model directory: the model LoRA adapts."""
    texts = [
        ep["first_observation"] + "\n" + "\n".join(f"{completion_text(t, a)}\n{o}" for t, a, o in ep["turns"])
        for ep in react_episodes
    ]
    return build_tiny(texts, distill_root / "lora-base", "tiny-student", seed=3)


def base_key(peft_key: str) -> str:
    """The plain model's name of a parameter of the peft-wrapped model."""
    return peft_key.removeprefix("base_model.model.").replace(".base_layer.", ".")


def test_lora_trains_only_the_adapters_and_saves_them_merged(distill_root, expert_run, base_model):
    out = train(SFTConfig(data=[str(expert_run)], out=str(distill_root / "lora"), model=str(base_model),
                          **TRAINING, **LORA))
    base = AutoModelForCausalLM.from_pretrained(base_model).state_dict()
    trained = torch.load(out / "checkpoints" / "last.pt", map_location="cpu", weights_only=True)["model"]
    adapters = {k: v for k, v in trained.items() if "lora_" in k}
    assert len(adapters) == 2 * 3 * 2  # A and B of three targets in each of the 2 layers
    assert all(float(v.abs().max()) > 0 for k, v in adapters.items() if "lora_B" in k)  # B starts at zero
    frozen = {k: v for k, v in trained.items() if "lora_" not in k}
    assert {base_key(k) for k in frozen} == set(base)
    assert all(torch.equal(v, base[base_key(k)]) for k, v in frozen.items())  # no base weight moved

    merged = AutoModelForCausalLM.from_pretrained(out)  # plain transformers: no peft involved
    weights = merged.state_dict()
    assert not any("lora" in k for k in weights)
    for name, value in weights.items():
        targeted = any(f".{t}." in name for t in LORA["lora_targets"])
        assert torch.equal(value, base[name]) != targeted, name  # exactly the targeted matrices changed

    adapted = apply_lora(AutoModelForCausalLM.from_pretrained(base_model), 4, 8.0, LORA["lora_targets"])
    adapted.load_state_dict(trained)
    ids = torch.randint(0, merged.config.vocab_size, (2, 24), generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        assert torch.allclose(merged(ids).logits, adapted(ids).logits, atol=1e-4)
    record = json.loads((out / "agentdistill.json").read_text())
    assert record["lora"] == {"rank": 4, "alpha": 8.0, "targets": LORA["lora_targets"]}


def test_without_peft_a_lora_training_stops_before_writing_anything(distill_root, expert_run, base_model,
                                                                   monkeypatch):
    monkeypatch.setitem(sys.modules, "peft", None)  # `import peft` now fails as if it were not installed
    out = distill_root / "lora-no-peft"
    with pytest.raises(ImportError, match=r"needs the peft package.*pip install 'agentdistill\[lora\]'"):
        train(SFTConfig(data=[str(expert_run)], out=str(out), model=str(base_model), **TRAINING, **LORA))
    assert not out.exists()


def test_lora_settings_are_checked(base_model):
    with pytest.raises(ValueError, match=r"lora_rank=-1 is out of range: expected >= 0"):
        SFTConfig(data=["x"], out="y", lora_rank=-1)
    with pytest.raises(ValueError, match=r"lora_targets=\[\] is out of range"):
        SFTConfig(data=["x"], out="y", lora_rank=4, lora_targets=[])
    model = AutoModelForCausalLM.from_pretrained(base_model)
    with pytest.raises(ValueError, match=r"lora_targets \['qkv'\] name no linear layer.*'q_proj'"):
        apply_lora(model, 4, 8.0, ["q_proj", "qkv"])
