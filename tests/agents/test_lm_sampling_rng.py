"""The LM agent's sampling: each episode draws from its own generator, seeded by the agent's seed and the
episode's task id, so its sampled turns do not depend on what shares its batch (batch size, order, slot)."""
from __future__ import annotations

from typing import Any

import pytest

from agents.base import AgentStep
from agents.lm import LMAgent
from tests.agents.tiny_llama import tiny_llama

TARGET = {"task_id": "webshop-target", "task": "buy red running shoes under 30 dollars"}
OTHERS = [
    {"task_id": "webshop-1", "task": "Which magazine was started first?"},
    {"task_id": "webshop-2", "task": "put a clean mug on the shelf"},
    {"task_id": "webshop-3", "task": "find a blue desk lamp"},
]


@pytest.fixture(scope="module")
def soft_model(tmp_path_factory) -> str:
    """The tiny Llama with a mildly sharpened head: sampling at temperature 1 strays from the argmax."""
    return tiny_llama(tmp_path_factory.mktemp("tiny-lm-sampling"), sharpen=4.0)


def play(model: str, episodes: list[dict], turns: int = 2, *, seed: int = 5, batch_size: int = 4,
         top_p: float = 1.0, eos_bias: float = 0.0) -> list[list[AgentStep]]:
    """Play ``episodes`` (slots 0..n-1) for ``turns`` turns at temperature 1: each turn's steps. ``eos_bias``
    is added to the EOS logit (turns that end at different steps)."""
    agent = LMAgent(model, env="webshop", max_new_tokens=24, temperature=1.0, top_p=top_p, seed=seed,
                    batch_size=batch_size, log_topk=1, precision="fp32")
    eos = agent.tokenizer.eos_token_id

    def add_bias(module: Any, args: Any, out: Any) -> None:
        out.logits[..., eos] += eos_bias

    agent.model.register_forward_hook(add_bias)
    slots = list(range(len(episodes)))
    for slot, info in zip(slots, episodes, strict=True):
        agent.reset(info, slot=slot)
    history = []
    for turn in range(turns):
        # observations of different lengths (the prefill orders the rows by them); the target task's is fixed
        observations = [f"WebShop [Search] (turn {turn})" + (" Item B0001 red shoes." * (2 * slot + turn + 1)
                                                            if info["task"] != TARGET["task"] else "")
                        for slot, info in enumerate(episodes)]
        history.append(agent.act_batch(observations, episodes, slots=slots))
    return history


def target_ids(history: list[list[AgentStep]], episodes: list[dict]) -> list[list[int]]:
    """The target episode's generated ids, turn by turn."""
    return [turn[episodes.index(TARGET)].token_ids for turn in history]


@pytest.mark.parametrize("top_p", [1.0, 0.9])
def test_an_episode_samples_the_same_turns_whatever_shares_its_batch(soft_model, top_p):
    alone = play(soft_model, [TARGET], batch_size=1, top_p=top_p, eos_bias=3.0)
    expected = target_ids(alone, [TARGET])
    assert all(expected)
    # it sampled: some token is not the model's argmax
    assert any(t != top[0] for [step] in alone for t, top in zip(step.token_ids, step.topk_ids, strict=True))
    finished_first = False
    for episodes, batch_size in [([OTHERS[0], OTHERS[1], TARGET, OTHERS[2]], 4), ([*OTHERS, TARGET], 1),
                                 ([TARGET, *OTHERS[:2]], 4)]:
        history = play(soft_model, episodes, batch_size=batch_size, top_p=top_p, eos_bias=3.0)
        assert target_ids(history, episodes) == expected, (episodes, batch_size)
        finished_first |= batch_size > 1 and any(len(ids) + 1 < max(len(step.token_ids) for step in turn)
                                                 for turn, ids in zip(history, expected, strict=True))
    assert finished_first  # the target's turn ended while rows beside it went on (and it drew no more)


def test_episodes_and_seeds_get_their_own_samples(soft_model):
    def first_turn(info: dict, seed: int = 5) -> list[int]:
        return play(soft_model, [info], turns=1, seed=seed)[0][0].token_ids

    target = first_turn(TARGET)
    assert first_turn(TARGET) == target  # seeded
    assert first_turn({**TARGET, "task_id": "webshop-other"}) != target  # the same task text, another id
    assert first_turn(TARGET, seed=6) != target


def test_greedy_chooses_the_argmax_in_a_batch_of_slots(soft_model):
    agent = LMAgent(soft_model, env="webshop", max_new_tokens=16, log_topk=1, precision="fp32", batch_size=4)
    episodes = [TARGET, *OTHERS]
    for slot, info in enumerate(episodes):
        agent.reset(info, slot=slot)
    steps = agent.act_batch(["WebShop [Search]"] * len(episodes), episodes, slots=list(range(len(episodes))))
    for step in steps:
        assert step.token_ids and [top[0] for top in step.topk_ids] == step.token_ids
