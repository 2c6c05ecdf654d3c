"""Constrained action decoding (agents.constrained) on its own and inside the batched LM agent."""
from __future__ import annotations

import random

import pytest
import torch

from agents.constrained import (
    MAX_ENTITY_WORDS,
    MAX_KEYWORD_WORDS,
    MAX_QUERY_WORDS,
    ActionConstraint,
    ActionSpace,
    TokenVocabulary,
    action_space,
    allowed_mask,
    instruction_words,
    observed_spans,
)
from agents.context import bos_ids
from agents.lm import LMAgent, turn_end
from agents.react import parse
from distill.models import train_bpe

TEXTS = [
    "Thought: I should look in the fridge.\nAction: go to fridge 1\nObservation: The fridge 1 is closed.\n",
    "Thought: open it.\nAction: open fridge 1\nAction: go to countertop 10\nAction: take mug 2 from desk 1\n",
    "Action: search[red running shoes]\nObservation: [Back to Search] B0001 red running shoes $20.00\n",
    "Action: click[B0001]\nAction: click[Buy Now]\nAction: finish[Arthur's Magazine] lookup[born]\n",
    "Question: Which magazine was started first, Arthur's Magazine or First for Women?\n",
] * 20
ALFWORLD_ACTIONS = ["go to fridge 1", "go to countertop 1", "go to countertop 10", "open fridge 1",
                    "take mug 2 from desk 1", "look", "inventory"]
WEBSHOP_INFO = {"admissible_actions": ["search[<your query>]", "click[B0001]", "click[Buy Now]",
                                       "click[< Prev]"]}
QUESTION = "Question: Which magazine was started first, Arthur's Magazine or First for Women?"
INSTRUCTION = "I need Red running shoes, 2-pack, size 10.5, and price lower than 20.00 dollars"


@pytest.fixture(scope="module")
def tiny_model(tmp_path_factory) -> str:
    from transformers import LlamaConfig, LlamaForCausalLM

    tokenizer = train_bpe(TEXTS, 400)
    torch.manual_seed(1)
    config = LlamaConfig(vocab_size=len(tokenizer) + 3, hidden_size=64, intermediate_size=128,
                         num_hidden_layers=2, num_attention_heads=4, num_key_value_heads=2,
                         max_position_embeddings=1024, bos_token_id=tokenizer.bos_token_id,
                         eos_token_id=tokenizer.eos_token_id, pad_token_id=tokenizer.pad_token_id)
    model = LlamaForCausalLM(config)  # 3 ids past the tokenizer's, as padded vocabularies have
    with torch.no_grad():  # a sharper random model: greedy choices are far from ties
        model.lm_head.weight.mul_(20.0)
    out = tmp_path_factory.mktemp("tiny-constrained")
    model.save_pretrained(out)
    tokenizer.save_pretrained(out)
    return str(out)


def test_action_space_from_the_list_from_observations_or_none():
    webshop = action_space("webshop", WEBSHOP_INFO, ["WebShop [SEP] Search"])
    assert webshop == ActionSpace(("click[B0001]", "click[Buy Now]", "click[< Prev]"), ("search",))
    alfworld = action_space("alfworld", {"admissible_actions": ALFWORLD_ACTIONS + ["look"]}, [])
    assert alfworld.complete == tuple(ALFWORLD_ACTIONS) and alfworld.open_verbs == ()
    titles = ["Arthur's Magazine (1844)", "The Women [band]", "First for Women", "Dawn 'Quote' Smith"]
    similar = f"Could not find [Arthur]. Similar: {titles}."  # as the env writes it (Python's list repr)
    hotpot = action_space("hotpotqa", {"admissible_actions": None}, [QUESTION, similar])
    assert hotpot.open_verbs == () and hotpot.argument_words == ()
    searches = {a[len("Search["):-1] for a in hotpot.complete if a.startswith("Search[")}
    assert {"Arthur's Magazine (1844)", "First for Women", "Dawn 'Quote' Smith"} <= searches
    assert not any("[" in s or "]" in s for s in searches)  # a bracketed title cannot be an argument
    assert all(len(s.split()) <= MAX_ENTITY_WORDS for s in searches - set(titles))
    lookups = {a[len("lookup["):-1] for a in hotpot.complete if a.startswith("lookup[")}
    assert "started first" in lookups and all(len(k.split()) <= MAX_KEYWORD_WORDS for k in lookups)
    answers = {a[len("finish["):-1] for a in hotpot.complete if a.startswith("finish[")}
    assert {"yes", "no", "Arthur's Magazine", "First for Women", "Women"} <= answers
    assert "Women?" not in answers and "Arthur's Magazine or First for Women" in answers
    assert {a for a in hotpot.complete if a.startswith("Finish[")} == {f"Finish[{a}]" for a in answers}
    assert not action_space("someenv", {}, ["anything"])
    assert not action_space("alfworld", {"admissible_actions": []}, [])


def test_observed_spans_strip_punctuation_and_respect_the_word_limit():
    spans = observed_spans(["(Result 1 / 2) He was born in Paris, France.", "Similar: ['Paris']"], 2)
    assert "Paris, France" in spans and "France" in spans and "Paris" in spans
    assert "born in Paris" not in spans  # 3 words
    assert all(not s.endswith((".", ",")) and "[" not in s for s in spans)
    assert spans.index("Result") < spans.index("Similar")
    with pytest.raises(ValueError, match="max_words must be >= 1"):
        observed_spans(["x"], 0)


def random_walk(vocabulary: TokenVocabulary, space: ActionSpace, budget: int, rng: random.Random) -> str:
    """Decode one turn under the constraint, choosing uniformly among the allowed tokens (any token of
    the vocabulary where the constraint leaves the choice free)."""
    constraint = ActionConstraint(vocabulary, space)
    tokenizer, ids = vocabulary.tokenizer, []
    named: dict[str | None, list[int]] = {None: list(range(len(tokenizer)))}
    named |= {
        rule: (~forbidden).nonzero().flatten().tolist()
        for rule, forbidden in ((ActionConstraint.OPEN, vocabulary.open_forbidden),
                                (ActionConstraint.THOUGHT, vocabulary.thought_forbidden))
    }
    for step in range(budget):
        rule = constraint.allowed(budget - step)
        choices = named.get(rule) if isinstance(rule, str) or rule is None else rule
        ids.append(rng.choice(choices))
        text = tokenizer.decode(ids, skip_special_tokens=True)
        constraint.advance(ids[-1], text)
        if turn_end(text) is not None or ids[-1] == tokenizer.eos_token_id:
            return text[: turn_end(text)]
    return tokenizer.decode(ids, skip_special_tokens=True)


def test_any_walk_through_the_constraint_ends_in_an_action_of_the_space(tiny_model):
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(tiny_model)
    vocabulary = TokenVocabulary(tokenizer, len(tokenizer) + 3)
    webshop = action_space("webshop", WEBSHOP_INFO, [])
    hotpot = action_space("hotpotqa", {}, [QUESTION])
    rng = random.Random(0)
    seen = {"alfworld": set(), "webshop": set(), "hotpotqa": set()}
    for _ in range(25):
        action = parse(random_walk(vocabulary, ActionSpace(tuple(ALFWORLD_ACTIONS)), 40, rng)).action
        assert action in ALFWORLD_ACTIONS
        seen["alfworld"].add(action)
        action = parse(random_walk(vocabulary, webshop, 40, rng)).action
        assert action in webshop.complete or (action.startswith("search[") and action.endswith("]"))
        seen["webshop"].add(action.split("[")[0])
        parsed = parse(random_walk(vocabulary, hotpot, 60, rng))
        verb, _, argument = parsed.action.partition("[")
        assert verb.lower() in ("search", "lookup", "finish") and parsed.action.endswith("]"), parsed
        if verb.lower() == "finish":
            assert parsed.action in hotpot.complete
        seen["hotpotqa"].add(verb.lower())
    assert len(seen["alfworld"]) >= 4 and seen["webshop"] == {"search", "click"}
    assert seen["hotpotqa"] == {"search", "lookup", "finish"}


def test_allowed_mask_rows():
    class OneCharTokenizer:
        eos_token_id = 0

        def __len__(self) -> int:
            return 4

        def __call__(self, texts, add_special_tokens=False):
            encode = {"\n": [3]}
            if isinstance(texts, str):
                return {"input_ids": encode.get(texts, [1, 2])}
            return {"input_ids": [encode.get(t, [1, 2]) for t in texts]}

        def batch_decode(self, ids):
            return [["<eos>", "a", "b", "\n"][i[0]] for i in ids]

    vocabulary = TokenVocabulary(OneCharTokenizer(), 6)
    assert vocabulary.line_end_ids == [0, 3]
    assert vocabulary.open_forbidden.tolist() == [True, False, False, True, True, True]
    assert allowed_mask([None, None], vocabulary) is None
    assert vocabulary.thought_forbidden.tolist() == [True, False, False, False, True, True]
    mask = allowed_mask([None, [2], ActionConstraint.OPEN, ActionConstraint.THOUGHT], vocabulary)
    assert mask.tolist() == [
        [True] * 6, [False, False, True, False, False, False],
        [False, True, True, False, False, False], [False, True, True, True, False, False],
    ]


def play(agent: LMAgent, env: str, infos: list[dict], observations: list[str], turns: int, batched: bool):
    for slot, info in enumerate(infos):
        agent.reset({"task": info.get("task", ""), **info}, slot=slot)
    steps = []
    for turn in range(turns):
        obs = [f"{o} (turn {turn})" for o in observations]
        if batched:
            steps.append(agent.act_batch(obs, infos, slots=list(range(len(infos)))))
        else:
            pairs = enumerate(zip(obs, infos, strict=True))
            steps.append([agent.act(o, info, slot=s) for s, (o, info) in pairs])
    return steps


def test_constrained_lm_agent_acts_only_admissibly_and_logs_the_unmasked_topk(tiny_model):
    infos = [{"admissible_actions": ALFWORLD_ACTIONS[i:] + ALFWORLD_ACTIONS[:i]} for i in range(4)]
    observations = [f"You are in room {i}. You see a fridge 1." for i in range(4)]
    options = {"max_new_tokens": 20, "log_topk": 8, "precision": "fp32"}  # top-k compared with an fp32 pass
    free = play(LMAgent(tiny_model, env="alfworld", **options), "alfworld", infos, observations, 2, True)
    assert any(s.action not in ALFWORLD_ACTIONS for turn in free for s in turn)  # the model alone is not
    agent = LMAgent(tiny_model, env="alfworld", constrain_actions=True, **options)
    constrained = play(agent, "alfworld", infos, observations, 2, True)
    single = play(LMAgent(tiny_model, env="alfworld", constrain_actions=True, **options), "alfworld",
                  infos, observations, 2, False)
    assert [[s.token_ids for s in turn] for turn in constrained] == [[s.token_ids for s in t] for t in single]
    masked_top1 = 0
    for turn in constrained:
        for step in turn:
            assert parse(step.text).has_action and step.action in ALFWORLD_ACTIONS
            assert step.text.startswith("Thought:") and step.text.count("\n") == 1, step.text
            assert len(step.topk_ids) == len(step.token_ids)
            masked_top1 += sum(ids[0] != t for ids, t in zip(step.topk_ids, step.token_ids, strict=True))
    assert masked_top1 > 0  # the mask overruled the model's top-1 somewhere: logged top-k are pre-mask
    # logged top-k are the model's own distribution over the context, recomputed in one forward pass
    step = constrained[0][0]
    prompt = agent.prompt_ids(0)[: step.prompt_tokens]
    assert prompt[: len(bos_ids(agent.tokenizer))] == bos_ids(agent.tokenizer)
    with torch.no_grad():
        logits = agent.model(torch.tensor([prompt + step.token_ids])).logits[0].float()
    logprobs = torch.log_softmax(logits, -1)[len(prompt) - 1: -1]  # [T, V]
    top_lp, top_ids = logprobs.topk(8, -1)
    assert top_ids.tolist() == step.topk_ids
    assert torch.allclose(top_lp, torch.tensor(step.topk_logprobs), atol=1e-4)


def in_order(query: list[str], words: tuple[str, ...]) -> bool:
    """Whether ``query`` is a subsequence of ``words`` (each word as written or lower-cased)."""
    rest = iter(words)
    return all(any(q in (w, w.lower()) for w in rest) for q in query)


def test_webshop_queries_are_words_of_the_instruction_in_order(tiny_model):
    from transformers import AutoTokenizer

    words = instruction_words(INSTRUCTION)
    assert words[:4] == ("I", "need", "Red", "running")
    assert {"2-pack", "10.5", "20.00", "dollars"} <= set(words)
    assert not {"2-pack,", "10.5,", "pack", ""} & set(words)
    space = action_space("webshop", WEBSHOP_INFO, ["WebShop [SEP] Search"], INSTRUCTION)
    assert space.argument_words == words and space.open_verbs == ("search",)
    assert action_space("alfworld", {"admissible_actions": ["look"]}, [], INSTRUCTION).argument_words == ()
    assert in_order(["red", "shoes", "10.5"], words) and not in_order(["shoes", "red"], words)
    tokenizer = AutoTokenizer.from_pretrained(tiny_model)
    vocabulary = TokenVocabulary(tokenizer, len(tokenizer) + 3)
    rng, queries = random.Random(0), []
    for _ in range(40):
        action = parse(random_walk(vocabulary, space, 60, rng)).action
        assert action in space.complete or action.startswith("search["), action
        if action.startswith("search["):
            assert action.startswith("search[ ") and action.endswith("]")
            queries.append(action[len("search[ "):-1].split(" "))  # each word after a space, the first too
    assert queries and all(1 <= len(q) <= MAX_QUERY_WORDS and in_order(q, words) for q in queries), queries
    assert max(len(q) for q in queries) >= 3  # a query goes on past its first word
    assert any(q[0] != q[0].lower() for q in queries) and any(q[0] == q[0].lower() for q in queries)


def test_constrained_webshop_and_hotpotqa_turns(tiny_model):
    agent = LMAgent(tiny_model, env="webshop", constrain_actions=True, max_new_tokens=30)
    infos = [{"task": INSTRUCTION, **WEBSHOP_INFO}] * 3
    for turn in play(agent, "webshop", infos, ["WebShop [SEP] Search"] * 3, 2, True):
        for step in turn:
            assert step.action in WEBSHOP_INFO["admissible_actions"] or (
                step.action.startswith("search[ ") and step.action.endswith("]")
                and in_order(step.action[len("search[ "):-1].split(" "), instruction_words(INSTRUCTION))
            ), step.text
    agent = LMAgent(tiny_model, env="hotpotqa", constrain_actions=True, max_new_tokens=30)
    observed = [QUESTION] * 3
    space = action_space("hotpotqa", {}, [f"{QUESTION} (turn 0)", f"{QUESTION} (turn 1)"])
    for turn in play(agent, "hotpotqa", [{}] * 3, observed, 2, True):
        for step in turn:
            verb = step.action.split("[")[0].lower()
            assert step.action in space.complete if verb == "finish" else verb in ("search", "lookup")


def test_a_short_budget_still_ends_in_an_action(tiny_model):
    agent = LMAgent(tiny_model, env="alfworld", constrain_actions=True, max_new_tokens=12)
    steps = play(agent, "alfworld", [{"admissible_actions": ALFWORLD_ACTIONS}], ["A room."], 3, True)
    assert all(parse(s.text).has_action and s.action in ALFWORLD_ACTIONS for turn in steps for s in turn)
