"""Prompt material per environment: a one-paragraph instruction and few-shot examples.

The few-shot examples are the ReAct authors' own trajectories (``alfworld_3prompts.json``,
``prompts_naive.json``; MIT, see ``LICENSE`` here). The LM agent and the distillation data
builder both take their prompt from here, so a student trains on exactly what it will see.
"""
from __future__ import annotations

import json
from functools import cache
from pathlib import Path

HERE = Path(__file__).parent

INSTRUCTIONS: dict[str, str] = {
    "alfworld": (
        "Interact with a household to solve a task. Each turn, write one line 'Thought: ...' "
        "and one line 'Action: <command>' (go to, open, close, take, move, heat, cool, clean, use, examine, look, inventory)."
    ),
    "hotpotqa": (
        "Answer the question by interleaving Thought and Action lines. Actions: search[entity] returns the "
        "first sentences of its page (or similar titles), lookup[keyword] returns the next sentence with the "
        "keyword on the current page, finish[answer] ends with the answer."
    ),
    "webshop": (
        "Buy the product that best matches the instruction. Each turn, write one line 'Thought: ...' and one "
        "line 'Action: search[keywords]' or 'Action: click[button]' using a button shown on the page."
    ),
}

#: env -> (file, key prefix) of the ReAct authors' few-shot trajectories
_FEW_SHOT_SOURCES = {"alfworld": ("alfworld_3prompts.json", "react_"), "hotpotqa": ("prompts_naive.json", "webthink_simple6")}


def instructions(env: str) -> str:
    """The instruction paragraph for ``env`` ("" for an env without one)."""
    return INSTRUCTIONS.get(env, "")


@cache
def react_trajectories(file_name: str) -> dict[str, str]:
    """The ReAct authors' trajectories in ``file_name`` (key -> text)."""
    path = HERE / file_name
    if not path.exists():
        raise FileNotFoundError(f"{path}: bundled ReAct prompt file is missing; reinstall agentdistill")
    return json.loads(path.read_text())


def few_shot(env: str, n: int = 1) -> list[str]:
    """Up to ``n`` few-shot example texts for ``env`` from the ReAct authors' prompts ([] when none)."""
    if env not in _FEW_SHOT_SOURCES or n <= 0:
        return []
    file_name, prefix = _FEW_SHOT_SOURCES[env]
    texts = [v for k, v in react_trajectories(file_name).items() if k.startswith(prefix)]
    return [t.strip() for t in texts[:n]]
