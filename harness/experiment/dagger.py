"""DAgger data for a fine-tuned teacher: the states its own play reached, each labelled by the expert.

    rows = relabel_played(Path("runs/curve/dagger_1_play"))   # one replay per logged episode
    write_aggregate([Path("runs/curve/demos")], rows, Path("runs/curve/dagger_1_data"))

A teacher fine-tuned on the expert's demos only ever saw states on the expert's path; once it steps off
(opens a product the expert would not, goes back to the results), it meets states no demo shows, and it
loops. One DAgger round (Ross et al. 2011) plays the learner, asks the expert what it would do in every
state the learner reached, and trains on the aggregate of the demos and those labels.

1. :func:`relabel_played` replays every logged episode of a run in a fresh env (the logged task, the env
   seed ``evaluate`` gave it, the logged actions) and asks :meth:`agents.experts.Expert.relabel` for the
   turn it would play in each state, with that step's info. The replay must reproduce the logged
   observations; an episode whose replay diverges (a nondeterministic env) is left out and counted.
2. :func:`write_aggregate` writes one ``episodes.parquet``: every demo turn (``guided=True``: the expert
   played it) and, for each relabelled state, one episode of the learner's own turns up to it
   (``guided=False``: context, no loss) followed by the expert's turn (``guided=True``). Trained with
   ``SFTConfig(loss_on="guided")``, the loss covers the expert's turns only, each in exactly the history
   the learner made. The learner's own turns are logged as text (the trainer fits their context with its
   budget, as it does for demos).
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from agents.base import AgentStep

#: the columns of the aggregate's episodes.parquet
COLUMNS = ("run_id", "env", "split", "task_id", "task", "episode", "step", "observation", "thought", "action",
           "completion", "guided")


@dataclass
class Relabelled:
    """The expert's labels of one replayed episode: ``labels[k]`` is its turn in the state of step k."""

    rows: pd.DataFrame  # the logged rows of the episode, in step order
    labels: list[AgentStep]  # the expert's turn per step


@dataclass
class RelabelResult:
    """:func:`relabel_played`'s episodes, and how many were left out because their replay diverged."""

    episodes: list[Relabelled]
    diverged: int

    @property
    def states(self) -> int:
        """States labelled."""
        return sum(len(e.labels) for e in self.episodes)

    @property
    def disagreements(self) -> int:
        """States where the learner's logged action differs from the expert's."""
        return sum(str(a) != s.action for e in self.episodes for a, s in zip(e.rows["action"], e.labels,
                                                                              strict=True))


def relabel_played(run_dir: Path) -> RelabelResult:
    """The expert's turn in every state of every episode logged in ``run_dir`` (an ``evaluate`` run: its
    ``run.json`` names the env, split, env options, seed and task offset)."""
    import envs
    from agents.base import Episode
    from agents.experts import make_expert
    from agents.react import Turn

    meta = json.loads((run_dir / "run.json").read_text())
    frame = pd.read_parquet(run_dir / "episodes.parquet").sort_values(["episode", "step"])
    env = envs.make(meta["env"], split=meta["split"], **meta.get("env_kwargs", {}))
    expert = make_expert(meta["env"])
    relabelled, diverged = [], 0
    try:
        for episode, rows in frame.groupby("episode", sort=True):
            seed = int(meta["seed"]) + int(meta.get("task_offset", 0)) + int(episode)
            observation, info = env.reset(seed=seed, options={"task_id": str(rows["task_id"].iloc[0])})
            history = Episode(task=str(info.get("task", "")), info=dict(info))
            labels = []
            for row in rows.itertuples():
                if observation != row.observation:
                    break
                history.observe(observation)
                labels.append(expert.relabel(history, info))
                history.turns.append(Turn(thought=str(row.thought), action=str(row.action),
                                          text=str(row.completion)))
                observation, _, _, _, info = env.step(str(row.action))
            if len(labels) < len(rows):
                diverged += 1
                continue
            relabelled.append(Relabelled(rows=rows.reset_index(drop=True), labels=labels))
    finally:
        env.close()
    return RelabelResult(relabelled, diverged)


def write_aggregate(demo_runs: list[Path], result: RelabelResult, out: Path) -> Path:
    """``out/episodes.parquet``: the demos' turns and one episode per relabelled state (module docstring)."""
    frames = []
    for i, run in enumerate(demo_runs):
        demos = pd.read_parquet(run / "episodes.parquet")
        demos = demos.assign(run_id=f"demos-{i}", guided=True)
        frames.append(demos[list(COLUMNS)])
    states = []
    for replayed in result.episodes:
        rows = replayed.rows
        for k, label in enumerate(replayed.labels):
            own = rows.iloc[:k].assign(guided=False)
            target = rows.iloc[[k]].assign(thought=label.thought, action=label.action, completion=label.text,
                                           guided=True)
            states.append(pd.concat([own, target]).assign(episode=len(states)))
    if states:
        frames.append(pd.concat(states).assign(run_id="relabelled")[list(COLUMNS)])
    out.mkdir(parents=True, exist_ok=True)
    path = out / "episodes.parquet"
    pd.concat(frames, ignore_index=True).to_parquet(path, index=False)
    return path
