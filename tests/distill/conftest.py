"""Shared fixtures for the distill tests: real ReAct episodes written as episode logs, tiny models.

The episodes are the ReAct authors' ALFWorld trajectories (agents/prompts/alfworld_3prompts.json),
turned into this project's ``Thought: ... / Action: ...`` turns, and written as runs/<id>/episodes.parquet
with the harness's schema. Top-k logs come from a real tiny teacher's forward pass over its episodes.
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
from distill.data import EpisodeLog, encode_episode

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
        for s, ((thought, action, _), obs) in enumerate(zip(ep["turns"], observations)):
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
    (run / "summary.json").write_text(json.dumps({"env": rows[0]["env"], "agent": "test", "episodes": len({r["episode"] for r in rows})}))
    return run


@torch.no_grad()
def add_teacher_topk(rows: list[dict], model_dir: Path, k: int) -> list[dict]:
    """Log, per step, the completion's token ids and the teacher's top-k at each of them, from a
    real forward pass of the teacher over the episode (what an LM teacher logs at rollout)."""
    from transformers import AutoModelForCausalLM, AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(model_dir)
    model = AutoModelForCausalLM.from_pretrained(model_dir).eval()
    frame = pd.DataFrame(rows)
    out = []
    for (_, _), steps in frame.groupby(["run_id", "episode"], sort=True):
        steps = steps.sort_values("step")
        log = EpisodeLog("x", steps["env"].iloc[0], steps["task"].iloc[0], steps["observation"].tolist(), steps["completion"].tolist())
        (example,) = encode_episode(log, tokenizer, max_length=100_000)
        logprobs = torch.log_softmax(model(torch.tensor([example.input_ids])).logits[0].float(), -1)  # (T, V)
        top = logprobs.topk(k, dim=-1)
        runs, current = [], []
        for t, in_completion in enumerate(example.completion_mask):
            if in_completion:
                current.append(t)
            elif current:
                runs.append(current)
                current = []
        if current:
            runs.append(current)
        assert len(runs) == len(steps), "every step's completion is one run of tokens"
        for row, positions in zip(steps.to_dict("records"), runs):
            row["token_ids"] = [example.input_ids[t] for t in positions]
            row["topk_ids"] = [top.indices[t - 1].tolist() for t in positions]  # logits at t-1 predict token t
            row["topk_logprobs"] = [top.values[t - 1].tolist() for t in positions]
            out.append(row)
    return out


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

    texts = [ep["first_observation"] + "\n" + "\n".join(completion_text(t, a) + "\n" + o for t, a, o in ep["turns"])
             for ep in react_episodes]
    return train_bpe(texts, 1024)


@pytest.fixture(scope="session")
def tiny_teacher(distill_root, expert_run) -> Path:
    """A tiny Llama teacher trained by ``train`` (SFT) on the expert demos."""
    from distill.config import SFTConfig
    from distill.train import train

    config = SFTConfig(
        data=[str(expert_run)], out=str(distill_root / "teacher"), model="tiny", role="teacher",
        max_steps=30, batch_size=4, micro_batch_size=4, max_length=384, lr=3e-3, warmup_steps=3,
        eval_every=10, eval_fraction=0.2, save_every=30, progress=False, tensorboard=False,
    )
    return train(config)


@pytest.fixture(scope="session")
def teacher_run(distill_root, react_episodes, tiny_teacher) -> Path:
    """The teacher's run with logged token ids and top-8 log-probs per completion token."""
    rows = add_teacher_topk(episode_rows("teacher-run", react_episodes), tiny_teacher, k=8)
    return write_run(distill_root / "runs", "teacher-run", rows)
