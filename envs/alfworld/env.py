"""ALFWorld as a Gymnasium text env, played on the real TextWorld PDDL engine.

    env = envs.make("alfworld", split="test")          # valid_unseen, the split ReAct reports
    obs, info = env.reset(seed=0)
    obs, reward, terminated, truncated, info = env.step("go to countertop 1")

``data=None`` plays the bundled *generated* games (built into the cache, see ``data.py``;
``info["data_source"] == "generated"``); ``data=PATH`` or ``$ALFWORLD_DATA`` plays the official
``json_2.1.1`` tree through the same code (``info["data_source"]`` is that split folder). Only the
latter gives numbers comparable to papers.

Upstream's protocol is the default:

- an action must be one of the admissible commands exactly (``move X to Y``, ``go to cabinet 1``);
  anything else is "Nothing happens." with ``invalid_action=True``. ``lenient=True`` (an opt-in
  deviation, recorded with the env options in run.json) also accepts case, spacing, a final period
  and the ALFWorld 0.3 phrasing ``put X in/on Y``;
- ``think: ...`` answers "OK." (as in ReAct), uses a step and is not invalid;
- 50 steps; reward 1 when the engine says won.

``info`` holds the contract's keys, ``task_type`` (one of the six), ``data_source``, and upstream's
``admissible_commands`` (the same list as ``admissible_actions``), ``extra.gamefile`` and
``extra.walkthrough`` (a plan that solves the game from its start). ``expert_plan=True`` adds, at
reset and after every step, ``extra.expert_plan``: the engine planner's plan from the current
state (upstream requests it for training only; it costs a planner call after reset and after each
command the engine applies: an invalid action or a ``think:`` leaves the state, so the plan
stands and is not recomputed). The ``extra.*``
keys are privileged: for scoring and relabelling, never for choosing a demo's action.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from envs.alfworld import data as bundled
from envs.alfworld import game_files
from envs.alfworld.engine import AlfredEngine, EngineState, intro_observation
from envs.core import InvalidAction, TextEnv

NOTHING_HAPPENS = "Nothing happens."
THINK_PREFIX = "think:"
THINK_REPLY = "OK."


class ALFWorldEnv(TextEnv):
    """ALFWorld household tasks (six task types) on TextWorld's PDDL engine."""

    max_action_chars = 2_000
    privileged_info_keys = ("extra.gamefile", "extra.walkthrough", "extra.expert_plan")

    def __init__(
        self,
        split: str = "test",
        data: str | os.PathLike | None = None,
        max_steps: int = 50,
        lenient: bool = False,
        expert_plan: bool = False,
        render_mode: str | None = None,
    ):
        super().__init__(max_steps=max_steps, render_mode=render_mode)
        self.split = game_files.split_folder_name(split)
        self.lenient = lenient
        self.expert_plan = expert_plan
        data = data if data is not None else os.environ.get("ALFWORLD_DATA") or None
        self._engine = AlfredEngine()
        self._plan: list[str] = []  # the planner's plan from the engine's current state (expert_plan)
        self._lazy: dict[str, dict[str, Any]] = {}
        if data is not None:
            split_dir = game_files.official_split_dir(Path(data), self.split)
            records = game_files.discover(split_dir)
            if not records:
                raise FileNotFoundError(
                    f"ALFWorld data {split_dir}: no solvable games ({game_files.GAME_FILE} + "
                    f"{game_files.TRAJ_FILE} with solvable=true) found"
                )
            self._games = {r.task_id: (r.task_type, r.game_file) for r in records}
            self._split_dir = split_dir
            self.data_source = str(split_dir)
        else:
            self._split_dir = bundled.ensure_split(self.split)
            catalog = bundled.read_catalog(self._split_dir) or {"games": []}
            self._games = {
                g["task_id"]: (g["task_type"], self._split_dir / g["task_id"] / game_files.GAME_FILE)
                for g in catalog["games"]
            }
            self._lazy = {g["task_id"]: g for g in catalog["games"]}
            self.data_source = "generated"
        self._task_ids = sorted(self._games)

    @property
    def task_ids(self) -> list[str]:
        return self._task_ids

    def task_type(self, task_id: str) -> str:
        return self._games[task_id][0]

    def _reset(self, task_id: str) -> tuple[str, dict[str, Any]]:
        if task_id not in self._games:
            raise KeyError(
                f"unknown ALFWorld task id {task_id!r} in split {self.split} ({len(self._task_ids)} tasks)"
            )
        task_type, path = self._games[task_id]
        if not path.is_file() and task_id in self._lazy:
            path = bundled.game_file(self._split_dir, self._lazy[task_id])
        if self._engine.game_file != path:
            self._engine.load(path)
        state = self._engine.reset()
        observation = intro_observation(state.feedback)
        task = observation.rpartition("Your task is to:")[2].strip().rstrip(".")
        info = {
            "task_id": task_id,
            "task": task,
            "task_type": task_type,
            "data_source": self.data_source,
            # how this env plays (upstream's protocol unless an option says otherwise), for run metadata
            "protocol": {"commands": "lenient" if self.lenient else "exact", "think": "OK.",
                         "max_steps": self.max_steps, "expert_plan": self.expert_plan},
            "extra.gamefile": str(path),
            "extra.walkthrough": self._engine.walkthrough,
            "won": state.won,
            "score": float(state.won),
            **self._state_info(state),
        }
        return observation, info

    def _step(self, action: str) -> tuple[str, float, bool, dict[str, Any]]:
        if self._engine.game_file is None:  # never reset, or the last reset's game failed to load
            raise RuntimeError("call reset() before step()")
        action = action[: self.max_action_chars]
        if self._is_think(action):
            return THINK_REPLY, 0.0, False, self._state_info(None)
        command = self._engine.resolve(action) if self.lenient else action
        if command is None or command not in self._engine.admissible:
            raise InvalidAction(NOTHING_HAPPENS)
        state = self._engine.step(command)
        info = {"won": state.won, "score": float(state.won), **self._state_info(state)}
        return state.feedback, float(state.won), state.won, info

    def _invalid(self, message: str) -> tuple[str, dict[str, Any]]:
        return message, self._state_info(None)

    def _is_think(self, action: str) -> bool:
        """ReAct's ``think: ...`` (exactly that prefix; ``lenient`` also allows case and spacing)."""
        if self.lenient:
            return action.strip().lower().startswith(THINK_PREFIX)
        return action.startswith(THINK_PREFIX)

    def _state_info(self, state: EngineState | None) -> dict[str, Any]:
        """Admissible commands (both names) and, if asked for, the planner's plan from here; fresh
        lists each time, so infos handed to the caller never share objects. ``state`` is the engine's
        answer to a reset or an applied command (the planner runs again), None after an action that
        changed nothing (the last plan stands)."""
        admissible = state.admissible if state is not None else self._engine.admissible
        info: dict[str, Any] = {
            "admissible_actions": list(admissible),
            "admissible_commands": list(admissible),
        }
        if self.expert_plan:
            if state is not None:
                self._plan = self._engine.expert_plan()
            info["extra.expert_plan"] = list(self._plan)
        return info
