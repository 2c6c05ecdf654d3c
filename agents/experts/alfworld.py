"""Scripted ALFWorld teacher: the engine-checked plan, a plausible search, ReAct-style thoughts.

The env's ``info`` carries (for experts) ``walkthrough``, a command sequence that solves the game from
its start, and ``initial_contents``, where every object starts. The expert replays the walkthrough,
but before walking to where a target is, it first checks a few receptacles a searcher would try
first (the most specific receptacle types that can hold the target, as listed in ALFRED's
vocabulary), never ones that hold the target or that the plan uses, and only as many as the step
budget leaves room for. Its thoughts follow the ReAct ALFWorld prompts: the plan at the start,
where the object is likely to be, and progress when an object is found, taken, changed or placed.
"""
from __future__ import annotations

import random
import re
from dataclasses import dataclass, field
from typing import Any

from agents.base import Agent, AgentStep, Episode
from agents.react import format_turn
from envs.alfworld.scenes import likely_holders

_SEEN = re.compile(r"you see (?P<items>.+?)\.(?:\n|$)", re.IGNORECASE)


def _split_name(name: str) -> tuple[str, str]:
    """``"mug 1"`` -> ``("mug", "1")``."""
    base, _, num = name.rpartition(" ")
    return (base, num) if num.isdigit() else (name, "")


def _article(word: str) -> str:
    return "an" if word[:1] in "aeiou" else "a"


def _receptacles_in_view(observation: str) -> list[str]:
    """Receptacle names listed in the first observation (``You ... see a cabinet 4, ..., and a toaster 1.``)."""
    match = _SEEN.search(observation)
    if not match:
        return []
    items = re.split(r",\s*(?:and\s+)?|\s+and\s+", match["items"])
    return [re.sub(r"^(?:a|an)\s+", "", item.strip()) for item in items if item.strip()]


def _ranges(names: list[str], kind: str) -> str:
    """``cabinet (1-4)`` for the instances of ``kind`` among ``names``."""
    nums = sorted(int(n) for b, n in map(_split_name, names) if b == kind and n)
    if not nums:
        return kind
    return f"{kind} ({nums[0]})" if len(nums) == 1 else f"{kind} ({nums[0]}-{nums[-1]})"


@dataclass
class _Script:
    """The turns still to play: (thought, action) pairs, and the detour whose door may need opening."""

    turns: list[tuple[str, str]] = field(default_factory=list)
    detours: set[str] = field(default_factory=set)
    last_action: str = ""


class ALFWorldExpert(Agent):
    """Replays the env's walkthrough with a short, plausible search first; ReAct-style thoughts."""

    description = "ALFWorld teacher: the engine-checked plan, searching likely places first, with ReAct thoughts"

    def __init__(self, max_detours: int = 3, max_steps: int = 50, seed: int = 0):
        super().__init__()
        if max_detours < 0:
            raise ValueError(f"max_detours must be >= 0, got {max_detours}")
        self.max_detours = max_detours
        self.max_steps = max_steps
        self.seed = seed
        self._scripts: dict[int, _Script] = {}

    def reset(self, info: dict[str, Any], slot: int = 0) -> None:
        old = self.episodes.get(slot)
        if old is not None:
            self._scripts.pop(id(old), None)
        super().reset(info, slot)

    def step(self, episode: Episode, observation: str, info: dict[str, Any]) -> AgentStep:
        script = self._scripts.get(id(episode))
        if script is None:
            script = self._scripts[id(episode)] = self._plan(episode, observation)
        previous = script.last_action
        if previous in script.detours and f"the {previous[len('go to '):]} is closed" in observation.lower():
            thought, action = "", f"open {previous[len('go to '):]}"
        elif script.turns:
            thought, action = script.turns.pop(0)
        else:
            thought, action = "The task should be done; let me look around.", "look"
        script.last_action = action
        return AgentStep(thought=thought, action=action, text=format_turn(thought, action))

    # --- planning -----------------------------------------------------------------------------------
    def _plan(self, episode: Episode, observation: str) -> _Script:
        info = episode.info
        walkthrough = [str(a) for a in info.get("walkthrough") or []]
        if not walkthrough:
            raise ValueError("ALFWorldExpert needs info['walkthrough'] (the env's plan); got none")
        contents: dict[str, list[str]] = info.get("initial_contents") or {}
        in_view = _receptacles_in_view(episode.first_observation or observation)
        used = {a.split(" ", 2)[-1] if a.startswith("go to ") else a[len("open "):]
                for a in walkthrough if a.startswith(("go to ", "open "))}
        rng = random.Random(f"{self.seed}:{info.get('task_id', '')}")
        budget = max(0, self.max_steps - len(walkthrough) - 2)
        script = _Script()
        visited: set[str] = set()
        n_takes = sum(a.startswith("take ") for a in walkthrough)
        pending = self._task_thought(walkthrough)
        taken, finds = 0, 0
        i = 0
        while i < len(walkthrough):
            action = walkthrough[i]
            find = self._found_at(walkthrough, i)
            if find is not None:
                wanted, where = find
                kind = _split_name(wanted)[0]
                detours = self._detours(kind, where, in_view, contents, used | visited, rng, budget)
                budget -= 2 * len(detours)
                visited |= set(detours)
                order = [*detours, where]
                which = _article(kind) if n_takes < 2 else ("the first" if taken == 0 else "the second")
                finding = f"{'First' if finds == 0 else 'Next,'} I need to find {which} {kind}. "
                finds += 1
                holders = [r for r in likely_holders(kind) if any(_split_name(n)[0] == r for n in in_view)]
                if holders:
                    places = ", ".join(_ranges(in_view, r) for r in holders)
                    finding += f"{_article(kind).capitalize()} {kind} is more likely to appear in {places}. "
                finding += f"I can check one by one, starting with {order[0]}."
                pending = f"{pending} {finding}".strip()
                for previous, detour in zip([None, *detours], detours):
                    if previous is not None:
                        pending = f"There is no {kind} at {previous}. Next, I check {detour}."
                    script.turns.append((pending, f"go to {detour}"))
                    script.detours.add(f"go to {detour}")
                if detours:
                    pending = f"There is no {kind} at {detours[-1]}. Next, I check {where}."
                script.turns.append((pending, action))
                pending = ""
                i += 1
                continue
            thought, pending_after = self._progress(walkthrough, i, taken, n_takes)
            script.turns.append((f"{pending} {thought}".strip(), action))
            pending = pending_after
            if action.startswith("take "):
                taken += 1
            i += 1
        return script

    def _detours(self, kind: str, where: str, in_view: list[str], contents: dict[str, list[str]],
                 excluded: set[str], rng: random.Random, budget: int) -> list[str]:
        """Receptacles to check before ``where``: likely holders of ``kind`` ranked before it, none of
        which holds a ``kind`` or is used by the plan."""
        rank = {r: n for n, r in enumerate(likely_holders(kind))}
        candidates = sorted(
            (r for r in in_view if _split_name(r)[0] in rank),
            key=lambda r: (rank[_split_name(r)[0]], int(_split_name(r)[1] or 0)),
        )
        before = candidates[: candidates.index(where)] if where in candidates else candidates
        free = [r for r in before if r not in excluded and r != where
                and not any(_split_name(o)[0] == kind for o in contents.get(r, []))]
        count = min(rng.randint(0, self.max_detours), budget // 2, len(free))
        return free[:count]

    @staticmethod
    def _found_at(walkthrough: list[str], i: int) -> tuple[str, str] | None:
        """(object, receptacle) when step ``i`` walks to where an object is then taken or used."""
        action = walkthrough[i]
        if not action.startswith("go to "):
            return None
        where = action[len("go to "):]
        for later in walkthrough[i + 1: i + 3]:
            take = re.fullmatch(r"take (?P<obj>.+) from (?P<recep>.+)", later)
            if take and take["recep"] == where:
                return take["obj"], where
            use = re.fullmatch(r"use (?P<obj>.+)", later)
            if use:
                return use["obj"], where
            if not later.startswith("open "):
                break
        return None

    @staticmethod
    def _task_thought(walkthrough: list[str]) -> str:
        """The plan, in the words of ReAct's first thought."""
        takes = [re.fullmatch(r"take (.+) from .+", a) for a in walkthrough]
        objects = [_split_name(m[1])[0] for m in takes if m]
        moves = [re.fullmatch(r"move .+ to (.+)", a) for a in walkthrough]
        places = [_split_name(m[1])[0] for m in moves if m]
        changes = [re.fullmatch(r"(clean|heat|cool) .+ with (.+)", a) for a in walkthrough]
        change = next((m for m in changes if m), None)
        uses = [re.fullmatch(r"use (.+)", a) for a in walkthrough]
        lamp = next((_split_name(m[1])[0] for m in uses if m), None)
        if not objects:
            return "To solve the task, I follow the plan step by step."
        obj = objects[0]
        if lamp:
            return f"To solve the task, I need to find and take {_article(obj)} {obj}, then find and use {_article(lamp)} {lamp}."
        place = places[0] if places else "its place"
        if len(objects) >= 2:
            return (f"To solve the task, I need to find and take the first {obj}, then put it in/on {place}, "
                    f"then find and take the second {obj}, then put it in/on {place}.")
        middle = f", then {change[1]} it with {_split_name(change[2])[0]}" if change else ""
        return f"To solve the task, I need to find and take {_article(obj)} {obj}{middle}, then put it in/on {place}."

    @staticmethod
    def _progress(walkthrough: list[str], i: int, taken: int, n_takes: int) -> tuple[str, str]:
        """(thought for step ``i``, thought to carry to the next step) at the plan's milestones."""
        action = walkthrough[i]
        nxt = walkthrough[i + 1] if i + 1 < len(walkthrough) else ""
        take = re.fullmatch(r"take (?P<obj>.+) from .+", action)
        if take:
            kind, num = _split_name(take["obj"])
            found = f"Now I find {_article(kind)} {kind} ({num}). Next, I need to take it."
            change = re.fullmatch(r"go to (?P<app>(?:sinkbasin|microwave|fridge)\b.*)", nxt)
            verb = next((re.match(r"(clean|heat|cool) ", a)[1] for a in walkthrough[i:] if re.match(r"(clean|heat|cool) ", a)), None)
            if change and verb:
                after = f"Now I take {_article(kind)} {kind} ({num}). Next, I need to go to {change['app']} and {verb} it."
            elif any(a.startswith("use ") for a in walkthrough):
                after = f"Now I take {_article(kind)} {kind} ({num})."
            else:
                dest = next((a.split(" to ", 1)[1] for a in walkthrough[i:] if a.startswith("move ")), "")
                after = f"Now I take {_article(kind)} {kind} ({num}). Next, I need to put it in/on {dest}."
            return found, after
        use = re.fullmatch(r"use (?P<obj>.+)", action)
        if use:
            kind, num = _split_name(use["obj"])
            return f"Now I find {_article(kind)} {kind} ({num}). Next, I need to use it.", ""
        change = re.fullmatch(r"(?P<verb>clean|heat|cool) (?P<obj>.+) with .+", action)
        if change:
            kind, num = _split_name(change["obj"])
            dest = next((a.split(" to ", 1)[1] for a in walkthrough[i:] if a.startswith("move ")), "")
            return "", f"Now I {change['verb']} {_article(kind)} {kind} ({num}). Next, I need to put it in/on {dest}."
        move = re.fullmatch(r"move (?P<obj>.+) to (?P<dest>.+)", action)
        if move and n_takes >= 2 and taken < n_takes:
            kind = _split_name(move["obj"])[0]
            return "", f"Now I put the first {kind} in/on {move['dest']}."
        return "", ""
