"""Which tasks an evaluation plays: a fixed, stratified order of a split's task ids.

Episode ``i`` of a run plays ``order[i % len(order)]`` with env seed ``seed + i``, so every agent
(teacher, baselines, every student of every method and seed) evaluated with the same ``episodes``
plays the same task ids with the same env seeds, and a comparison between them can be paired on the
task. A run with ``task_offset`` k plays ``order[(k + i) % len(order)]`` with env seed ``seed + k + i``
instead: the continuation of a run of k episodes (on-policy rounds play fresh tasks this way).

The order is stratified by task type (``env.unwrapped.task_type(id)`` where the env has it, else
``info["task_type"]`` after a reset; one stratum when the env has no types): the ids of each type
are shuffled with a fixed seed, the ``k``-th id of a type with ``n`` ids gets the position
``k / n``, and the split is sorted by position (ties in type-name order). So every prefix of the
order is a stratified sample: it holds each type within one episode of its share of the split, and
as soon as it is as long as the number of types, every type. A longer run extends a shorter one
(the first ``n`` episodes are the same), so a resumed run never changes the tasks it played.
"""
from __future__ import annotations

from collections import Counter
from typing import Any

import numpy as np

import envs
from harness.errors import UserError, user_input

#: seed of the shuffle within each task type (fixed: the tasks never depend on the agent or run)
ORDER_SEED = 0
#: most episodes one run plays (its plan and job list are held in memory; a larger one is split over runs)
MAX_EPISODES = 1_000_000


def task_types(env: Any, task_ids: list[str]) -> list[str]:
    """The task type of each id of ``env`` (an env or its ``unwrapped``); "" where the env has none."""
    base = getattr(env, "unwrapped", env)
    if callable(getattr(base, "task_type", None)):
        return [str(base.task_type(task_id)) for task_id in task_ids]
    types = []
    for task_id in task_ids:
        _, info = base.reset(seed=0, options={"task_id": task_id})
        types.append(str(info.get("task_type") or ""))
    return types


def stratified_order(task_ids: list[str], types: list[str], seed: int = ORDER_SEED) -> list[str]:
    """Every id of ``task_ids``, ordered so that each prefix is stratified by ``types`` (module docstring)."""
    if len(task_ids) != len(types):
        raise ValueError(f"{len(task_ids)} task ids but {len(types)} task types")
    if len(set(task_ids)) != len(task_ids):
        duplicated = sorted(t for t, n in Counter(task_ids).items() if n > 1)[:5]
        raise ValueError(f"task ids must be unique; repeated: {duplicated}")
    by_type: dict[str, list[str]] = {}
    for task_id, task_type in sorted(zip(task_ids, types, strict=True)):
        by_type.setdefault(task_type, []).append(task_id)
    rng = np.random.default_rng(seed)
    keyed = []
    for rank, task_type in enumerate(sorted(by_type)):
        ids = by_type[task_type]
        shuffled = [ids[i] for i in rng.permutation(len(ids))]
        keyed += [(k / len(ids), rank, task_id) for k, task_id in enumerate(shuffled)]
    return [task_id for _, _, task_id in sorted(keyed)]


def episode_tasks(env: Any, episodes: int, seed: int = ORDER_SEED, offset: int = 0) -> list[str]:
    """The task id of each of ``episodes`` episodes on ``env``: the ``episodes`` of the split's stratified
    order from position ``offset`` on, cycling through the whole order again past its end (at most
    :data:`MAX_EPISODES`)."""
    if not 0 <= episodes <= MAX_EPISODES:
        raise ValueError(f"episodes={episodes}: expected 0 to {MAX_EPISODES:,} (split a larger run)")
    if offset < 0:
        raise ValueError(f"offset={offset}: expected >= 0 (the position in the task order to start from)")
    base = getattr(env, "unwrapped", env)
    task_ids = [str(t) for t in base.task_ids]
    if not task_ids:
        raise ValueError(f"{type(base).__name__} has no tasks")
    order = stratified_order(task_ids, task_types(base, task_ids), seed)
    return [order[(offset + i) % len(order)] for i in range(episodes)]


def planned_tasks(env: str, split: str, env_kwargs: dict[str, Any], episodes: int,
                  task_offset: int = 0) -> list[str]:
    """:func:`episode_tasks` of ``env``'s ``split`` made with ``env_kwargs``, from ``task_offset`` on (what
    ``evaluate`` plays)."""
    with user_input(f"env {env!r} split {split!r} with options {env_kwargs}"):
        instance = envs.make(env, split=split, **env_kwargs)
    try:
        if not instance.unwrapped.task_ids:
            raise UserError(f"env {env!r} split {split!r} has no tasks")
        return episode_tasks(instance, episodes, offset=task_offset)
    finally:
        instance.close()
