"""Prompt material per environment: a one-paragraph instruction and few-shot examples.

The few-shot examples are the ReAct authors' own trajectories (``alfworld_3prompts.json``,
``prompts_naive.json``; MIT, see ``LICENSE`` here). The LM agent and the distillation data
builder both take their prompt from here, so a student trains on exactly what it will see.

ALFWorld examples are chosen by task type as ReAct does (two of the episode's type, ``react_<type>_1``
then ``react_<type>_0``), and rewritten into the text the engine produces and the turn format agents
write: ReAct's ``> think: ...`` lines become the ``Thought:`` of the next action, ``put X in/on Y``
becomes ``move X to Y`` ("You move the X to the Y."), and arriving somewhere starts with "You arrive
at X." as ALFWorld >= 0.4 says.
"""

from __future__ import annotations

import json
import re
from functools import cache
from pathlib import Path

from agents.react import Turn, format_turn, render

HERE = Path(__file__).parent

INSTRUCTIONS: dict[str, str] = {
    "alfworld": (
        "Interact with a household to solve a task. Each turn, write one line 'Thought: ...' "
        "and one line 'Action: <command>' "
        "(go to, open, close, take, move, heat, cool, clean, use, examine, look, inventory)."
    ),
    "hotpotqa": (
        "Answer the question by interleaving Thought and Action lines. Actions: search[entity] returns the "
        "first sentences of its page (or similar titles), lookup[keyword] returns the next sentence with the "
        "keyword on the current page, finish[answer] ends with the answer."
    ),
    "webshop": (
        "Buy the product that best matches the instruction. Each turn, write one line 'Thought: ...' and one "
        "line 'Action: search[ words of the instruction]' or 'Action: click[button]' using a button or "
        "product id shown on the page."
    ),
}

#: env -> (file, key prefix) of the ReAct authors' few-shot trajectories
_FEW_SHOT_SOURCES = {
    "alfworld": ("alfworld_3prompts.json", "react_"),
    "hotpotqa": ("prompts_naive.json", "webthink_simple6"),
}


def instructions(env: str) -> str:
    """The instruction paragraph for ``env`` ("" for an env without one)."""
    return INSTRUCTIONS.get(env, "")


@cache
def react_trajectories(file_name: str) -> dict[str, str]:
    """The ReAct authors' trajectories in ``file_name`` (key -> text)."""
    path = HERE / file_name
    if not path.exists():
        raise FileNotFoundError(f"{path}: bundled ReAct prompt file is missing; reinstall agentdistill")
    return json.loads(path.read_text())


#: ALFWorld task type -> the name ReAct's prompt keys use for it
ALFWORLD_PROMPT_NAMES: dict[str, str] = {
    "pick_and_place_simple": "put",
    "pick_clean_then_place_in_recep": "clean",
    "pick_heat_then_place_in_recep": "heat",
    "pick_cool_then_place_in_recep": "cool",
    "pick_two_obj_and_place": "puttwo",
    "look_at_obj_in_light": "examine",
}
_OLD_PUT = re.compile(r"^put (?P<obj>.+?) in/on (?P<recep>.+)$")
_OLD_PUT_FEEDBACK = re.compile(r"^You put the (?P<obj>.+?) in/on the (?P<recep>.+?)\.$")
_TAKE = re.compile(r"^take (?P<obj>.+?) from (?P<recep>.+)$")


def few_shot(env: str, n: int = 1, task_type: str | None = None) -> list[str]:
    """Up to ``n`` few-shot example texts for ``env`` from the ReAct authors' prompts ([] when none).

    ALFWorld: with ``task_type`` (one of the six), examples of that type in ReAct's order; without,
    the first ``n`` of the file. Either way in the engine's text and the Thought/Action turn format."""
    if env not in _FEW_SHOT_SOURCES or n <= 0:
        return []
    file_name, prefix = _FEW_SHOT_SOURCES[env]
    trajectories = react_trajectories(file_name)
    if env != "alfworld":
        return [v.strip() for k, v in trajectories.items() if k.startswith(prefix)][:n]
    if task_type is None:
        keys = [k for k in trajectories if k.startswith(prefix)]
    elif task_type in ALFWORLD_PROMPT_NAMES:
        name = ALFWORLD_PROMPT_NAMES[task_type]
        keys = [f"{prefix}{name}_{i}" for i in (1, 0, 2) if f"{prefix}{name}_{i}" in trajectories]
    else:
        raise ValueError(
            f"unknown ALFWorld task type {task_type!r}; expected one of {sorted(ALFWORLD_PROMPT_NAMES)}"
        )
    return [alfworld_example(trajectories[k]) for k in keys[:n]]


def alfworld_example(react_text: str) -> str:
    """One of ReAct's ALFWorld trajectories (``> command`` / feedback lines) as an episode the way our
    agents see one: ``Observation:``, then ``Thought:``/``Action:`` turns with the engine's feedback."""
    lines = [line.rstrip() for line in react_text.strip().split("\n")]
    start = next((i for i, line in enumerate(lines) if line.startswith(">")), len(lines))
    first_observation = "\n".join(lines[:start])
    turns: list[Turn] = []
    thoughts: list[str] = []
    i = start
    while i < len(lines):
        if not lines[i].startswith(
            ">"
        ):  # feedback written after a later think (react_cool_0's take): kept above
            i += 1
            continue
        command = lines[i][1:].strip()  # "> go to x" (one example writes ">go to x")
        feedback = lines[i + 1].strip() if i + 1 < len(lines) and not lines[i + 1].startswith(">") else None
        i += 1 if feedback is None else 2
        if command.startswith("think:"):
            thoughts.append(command[len("think:") :].strip())
            continue
        action, observation = _engine_text(command, feedback)
        thought = " ".join(thoughts)
        thoughts = []
        turns.append(
            Turn(thought=thought, action=action, text=format_turn(thought, action), observation=observation)
        )
    text, _ = render("", first_observation, turns)
    return text.strip()


def _engine_text(command: str, feedback: str | None) -> tuple[str, str]:
    """A ReAct (ALFWorld 0.3) command and its feedback as the engine here writes them."""
    put = _OLD_PUT.match(command)
    if put:
        return f"move {put['obj']} to {put['recep']}", f"You move the {put['obj']} to the {put['recep']}."
    take = _TAKE.match(command)
    if feedback is None and take:  # react_cool_0 writes this feedback after the next think
        feedback = f"You pick up the {take['obj']} from the {take['recep']}."
    feedback = feedback or "Nothing happens."
    if command.startswith("go to ") and feedback != "Nothing happens.":
        feedback = f"You arrive at {command[len('go to ') :]}. {feedback}"
    return command, feedback
