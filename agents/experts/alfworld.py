"""Honest scripted ALFWorld teacher: plays from what a player sees, thinks in grounded ReAct style.

The expert reads only the task sentence, the observations so far and the admissible commands:

1. the goal from "Your task is to: ..." (matched against ALFWorld's own goal templates): the object
   type, the destination receptacle type or the lamp, and the task type;
2. the receptacles from the first observation; it visits those that ALFRED lets hold the object
   (ALFRED's compatibility lists), open surfaces first (one step each; closed ones cost two: go,
   open), the most specific holder types first within each group, opens closed ones, and remembers
   what every visit showed;
3. it takes a matching object, cleans / heats / cools it at the sinkbasin / microwave / fridge if the
   task asks, then puts it in the destination (twice, into the same receptacle, for pick_two) or
   switches on a lamp it has seen while holding it (look_at).

Its thoughts name only receptacles of the first observation and objects an observation showed, say
why the action follows, and are drawn (seeded by the task id) from >= 20 phrasings per decision kind.
:meth:`ALFWorldExpert.relabel` is the exception that may look at privileged info: it returns the
engine planner's next command (``info["extra.expert_plan"]``), and its thought says so.
"""

from __future__ import annotations

import random
import re
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any

from agents.base import AgentStep, Episode
from agents.experts import Expert
from agents.react import format_turn
from envs.alfworld.engine import AlfredEngine, intro_observation
from envs.alfworld.generator import TASK_TYPES, goal_templates
from envs.alfworld.scenes import likely_holders, openable_names

_NAME = r"[a-z]+ \d+"
_ARRIVE = re.compile(rf"You arrive at (?P<r>{_NAME})\.")
_ON = re.compile(rf"On the (?P<r>{_NAME}), you see (?P<items>[^.]*)\.")
_IN = re.compile(rf"The (?P<r>{_NAME}) is open\. In it, you see (?P<items>[^.]*)\.")
_CLOSED = re.compile(rf"The (?P<r>{_NAME}) is closed\.")
_PICK = re.compile(rf"You pick up the (?P<o>{_NAME}) from the (?P<r>{_NAME})\.")
_MOVE = re.compile(rf"You move the (?P<o>{_NAME}) to the (?P<r>{_NAME})\.")
_CHANGE = re.compile(rf"You (?P<verb>heat|cool|clean) the (?P<o>{_NAME}) using the (?P<r>{_NAME})\.")
_ROOM = re.compile(r"Looking quickly around you, you see (?P<items>[^.]*)\.")
#: task type -> (appliance receptacle type, verb, past participle) for the state-change tasks
STATE_CHANGES: dict[str, tuple[str, str, str]] = {
    "pick_clean_then_place_in_recep": ("sinkbasin", "clean", "cleaned"),
    "pick_heat_then_place_in_recep": ("microwave", "heat", "heated"),
    "pick_cool_then_place_in_recep": ("fridge", "cool", "cooled"),
}


@dataclass(frozen=True)
class Goal:
    """What the task sentence asks: object type, destination type or lamp type (lower case)."""

    task_type: str
    obj: str
    recep: str = ""
    lamp: str = ""

    @property
    def count(self) -> int:
        return 2 if self.task_type == "pick_two_obj_and_place" else 1


#: task sentences of official games that the installed goal library no longer lists (seen in real
#: transcripts, e.g. ReAct's react_put_1: "find some apple and put it in sidetable")
EXTRA_TEMPLATES: dict[str, tuple[str, ...]] = {
    "pick_and_place_simple": ("find some {obj} and put it in {recep}",),
}


@cache
def _goal_patterns() -> tuple[tuple[str, re.Pattern[str]], ...]:
    patterns = []
    for task_type in TASK_TYPES:
        for template in (*goal_templates(task_type), *EXTRA_TEMPLATES.get(task_type, ())):
            regex = re.escape(template)
            for slot in ("obj", "recep", "toggle"):
                regex = regex.replace(re.escape("{" + slot + "}"), f"(?P<{slot}>[a-z]+)")
            patterns.append((task_type, re.compile(regex)))
    return tuple(patterns)


def parse_goal(task: str) -> Goal:
    """The goal of an ALFWorld task sentence ("put a clean mug in coffeemachine"); unknown text raises."""
    text = task.rpartition("Your task is to:")[2].strip().rstrip(".").lower()
    for task_type, pattern in _goal_patterns():
        match = pattern.fullmatch(text)
        if match:
            found = match.groupdict()
            return Goal(task_type, found["obj"], found.get("recep") or "", found.get("toggle") or "")
    raise ValueError(f"ALFWorld task {task!r} matches none of ALFWorld's goal templates (six task types)")


def _items(text: str) -> list[str]:
    """``a mug 1, a knife 2, and a apple 1`` -> ``["mug 1", "knife 2", "apple 1"]`` ("nothing" -> [])."""
    names = []
    for item in re.split(r",\s*(?:and\s+)?|\s+and\s+", text):
        item = re.sub(r"^(?:a|an|the)\s+", "", item.strip())
        if re.fullmatch(_NAME, item):
            names.append(item)
    return names


def _kind(name: str) -> str:
    return name.rpartition(" ")[0] or name


def _number(name: str) -> int:
    num = name.rpartition(" ")[2]
    return int(num) if num.isdigit() else 0


def _a(word: str) -> str:
    return f"{'an' if word[:1] in 'aeiou' else 'a'} {word}"


def _ranges(receptacles: list[str]) -> str:
    """``cabinet (1-4), countertop (1)``: receptacle types in order of first appearance, with numbers."""
    by_kind: dict[str, list[int]] = {}
    for name in receptacles:
        by_kind.setdefault(_kind(name), []).append(_number(name))
    parts = []
    for kind, nums in by_kind.items():
        low, high = min(nums), max(nums)
        parts.append(f"{kind} ({low})" if low == high else f"{kind} ({low}-{high})")
    return ", ".join(parts)


@dataclass
class _Memory:
    """What the expert knows about one episode, all of it from observations."""

    goal: Goal
    receptacles: list[str]
    rng: random.Random
    location: str = ""
    contents: dict[str, list[str]] = field(default_factory=dict)
    closed: set[str] = field(default_factory=set)
    visited: set[str] = field(default_factory=set)
    holding: str = ""
    changed: set[str] = field(default_factory=set)
    placed: list[str] = field(default_factory=list)
    destination: str = ""
    last_action: str = ""
    turns: int = 0
    #: the receptacle I arrived at when ``location`` is another one at the same spot
    beside: str = ""

    def observe(self, observation: str) -> None:
        """Update from the feedback to the last action."""
        arrive = _ARRIVE.search(observation)
        if arrive:
            self.location = arrive["r"]
            self.visited.add(arrive["r"])
        for match in (*_ON.finditer(observation), *_IN.finditer(observation)):
            self.contents[match["r"]] = _items(match["items"])
            self.closed.discard(match["r"])
            self.visited.add(match["r"])
        for match in _CLOSED.finditer(observation):
            self.closed.add(match["r"])
            self.contents.pop(match["r"], None)
        pick = _PICK.search(observation)
        if pick:
            self.holding = pick["o"]
            if pick["o"] in self.contents.get(pick["r"], []):
                self.contents[pick["r"]].remove(pick["o"])
        move = _MOVE.search(observation)
        if move:
            self.holding = ""
            self.contents.setdefault(move["r"], []).append(move["o"])
            if _kind(move["o"]) == self.goal.obj and _kind(move["r"]) == self.goal.recep:
                self.placed.append(move["o"])
                self.destination = move["r"]
        change = _CHANGE.search(observation)
        if change:
            self.changed.add(change["o"])

    def seen(self, kind: str, exclude: str = "") -> list[tuple[str, str]]:
        """(object, receptacle) for every seen object of ``kind``, nearest (current location) first."""
        found = [
            (o, r) for r, objs in self.contents.items() if r != exclude for o in objs if _kind(o) == kind
        ]
        return sorted(found, key=lambda pair: (pair[1] != self.location, _number(pair[1])))

    def search_order(self, kind: str) -> list[str]:
        """Unvisited receptacles: likely holders of ``kind`` (ALFRED's compatibility lists) before the rest;
        among them open surfaces (one step each) before closed ones (two: go, open), each group most
        specific holder type first, then by number."""
        rank = {r: i for i, r in enumerate(likely_holders(kind))}
        todo = [r for r in self.receptacles if r not in self.visited and r != self.destination]
        closed = openable_names()
        return sorted(
            todo, key=lambda r: (_kind(r) not in rank, _kind(r) in closed, rank.get(_kind(r), 0), _number(r))
        )

    def likely_places(self, kind: str) -> str:
        """The receptacles (first observation) that may hold ``kind``, in search order, ReAct style."""
        rank = {r: i for i, r in enumerate(likely_holders(kind))}
        closed = openable_names()
        places = sorted(
            (r for r in self.receptacles if _kind(r) in rank),
            key=lambda r: (_kind(r) in closed, rank[_kind(r)], _number(r)),
        )
        return _ranges(places) if places else "any of the places I can see"


# --- thoughts: every decision kind has >= 20 phrasings (a first part times a second part) ---------------
PHRASES: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {
    "plan": (
        (
            "To solve the task, I need to {steps}.",
            "My plan: {steps}.",
            "The task means I have to {steps}.",
            "So the job is to {steps}.",
            "Here is what I need to do: {steps}.",
        ),
        ("", " Let me get started.", " I'll work through it step by step.", " Nothing is in my hands yet."),
    ),
    "search_first": (
        (
            "First I need to find {a_obj}.",
            "I should start by looking for {a_obj}.",
            "The first thing is to locate {a_obj}.",
            "I don't know where {a_obj} is yet.",
            "Before anything else I have to find {a_obj}.",
        ),
        (
            " {A_obj} is more likely to appear in {places}. I can check one by one, starting with {next}.",
            " Likely spots are {places}; I'll begin with {next}.",
            " It could be in {places}, so {next} comes first.",
            " The places that usually hold one are {places}. Let me try {next}.",
        ),
    ),
    "search_next": (
        (
            "There is no {obj} at {last}.",
            "{last} has no {obj}.",
            "No {obj} at {last}.",
            "I don't see {a_obj} at {last}.",
            "{last} doesn't have what I need.",
        ),
        (
            " Next, I check {next}.",
            " Let me try {next} next.",
            " I'll go to {next}.",
            " {next} is the next place to look.",
            " Moving on to {next}.",
        ),
    ),
    "search_more": (
        (
            "I still need {a_obj}.",
            "I have not found {a_obj} yet.",
            "Now I need {a_obj}.",
            "Next, I need to find {a_obj}.",
            "What I need now is {a_obj}.",
        ),
        (
            " {A_obj} may be in {places}; I'll check {next}.",
            " Of the places left, {next} is the most likely.",
            " Let me look at {next}.",
            " I'll try {next} next.",
        ),
    ),
    "open": (
        (
            "{here} is closed.",
            "The {here} is shut.",
            "{here} has a door, and it's closed.",
            "I can't see inside {here} while it's closed.",
            "{here} is closed, so its contents are hidden.",
        ),
        (
            " I'll open it.",
            " Let me open it and look inside.",
            " Opening it will show what's in it.",
            " I need to open it to check for {a_obj}.",
        ),
    ),
    "here_too": (
        (
            "{there} is at this same spot, next to {last}.",
            "{last} and {there} share this spot.",
            "I'm already standing at {there}; it is next to {last}.",
            "{there} is right beside {last}, so there is no need to walk.",
            "No need to move: {there} is next to {last}.",
        ),
        (
            " Let me look at it for {a_obj}.",
            " I'll check it from here.",
            " I'll check it now.",
            " Let me see what it holds.",
        ),
    ),
    "take": (
        (
            "Now I find {a_obj} ({num}) at {here}.",
            "There is {a_target} at {here}.",
            "{here} has {a_target}.",
            "Found it: {target} is at {here}.",
            "I see {a_target} here at {here}.",
        ),
        (" Next, I need to take it.", " I'll pick it up.", " Let me take {target}.", " Taking it now."),
    ),
    "go_seen": (
        (
            "I saw {a_target} at {there} earlier.",
            "Earlier, {there} had {a_target}.",
            "{target} was at {there} when I checked it.",
            "I remember {a_target} at {there}.",
            "{there} held {a_target} when I looked.",
        ),
        (
            " I'll go back there to get it.",
            " Let me return to {there}.",
            " Going back for it.",
            " That's where I'll find one, so I'll head there.",
        ),
    ),
    "go_appliance": (
        (
            "Now I take {held}.",
            "I have {held} in hand.",
            "Got {held}.",
            "{held} is picked up.",
            "I'm holding {held} now.",
        ),
        (
            " Next, I need to go to {appliance} and {verb} it.",
            " It has to be {done} first, so I'll go to {appliance}.",
            " To {verb} it I'll use {appliance}.",
            " {appliance} can {verb} it, so that's where I'm going.",
        ),
    ),
    "change": (
        (
            "I'm at {appliance} with {held}.",
            "Here at {appliance}.",
            "{appliance} is right here.",
            "Now at {appliance}, holding {held}.",
            "I reached {appliance}.",
        ),
        (
            " I'll {verb} {held} with it.",
            " Time to {verb} {held}.",
            " Let me {verb} {held} using {appliance}.",
            " Now I {verb} {held}.",
        ),
    ),
    "go_destination": (
        (
            "{status}",
            "{status} That part is done.",
            "{status} Good.",
            "{status} One step closer.",
            "{status} So far so good.",
        ),
        (
            " Next, I need to put it in/on {destination}.",
            " Now it goes to {destination}.",
            " I'll carry it to {destination}.",
            " {destination} is where the task wants it, so I'll go there.",
        ),
    ),
    "open_destination": (
        (
            "{destination} is closed.",
            "The {destination} is shut.",
            "I can't put anything in {destination} while it's closed.",
            "{destination} needs to be opened first.",
            "The door of {destination} is closed.",
        ),
        (
            " I'll open it.",
            " Let me open it.",
            " Opening it so I can put {held} inside.",
            " I'll open it up.",
        ),
    ),
    "put": (
        (
            "I'm at {destination}.",
            "Here is {destination}.",
            "{destination} is in front of me.",
            "Now I'm at {destination}, holding {held}.",
            "I reached {destination}.",
        ),
        (
            " I'll put {held} in/on it.",
            " Let me put {held} in/on {destination}.",
            " Time to put {held} down here.",
            " Putting {held} in/on {destination} now.",
        ),
    ),
    "go_lamp": (
        (
            "{status}",
            "{status} Now for the light.",
            "{status} Next comes the {lamp}.",
            "{status} Good.",
            "{status} Half done.",
        ),
        (
            " I saw {a_lamp_name} at {there}, so I'll go there.",
            " {there} has {a_lamp_name}; I'll go to it.",
            " Earlier I noticed {a_lamp_name} at {there}. Let me go back.",
            " I'll go to {there}, where {lamp_name} is.",
        ),
    ),
    "use": (
        (
            "{lamp_name} is here at {here}.",
            "Here is {lamp_name}.",
            "I'm next to {lamp_name} with {held}.",
            "I found {lamp_name} at {here}.",
            "Now I'm at {here}, where {lamp_name} is.",
        ),
        (
            " I'll turn it on to look at {held} under it.",
            " Let me use it.",
            " Switching it on now.",
            " I'll use {lamp_name} to examine {held}.",
        ),
    ),
    "next_object": (
        (
            "Now I put the first {obj} in/on {destination}.",
            "One {obj} is in/on {destination}.",
            "The first {obj} is in place at {destination}.",
            "{destination} has the first {obj} now.",
            "That's one {obj} done.",
        ),
        (
            " Next, I need the second {obj}.",
            " Now I need another {obj}.",
            " One more {obj} to go.",
            " I still need a second {obj}.",
        ),
    ),
}

RELABEL_PHRASES: tuple[str, ...] = (
    "(Relabel from the engine's plan, which knows the whole state.) The next step is: {action}.",
    "(Relabel: the planner, seeing every object, says to continue with: {action}.)",
    "Relabelled turn: from this state, the engine's planner would do {action}.",
    "(Relabel.) The engine's planner continues from here with {action}.",
    "Relabel by the engine's planner, which sees where everything is: {action}.",
)


def phrase(kind: str, rng: random.Random, part: int | None = None, **facts: str) -> str:
    """One phrasing of decision ``kind`` with ``facts`` substituted (``part``: only its first (0) or
    second (1) half)."""
    first, second = PHRASES[kind]
    text = rng.choice(first) + rng.choice(second) if part is None else rng.choice(PHRASES[kind][part])
    return text.format(**facts).strip()


class ALFWorldExpert(Expert):
    """Searches likely receptacles, remembers what it saw, takes, transforms and places; ReAct thoughts."""

    env_name = "alfworld"
    description = (
        "ALFWorld teacher: honest search of likely receptacles from what it sees, grounded ReAct thoughts"
    )

    def __init__(self, seed: int = 0):
        super().__init__()
        self.seed = seed
        self._memory: dict[int, _Memory] = {}

    def reset(self, info: dict[str, Any], slot: int = 0) -> None:
        old = self.episodes.get(slot)
        if old is not None:
            self._memory.pop(id(old), None)
        super().reset(info, slot)

    def step(self, episode: Episode, observation: str, info: dict[str, Any]) -> AgentStep:
        memory = self._memory.get(id(episode))
        if memory is None:
            memory = self._memory[id(episode)] = self._start(episode, observation, info)
        else:
            memory.observe(observation)
        thought, action = self._decide(memory, [str(a) for a in info.get("admissible_actions") or []])
        if memory.turns == 0:
            thought = f"{self._plan_thought(memory)} {thought}".strip()
        thought = re.sub(r"(^|[.!?] )([a-z])", lambda m: m[1] + m[2].upper(), thought)  # sentence starts
        memory.turns += 1
        memory.last_action = action
        return AgentStep(thought=thought, action=action, text=format_turn(thought, action))

    def relabel(self, episode: Episode, info: dict[str, Any]) -> AgentStep:
        """The engine planner's next command from the current state (``info["extra.expert_plan"]``, which
        ``envs.make("alfworld", expert_plan=True)`` provides); the thought says it is a relabel."""
        plan = info.get("extra.expert_plan")
        if not plan:
            raise ValueError(
                "ALFWorldExpert.relabel needs info['extra.expert_plan'] (the engine planner's plan from "
                "the current state); make the env with expert_plan=True"
            )
        action = str(plan[0])
        rng = random.Random(f"{self.seed}:{info.get('task_id', '')}:relabel:{len(episode.turns)}")
        thought = rng.choice(RELABEL_PHRASES).format(action=action)
        return AgentStep(thought=thought, action=action, text=format_turn(thought, action))

    # --- state ------------------------------------------------------------------------------------------
    def _start(self, episode: Episode, observation: str, info: dict[str, Any]) -> _Memory:
        first = episode.first_observation or observation
        task = str(info.get("task") or episode.task or first)
        room = _ROOM.search(first)
        if not room:
            raise ValueError(f"ALFWorldExpert: the first observation lists no receptacles: {first[:200]!r}")
        rng = random.Random(f"{self.seed}:{info.get('task_id', task)}")
        return _Memory(goal=parse_goal(task), receptacles=_items(room["items"]), rng=rng)

    # --- policy -----------------------------------------------------------------------------------------
    def _decide(self, m: _Memory, admissible: list[str]) -> tuple[str, str]:
        """The next (thought, action). Receptacles can share a spot (two drawers, a front and a back burner):
        "go to X" is then not admissible while ``examine X`` is, so X is right here and the decision is
        made again from X."""
        thought, action = self._choose(m, admissible)
        there = action.removeprefix("go to ")
        if there != action and admissible and action not in admissible and f"examine {there}" in admissible:
            m.beside, m.location = m.location, there
            thought, action = self._choose(m, admissible)
        return thought, action

    def _choose(self, m: _Memory, admissible: list[str]) -> tuple[str, str]:
        goal = m.goal
        if m.holding and _kind(m.holding) == goal.obj:
            if goal.task_type == "look_at_obj_in_light":
                return self._to_lamp(m)
            if goal.task_type in STATE_CHANGES and m.holding not in m.changed:
                return self._to_appliance(m, admissible)
            return self._to_destination(m, admissible)
        return self._fetch(m, admissible)

    def _facts(self, m: _Memory, kind: str, **more: str) -> dict[str, str]:
        return {
            "obj": kind,
            "a_obj": _a(kind),
            "A_obj": _a(kind).capitalize(),
            "here": m.location,
            "places": m.likely_places(kind),
            **more,
        }

    def _fetch(self, m: _Memory, admissible: list[str]) -> tuple[str, str]:
        """Go to, or take, an object of the goal type not yet placed; search when none is known."""
        goal = m.goal
        prefix = ""
        if goal.count == 2 and len(m.placed) == 1 and m.last_action.startswith("move "):
            prefix = phrase("next_object", m.rng, obj=goal.obj, destination=m.destination) + " "
        known = m.seen(goal.obj, exclude=m.destination)
        if known:
            target, there = known[0]
            facts = self._facts(
                m, goal.obj, target=target, a_target=_a(target), there=there, num=str(_number(target))
            )
            if there == m.location:
                action = f"take {target} from {there}"
                if action in admissible or not admissible:
                    return prefix + phrase("take", m.rng, **facts), action
            else:
                return prefix + phrase("go_seen", m.rng, **facts), f"go to {there}"
        return self._search(m, goal.obj, prefix)

    def _search(self, m: _Memory, kind: str, prefix: str = "") -> tuple[str, str]:
        """Open the receptacle here if it is closed, else go to the next likely unvisited one."""
        if m.location in m.closed:
            return prefix + phrase("open", m.rng, **self._facts(m, kind)), f"open {m.location}"
        if m.location and m.location not in m.visited:  # a receptacle sharing the spot I arrived at
            facts = self._facts(m, kind, there=m.location, last=m.beside)
            look = "open" if _kind(m.location) in openable_names() else "examine"
            return prefix + phrase("here_too", m.rng, **facts), f"{look} {m.location}"
        order = m.search_order(kind)
        if not order:  # everything seen: look again where it could be (a later turn may have moved things)
            m.visited.clear()
            order = [r for r in m.search_order(kind) if r != m.location] or m.receptacles
        facts = self._facts(m, kind, next=order[0], last=m.location)
        if prefix:  # the prefix already says what is needed: only where to look
            return prefix + phrase("search_more", m.rng, part=1, **facts), f"go to {order[0]}"
        if m.turns == 0:
            kind_of_thought = "search_first"
        elif m.last_action.startswith(("go to ", "open ", "examine ")) and m.location:
            kind_of_thought = "search_next"
        else:
            kind_of_thought = "search_more"
        return phrase(kind_of_thought, m.rng, **facts), f"go to {order[0]}"

    def _status(self, m: _Memory) -> str:
        """A short, varied sentence about what is in hand (and whether it is cleaned/heated/cooled yet)."""
        held = m.holding
        if held in m.changed:
            done = STATE_CHANGES[m.goal.task_type][2]
            return m.rng.choice(
                (
                    f"Now I have {done} {held}.",
                    f"{held} is {done} now.",
                    f"I have {done} {held}.",
                    f"{held} has been {done}.",
                    f"Done: {held} is {done}.",
                )
            )
        return m.rng.choice(
            (
                f"Now I take {held}.",
                f"I have {held}.",
                f"Got {held}.",
                f"{held} is in my hands.",
                f"I'm holding {held}.",
            )
        )

    def _to_appliance(self, m: _Memory, admissible: list[str]) -> tuple[str, str]:
        kind, verb, done = STATE_CHANGES[m.goal.task_type]
        appliances = sorted((r for r in m.receptacles if _kind(r) == kind), key=_number)
        if not appliances:
            raise ValueError(f"ALFWorldExpert: the task needs a {kind}, but the room shows none")
        appliance = m.location if _kind(m.location) == kind else appliances[0]
        facts = {"held": m.holding, "appliance": appliance, "verb": verb, "done": done}
        command = f"{verb} {m.holding} with {appliance}"
        if m.location == appliance and (command in admissible or not admissible):
            return phrase("change", m.rng, **facts), command
        return phrase("go_appliance", m.rng, **facts), f"go to {appliance}"

    def _to_destination(self, m: _Memory, admissible: list[str]) -> tuple[str, str]:
        goal = m.goal
        if not m.destination:
            holding_ones = [
                r
                for r in m.receptacles
                if _kind(r) == goal.recep and any(_kind(o) == goal.obj for o in m.contents.get(r, []))
            ]
            candidates = holding_ones or sorted(
                (r for r in m.receptacles if _kind(r) == goal.recep), key=_number
            )
            if not candidates:
                raise ValueError(f"ALFWorldExpert: the task needs a {goal.recep}, but the room shows none")
            m.destination = candidates[0]
        destination = m.destination
        facts = {"held": m.holding, "destination": destination, "status": self._status(m)}
        if m.location != destination:
            return phrase("go_destination", m.rng, **facts), f"go to {destination}"
        command = f"move {m.holding} to {destination}"
        if command not in admissible and (destination in m.closed or f"open {destination}" in admissible):
            return phrase("open_destination", m.rng, **facts), f"open {destination}"
        return phrase("put", m.rng, **facts), command

    def _to_lamp(self, m: _Memory) -> tuple[str, str]:
        lamp_kind = m.goal.lamp
        lamps = m.seen(lamp_kind)
        if not lamps:  # say what is in hand once, right after taking it
            status = self._status(m) + " " if m.last_action.startswith("take ") else ""
            thought, action = self._search(m, lamp_kind)
            return status + thought, action
        lamp, there = lamps[0]
        facts = {
            "held": m.holding,
            "lamp": lamp_kind,
            "lamp_name": lamp,
            "a_lamp_name": _a(lamp),
            "there": there,
            "here": m.location,
            "status": self._status(m),
        }
        if m.location == there:
            return phrase("use", m.rng, **facts), f"use {lamp}"
        return phrase("go_lamp", m.rng, **facts), f"go to {there}"

    @staticmethod
    def _plan_thought(m: _Memory) -> str:
        goal = m.goal
        obj = goal.obj
        if goal.task_type == "look_at_obj_in_light":
            steps = f"find and take {_a(obj)}, then find and use {_a(goal.lamp)}"
        elif goal.count == 2:
            steps = (
                f"find and take the first {obj}, then put it in/on {goal.recep}, then find and take "
                f"the second {obj}, then put it in/on {goal.recep}"
            )
        elif goal.task_type in STATE_CHANGES:
            kind, verb, _ = STATE_CHANGES[goal.task_type]
            steps = f"find and take {_a(obj)}, then {verb} it with {kind}, then put it in/on {goal.recep}"
        else:
            steps = f"find and take {_a(obj)}, then put it in/on {goal.recep}"
        return phrase("plan", m.rng, steps=steps)


@cache
def _solver_engine() -> AlfredEngine:
    return AlfredEngine(walkthrough=False)


def solves(game_file: Path, max_steps: int = 50) -> bool:
    """Whether the honest expert wins the game in ``game_file`` within ``max_steps``, seeing only the task,
    the observations and the admissible commands: the solvability check for generated games (upstream
    keeps only games its handcoded expert solves); pass it as ``data.build_split(solver=solves)``."""
    engine = _solver_engine()
    engine.load(Path(game_file))
    state = engine.reset()
    observation = intro_observation(state.feedback)
    info = {
        "task": observation.rpartition("Your task is to:")[2].strip().rstrip("."),
        "admissible_actions": state.admissible,
    }
    expert = ALFWorldExpert()
    expert.reset(info)
    for _ in range(max_steps):
        action = expert.act(observation, info).action
        if action in state.admissible:
            state = engine.step(action)
            observation = state.feedback
        else:
            observation = "Nothing happens."
        if state.won:
            return True
        info = {"task": info["task"], "admissible_actions": state.admissible}
    return False
