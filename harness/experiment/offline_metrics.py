"""Offline metrics of a student against its teacher, besides closed-loop success.

- action match rate: the student's greedy action equals the teacher's on held-out teacher states;
- reasoning match: ROUGE-L F (``rouge-score``) of the student's thought against the teacher's
  on the same states;
- compression ratio (teacher / student parameters, counted by ``distill.models.count_parameters``).

A *teacher state* is one step of a logged teacher episode: the task, the observations and the
teacher's turns up to that step. The student is asked for the next turn from exactly that state,
so both models answer the same prompt.

Decoding as play decodes: where the run decodes constrained (the pipeline's ``constrain_actions``), each
state also carries the ``admissible_actions`` the env gave the teacher there, so a constrained student
chooses among the same actions the teacher did. They are recomputed by replaying the teacher's episode
(:func:`replay_admissible_actions`): envs are deterministic given the task and the reset seed, which
``run.json`` records, and every replayed observation is checked against the logged one. Replaying costs
an env episode per sampled episode, once per pipeline, where logging the lists would add every step's
list (ALFWorld's dozens of commands) to every LM episode log.
"""
from __future__ import annotations

import dataclasses
import json
import random
import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
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


#: how the students decode on the teacher states (``decoding`` in each offline metrics file)
DECODINGS = {
    "constrained": "constrained to the admissible actions the teacher had at each state (replayed)",
    "free": "freely",
}


@dataclass(frozen=True)
class TeacherState:
    """One held-out teacher step: everything the agent saw before it and what the teacher did there."""

    task: str
    first_observation: str
    turns: tuple[Turn, ...]  # the teacher's earlier turns, each with the observation that answered it
    observation: str  # the observation the teacher acted on
    thought: str
    action: str
    episode: int = 0  # where the step is in the teacher's log
    step: int = 0
    task_id: str = ""
    task_type: str = ""
    #: ``info["admissible_actions"]`` the env gave the teacher at this step, once replayed
    #: (:func:`replay_admissible_actions`); None before, or where the env lists none (HotPotQA)
    admissible_actions: tuple[str, ...] | None = None
    replayed: bool = False

    def reset_info(self) -> dict[str, Any]:
        """What the agent's ``reset`` is given for the state's episode (the logged part of the env's info)."""
        return {"task_id": self.task_id, "task": self.task, "task_type": self.task_type}

    def info(self) -> dict[str, Any]:
        """What the agent's ``act`` is given at this state: the task and, once replayed, the admissible
        actions (what a constrained agent decodes within)."""
        info: dict[str, Any] = {"task_id": self.task_id, "task": self.task}
        if self.replayed:
            actions = self.admissible_actions
            info["admissible_actions"] = None if actions is None else list(actions)
        return info


def teacher_states(episodes: pd.DataFrame, max_states: int, seed: int = 0) -> list[TeacherState]:
    """Up to ``max_states`` steps sampled (seeded) from a teacher's episode log, each with its history
    (failed episodes, logged as one row with an ``error``, hold no state)."""
    needed = {"episode", "step", "observation", "thought", "action", "completion"}
    missing = needed - set(episodes.columns)
    if missing:
        raise ValueError(
            f"teacher episode log lacks columns {sorted(missing)}; "
            "expected the episode-log schema of docs/design.md"
        )
    if "error" in episodes.columns:
        episodes = episodes[episodes["error"].fillna("").astype(str) == ""]
    states: list[TeacherState] = []
    for _, ep in episodes.sort_values(["episode", "step"]).groupby("episode", sort=True):
        rows = ep.to_dict("records")
        first = rows[0]
        turns: list[Turn] = []
        for i, row in enumerate(rows):
            states.append(
                TeacherState(
                    task=str(first.get("task") or ""),
                    first_observation=str(first["observation"]),
                    turns=tuple(turns),
                    observation=str(row["observation"]),
                    thought=str(row["thought"] or ""),
                    action=str(row["action"] or ""),
                    episode=int(row["episode"]),
                    step=int(row["step"]),
                    task_id=str(first.get("task_id") or ""),
                    task_type=str(first.get("task_type") or ""),
                )
            )
            answer = str(rows[i + 1]["observation"]) if i + 1 < len(rows) else None
            turns.append(Turn(thought=str(row["thought"] or ""), action=str(row["action"] or ""),
                              text=str(row["completion"] or ""), observation=answer))
    if len(states) > max_states:
        states = random.Random(seed).sample(states, max_states)
    return states


def replay_admissible_actions(states: Sequence[TeacherState], run_dir: str | Path) -> list[TeacherState]:
    """``states`` of the teacher run in ``run_dir``, each with the ``admissible_actions`` the env gave the
    teacher there: each episode is played again in a fresh env of the run's env, split and options
    (``run.json``), reset as the run reset it (:func:`harness.evaluate.evaluate`: seed ``seed + task_offset +
    episode``, the episode's task id), then stepped with the teacher's actions up to its last sampled state.
    A replayed observation that differs from the logged one is an error naming the episode and step."""
    import envs
    from harness.run_dir import RUN_FILE, read_run_file

    run_dir = Path(run_dir)
    run = read_run_file(run_dir / RUN_FILE)
    env_kwargs = dict(run.get("env_kwargs") or {})
    env = envs.make(str(run["env"]), split=str(run["split"]), **env_kwargs)
    first_seed = int(run.get("seed", 0)) + int(run.get("task_offset", 0))
    by_episode: dict[int, list[TeacherState]] = {}
    for state in states:
        by_episode.setdefault(state.episode, []).append(state)
    listed: dict[tuple[int, int], Any] = {}
    try:
        for episode, sampled in sorted(by_episode.items()):
            last = max(sampled, key=lambda s: s.step)
            observation, info = env.reset(seed=first_seed + episode, options={"task_id": last.task_id})
            for step in range(last.step + 1):
                expected = last.first_observation if step == 0 else last.turns[step - 1].observation
                if observation != expected:
                    raise ValueError(
                        f"{run_dir}: replaying episode {episode} (task {last.task_id!r}, seed "
                        f"{first_seed + episode}) gave another observation at step {step} than its log: "
                        f"{observation[:80]!r} vs {str(expected)[:80]!r}; expected a deterministic env"
                    )
                listed[episode, step] = info.get("admissible_actions")
                if step < last.step:
                    observation, _, _, _, info = env.step(last.turns[step].action)
    finally:
        env.close()
    return [dataclasses.replace(s, replayed=True, admissible_actions=None if listed[s.episode, s.step] is None
                                else tuple(str(a) for a in listed[s.episode, s.step]))
            for s in states]


def predict_on_states(agent: Any, states: Sequence[TeacherState], batch_size: int = 16) -> list[Any]:
    """The agent's next turn (greedy for an LM agent built with greedy decoding) from each teacher state.

    Each state gets its own slot whose episode is preloaded with the teacher's history, so the agent
    builds its usual prompt over the teacher's turns rather than its own; it is given the state's
    :meth:`TeacherState.info` (with the teacher's admissible actions once replayed), as play gives it.
    """
    steps: list[Any] = []
    for lo in range(0, len(states), batch_size):
        chunk = states[lo:lo + batch_size]
        slots = list(range(len(chunk)))
        for slot, state in zip(slots, chunk, strict=True):
            agent.reset(state.reset_info(), slot=slot)
            episode = agent.episodes[slot]
            episode.first_observation = state.first_observation if state.turns else None
            episode.turns = [Turn(t.thought, t.action, t.text, t.observation) for t in state.turns]
        steps.extend(
            agent.act_batch([s.observation for s in chunk], [s.info() for s in chunk], slots=slots)
        )
    return steps


def student_offline_metrics(
    agent: Any, states: Sequence[TeacherState], batch_size: int = 16
) -> dict[str, Any]:
    """Action match and reasoning match (ROUGE-L F) of ``agent`` on ``states``, plus its mean thought length
    in words there and how it decoded (a key of :data:`DECODINGS`: constrained where the agent constrains
    its actions and the states carry the teacher's admissible actions)."""
    steps = predict_on_states(agent, states, batch_size=batch_size)
    constrained = bool(getattr(agent, "constrain_actions", False)) and all(s.replayed for s in states)
    return {
        "states": len(states),
        "decoding": "constrained" if constrained else "free",
        "action_match": action_match_rate([s.action for s in steps], [s.action for s in states]),
        "reasoning_match": rouge_l_f([s.thought for s in steps], [s.thought for s in states]),
        "offline_thought_words": (sum(len(s.thought.split()) for s in steps) / len(steps))
        if steps
        else float("nan"),
    }


def decoding_facts(root: str | Path) -> list[str]:
    """The report's line on how the students decoded on the teacher states, from the offline metrics files
    under ``root`` (a pipeline's env directory); none where there are none."""
    from harness.experiment.layout import OFFLINE_METRICS

    found: dict[str, None] = {}
    for path in sorted(Path(root).glob(f"offline/*/{OFFLINE_METRICS}")):
        decoding = json.loads(path.read_text()).get("decoding")
        found[DECODINGS.get(decoding, "not recorded (free where the env lists admissible actions)")] = None
    if not found:
        return []
    return [f"- action / reasoning match: students decode {' / '.join(found)} on the held-out teacher states"]
