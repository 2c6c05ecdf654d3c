"""Offline metrics of a student against its teacher, besides closed-loop success.

- action match rate: the student's greedy action equals the teacher's on held-out teacher states;
- reasoning match: ROUGE-L F (``rouge-score``) of the student's thought against the teacher's
  on the same states;
- compression ratio (teacher / student parameters, counted by ``distill.models.count_parameters``).

A *teacher state* is one step of a logged teacher episode: the task, the observations and the
teacher's turns up to that step. The student is asked for the next turn from exactly that state,
so both models answer the same prompt.
"""
from __future__ import annotations

import random
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import pandas as pd

from agents.react import Turn

_BRACKET_SPACE = re.compile(r"\[ | \]")


def normalize_action(action: str) -> str:
    """An action compared case- and whitespace-insensitively
    (``Search[ Red shoes ]`` = ``search[ red shoes ]``)."""
    collapsed = " ".join(str(action).lower().split())
    return _BRACKET_SPACE.sub(lambda m: m.group(0).strip(), collapsed)


def action_match_rate(student_actions: Sequence[str], teacher_actions: Sequence[str]) -> float:
    """Fraction of states where the student's action equals the teacher's (after :func:`normalize_action`)."""
    if len(student_actions) != len(teacher_actions):
        raise ValueError(
            f"action_match_rate got {len(student_actions)} student and {len(teacher_actions)} teacher actions"
        )
    if not teacher_actions:
        return float("nan")
    pairs = zip(student_actions, teacher_actions, strict=True)
    hits = sum(normalize_action(s) == normalize_action(t) for s, t in pairs)
    return hits / len(teacher_actions)


def rouge_l_f(candidates: Sequence[str], references: Sequence[str]) -> float:
    """Mean ROUGE-L F-measure of ``candidates`` against ``references``; pairs whose reference is empty
    are skipped (NaN when none is left)."""
    from rouge_score import rouge_scorer

    if len(candidates) != len(references):
        raise ValueError(f"rouge_l_f got {len(candidates)} candidates and {len(references)} references")
    scorer = rouge_scorer.RougeScorer(["rougeL"], use_stemmer=False)
    pairs = zip(candidates, references, strict=True)
    scores = [scorer.score(ref, cand)["rougeL"].fmeasure for cand, ref in pairs if ref.strip()]
    return sum(scores) / len(scores) if scores else float("nan")


def compression_ratio(teacher_params: int, student_params: int) -> float:
    """How many times smaller the student is than the teacher."""
    if student_params <= 0:
        raise ValueError(f"student parameter count must be positive, got {student_params}")
    return teacher_params / student_params


@dataclass(frozen=True)
class TeacherState:
    """One held-out teacher step: everything the agent saw before it and what the teacher did there."""

    task: str
    first_observation: str
    turns: tuple[Turn, ...]  # the teacher's earlier turns, each with the observation that answered it
    observation: str  # the observation the teacher acted on
    thought: str
    action: str


def teacher_states(episodes: pd.DataFrame, max_states: int, seed: int = 0) -> list[TeacherState]:
    """Up to ``max_states`` steps sampled (seeded) from a teacher's episode log, each with its history."""
    needed = {"episode", "step", "observation", "thought", "action", "completion"}
    missing = needed - set(episodes.columns)
    if missing:
        raise ValueError(
            f"teacher episode log lacks columns {sorted(missing)}; "
            "expected the episode-log schema of docs/design.md"
        )
    task_column = "task" if "task" in episodes.columns else None
    states: list[TeacherState] = []
    for _, ep in episodes.sort_values(["episode", "step"]).groupby("episode", sort=True):
        rows = ep.to_dict("records")
        task = str(rows[0][task_column]) if task_column else ""
        turns: list[Turn] = []
        for i, row in enumerate(rows):
            states.append(
                TeacherState(
                    task=task,
                    first_observation=str(rows[0]["observation"]),
                    turns=tuple(turns),
                    observation=str(row["observation"]),
                    thought=str(row["thought"] or ""),
                    action=str(row["action"] or ""),
                )
            )
            answer = str(rows[i + 1]["observation"]) if i + 1 < len(rows) else None
            turns.append(Turn(thought=str(row["thought"] or ""), action=str(row["action"] or ""),
                              text=str(row["completion"] or ""), observation=answer))
    if len(states) > max_states:
        states = random.Random(seed).sample(states, max_states)
    return states


def predict_on_states(agent: Any, states: Sequence[TeacherState], batch_size: int = 16) -> list[Any]:
    """The agent's next turn (greedy for an LM agent built with greedy decoding) from each teacher state.

    Each state gets its own slot whose episode is preloaded with the teacher's history, so the agent
    builds its usual prompt over the teacher's turns rather than its own.
    """
    steps: list[Any] = []
    for lo in range(0, len(states), batch_size):
        chunk = states[lo:lo + batch_size]
        slots = list(range(len(chunk)))
        for slot, state in zip(slots, chunk, strict=True):
            agent.reset({"task": state.task}, slot=slot)
            episode = agent.episodes[slot]
            episode.first_observation = state.first_observation if state.turns else None
            episode.turns = [Turn(t.thought, t.action, t.text, t.observation) for t in state.turns]
        steps.extend(
            agent.act_batch([s.observation for s in chunk], [{"task": s.task} for s in chunk], slots=slots)
        )
    return steps


def student_offline_metrics(
    agent: Any, states: Sequence[TeacherState], batch_size: int = 16
) -> dict[str, float]:
    """Action match and reasoning match (ROUGE-L F) of ``agent`` on ``states``, plus its mean thought length
    in words there."""
    steps = predict_on_states(agent, states, batch_size=batch_size)
    return {
        "states": len(states),
        "action_match": action_match_rate([s.action for s in steps], [s.action for s in states]),
        "reasoning_match": rouge_l_f([s.thought for s in steps], [s.thought for s in states]),
        "offline_thought_words": (sum(len(s.thought.split()) for s in steps) / len(steps))
        if steps
        else float("nan"),
    }
