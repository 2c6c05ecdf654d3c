"""ALFWorld as a Gymnasium text env, played on the real TextWorld PDDL engine.

    env = envs.make("alfworld", split="test")          # valid_unseen, the split ReAct reports
    obs, info = env.reset(seed=0)
    obs, reward, terminated, truncated, info = env.step("go to countertop 1")

``data=None`` plays the bundled generated games (built into the cache, see ``data.py``);
``data=PATH`` or ``$ALFWORLD_DATA`` plays the official ``json_2.1.1`` tree through the same code.
Actions are the engine's commands (``move X to Y``; the older ``put X in/on Y`` is accepted too);
anything else is "Nothing happens." with ``invalid_action=True``. Reward 1 when the engine says won.

Besides the contract's keys, ``info`` holds ``task_type`` (one of the six), ``gamefile``, and, for
scripted experts only, ``walkthrough`` (a plan that solves the game from its start) and
``initial_contents`` (receptacle -> objects at the start).
"""
from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from envs.alfworld import data as bundled
from envs.alfworld import game_files
from envs.alfworld.engine import AlfredEngine, intro_observation
from envs.core import InvalidAction, TextEnv

NOTHING_HAPPENS = "Nothing happens."


class ALFWorldEnv(TextEnv):
    """ALFWorld household tasks (six task types) on TextWorld's PDDL engine."""

    max_action_chars = 2_000

    def __init__(self, split: str = "test", data: str | os.PathLike | None = None, max_steps: int = 50,
                 render_mode: str | None = None):
        super().__init__(max_steps=max_steps, render_mode=render_mode)
        self.split = game_files.split_folder_name(split)
        data = data if data is not None else os.environ.get("ALFWORLD_DATA") or None
        self._engine = AlfredEngine()
        self._lazy: dict[str, dict[str, Any]] = {}
        if data is not None:
            split_dir = game_files.official_split_dir(Path(data), self.split)
            records = game_files.discover(split_dir)
            if not records:
                raise FileNotFoundError(f"ALFWorld data {split_dir}: no solvable games ({game_files.GAME_FILE} + "
                                        f"{game_files.TRAJ_FILE} with solvable=true) found")
            self._games = {r.task_id: (r.task_type, r.game_file) for r in records}
            self._split_dir = split_dir
        else:
            self._split_dir = bundled.ensure_split(self.split)
            catalog = bundled.read_catalog(self._split_dir) or {"games": []}
            self._games = {g["task_id"]: (g["task_type"], self._split_dir / g["task_id"] / game_files.GAME_FILE)
                           for g in catalog["games"]}
            self._lazy = {g["task_id"]: g for g in catalog["games"]}
        self._task_ids = sorted(self._games)

    @property
    def task_ids(self) -> list[str]:
        return self._task_ids

    def task_type(self, task_id: str) -> str:
        return self._games[task_id][0]

    def _reset(self, task_id: str) -> tuple[str, dict[str, Any]]:
        if task_id not in self._games:
            raise KeyError(f"unknown ALFWorld task id {task_id!r} in split {self.split} ({len(self._task_ids)} tasks)")
        task_type, path = self._games[task_id]
        if not path.is_file() and task_id in self._lazy:
            path = bundled.game_file(self._split_dir, self._lazy[task_id])
        if self._engine.game_file != path:
            self._engine.load(path)
        state = self._engine.reset()
        observation = intro_observation(state.feedback)
        task = observation.rpartition("Your task is to:")[2].strip().rstrip(".")
        world = self._engine.world()
        info = {
            "task_id": task_id,
            "task": task,
            "task_type": task_type,
            "gamefile": str(path),
            "admissible_actions": state.admissible,
            "won": state.won,
            "score": float(state.won),
            "walkthrough": self._engine.walkthrough,
            "initial_contents": world.contents,
        }
        return observation, info

    def _step(self, action: str) -> tuple[str, float, bool, dict[str, Any]]:
        command = self._engine.resolve(action[: self.max_action_chars])
        if command is None:
            raise InvalidAction(NOTHING_HAPPENS)
        state = self._engine.step(command)
        info = {"admissible_actions": state.admissible, "won": state.won, "score": float(state.won)}
        return state.feedback, float(state.won), state.won, {**self._fresh_copies(), **info}

    def _invalid(self, message: str) -> tuple[str, dict[str, Any]]:
        return message, self._fresh_copies()

    def _fresh_copies(self) -> dict[str, Any]:
        """The episode's lists and dicts, copied: infos handed to the caller must not share objects."""
        last = self._last_info
        return {
            "admissible_actions": list(last["admissible_actions"]),
            "walkthrough": list(last["walkthrough"]),
            "initial_contents": {r: list(objs) for r, objs in last["initial_contents"].items()},
        }
