"""The ReAct text format every agent emits and every trainer consumes.

One turn is::

    Thought: <free text, may span lines>
    Action: <the env action, one line>

and the harness appends ``Observation: <text>`` after it. The running prompt is::

    [instructions]  [few-shot examples]
    Task: <task>                      (left out when the first observation already states it)
    Observation: <first observation>
    Thought: ... / Action: ... / Observation: ...   (one block per earlier turn)

A turn ends with the newline that ends its ``Action:`` line (:func:`completion_end`): that newline is the
completion's last character (:func:`render_turn`), so a model is trained to write it and generation stops
at it; the ``Observation:`` block after a turn starts on the next line.
"""
from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from agents.context import omitted_note, turns_to_drop

_ACTION = re.compile(r"^[ \t>]*action(?:[ \t]*\d+)?[ \t]*:[ \t]*(?P<rest>.*)$", re.IGNORECASE | re.MULTILINE)
#: an ``Action:`` line with content, ended by a newline: where a completion stops
_ACTION_LINE_END = re.compile(
    r"^[ \t>]*action(?:[ \t]*\d+)?[ \t]*:[ \t]*\S[^\n]*\n", re.IGNORECASE | re.MULTILINE
)
#: the model starting to write the environment's reply itself
_OBSERVATION = re.compile(r"^[ \t]*observation(?:[ \t]*\d+)?[ \t]*:", re.IGNORECASE | re.MULTILINE)

_THOUGHT = re.compile(
    r"^[ \t>]*(?:thought|reasoning|think)(?:[ \t]*\d+)?[ \t]*:[ \t]*", re.IGNORECASE | re.MULTILINE
)


@dataclass
class Turn:
    """One agent turn as it appears in the prompt: the completion and the observation that followed."""

    thought: str
    action: str
    text: str
    observation: str | None = None


@dataclass(frozen=True)
class ParsedCompletion:
    """A completion split into thought and action. ``has_action`` is False when no ``Action:`` line
    was found; then ``action`` is the whole completion, passed to the env as-is."""

    thought: str
    action: str
    has_action: bool


def completion_end(text: str) -> int | None:
    """Character index where the turn in ``text`` is complete, or None while it is not: just past the
    newline that ends its ``Action:`` line, or at the start of an ``Observation:`` line the model writes
    itself after its first line (one it opens the text with is skipped: the turn is the text after it)."""
    ends = []
    action = _ACTION_LINE_END.search(text)
    if action is not None:
        ends.append(action.end())  # the newline is the turn's last character
    observation = next((m for m in _OBSERVATION.finditer(text) if m.start() > 0), None)
    if observation is not None:
        ends.append(observation.start())
    return min(ends) if ends else None


def format_turn(thought: str, action: str) -> str:
    """``Thought: <thought>\\nAction: <action>`` (the action is flattened to one line)."""
    action = " ".join(action.split())
    thought = thought.strip()
    return f"Thought: {thought}\nAction: {action}" if thought else f"Action: {action}"


def parse(completion: str) -> ParsedCompletion:
    """Split a completion into (thought, action), tolerating what models actually write.

    - the first ``Action:`` / ``Action 3:`` line wins (case and spacing are free); text after it is ignored;
    - ``Action:`` with nothing after it takes the next non-empty line;
    - the thought is the text after ``Thought:`` (or ``Thought 2:``, ``Reasoning:``, ``think:``) up to the
      action line, or the unlabelled text before the action line; it may be empty.
    """
    match = _ACTION.search(completion)
    if match is None:
        head = completion
        action, has_action = " ".join(completion.split()), False
    else:
        head = completion[: match.start()]
        action = match.group("rest").strip()
        if not action:
            following = [line.strip() for line in completion[match.end():].splitlines() if line.strip()]
            action = following[0] if following else ""
        has_action = bool(action)
        if not has_action:
            head, action = completion, " ".join(completion.split())
    thought_match = _THOUGHT.search(head)
    thought = head[thought_match.end():] if thought_match else head
    if not has_action and thought_match is None:
        thought = ""
    thought = thought.strip()
    return ParsedCompletion(thought=thought, action=action, has_action=has_action)


def header(task: str, first_observation: str, instructions: str = "", few_shot: Sequence[str] = ()) -> str:
    """The fixed start of an episode's prompt: instructions, few-shot examples, task, first observation."""
    parts = [p.strip() for p in (instructions, *few_shot) if p and p.strip()]
    lines = "\n\n".join(parts) + ("\n\n" if parts else "")
    if task and task.strip() not in first_observation:
        lines += f"Task: {task.strip()}\n"
    return lines + f"Observation: {first_observation.strip()}\n"


def render_turn(turn: Turn) -> tuple[str, str]:
    """(completion text ended by its newline, the ``Observation:`` block after it, "" when none) for one
    turn."""
    completion = turn.text.strip() + "\n"
    observation = "" if turn.observation is None else f"Observation: {turn.observation.strip()}\n"
    return completion, observation


def render(
    task: str,
    first_observation: str,
    turns: Sequence[Turn],
    instructions: str = "",
    few_shot: Sequence[str] = (),
) -> tuple[str, list[tuple[int, int]]]:
    """The whole episode as one text, and the (start, end) character range of every completion in it (its
    ending newline included)."""
    text = header(task, first_observation, instructions, few_shot)
    completions = []
    for turn in turns:
        completion, observation = render_turn(turn)
        completions.append((len(text), len(text) + len(completion)))
        text += completion + observation
    return text, completions


def approx_tokens(text: str) -> int:
    """A tokenizer-free length estimate (≈ 4 characters a token) for prompt budgets."""
    return (len(text) + 3) // 4


def fit_prompt(
    task: str,
    first_observation: str,
    turns: Sequence[Turn],
    instructions: str = "",
    few_shot: Sequence[str] = (),
    max_tokens: int | None = None,
    count_tokens: Callable[[str], int] = approx_tokens,
) -> tuple[str, int]:
    """(prompt for the next turn, number of earlier turns left out). Over ``max_tokens`` the oldest
    turns are dropped by :func:`agents.context.turns_to_drop` (a line says how many); the header and
    the latest turn always stay."""
    head = header(task, first_observation, instructions, few_shot)
    blocks = ["".join(render_turn(turn)) for turn in turns]
    dropped = 0
    if max_tokens is not None:
        dropped = turns_to_drop(
            count_tokens(head), [count_tokens(b) for b in blocks], max_tokens,
            lambda n: count_tokens(omitted_note(n)),
        )
    return head + (omitted_note(dropped) if dropped else "") + "".join(blocks[dropped:]), dropped


def build_prompt(
    task: str,
    first_observation: str,
    turns: Sequence[Turn],
    instructions: str = "",
    few_shot: Sequence[str] = (),
    max_tokens: int | None = None,
    count_tokens: Callable[[str], int] = approx_tokens,
) -> str:
    """The prompt for the next turn (:func:`fit_prompt` without the count)."""
    return fit_prompt(task, first_observation, turns, instructions, few_shot, max_tokens, count_tokens)[0]
