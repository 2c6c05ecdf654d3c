"""A teacher behind an inference server: the HTTP agent with ``tokenizer=`` and ``log_topk``, and the
on-policy scorer (:class:`agents.served_scoring.ServedScorer`, vLLM's ``prompt_logprobs``), against a local
server on 127.0.0.1 that serves a real tiny HF model in vLLM's response format
(:class:`tests.agents.vllm_like_server.VLLMLikeServer`, whose docstring cites vLLM's protocol files).
"""
from __future__ import annotations

import csv
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
import torch

import agents
from agents.http import HTTPAgent, HTTPError
from agents.lm import LMAgent
from agents.prompt_ids import episode_prompt_ids
from agents.served_scoring import ServedScorer
from tests.agents.tiny_llama import TEXTS, VOCAB, bpe_tokenizer, tiny_llama
from tests.agents.vllm_like_server import MAX_LOGPROBS, VLLMLikeServer


@pytest.fixture(scope="module")
def tiny_model(tmp_path_factory) -> str:
    """The teacher: a tiny Llama whose greedy choices are far from ties."""
    return tiny_llama(tmp_path_factory.mktemp("served-tiny-lm"), seed=0, sharpen=20.0)


@pytest.fixture(scope="module")
def server(tiny_model) -> Iterator[VLLMLikeServer]:
    with VLLMLikeServer(tiny_model) as running:
        yield running


INFOS = [
    {"task": "buy red running shoes under 30 dollars"},
    {"task": "Which magazine was started first, Arthur's Magazine or First for Women?"},
    {"task": "put a clean mug on the shelf"},
]
OBSERVATIONS = ["WebShop [Search]", "Search the page store.",
                "You are in the middle of a room. Looking around you, you see a shelf."]
NEW_TOKENS, PROMPT_TOKENS, TOPK = 20, 150, 8


def play(agent: Any, turns: int) -> list[list[Any]]:
    """``turns`` batched turns of three episodes; every step."""
    for slot, info in enumerate(INFOS):
        agent.reset(info, slot=slot)
    history = []
    for turn in range(turns):
        observations = [f"{o} (turn {turn})" for o in OBSERVATIONS]
        history.append(agent.act_batch(observations, [{}] * len(INFOS), slots=list(range(len(INFOS)))))
    return history


def served_agent(server: VLLMLikeServer, tokenizer: str, **options: Any) -> HTTPAgent:
    options = {"env": "webshop", "api": "completions", "max_tokens": NEW_TOKENS, "log_topk": TOPK,
               "max_prompt_tokens": PROMPT_TOKENS, "retries": 0, **options}
    return agents.make("http", base_url=server.base_url, model="tiny", tokenizer=tokenizer, **options)


def lm_agent(model_dir: str) -> LMAgent:
    return LMAgent(model_dir, env="webshop", max_new_tokens=NEW_TOKENS, log_topk=TOPK,
                   max_prompt_tokens=PROMPT_TOKENS, precision="fp32", device="cpu")


@pytest.mark.slow
def test_prompt_ids_are_the_lm_agents_prompt(tiny_model):
    agent = lm_agent(tiny_model)
    for slot, info in enumerate(INFOS):
        agent.reset(info, slot=slot)
    generated: dict[int, list[list[int]]] = {slot: [] for slot in range(len(INFOS))}
    dropped_any = False
    for turn in range(3):
        for slot, obs in enumerate(OBSERVATIONS):
            agent._episode(slot).observe(f"{obs} (turn {turn})")
            episode = agent._episode(slot)
            ours = episode_prompt_ids(agent.tokenizer, episode, agent.instructions, agent.few_shot,
                                      generated[slot], PROMPT_TOKENS)
            assert ours == agent.prompt(slot), (turn, slot)
            dropped_any |= ours[1] > 0
        steps = agent.act_batch(["" for _ in INFOS], [{}] * len(INFOS), slots=list(range(len(INFOS))))
        for slot, step in enumerate(steps):
            generated[slot].append(step.token_ids)
    assert dropped_any  # the budget dropped turns: the omitted-turns note is covered


@pytest.mark.slow
def test_served_teacher_logs_the_in_process_lm_agents_ids_and_topk(tiny_model, server):
    served = play(served_agent(server, tiny_model), turns=4)
    local = play(lm_agent(tiny_model), turns=4)
    completions = [r["body"] for r in server.requests if r["path"] == "/v1/completions"]
    assert all(isinstance(b["prompt"], list) and all(isinstance(t, int) for t in b["prompt"])
               for b in completions)
    assert all(b["logprobs"] == TOPK and b["return_tokens_as_token_ids"] is True for b in completions)
    assert any(r["path"] == "/tokenize" for r in server.requests)  # checked once before the first turn
    dropped = 0
    for turn_served, turn_local in zip(served, local, strict=True):
        for a, b in zip(turn_served, turn_local, strict=True):
            assert a.token_ids and a.token_ids == b.token_ids
            assert (a.text, a.action, a.thought) == (b.text, b.action, b.thought)
            assert a.topk_ids == b.topk_ids
            assert len(a.topk_logprobs) == len(a.token_ids) and all(len(k) == TOPK for k in a.topk_logprobs)
            assert torch.allclose(torch.tensor(a.topk_logprobs), torch.tensor(b.topk_logprobs), atol=1e-4)
            assert (a.n_dropped_turns, a.prompt_tokens) == (b.n_dropped_turns, b.prompt_tokens)
            assert (a.n_reason_tokens, a.n_act_tokens) == (b.n_reason_tokens, b.n_act_tokens)
            dropped += a.n_dropped_turns
    assert dropped > 0  # later prompts left turns out: each turn's ids were spliced back the same way


def test_topk_above_the_servers_cap_is_refused_naming_max_logprobs(tiny_model, server):
    agent = served_agent(server, tiny_model, log_topk=MAX_LOGPROBS + 1)
    agent.reset(INFOS[0])
    with pytest.raises(HTTPError) as err:
        agent.act(OBSERVATIONS[0])
    message = str(err.value)
    assert "greater than max allowed: 20" in message and "--max-logprobs 21" in message
    assert "\n" not in message


def test_a_server_that_returns_no_ids_is_a_one_line_error(tiny_model):
    with VLLMLikeServer(tiny_model, token_ids=False) as textual:
        agent = served_agent(textual, tiny_model)
        agent.reset(INFOS[0])
        with pytest.raises(HTTPError, match="where 'token_id:N' was asked for") as err:
            agent.act(OBSERVATIONS[0])
    assert "\n" not in str(err.value)
    assert not agent.episodes[0].turns  # no turn was taken from text


def test_a_local_tokenizer_that_differs_from_the_servers_is_refused(tiny_model, server, tmp_path):
    other = tmp_path / "other-tokenizer"
    bpe_tokenizer(VOCAB - 40).save_pretrained(other)
    agent = served_agent(server, str(other))
    agent.reset(INFOS[0])
    with pytest.raises(HTTPError, match=f"tokenizer={other} differs from the server's") as err:
        agent.act(OBSERVATIONS[0])
    assert "\n" not in str(err.value)


def test_log_topk_needs_a_tokenizer_and_the_completions_api(tiny_model):
    with pytest.raises(ValueError, match="log_topk needs token ids: pass tokenizer=DIR"):
        agents.make("http", base_url="http://127.0.0.1:9/v1", api="completions", log_topk=5)
    with pytest.raises(ValueError, match="needs api='completions'"):
        agents.make("http", base_url="http://127.0.0.1:9/v1", api="chat", tokenizer=tiny_model)


# --- an off-policy student trained from served top-k ----------------------------------------------------
def _rows(run_id: str, history: list[list[Any]]) -> list[dict[str, Any]]:
    """The episode log rows the harness writes for these steps (harness/rollout/rows.py's columns)."""
    rows = []
    for turn, steps in enumerate(history):
        for slot, s in enumerate(steps):
            last = turn == len(history) - 1
            rows.append({
                "run_id": run_id, "env": "webshop", "split": "train", "task_id": f"t{slot}", "episode": slot,
                "step": turn, "observation": f"{OBSERVATIONS[slot]} (turn {turn})", "thought": s.thought,
                "action": s.action, "completion": s.text, "reward": float(last), "terminated": last,
                "truncated": False, "won": last, "score": float(last), "invalid_action": False,
                "n_reason_tokens": s.n_reason_tokens, "n_act_tokens": s.n_act_tokens, "latency_s": 0.0,
                "task": INFOS[slot]["task"], "task_type": "", "token_ids": s.token_ids,
                "topk_ids": s.topk_ids, "topk_logprobs": s.topk_logprobs,
                "n_dropped_turns": s.n_dropped_turns, "prompt_tokens": s.prompt_tokens,
            })
    return rows


def _train(root: Path, name: str, rows: list[dict[str, Any]], student: str) -> list[float]:
    from distill.config import SADConfig
    from distill.train import train

    run = root / "runs" / name
    run.mkdir(parents=True)
    pd.DataFrame(rows).to_parquet(run / "episodes.parquet", index=False)
    (run / "summary.json").write_text(json.dumps({"env": "webshop", "agent": "test", "episodes": 3}))
    config = SADConfig(data=[str(run)], out=str(root / name), model=student, teacher_signal="topk",
                       max_steps=3, batch_size=2, micro_batch_size=2, max_length=PROMPT_TOKENS + NEW_TOKENS,
                       lr=3e-4, warmup_steps=1, eval_every=3, eval_fraction=0.0, save_every=3, progress=False,
                       tensorboard=False, precision="fp32")
    out = train(config)
    with (out / "metrics.csv").open() as f:
        return [float(r["loss"]) for r in csv.DictReader(f) if r["loss"]]


@pytest.mark.slow
def test_a_student_trained_from_served_topk_equals_one_trained_from_in_process_topk(tiny_model, server,
                                                                                     tmp_path):
    served_rows = _rows("teacher", play(served_agent(server, tiny_model), turns=2))
    local_rows = _rows("teacher", play(lm_agent(tiny_model), turns=2))
    for a, b in zip(served_rows, local_rows, strict=True):  # the same log but for fp32 rounding of log-probs
        assert {k: v for k, v in a.items() if k != "topk_logprobs"} == {
            k: v for k, v in b.items() if k != "topk_logprobs"}
        assert torch.allclose(torch.tensor(a["topk_logprobs"]), torch.tensor(b["topk_logprobs"]), atol=1e-5)
    student = tiny_llama(tmp_path / "student", seed=1, sharpen=1.0)  # not the teacher: a real KL to learn
    served = _train(tmp_path, "served", served_rows, student)
    local = _train(tmp_path, "local", local_rows, student)
    assert len(served) == 3
    # the first step's loss agrees to fp32 rounding; Adam's first steps (g / |g|) amplify the teacher's fp32
    # rounding (the log-probs differ by < 5e-6: a batched KV-cached pass against a full one) to ~5e-5 by
    # step 3: the same shift as swapping only the top-k log-probs between the two logs (measured)
    assert served[0] == pytest.approx(local[0], rel=1e-6)
    assert served == pytest.approx(local, abs=1e-4)


# --- on-policy scoring: the served teacher's prompt log-probs ------------------------------------------
def _sequences(tokenizer: Any) -> list[list[int]]:
    """Three id sequences of different lengths (a student's turns after their prompts)."""
    texts = [TEXTS[0] + TEXTS[1] + TEXTS[2], TEXTS[3], TEXTS[1] + TEXTS[0]]
    return [[tokenizer.bos_token_id, *tokenizer(t)["input_ids"]] for t in texts]


@torch.no_grad()
def _in_process_topk(model: Any, ids: list[int], positions: list[int], k: int) -> tuple[list, list]:
    """The teacher's top-k at ``positions`` from its own forward pass, as a live teacher computes them."""
    logprobs = torch.log_softmax(model(torch.tensor([ids])).logits[0].float(), -1)  # (T, V)
    values, indices = logprobs[[p - 1 for p in positions]].topk(k, -1)  # (P, k)
    return indices.tolist(), values.tolist()


def test_served_scoring_equals_the_in_process_teachers_topk(tiny_model, server):
    from transformers import AutoModelForCausalLM

    scorer = ServedScorer(server.base_url, server.tokenizer, k=TOPK, tokens_per_request=60, concurrency=2)
    sequences = _sequences(server.tokenizer)
    positions = [list(range(len(s) // 2, len(s))) for s in sequences]  # the second half: "completions"
    before = len(server.requests)
    served = scorer.score(sequences, positions)
    model = AutoModelForCausalLM.from_pretrained(tiny_model, dtype=torch.float32).eval()
    for ids, wanted, (top_ids, top_lps) in zip(sequences, positions, served, strict=True):
        local_ids, local_lps = _in_process_topk(model, ids, wanted, TOPK)
        assert top_ids == local_ids
        assert torch.allclose(torch.tensor(top_lps), torch.tensor(local_lps), atol=1e-4, rtol=0)
    asked = [r["body"] for r in server.requests[before:] if r["path"] == "/v1/completions"]
    # batched: every request carries a list of id lists, one request per 60-token group; scored once each
    assert all(b["prompt_logprobs"] == TOPK and b["max_tokens"] == 1 for b in asked)
    # concurrent requests arrive in any order: every sequence sent once
    assert sorted(len(p) for b in asked for p in b["prompt"]) == sorted(len(s) for s in sequences)
    assert len(asked) == len(scorer._batches([len(s) for s in sequences])) >= 2
    assert any(r["path"] == "/tokenize" for r in server.requests[before:])  # tokenizer checked first


def test_served_scoring_refuses_k_above_the_cap_and_another_tokenizer(tiny_model, server, tmp_path):
    sequences = _sequences(server.tokenizer)[:1]
    scorer = ServedScorer(server.base_url, server.tokenizer, k=MAX_LOGPROBS + 1, retries=0)
    with pytest.raises(HTTPError) as err:
        scorer.score(sequences, [[1, 2]])
    message = str(err.value)
    assert "Requested prompt logprobs of 21, which is greater than max allowed: 20" in message
    assert "--max-logprobs 21" in message and "\n" not in message
    other = bpe_tokenizer(VOCAB - 40)
    scorer = ServedScorer(server.base_url, other, k=TOPK, retries=0, tokenizer_name="tokenizer=other")
    with pytest.raises(HTTPError, match="tokenizer=other differs from the server's.*share one tokenizer"):
        scorer.score(sequences, [[1]])
