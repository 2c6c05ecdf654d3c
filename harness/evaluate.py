"""``agentdistill eval`` / ``agentdistill rollout``: play an agent on an env split, log every step,
print and save the metrics.

    agentdistill eval --env webshop --agent expert --episodes 200 --workers 4 --run ws-expert
    agentdistill rollout --env hotpotqa --agent expert --split train --episodes 500 --log-topk 20

Python: ``evaluate(env, agent, split=..., episodes=..., workers=..., run=...) -> summary dict``.
Outputs: ``runs/<run>/episodes.parquet``, ``runs/<run>/summary.json``, ``runs/<run>/run.json``
(what was asked, so a rerun with the same ``--run`` resumes the same thing).
"""
from __future__ import annotations

import argparse
import json
import math
import os
import sys
import time
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import agents
import envs
from agents.base import Agent
from agents.model_files import MODEL_RECORD, PLAY_SETTINGS, ModelFileError, read_play_settings
from harness import interrupt
from harness.errors import UserError, user_input
from harness.logs import EpisodeWriter, read_episodes
from harness.metrics import format_table, summarize
from harness.options import check_options, finite_float, parse_options
from harness.provenance import commit, env_data, redact_command
from harness.rollout import EpisodeJob, Rollout, init_ray
from harness.run_dir import RunLock, record_run, write_text
from harness.tasks import MAX_EPISODES, planned_tasks


# --- agent resolution ----------------------------------------------------------------------------
def _students(env: str, runs_dir: str | Path) -> list[tuple[Path, dict[str, Any]]]:
    """(model dir, its record) of every saved student for ``env`` under ``runs_dir``."""
    found = []
    for marker in Path(runs_dir).glob(f"**/{MODEL_RECORD}"):
        try:
            meta = json.loads(marker.read_text())
        except (OSError, UnicodeDecodeError, json.JSONDecodeError, RecursionError):
            continue
        if isinstance(meta, dict) and meta.get("kind") == "student" and meta.get("env") == env:
            found.append((marker.parent, meta))
    return found


def _pipeline_evaluation(model_dir: Path) -> dict[str, Any] | None:
    """The closed-loop summary a pipeline wrote for the student in ``model_dir``
    (``<pipeline>/students/<label>`` -> ``<pipeline>/student_eval/<label>/summary.json``), or None."""
    if model_dir.parent.name != "students":
        return None
    summary = model_dir.parent.parent / "student_eval" / model_dir.name / "summary.json"
    try:
        payload = json.loads(summary.read_text())
    except (OSError, UnicodeDecodeError, json.JSONDecodeError, RecursionError):
        return None
    ok = isinstance(payload, dict) and all(
        isinstance(payload.get(k), int | float) for k in ("success_rate", "mean_score", "episodes"))
    return payload if ok else None


def _play_settings(model_dir: Path) -> dict[str, Any]:
    """The play settings recorded with the model in ``model_dir`` ({} when none)."""
    try:
        return read_play_settings(model_dir)
    except ModelFileError as err:
        raise UserError(str(err)) from None


def newest_student(env: str, runs_dir: str | Path = "runs") -> Path | None:
    """The newest model dir under ``runs_dir`` whose ``agentdistill.json`` (the trainer's model record)
    says kind "student" for ``env``."""
    students = [(str(meta.get("created", "")), (path / MODEL_RECORD).stat().st_mtime, path)
                for path, meta in _students(env, runs_dir)]
    return max(students, key=lambda s: s[:2])[2] if students else None


def best_student(env: str, runs_dir: str | Path = "runs") -> tuple[Path, str] | None:
    """(model dir, why it was picked): the student with the highest success rate, then mean score, in its
    pipeline's closed-loop evaluation; the newest student when none was evaluated by a pipeline."""
    rated = []
    for path, meta in _students(env, runs_dir):
        summary = _pipeline_evaluation(path)
        if summary is not None:
            rated.append((summary["success_rate"], summary["mean_score"], str(meta.get("created", "")), path,
                          summary))
    if rated:
        success, score, _, path, summary = max(rated, key=lambda r: r[:3])
        return path, (f"best of {len(rated)} pipeline-evaluated students for {env}: success {success:.2f}, "
                      f"score {score:.3f} on {summary['episodes']} {summary.get('split', 'test')} episodes")
    newest = newest_student(env, runs_dir)
    return (newest, f"newest student for {env}; no pipeline evaluated one") if newest is not None else None


def resolve_agent(
    agent: str | None, env: str, runs_dir: str | Path = "runs"
) -> tuple[str, dict[str, Any], str]:
    """(registry name, extra kwargs, label for the table) for what the user typed as ``--agent``.

    Empty → the best student for ``env`` under ``runs_dir`` (:func:`best_student`), else ``expert``; a
    path to a saved model → the ``lm`` agent on it; otherwise a registered agent name. A model's recorded
    play settings (:func:`agents.model_files.read_play_settings`) are in the kwargs.
    """
    if not agent:
        picked = best_student(env, runs_dir)
        if picked is not None:
            student, why = picked
            return "lm", {"model": str(student), **_play_settings(student)}, f"lm:{student} ({why})"
        return "expert", {}, f"expert (no trained student for {env} under {runs_dir}/)"
    if agent in agents.names():
        return agent, {}, agent
    if os.sep in agent or Path(agent).exists():
        path = Path(agent)
        if not path.exists():
            raise UserError(
                f"--agent {agent}: no such file or directory (expected an agent name or a saved model dir)"
            )
        return "lm", {"model": str(path), **_play_settings(path)}, f"lm:{path}"
    raise UserError(
        f"unknown agent {agent!r}: expected one of {', '.join(agents.names())} or a path to a saved model"
    )


def split_task_ids(env: str, split: str, env_kwargs: dict[str, Any]) -> list[str]:
    """``env.unwrapped.task_ids`` of ``split``."""
    with user_input(f"env {env!r} split {split!r} with options {env_kwargs}"):
        instance = envs.make(env, split=split, **env_kwargs)
    try:
        ids = list(instance.unwrapped.task_ids)
    finally:
        instance.close()
    if not ids:
        raise UserError(f"env {env!r} split {split!r} has no tasks")
    return ids


def evaluate(
    env: str,
    agent: str | Agent,
    *,
    split: str = "test",
    episodes: int = 50,
    workers: int = 2,
    run: str | Path | None = None,
    runs_dir: str | Path = "runs",
    seed: int = 0,
    env_kwargs: dict[str, Any] | None = None,
    agent_kwargs: dict[str, Any] | None = None,
    log_topk: int = 0,
    ray_address: str | None = None,
    progress: bool = True,
    in_flight: int | None = None,
    max_retries: int = 2,
    episode_timeout: float | None = None,
    command: Sequence[str] | None = None,
    task_offset: int = 0,
) -> dict[str, Any]:
    """Play ``episodes`` episodes of ``agent`` on ``env``'s ``split`` and return the summary dict
    (also written to ``<run dir>/summary.json``; the metrics table is printed).

    Episode ``i`` plays the ``(task_offset + i)``-th task of the split's stratified order
    (:mod:`harness.tasks`, cycling past its end) with ``reset(seed=seed + task_offset + i)``. ``agent`` is a
    registered name, a saved model path, "" (newest student, else expert) or an Agent object.
    ``run`` is a name under ``runs_dir`` or a path; a rerun with the same run skips finished episodes.
    ``in_flight`` (episodes played at once = the policy's batch) defaults to 4 per worker, at least 8.
    ``episode_timeout`` (Ray only): seconds after which an env worker or policy actor that has not
    answered is taken as hung and replaced (its episodes re-run, up to ``max_retries`` times).
    ``command`` (default ``sys.argv``) is recorded in run.json with its secrets masked; a second
    eval of a run being played is refused (``run.lock``).
    """
    with user_input("--env"):
        envs.spec(env)  # unknown env -> KeyError listing the known ones
    if episodes < 1:
        raise UserError(f"episodes must be >= 1, got {episodes}")
    if episodes > MAX_EPISODES:
        raise UserError(f"episodes={episodes} is more than {MAX_EPISODES:,}, the most one run plays (its "
                        "plan is held in memory); split them over several --run")
    if seed < 0:
        raise UserError(f"seed must be >= 0 (episode i plays env seed seed + i), got {seed}")
    if task_offset < 0:
        raise UserError(f"task_offset must be >= 0 (episode i plays the task at task_offset + i), "
                        f"got {task_offset}")
    if in_flight is not None and in_flight < 1:
        raise UserError(f"in_flight must be >= 1 (episodes played at once), got {in_flight}")
    if log_topk < 0:
        raise UserError(f"log_topk must be >= 0 (0: no top-k logged), got {log_topk}")
    if workers < 0:
        raise UserError(f"workers must be >= 0 (0 = no Ray, in this process), got {workers}")
    cpus = os.cpu_count() or 1
    if ray_address is None and workers > cpus:
        raise UserError(
            f"workers={workers} is more than the {cpus} CPUs of this machine; use --workers {cpus} or fewer "
            f"(or --ray-address to join a cluster)"
        )
    if episode_timeout is not None and not (0 < episode_timeout < math.inf and workers > 0):
        raise UserError(
            f"episode_timeout={episode_timeout}: needs a finite positive number of seconds and Ray workers "
            "(--workers >= 1)"
        )
    _check_output_dir(Path(run) if run is not None and (os.sep in str(run) or Path(run).is_absolute())
                      else Path(runs_dir) / str(run or ""))
    env_kwargs = dict(env_kwargs or {})
    check_options(envs.registry.load(env), env_kwargs, "--env-opt")
    agent_kwargs = dict(agent_kwargs or {})
    if log_topk:
        agent_kwargs.setdefault("log_topk", log_topk)

    if isinstance(agent, Agent):
        policy: Agent | tuple[str, dict[str, Any]] = agent
        play_settings: dict[str, Any] = {}
        label = type(agent).__name__
        agent_name = label
    else:
        agent_name, extra, label = resolve_agent(agent, env, runs_dir)
        play = {k: v for k, v in extra.items() if k in PLAY_SETTINGS}
        play_settings = {"from_model": {k: v for k, v in play.items() if k not in agent_kwargs},
                         "overridden": {k: agent_kwargs[k] for k in play if k in agent_kwargs}}
        if play:
            print(f"[eval] play settings from {extra['model']}/{MODEL_RECORD}: "
                  f"{play_settings['from_model'] or 'none'}; overridden by options: "
                  f"{play_settings['overridden'] or 'none'}", file=sys.stderr)
        agent_kwargs = {**extra, **agent_kwargs}
        check_options(agents.spec(agent_name).load(), agent_kwargs, "--agent-opt")
        kwargs = {"env": env, **agent_kwargs}
        with user_input(f"agent {agent_name!r} rejected its options {sorted(kwargs)}"):
            built = agents.make(agent_name, **kwargs)  # fails fast here on a bad name, model or option
        policy = (agent_name, kwargs) if workers > 0 else built

    run_name = run or f"{env}-{agent_name}-{split}-{datetime.now().strftime('%Y%m%d-%H%M%S')}"
    run_dir = (
        Path(run_name)
        if (run is not None and (os.sep in str(run) or Path(run).is_absolute()))
        else Path(runs_dir) / str(run_name)
    )
    with RunLock(run_dir), interrupt.sigint_recorded():
        with user_input(f"{run_dir} cannot be resumed (move the damaged file away, or pick another --run)"):
            writer = EpisodeWriter(run_dir)  # reads what is logged: a junk or foreign log is refused here
        with user_input(f"env {env!r} split {split!r} with options {env_kwargs}"):
            data = env_data(env, split, env_kwargs)
        record_run(run_dir, {
            "env": env, "split": split, "agent": label, "seed": seed, "task_offset": task_offset,
            "env_kwargs": env_kwargs, "agent_kwargs": agent_kwargs, "data": data,
            "command": redact_command(command or sys.argv),
            "commit": commit(), "created": datetime.now(UTC).isoformat(),
        })
        # stratified by task type, the same for every agent
        tasks = planned_tasks(env, split, env_kwargs, episodes, task_offset)
        done = writer.finished()
        jobs = [EpisodeJob(i, tasks[i], seed + task_offset + i) for i in range(episodes) if i not in done]

        bar = _progress(episodes, len(done), label, enabled=progress)

        def on_episode(rows: list[dict[str, Any]]) -> None:
            writer.write(rows)
            bar.update(rows[-1])

        start = time.perf_counter()
        try:
            if jobs:
                if workers > 0:
                    init_ray(ray_address, workers)
                Rollout(
                    env, policy, jobs, on_episode, workers=workers,
                    in_flight=in_flight or max(8, 4 * workers), env_kwargs={"split": split, **env_kwargs},
                    row_base={"run_id": run_dir.name, "split": split},
                    max_retries=max_retries, episode_timeout=episode_timeout,
                ).run()
        finally:
            bar.close()
            writer.consolidate()
        wall_s = time.perf_counter() - start
        interrupt.check()  # a Ctrl-C lost in a finaliser: no summary of an interrupted run

        frame = read_episodes(run_dir)
        frame = frame[frame["episode"] < episodes]
        summary = summarize(frame, env=env, agent=label, split=split, wall_s=wall_s, seed=seed)
        summary.update(
            {
                "run_id": run_dir.name,
                "run_dir": str(run_dir),
                "workers": workers,
                "resumed_episodes": len(done & set(range(episodes))),
                "data_source": data["data_source"],
                **({"play_settings": play_settings} if play_settings else {}),
            }
        )
        write_text(run_dir / "summary.json", json.dumps(summary, indent=2))
        print(format_table(summary))
        print(f"episodes: {writer.path}\nsummary:  {run_dir / 'summary.json'}")
        return summary


def _check_output_dir(path: Path) -> None:
    """Refuse a run directory that cannot be one: ``path`` or a folder above it is a file."""
    for folder in (path, *path.parents):
        if folder.exists():
            if not folder.is_dir():
                inside = f" (the run would go to {path})" if folder != path else ""
                raise UserError(
                    f"{folder} is a file, not a folder: --run/--runs-dir must name a folder{inside}"
                )
            return


class _progress:
    """A tqdm bar over episodes with the running success rate (a no-op when disabled)."""

    def __init__(self, total: int, already: int, label: str, enabled: bool):
        self.wins = self.count = 0
        self.bar = None
        if enabled:
            from tqdm import tqdm

            self.bar = tqdm(total=total, initial=already, desc=label[:40], unit="ep", file=sys.stderr)

    def update(self, last_row: dict[str, Any]) -> None:
        self.count += 1
        self.wins += bool(last_row.get("won")) and not last_row.get("error")
        if self.bar is not None:
            self.bar.set_postfix(success=f"{self.wins / self.count:.0%}", refresh=False)
            self.bar.update(1)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()


# --- command line --------------------------------------------------------------------------------
def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Options of ``eval`` and ``rollout`` (the same; ``rollout`` defaults to the train split)."""
    parser.add_argument("--env", required=True, help="environment name (agentdistill envs)")
    parser.add_argument("--agent", default="", help="agent name (agentdistill agents) or a saved model dir; "
                        "empty = newest trained student for the env, else expert")
    parser.add_argument("--split", default=None, help="env split (eval: test, rollout: train)")
    parser.add_argument("--episodes", type=int, default=50)
    parser.add_argument("--workers", type=int, default=2, help="Ray env workers; 0 = run in this process")
    parser.add_argument(
        "--run", default=None, help="run name under --runs-dir (or a path); same name = resume"
    )
    parser.add_argument("--runs-dir", default="runs")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument(
        "--log-topk", type=int, default=0, help="LM agents: log top-k token log-probs (e.g. 20)"
    )
    parser.add_argument(
        "--in-flight", type=int, default=None, help="episodes played at once (the policy batch)"
    )
    parser.add_argument("--ray-address", default=None, help="join a Ray cluster ('auto' or host:port); "
                        "without it a local Ray is started that listens on 127.0.0.1 only")
    parser.add_argument(
        "--episode-timeout", type=finite_float, default=None, metavar="SECONDS",
        help="Ray: an env worker or policy actor silent this long is taken as hung, replaced and its "
        "episodes re-run (then written as failed); set it well above one step's time",
    )
    parser.add_argument(
        "--agent-opt", action="append", default=[], metavar="KEY=VALUE", help="agent option, repeatable"
    )
    parser.add_argument(
        "--env-opt", action="append", default=[], metavar="KEY=VALUE", help="env option, repeatable"
    )
    parser.add_argument("--no-progress", action="store_true")


@interrupt.stops_on_sigint
def run(args: argparse.Namespace) -> int:
    """Entry point of ``agentdistill eval`` and ``agentdistill rollout``."""
    split = args.split or ("train" if args.command == "rollout" else "test")
    summary = evaluate(
        args.env, args.agent, split=split, episodes=args.episodes, workers=args.workers, run=args.run,
        runs_dir=args.runs_dir, seed=args.seed, env_kwargs=parse_options(args.env_opt, "--env-opt"),
        agent_kwargs=parse_options(args.agent_opt, "--agent-opt"), log_topk=args.log_topk,
        ray_address=args.ray_address, progress=not args.no_progress, in_flight=args.in_flight,
        episode_timeout=args.episode_timeout, command=["agentdistill", *getattr(args, "_argv", sys.argv[1:])],
    )
    return 0 if summary["episodes"] else 1
