"""Shared fixtures for the distill tests: real ReAct episodes written as episode logs, tiny models.

The episodes are the ReAct authors' ALFWorld trajectories (agents/prompts/alfworld_3prompts.json),
turned into this project's ``Thought: ... / Action: ...`` turns, and written as runs/<id>/episodes.parquet
with the harness's schema. Top-k logs come from a real tiny teacher: teacher-forced over the demos
(``teacher_run``), or played as the LM agent with a prompt budget that drops turns (``played``).
"""
from __future__ import annotations

import json
import os
import re
from pathlib import Path

import pandas as pd
import pytest
import torch

from agents.prompts import HERE as PROMPTS_DIR

# one thread: on a shared 2-core machine, two threads per process oversubscribe it and run slower
os.environ.setdefault("OMP_NUM_THREADS", "1")
torch.set_num_threads(1)


def alfworld_react_episodes() -> list[dict]:
    """The ReAct authors' 18 ALFWorld trajectories as {task, task_type, first_observation, turns}."""
    prompts = json.loads((PROMPTS_DIR / "alfworld_3prompts.json").read_text())
    episodes = []
    for key, text in prompts.items():
        if not key.startswith("react_"):
            continue
        lines = [line for line in text.strip().splitlines()]
        task_line = next(i for i, line in enumerate(lines) if line.startswith("Your task is to:"))
        first_observation = "\n".join(lines[: task_line + 1])
        turns, thoughts, i = [], [], task_line + 1
        while i < len(lines):
            line = lines[i]
            i += 1
            if not line.startswith(">"):
                continue
            command = line[1:].strip()
            observation = []
            while i < len(lines) and not lines[i].startswith(">"):
                observation.append(lines[i])
                i += 1
            if command.startswith("think:"):
                thoughts.append(command[len("think:"):].strip())
                continue
            turns.append((" ".join(thoughts), command, "\n".join(observation) or "Nothing happens."))
            thoughts = []
        episodes.append({
            "task": lines[task_line][len("Your task is to:"):].strip(),
            "task_type": re.sub(r"_\d+$", "", key[len("react_"):]),
            "first_observation": first_observation,
            "turns": turns,
        })
    return episodes


def completion_text(thought: str, action: str) -> str:
    return f"Thought: {thought}\nAction: {action}" if thought else f"Action: {action}"


def episode_rows(run_id: str, episodes: list[dict], env: str = "alfworld") -> list[dict]:
    """One row per step with the harness's columns; ``observation`` is what the agent acted on."""
    rows = []
    for e, ep in enumerate(episodes):
        observations = [ep["first_observation"]] + [obs for _, _, obs in ep["turns"][:-1]]
        for s, ((thought, action, _), obs) in enumerate(zip(ep["turns"], observations, strict=True)):
            last = s == len(ep["turns"]) - 1
            rows.append({
                "run_id": run_id, "env": env, "split": "train", "task_id": f"{ep['task_type']}-{e}",
                "episode": e, "step": s, "observation": obs, "thought": thought, "action": action,
                "completion": completion_text(thought, action), "reward": float(last), "terminated": last,
                "truncated": False, "won": last, "score": float(last), "invalid_action": False,
                "n_reason_tokens": 0, "n_act_tokens": 0, "latency_s": 0.0,
                "task": ep["task"], "task_type": ep["task_type"],
            })
    return rows


def write_run(root: Path, run_id: str, rows: list[dict]) -> Path:
    """runs/<run_id>/episodes.parquet (+ summary.json) under ``root``; returns the run directory."""
    run = root / run_id
    run.mkdir(parents=True, exist_ok=True)
    pd.DataFrame(rows).to_parquet(run / "episodes.parquet", index=False)
    summary = {"env": rows[0]["env"], "agent": "test", "episodes": len({r["episode"] for r in rows})}
    (run / "summary.json").write_text(json.dumps(summary))
    return run


@torch.no_grad()
def add_teacher_topk(rows: list[dict], model_dir: Path, k: int, max_prompt_tokens: int = 320) -> list[dict]:
    """Log, per step, the completion's token ids, the teacher's top-k at each of them and the context
    they were computed in, as an LM teacher logs them at rollout (teacher-forced on the demo's
    completions): the prompt is fitted to ``max_prompt_tokens`` by the agents' rule."""
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from agents.context import fit_ids, omitted_note
    from agents.prompts import instructions
    from agents.react import header

    tokenizer = AutoTokenizer.from_pretrained(model_dir)
    model = AutoModelForCausalLM.from_pretrained(model_dir).eval()

    def ids_of(text: str) -> list[int]:
        return tokenizer(text, add_special_tokens=False)["input_ids"]

    bos = [tokenizer.bos_token_id] if tokenizer("a")["input_ids"][:1] == [tokenizer.bos_token_id] else []
    out = []
    for (_, _), steps in pd.DataFrame(rows).groupby(["run_id", "episode"], sort=True):
        steps = steps.sort_values("step").to_dict("records")
        head = bos + ids_of(header(steps[0]["task"], steps[0]["observation"], instructions(steps[0]["env"])))
        blocks: list[list[int]] = []
        for i, row in enumerate(steps):
            prompt, dropped = fit_ids(head, blocks, max_prompt_tokens, lambda n: ids_of(omitted_note(n)))
            completion = ids_of(row["completion"].strip())
            logits = model(torch.tensor([prompt + completion])).logits[0, len(prompt) - 1:-1]  # (C, V)
            top = torch.log_softmax(logits.float(), -1).topk(k, dim=-1)
            row.update(token_ids=completion, topk_ids=top.indices.tolist(), topk_logprobs=top.values.tolist(),
                       n_dropped_turns=dropped, prompt_tokens=len(prompt))
            following = steps[i + 1]["observation"] if i + 1 < len(steps) else None
            observation = "\n" if following is None else f"\nObservation: {following.strip()}\n"
            blocks.append(completion + ids_of(observation))
            out.append(row)
    return out


def play_logged_episode(
    model_dir: Path, episode: dict, *, max_prompt_tokens: int, max_new_tokens: int, long_step: int
) -> tuple[list[dict], list[list[int]]]:
    """An LM agent playing ``episode``'s observations in turn, logged as the harness logs it (token
    ids, full-vocabulary top-k, ``n_dropped_turns``, ``prompt_tokens``), and the prompt ids it fed
    its model at every step. The observation of ``long_step`` is made long enough that the header and
    the latest turn alone exceed the budget (the branch that cuts the prompt's start)."""
    from agents.lm import LMAgent

    agent = LMAgent(model_dir, env="alfworld", max_new_tokens=max_new_tokens,
                    max_prompt_tokens=max_prompt_tokens, log_topk=10_000, device="cpu", precision="fp32")
    fed: list[list[int]] = []
    generate = agent.generate

    def generate_and_record(prompts, constraints=None, slots=None):
        fed.extend(list(p) for p in prompts)
        return generate(prompts, constraints, slots)

    agent.generate = generate_and_record
    agent.reset({"task": episode["task"]})
    observations = [episode["first_observation"], *(obs for _, _, obs in episode["turns"])]
    rows = []
    for step, observation in enumerate(observations[:-1]):
        if step == long_step:
            observation = " ".join([observation] * (max_prompt_tokens // 12))
        s = agent.act(observation)
        rows.append({
            "run_id": "played", "env": "alfworld", "split": "train", "task_id": "played-0", "episode": 0,
            "step": step, "observation": observation, "thought": s.thought, "action": s.action,
            "completion": s.text, "reward": 0.0, "terminated": False, "truncated": False, "won": False,
            "score": 0.0, "invalid_action": False, "n_reason_tokens": s.n_reason_tokens,
            "n_act_tokens": s.n_act_tokens, "latency_s": s.latency_s, "task": episode["task"],
            "task_type": "",
            "token_ids": s.token_ids, "topk_ids": s.topk_ids, "topk_logprobs": s.topk_logprobs,
            "n_dropped_turns": s.n_dropped_turns, "prompt_tokens": s.prompt_tokens,
        })
    return rows, fed


@pytest.fixture(scope="session")
def react_episodes() -> list[dict]:
    return alfworld_react_episodes()


@pytest.fixture(scope="session")
def distill_root(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("distill")


@pytest.fixture(scope="session")
def expert_run(distill_root, react_episodes) -> Path:
    """An expert-demo run (no token ids): all 18 ReAct ALFWorld trajectories."""
    return write_run(distill_root / "runs", "expert", episode_rows("expert", react_episodes))


@pytest.fixture(scope="session")
def bpe_tokenizer(react_episodes):
    from distill.models import train_bpe

    texts = [
        ep["first_observation"] + "\n"
        + "\n".join(completion_text(t, a) + "\n" + o for t, a, o in ep["turns"])
        for ep in react_episodes
    ]
    return train_bpe(texts, 1024)


@pytest.fixture(scope="session")
def tiny_teacher(distill_root, expert_run) -> Path:
    """A tiny Llama teacher trained by ``train`` (SFT) on the expert demos."""
    from distill.config import SFTConfig
    from distill.train import train

    config = SFTConfig(
        data=[str(expert_run)], out=str(distill_root / "teacher"), model="tiny", role="teacher",
        loss_on="episode", max_steps=30, batch_size=4, micro_batch_size=4, max_length=384, lr=3e-3,
        warmup_steps=3, eval_every=10, eval_fraction=0.2, save_every=30, progress=False, tensorboard=False,
    )
    return train(config)


@pytest.fixture(scope="session")
def teacher_run(distill_root, react_episodes, tiny_teacher) -> Path:
    """The teacher's run with logged token ids, top-8 log-probs per completion token and contexts."""
    rows = add_teacher_topk(episode_rows("teacher-run", react_episodes), tiny_teacher, k=8)
    return write_run(distill_root / "runs", "teacher-run", rows)


#: the played episode's prompt budget and turn length (a training max_length of their sum fits every step)
PLAY_PROMPT_TOKENS, PLAY_NEW_TOKENS = 360, 24


@pytest.fixture(scope="session")
def played(distill_root, react_episodes, tiny_teacher) -> tuple[Path, list[list[int]]]:
    """(run directory, prompt ids fed at each step) of the tiny teacher played as an LM agent over
    the longest ReAct episode with a prompt budget that drops old turns, and cuts one prompt."""
    episode = max(react_episodes, key=lambda e: len(e["turns"]))
    rows, fed = play_logged_episode(tiny_teacher, episode, max_prompt_tokens=PLAY_PROMPT_TOKENS,
                                    max_new_tokens=PLAY_NEW_TOKENS, long_step=9)
    return write_run(distill_root / "runs", "played", rows), fed
