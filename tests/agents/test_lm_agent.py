"""The LM agent on a tiny Llama built from a config, with a byte-level BPE trained here."""
from __future__ import annotations

import math
import re
import shutil

import pytest
import torch

import agents
from agents.context import bos_ids, omitted_note
from agents.lm import LMAgent, completion_end
from agents.react import build_prompt, header
from tests.agents.tiny_llama import VOCAB, tiny_llama


@pytest.fixture(scope="module")
def tiny_model(tmp_path_factory) -> str:
    return tiny_llama(tmp_path_factory.mktemp("tiny-lm"))


INFOS = [
    {"task": "buy red running shoes under 30 dollars"},
    {"task": "Which magazine was started first, Arthur's Magazine or First for Women?"},
    {"task": "put a clean mug on the shelf"},
]
OBSERVATIONS = [
    "WebShop [Search]",
    "Search the page store.",
    "You are in the middle of a room. Looking around you, you see a shelf.",
]


def play(agent: LMAgent, batched: bool, turns: int = 2):
    for slot, info in enumerate(INFOS):
        agent.reset(info, slot=slot)
    history = []
    for turn in range(turns):
        observations = [f"{o} (turn {turn})" for o in OBSERVATIONS]
        if batched:
            steps = agent.act_batch(observations, [{}] * len(INFOS), slots=list(range(len(INFOS))))
        else:
            steps = [agent.act(o, {}, slot=slot) for slot, o in enumerate(observations)]
        history.append([(s.text, s.token_ids, s.topk_ids) for s in steps])
    return history


def test_batched_generation_equals_one_at_a_time_greedy(tiny_model):
    options = {"model": tiny_model, "env": "webshop", "max_new_tokens": 16, "log_topk": 5,
               "precision": "fp32"}
    batched = play(agents.make("lm", **options), batched=True)
    single = play(agents.make("lm", **options), batched=False)
    assert batched == single
    lengths = {len(ids) for turn in batched for _, ids, _ in turn}
    assert max(lengths) > 0


def test_topk_logprobs_are_normalised_and_match_a_full_forward_pass(tiny_model):
    agent = LMAgent(tiny_model, env="hotpotqa", max_new_tokens=12, log_topk=VOCAB * 2, precision="fp32")
    agent.reset(INFOS[1], slot=0)
    step = agent.act("Search the page store.", {}, slot=0)
    assert step.token_ids and len(step.topk_ids) == len(step.token_ids) == len(step.topk_logprobs)
    vocab = len(agent.tokenizer)
    for ids, lps in zip(step.topk_ids, step.topk_logprobs, strict=True):
        assert len(ids) == vocab  # k > vocab is clipped to the full vocabulary
        assert abs(torch.logsumexp(torch.tensor(lps, dtype=torch.float64), 0).item()) < 1e-4
        assert lps == sorted(lps, reverse=True)
    # greedy: the chosen token is the top-1
    for token, ids in zip(step.token_ids, step.topk_ids, strict=True):
        assert ids[0] == token
    # the logged log-probs are the model's own: recompute them with one forward pass over prompt + tokens
    prompt = build_prompt(INFOS[1]["task"], "Search the page store.", [], instructions=agent.instructions)
    prompt_ids = bos_ids(agent.tokenizer) + agent._ids(prompt)
    full = torch.tensor([prompt_ids + step.token_ids])
    with torch.no_grad():
        logprobs = torch.log_softmax(agent.model(full).logits[0].float(), -1)  # [T, V]
    for t, (ids, lps) in enumerate(zip(step.topk_ids, step.topk_logprobs, strict=True)):
        expected = logprobs[len(prompt_ids) - 1 + t, ids[:5]]
        assert torch.allclose(expected, torch.tensor(lps[:5]), atol=1e-4)


def test_default_topk_probabilities_sum_to_at_most_one(tiny_model):
    agent = LMAgent(tiny_model, env="webshop", max_new_tokens=8, log_topk=True)
    agent.reset(INFOS[0])
    step = agent.act("WebShop [Search]")
    assert all(len(k) == 20 for k in step.topk_ids)
    assert all(sum(math.exp(x) for x in lps) <= 1 + 1e-5 for lps in step.topk_logprobs)


def test_prompt_is_the_react_prompt_with_the_generated_ids_spliced_in(tiny_model):
    agent = LMAgent(tiny_model, env="webshop", max_new_tokens=16)
    agent.reset(INFOS[0], slot=3)
    agent._episode(3).observe("WebShop [Search]")
    head = bos_ids(agent.tokenizer) + agent._ids(
        header(INFOS[0]["task"], "WebShop [Search]", agent.instructions)
    )
    assert agent.prompt_ids(3) == head
    first = agent.tokenizer.decode(agent.prompt_ids(3), skip_special_tokens=True)
    assert first == build_prompt(INFOS[0]["task"], "WebShop [Search]", [], instructions=agent.instructions)
    step = agent.act("WebShop [Search]", slot=3)
    agent._episode(3).observe("Results page")
    # the generated ids are not what re-tokenising their text gives, so splicing is observable
    assert agent._ids(agent.tokenizer.decode(step.token_ids)) != step.token_ids
    assert agent._ids(step.text) != step.token_ids
    assert agent.prompt_ids(3) == head + step.token_ids + agent._ids("\nObservation: Results page\n")
    assert step.n_reason_tokens + step.n_act_tokens == len(step.token_ids)
    assert (step.n_dropped_turns, step.prompt_tokens) == (0, len(head))


def test_prompt_over_budget_drops_old_turns_then_cuts_its_start(tiny_model):
    agent = LMAgent(tiny_model, env="webshop", max_new_tokens=8)
    fed = []
    generate = agent.generate
    agent.generate = lambda prompts, *rest: fed.extend(prompts) or generate(prompts, *rest)  # what it is fed
    agent.reset(INFOS[0])
    observations = ["WebShop [Search]", "Results", "Item page", "Item " * 30, "Done", "Back", "Bought"]
    head = bos_ids(agent.tokenizer) + agent._ids(header(INFOS[0]["task"], observations[0],
                                                        agent.instructions))
    budget = agent.max_prompt_tokens = len(head) + 70
    steps = [agent.act(obs) for obs in observations]
    # the last step has no observation after it (strict=False)
    blocks = [s.token_ids + agent._ids(f"\nObservation: {obs.strip()}\n")
              for s, obs in zip(steps, observations[1:], strict=False)]

    def context(step: int, dropped: int) -> list[int]:
        note = agent._ids(omitted_note(dropped)) if dropped else []
        return head + note + [t for b in blocks[dropped:step] for t in b]

    cuts = 0
    for step, (s, prompt) in enumerate(zip(steps, fed, strict=True)):
        dropped = s.n_dropped_turns
        assert s.prompt_tokens == len(prompt) <= budget
        if len(context(step, dropped)) <= budget:
            assert prompt == context(step, dropped), step
            assert dropped == 0 or len(context(step, dropped - 1)) > budget, "the fewest turns are dropped"
        else:  # even the header and the latest turn are over: the prompt keeps its last `budget` ids
            assert dropped == step - 1 and prompt == context(step, dropped)[-budget:]
            cuts += 1
    assert cuts == 1 and steps[-1].n_dropped_turns > 0


def test_stop_rule():
    text = "Thought: go\nAction: search[x]\nThought: more"
    assert completion_end(text) == len("Thought: go\nAction: search[x]\n")  # the newline is the turn's
    assert completion_end("Thought: go\nAction: search[x]") is None  # the line is not finished yet
    assert completion_end("Thought: hmm\nObservation: made up") == len("Thought: hmm\n")
    # an Observation the model opens its turn with is skipped, a later one still ends the turn
    assert completion_end("Observation: a\nObservation: b") == len("Observation: a\n")
    assert completion_end("Observation: a\nAction: look\nmore") == len("Observation: a\nAction: look\n")


def test_a_path_that_is_not_a_model_is_a_clear_error(tmp_path):
    with pytest.raises(ValueError, match="not a saved model"):
        LMAgent(tmp_path, env="webshop")
    with pytest.raises(FileNotFoundError, match="neither a model directory nor a preset"):
        LMAgent("no-such-model-anywhere", env="webshop")


def test_a_truncated_model_fails_at_construction_naming_the_file(tiny_model, tmp_path):
    """Loading is lazy; the agent checks the files up front instead of failing at its first step."""
    from agents.model_files import ModelFileError

    model = tmp_path / "model"
    shutil.copytree(tiny_model, model)
    weights = model / "model.safetensors"
    weights.write_bytes(weights.read_bytes()[: weights.stat().st_size // 2])
    with pytest.raises(ModelFileError, match=re.escape(f"{weights}: not a complete safetensors file")):
        agents.make("lm", model=str(model), env="webshop")


def test_turn_end_is_the_newline_ending_the_action_line_bracket_or_not():
    from agents.lm import turn_end

    assert turn_end("Thought: buy it\nAction: click[buy now]") is None  # a closed bracket does not end it
    text = "Thought: buy it\nAction: click[buy now]\nObservation: junk"
    assert text[: turn_end(text)] == "Thought: buy it\nAction: click[buy now]\n"
    assert turn_end("Thought: still thinking\nAction: search[red") is None
    alfworld = "Thought: go\nAction: go to desk 1\nmore"
    assert alfworld[: turn_end(alfworld)] == "Thought: go\nAction: go to desk 1\n"
