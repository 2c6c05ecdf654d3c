"""The decoding loop: stops found on token ids first, constraint masks scattered on the device, and turns that
equal a loop without any of its shortcuts (no KV cache, whole-text stop test, row-by-row host masks)."""
from __future__ import annotations

import random

import pytest
import torch
from test_lm_agent import tiny_model  # noqa: F401 (a fixture)
from transformers import AutoTokenizer

from agents.constrained import ActionConstraint, ActionSpace, TokenVocabulary, allowed_mask
from agents.lm import LMAgent, _TurnText, stop_candidates, turn_end

PIECES = ["Thought: the mug is here\n", "Action: click[B0001]]\n", "Observation: made up\n",
          "Action: go to desk 1\n", "think: next\n", "Action: search[red shoes]", "\n\n", " x",
          "Observation:", " obs: 3"]


def test_pushing_only_at_stop_candidates_finds_the_stop_of_decoding_every_prefix(tiny_model):  # noqa: F811
    tokenizer = AutoTokenizer.from_pretrained(tiny_model)
    candidates = stop_candidates(tokenizer)
    assert candidates and tokenizer("\n", add_special_tokens=False)["input_ids"][0] in candidates
    rng = random.Random(1)
    stops = 0
    for _ in range(80):
        ids = tokenizer("".join(rng.sample(PIECES, 5)), add_special_tokens=False)["input_ids"]
        if rng.random() < 0.5:  # another segmentation of the same characters: merges differ
            ids = [t for i in ids
                   for t in tokenizer(tokenizer.decode([i]), add_special_tokens=False)["input_ids"]]
        expected = next((n for n in range(1, len(ids) + 1)
                         if turn_end(tokenizer.decode(ids[:n], skip_special_tokens=True)) is not None), None)
        text, found = _TurnText(tokenizer), None
        for n in range(1, len(ids) + 1):
            if ids[n - 1] in candidates and text.push(ids[:n]) is not None:
                found = n
                break
        assert found == expected, tokenizer.decode(ids)
        stops += found is not None
    assert stops > 40


def host_mask(rules, vocabulary: TokenVocabulary) -> torch.Tensor:
    """The reference: the mask built row by row on the host."""
    mask = torch.ones(len(rules), vocabulary.vocab_size, dtype=torch.bool)
    for row, rule in enumerate(rules):
        if rule == ActionConstraint.OPEN:
            mask[row] = ~vocabulary.open_forbidden
        elif rule == ActionConstraint.THOUGHT:
            mask[row] = ~vocabulary.thought_forbidden
        elif rule is not None:
            mask[row] = False
            mask[row, torch.tensor(rule, dtype=torch.long)] = True
    return mask


def test_the_scattered_mask_equals_the_row_by_row_host_mask(tiny_model):  # noqa: F811
    tokenizer = AutoTokenizer.from_pretrained(tiny_model)
    vocabulary = TokenVocabulary(tokenizer, len(tokenizer))
    rng = random.Random(0)
    kinds = [None, ActionConstraint.OPEN, ActionConstraint.THOUGHT, "ids"]
    for _ in range(20):
        rules = [rng.sample(range(len(tokenizer)), rng.randint(1, 9)) if kind == "ids" else kind
                 for kind in rng.choices(kinds, k=5)]
        if all(rule is None for rule in rules):
            assert allowed_mask(rules, vocabulary) is None
        else:
            assert torch.equal(allowed_mask(rules, vocabulary, "cpu"), host_mask(rules, vocabulary))


@torch.no_grad()
def reference_turn(agent: LMAgent, prompt: list[int], constraint: ActionConstraint | None):
    """One greedy turn read whole at every step (no cache), the stop tested on the whole text, host masks."""
    tokenizer, ids, tops, lps = agent.tokenizer, [], [], []
    for step in range(agent.max_new_tokens):
        logits = agent.model(input_ids=torch.tensor([prompt + ids])).logits[0, -1].float()  # [V]
        top = torch.log_softmax(logits, -1).topk(agent.log_topk)
        rule = constraint.allowed(agent.max_new_tokens - step) if constraint is not None else None
        if rule is not None:
            logits = logits.masked_fill(~host_mask([rule], agent.vocabulary)[0], -torch.inf)
        chosen = int(logits.argmax())
        if chosen == tokenizer.eos_token_id:
            break
        ids.append(chosen)
        tops.append(top.indices.tolist())
        lps.append(top.values.tolist())
        text = tokenizer.decode(ids, skip_special_tokens=True)
        if constraint is not None:
            constraint.advance(chosen, text)
        if turn_end(text) is not None:
            break
    return ids, tops, lps


@pytest.mark.slow
def test_turns_equal_the_loop_without_shortcuts_free_and_constrained(tiny_model):  # noqa: F811
    agent = LMAgent(tiny_model, env="webshop", max_new_tokens=12, log_topk=5, precision="fp32", device="cpu",
                    constrain_actions=True)
    space = ActionSpace(complete=("click[B0001]", "click[Next >]", "finish[yes]"), open_verbs=("search",))
    texts = ["Observation: WebShop [Search]\n", "Task: buy red shoes\nObservation: Page 1 B0001 red shoes\n",
             "Observation: Which magazine was started first?\nThought: search it\nAction: search[x]\n"
             "Observation: nothing\n"]
    prompts = [agent.tokenizer(t, add_special_tokens=False)["input_ids"] for t in texts]
    for constrained in (False, True, True):  # several turns: the constraint's budget cuts differ per turn
        ours = agent.generate(prompts, [ActionConstraint(agent.vocabulary, space) if constrained else None
                                        for _ in prompts])
        for prompt, result in zip(prompts, ours, strict=True):
            constraint = ActionConstraint(agent.vocabulary, space) if constrained else None
            ids, tops, lps = reference_turn(agent, prompt, constraint)
            assert result.token_ids == ids[:len(result.token_ids)]
            if len(ids) > len(result.token_ids):  # only a self-written Observation tail is cut
                text = agent.tokenizer.decode(ids, skip_special_tokens=True)
                assert turn_end(text) < len(text)
            assert result.topk_ids == tops[:len(result.token_ids)]
            for a, b in zip(result.topk_logprobs, lps, strict=False):
                assert max(abs(x - y) for x, y in zip(a, b, strict=True)) < 1e-4
        if constrained:
            assert all("Action:" in r.text for r in ours)
        prompts = [p + r.token_ids for p, r in zip(prompts, ours, strict=True)]  # the next turn goes on
        agent.max_new_tokens += 6
