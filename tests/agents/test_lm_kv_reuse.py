"""The LM agent's decoding: keys and values kept per slot across turns give the turns of reading every prompt
whole (also when earlier turns are dropped and the prompt's prefix changes), grouped prefill, and the
incremental stop test against decoding the whole text."""
from __future__ import annotations

import random

import pytest
import torch
from test_lm_agent import INFOS, OBSERVATIONS, tiny_model  # noqa: F401 (a fixture)
from transformers import AutoTokenizer, DynamicCache

from agents.lm import LMAgent, _common_prefix, _TurnText, turn_end


class Rereading(LMAgent):
    """The reference: reads every prompt whole each turn (no slot keeps its keys and values)."""

    def generate(self, prompts, constraints=None, slots=None):
        return super().generate(prompts, constraints)


def count_prefill_tokens(agent: LMAgent) -> list[int]:
    """Records how many tokens each prefill forward pass reads (padding included)."""
    read: list[int] = []

    def hook(module, args, kwargs):
        ids = kwargs["input_ids"]
        if ids.shape[1] > 1:  # decoding steps read one column
            read.append(ids.numel())

    agent.model.register_forward_pre_hook(hook, with_kwargs=True)
    return read


def play(agent: LMAgent, turns: int) -> list[list]:
    slots = list(range(len(INFOS)))
    for slot, info in zip(slots, INFOS, strict=True):
        agent.reset(info, slot=slot)
    history = []
    for turn in range(turns):
        # observations of very different lengths: prefill groups of one and of several rows, with padding
        observations = [f"{o} (turn {turn}) " + "Item B0001 red shoes $20. " * (3 * slot * turn + turn)
                        for slot, o in enumerate(OBSERVATIONS)]
        history.append(agent.act_batch(observations, [{}] * len(slots), slots=slots))
    return history


@pytest.mark.parametrize("budget", [None, 260])
def test_kept_keys_and_values_give_the_turns_of_reading_every_prompt_whole(tiny_model, budget):  # noqa: F811
    options = {"model": tiny_model, "env": "webshop", "max_new_tokens": 12, "log_topk": 5,
               "precision": "fp32", "max_prompt_tokens": budget}
    reusing, rereading = LMAgent(**options), Rereading(**options)
    read, reread = count_prefill_tokens(reusing), count_prefill_tokens(rereading)
    ours, reference = play(reusing, 5), play(rereading, 5)
    for turn, (mine, theirs) in enumerate(zip(ours, reference, strict=True)):
        for a, b in zip(mine, theirs, strict=True):
            assert (a.text, a.token_ids, a.topk_ids) == (b.text, b.token_ids, b.topk_ids), turn
            assert (a.n_dropped_turns, a.prompt_tokens) == (b.n_dropped_turns, b.prompt_tokens)
            for lp_a, lp_b in zip(a.topk_logprobs, b.topk_logprobs, strict=True):
                assert max(abs(x - y) for x, y in zip(lp_a, lp_b, strict=True)) < 1e-4
    if budget is None:
        assert sum(read) < 0.5 * sum(reread)  # later turns read only their new blocks
    else:  # turns were dropped: a prompt whose prefix changed is read again from where it differs
        assert max(step.n_dropped_turns for turn in ours for step in turn) > 0
        assert sum(read) < sum(reread)


def test_a_slot_keeps_the_keys_and_values_a_whole_forward_pass_gives(tiny_model):  # noqa: F811
    """After each turn (turns dropped too) a slot holds the ids its model read — the prompt and the generated
    tokens but one that ended the turn — with the keys and values of one forward pass over them."""
    agent = LMAgent(tiny_model, env="webshop", max_new_tokens=10, precision="fp32", max_prompt_tokens=200)
    steps = play(agent, 4)[-1]
    assert max(step.n_dropped_turns for step in steps) > 0
    for slot, step in enumerate(steps):
        cache = agent._slot_cache[slot]
        generated = cache.ids[step.prompt_tokens:]
        assert generated == step.token_ids[:len(generated)] and len(step.token_ids) - len(generated) in (0, 1)
        reference = DynamicCache()
        with torch.no_grad():
            agent.model(input_ids=torch.tensor([cache.ids]), use_cache=True,
                        **{agent._cache_kwarg: reference})
        assert cache.keys.shape[2] == cache.values.shape[2] == len(cache.ids)
        for layer, expected in enumerate(reference.layers):
            assert torch.allclose(cache.keys[layer], expected.keys[0], atol=1e-5)
            assert torch.allclose(cache.values[layer], expected.values[0], atol=1e-5)


def test_a_turn_reads_what_follows_the_kept_prefix_and_the_cache_goes_with_its_episode(tiny_model):  # noqa: F811
    agent = LMAgent(tiny_model, env="webshop", max_new_tokens=6, precision="fp32")
    read = count_prefill_tokens(agent)
    agent.reset(INFOS[0], slot=7)
    first = agent.act("WebShop [Search]", slot=7)
    assert read == [first.prompt_tokens]
    kept = agent._slot_cache[7].ids
    assert len(kept) - first.prompt_tokens in (len(first.token_ids) - 1, len(first.token_ids))
    agent._episode(7).observe("Results page")
    prompt = agent.prompt_ids(7)  # the next turn's: the kept ids, then the rest of the turn and its block
    assert prompt[:len(kept)] == kept
    read.clear()
    agent.act("Results page", slot=7)
    assert read == [len(prompt) - len(kept)]
    agent.episodes.pop(7)  # the harness forgets a finished episode
    agent.reset(INFOS[1], slot=8)
    agent.act("WebShop [Search]", slot=8)
    assert set(agent._slot_cache) == {8}


def test_common_prefix():
    assert _common_prefix([1, 2, 3], [1, 2, 3, 4]) == 3
    assert _common_prefix([1, 2, 3], [1, 5, 3]) == 1
    assert _common_prefix([], [1]) == 0
    assert _common_prefix([9] * 100 + [1], [9] * 100 + [2]) == 100


@pytest.mark.parametrize("source", ["tiny", "smollm2"])
def test_the_incremental_text_and_stop_equal_decoding_the_whole_turn(tiny_model, source):  # noqa: F811
    if source == "smollm2":
        from agents.model_names import cache_root

        path = cache_root() / "models" / "smollm2-135m"
        if not (path / "tokenizer.json").is_file():
            pytest.skip("SmolLM2 is not converted here (agents.model_names.ensure_smollm2)")
    else:
        path = tiny_model
    tokenizer = AutoTokenizer.from_pretrained(path)
    pieces = ["Thought: the mug — é ü 😀 is here\n", "Action: click[B0001]]\n", "Observation: made up\n",
              "Action: go to desk 1\n", "think: 💡 next\n", "Action: search[red 🏃 shoes]", "\n\n", " x"]
    rng = random.Random(0)
    special = [tokenizer.eos_token_id] if tokenizer.eos_token_id is not None else []
    fixed = ["Observation: made up\nObservation: again\nAction: look\n", "Thought: a\n\nObservation: b"]
    for n in range(60):
        sample = fixed[n] if n < len(fixed) else "".join(rng.sample(pieces, 4))
        ids = tokenizer(sample, add_special_tokens=False)["input_ids"]
        ids = [rng.choice(special) if special and rng.random() < 0.03 else t for t in ids]
        if rng.random() < 0.5:  # a token cut out: byte-level texts with half characters in them
            del ids[rng.randrange(len(ids))]
        text = _TurnText(tokenizer)
        for n in range(1, len(ids) + 1):
            end = text.push(ids[:n])
            whole = tokenizer.decode(ids[:n], skip_special_tokens=True)
            assert text.text == whole
            assert end == turn_end(whole), (whole, end)
            if end is not None:
                break
