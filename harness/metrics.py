"""Run metrics from an episode log: success rate, score, steps, invalid actions, reason/act tokens,
tokens/s, each with a 95% bootstrap interval over episodes, and a per-task-type breakdown; and the
per-task means over seeds (:func:`per_task_means`); the paired comparisons of agents live in
:mod:`harness.report.statistics`.

Token counts: LM agents count reason/act tokens with their own tokenizer
(``distill.spans.completion_masks_from_ids`` on the generated ids: every generated token is in one
span). For agents without a tokenizer (expert, random, HTTP) the harness uses :func:`span_token_counts`,
a word-piece rule: every run of up to 4 word characters and every other non-space character counts as
one token (≈ a BPE's 4 characters a token).
``tokens_per_s`` is completion tokens (``token_ids`` when logged, else reason + act tokens) over the
agent's own time (sum of ``latency_s``); ``wall_s`` is the run's wall time, one measurement, no interval.
"""
from __future__ import annotations

import re
from typing import Any

import numpy as np
import pandas as pd

from distill.spans import segment

_WORD_PIECE = re.compile(r"\w{1,4}|[^\w\s]")

#: summary keys fixed by docs/design.md (summary.json)
SUMMARY_KEYS = (
    "env", "agent", "split", "episodes", "success_rate", "mean_score", "mean_steps", "invalid_action_rate",
    "mean_reason_tokens", "mean_act_tokens", "tokens_per_s", "wall_s",
)
#: per-episode metrics that get a bootstrap interval: summary key -> how to aggregate the episodes
_MEANS = {
    "success_rate": "won",
    "mean_score": "score",
    "mean_steps": "steps",
    "invalid_action_rate": "invalid_rate",
    "mean_reason_tokens": "reason_per_step",
    "mean_act_tokens": "act_per_step",
}


def wordpiece_count(text: str) -> int:
    """Tokens of ``text`` by the word-piece rule (see the module docstring)."""
    return len(_WORD_PIECE.findall(text))


def span_token_counts(completion: str) -> tuple[int, int]:
    """(reason tokens, act tokens) of a completion by the word-piece rule over its spans."""
    reason = act = 0
    for span in segment(completion):
        n = wordpiece_count(completion[span.start:span.end])
        if span.kind == "reason":
            reason += n
        else:
            act += n
    return reason, act


def per_episode(frame: pd.DataFrame) -> pd.DataFrame:
    """One row per episode: task_id, task_type, won, score, steps, invalid_rate, reason/act tokens per step,
    generated tokens, agent seconds, failed (an episode that errored out after its retries)."""
    if frame.empty:
        return pd.DataFrame(columns=["episode", "task_id", "task_type", "won", "score", "steps",
                                     "invalid_rate", "reason_per_step", "act_per_step", "tokens", "agent_s",
                                     "failed"])
    frame = frame.sort_values(["episode", "step"])
    if "token_ids" in frame.columns:
        logged = frame["token_ids"].map(lambda ids: len(ids) if ids is not None else -1)
    else:
        logged = pd.Series(-1, index=frame.index)
    spans = frame["n_reason_tokens"] + frame["n_act_tokens"]
    frame = frame.assign(_tokens=logged.where(logged >= 0, spans), _failed=frame["error"].fillna("") != "")
    groups = frame.groupby("episode", sort=True)
    last = groups.tail(1).set_index("episode")
    out = pd.DataFrame({
        "task_id": last["task_id"].astype(str),
        "task_type": last["task_type"],
        "won": last["won"].astype(float).where(~last["_failed"], 0.0),
        "score": last["score"].astype(float).where(~last["_failed"], 0.0),
        "steps": groups.size(),
        "invalid_rate": groups["invalid_action"].mean(),
        "reason_per_step": groups["n_reason_tokens"].mean(),
        "act_per_step": groups["n_act_tokens"].mean(),
        "tokens": groups["_tokens"].sum(),
        "agent_s": groups["latency_s"].sum(),
        "failed": last["_failed"],
    })
    return out.reset_index()


def _resample(n_values: int, n_boot: int, seed: int) -> np.ndarray:
    """Bootstrap indices: ``n_boot`` resamples of ``n_values`` episodes, shared by every metric of a call."""
    return np.random.default_rng(seed).integers(0, n_values, size=(n_boot, n_values))  # [n_boot, n_episodes]


def bootstrap_ci(
    values: np.ndarray, n_boot: int = 1000, seed: int = 0, idx: np.ndarray | None = None
) -> tuple[float, float]:
    """95% percentile bootstrap interval of the mean of ``values`` (resampling episodes; ``idx``:
    precomputed resample indices, [n_boot, n_episodes])."""
    values = np.asarray(values, dtype=float)
    if len(values) == 0:
        return (float("nan"), float("nan"))
    idx = _resample(len(values), n_boot, seed) if idx is None else idx
    means = values[idx].mean(axis=1)  # [n_boot]
    lo, hi = np.percentile(means, [2.5, 97.5])
    return float(lo), float(hi)


def per_task_means(episode_tables: list[pd.DataFrame], column: str) -> pd.Series:
    """task_id -> mean of ``column`` over every episode of that task in ``episode_tables`` (the
    :func:`per_episode` tables of one agent's runs, e.g. one per training seed): seeds and repeats of a
    task are averaged, so each task counts once."""
    frames = [t[["task_id", column]] for t in episode_tables if len(t)]
    if not frames:
        return pd.Series(dtype=float, name=column)
    return pd.concat(frames).astype({column: float}).groupby("task_id")[column].mean()


def _ratio_ci(num: np.ndarray, den: np.ndarray, idx: np.ndarray) -> tuple[float, float]:
    """95% bootstrap interval of sum(num) / sum(den) over resampled episodes
    (``idx``: [n_boot, n_episodes])."""
    if len(num) == 0:
        return (float("nan"), float("nan"))
    with np.errstate(divide="ignore", invalid="ignore"):
        ratios = num[idx].sum(axis=1) / den[idx].sum(axis=1)  # [n_boot]
    ratios = ratios[np.isfinite(ratios)]
    if len(ratios) == 0:
        return (float("nan"), float("nan"))
    lo, hi = np.percentile(ratios, [2.5, 97.5])
    return float(lo), float(hi)


def _metrics(
    episodes: pd.DataFrame, n_boot: int, seed: int
) -> tuple[dict[str, float], dict[str, list[float]]]:
    failed = episodes["failed"].to_numpy(dtype=bool)
    played = episodes[~failed]
    # one set of resamples per population (all episodes / played ones), as if each metric drew its own
    # with ``seed``
    idx_all = _resample(len(episodes), n_boot, seed) if len(episodes) else None
    idx_played = (
        idx_all if not failed.any() else (_resample(len(played), n_boot, seed) if len(played) else None)
    )
    values: dict[str, float] = {}
    ci: dict[str, list[float]] = {}
    for key, column in _MEANS.items():
        # success and score count failed episodes as 0; step and token statistics use played episodes only
        source, idx = (episodes, idx_all) if key in ("success_rate", "mean_score") else (played, idx_played)
        data = source[column].to_numpy(dtype=float)
        values[key] = float(data.mean()) if len(data) else float("nan")
        ci[key] = list(bootstrap_ci(data, n_boot, seed, idx))
    tokens, seconds = played["tokens"].to_numpy(dtype=float), played["agent_s"].to_numpy(dtype=float)
    values["tokens_per_s"] = float(tokens.sum() / seconds.sum()) if seconds.sum() > 0 else float("nan")
    ci["tokens_per_s"] = list(_ratio_ci(tokens, seconds, idx_played)) if len(played) else [float("nan")] * 2
    return values, ci


def summarize(
    frame: pd.DataFrame,
    *,
    env: str,
    agent: str,
    split: str,
    wall_s: float,
    n_boot: int = 1000,
    seed: int = 0,
) -> dict[str, Any]:
    """The summary.json dict for an episode log: the keys of docs/design.md plus ``ci95`` (key -> [lo, hi]),
    ``failed_episodes``, ``env_steps``, ``episodes_per_s``, ``env_steps_per_s`` and ``by_task_type``
    (task type -> episodes and the same metrics with intervals; empty when the env has no task types)."""
    episodes = per_episode(frame)
    values, ci = _metrics(episodes, n_boot, seed)
    summary: dict[str, Any] = {"env": env, "agent": agent, "split": split, "episodes": len(episodes)}
    summary.update(values)
    summary["wall_s"] = float(wall_s)
    env_steps = int(episodes.loc[~episodes["failed"].astype(bool), "steps"].sum()) if len(episodes) else 0
    summary.update({
        "ci95": ci,
        "failed_episodes": int(episodes["failed"].sum()) if len(episodes) else 0,
        "env_steps": env_steps,
        "episodes_per_s": len(episodes) / wall_s if wall_s > 0 else float("nan"),
        "env_steps_per_s": env_steps / wall_s if wall_s > 0 else float("nan"),
    })
    by_type: dict[str, Any] = {}
    types = sorted(t for t in episodes["task_type"].unique() if t) if len(episodes) else []
    for task_type in types:
        subset = episodes[episodes["task_type"] == task_type]
        type_values, type_ci = _metrics(subset, n_boot, seed)
        by_type[task_type] = {"episodes": len(subset), **type_values, "ci95": type_ci}
    summary["by_task_type"] = by_type
    return summary


def format_number(value: float) -> str:
    """3 significant digits below 10, one decimal below 1000, thousands separators above."""
    if abs(value) >= 1000:
        return f"{value:,.0f}"
    return f"{value:.3g}" if abs(value) < 10 else f"{value:.1f}"


def format_with_ci(value: float | None, ci: list[float] | None = None, percent: bool = False) -> str:
    """``value [lo, hi]`` (:func:`format_number`, or one-decimal percentages); "-" for a missing value."""
    if value is None or (isinstance(value, float) and np.isnan(value)):
        return "-"
    number = (lambda v: f"{100.0 * v:.1f}") if percent else format_number
    text = number(value) + ("%" if percent else "")
    if ci and not any(np.isnan(ci)):
        text += f" [{number(ci[0])}, {number(ci[1])}]"
    return text


def format_table(summary: dict[str, Any]) -> str:
    """The summary as a plain-text table (value [95% CI]); per-task-type rows follow when present."""
    ci = summary.get("ci95", {})
    lines = [
        f"env {summary['env']}  split {summary['split']}  agent {summary['agent']}",
        (
            f"episodes {summary['episodes']}  (failed {summary.get('failed_episodes', 0)})  "
            f"wall {summary['wall_s']:.1f} s  {summary.get('episodes_per_s', float('nan')):.2f} episodes/s  "
            f"{summary.get('env_steps_per_s', float('nan')):.1f} env steps/s"
        ),
    ]
    rows = [
        ("success rate", format_with_ci(summary["success_rate"], ci.get("success_rate"), percent=True)),
        ("mean score", format_with_ci(summary["mean_score"], ci.get("mean_score"))),
        ("mean steps", format_with_ci(summary["mean_steps"], ci.get("mean_steps"))),
        (
            "invalid-action rate",
            format_with_ci(summary["invalid_action_rate"], ci.get("invalid_action_rate"), percent=True),
        ),
        ("reason tokens/step", format_with_ci(summary["mean_reason_tokens"], ci.get("mean_reason_tokens"))),
        ("act tokens/step", format_with_ci(summary["mean_act_tokens"], ci.get("mean_act_tokens"))),
        ("tokens/s", format_with_ci(summary["tokens_per_s"], ci.get("tokens_per_s"))),
    ]
    width = max(len(name) for name, _ in rows)
    lines += [f"  {name:<{width}}  {value}" for name, value in rows]
    for task_type, sub in summary.get("by_task_type", {}).items():
        lines.append(
            f"  [{task_type}] n={sub['episodes']}"
            f"  success {format_with_ci(sub['success_rate'], sub['ci95']['success_rate'], True)}"
            f"  score {format_with_ci(sub['mean_score'], sub['ci95']['mean_score'])}"
            f"  steps {format_with_ci(sub['mean_steps'])}"
        )
    return "\n".join(lines)
