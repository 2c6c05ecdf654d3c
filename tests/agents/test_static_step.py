"""The fixed-shape decoding step (``LMAgent(static_step=True)``): every step attends over the whole
preallocated buffer under a mask, writes its column at an index held on the device, and gives the turns of the
default step (filled columns only). Run eagerly on the CPU here: the CUDA-compiled path needs a GPU and is
not run."""
from __future__ import annotations

import pytest
import torch
from test_lm_agent import INFOS, OBSERVATIONS, tiny_model  # noqa: F401 (a fixture)

from agents.lm import STATIC_COLUMNS, LMAgent

ADMISSIBLE = {"admissible_actions": ["search[<query>]", "click[B0001]", "click[Next >]", "click[Buy Now]"]}


def count_step_columns(agent: LMAgent) -> list[int]:
    """Records how many key columns each one-token decoding step is given (its attention mask's width)."""
    widths: list[int] = []

    def hook(module, args, kwargs):
        if kwargs["input_ids"].shape[1] == 1:
            widths.append(kwargs["attention_mask"].shape[-1])

    agent.model.register_forward_pre_hook(hook, with_kwargs=True)
    return widths


def play(agent: LMAgent, episodes: int, turns: int = 3) -> list:
    slots = list(range(episodes))
    for slot in slots:
        agent.reset(INFOS[slot % len(INFOS)], slot=slot)
    history = []
    for turn in range(turns):
        observations = [f"{OBSERVATIONS[slot % len(OBSERVATIONS)]} (turn {turn}) "
                        + "B0001 red shoes. " * slot for slot in slots]
        history.append(agent.act_batch(observations, [ADMISSIBLE] * episodes, slots=slots))
    return history


@pytest.mark.parametrize(("episodes", "constrained"), [(2, False), (4, False), (3, True)])
def test_the_fixed_shape_step_gives_the_turns_of_the_growing_step(tiny_model, episodes, constrained):  # noqa: F811
    options = {"model": tiny_model, "env": "webshop", "max_new_tokens": 10, "log_topk": 5,
               "precision": "fp32", "device": "cpu", "constrain_actions": constrained}
    fixed, growing = LMAgent(**options, static_step=True), LMAgent(**options)
    fixed_columns, growing_columns = count_step_columns(fixed), count_step_columns(growing)
    ours, reference = play(fixed, episodes), play(growing, episodes)
    for turn, (mine, theirs) in enumerate(zip(ours, reference, strict=True)):
        for a, b in zip(mine, theirs, strict=True):
            assert (a.text, a.token_ids, a.topk_ids) == (b.text, b.token_ids, b.topk_ids), turn
            for lp_a, lp_b in zip(a.topk_logprobs, b.topk_logprobs, strict=True):
                assert max(abs(x - y) for x, y in zip(lp_a, lp_b, strict=True)) < 1e-4
    if constrained:
        assert all("Action:" in step.text for turn in ours for step in turn)
    # the fixed step attends the whole buffer (a multiple of STATIC_COLUMNS, one width a call); the default
    # step's mask grows a column a step
    assert fixed_columns and all(w % STATIC_COLUMNS == 0 for w in fixed_columns)
    assert len(set(growing_columns)) > len(set(fixed_columns))
    # the slots keep the same keys and values either way (the next turn reads what follows them)
    for slot in range(episodes):
        kept, expected = fixed._slot_cache[slot], growing._slot_cache[slot]
        assert kept.ids == expected.ids
        assert torch.allclose(kept.keys, expected.keys, atol=1e-5)
        assert torch.allclose(kept.values, expected.values, atol=1e-5)


def test_the_fixed_shape_step_is_on_cuda_only_unless_asked(tiny_model):  # noqa: F811
    assert LMAgent(tiny_model, env="webshop", device="cpu").static_step is False
    assert LMAgent(tiny_model, env="webshop", device="cpu", static_step=True).static_step is True
    assert LMAgent(tiny_model, env="webshop").static_step is torch.cuda.is_available()
