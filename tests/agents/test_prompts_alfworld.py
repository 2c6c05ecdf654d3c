"""ALFWorld few-shot examples: ReAct's, chosen by task type, in the engine's text and our turn format."""

from __future__ import annotations

import re

import pytest

from agents.experts.alfworld import parse_goal
from agents.prompts import few_shot
from agents.react import parse
from envs.alfworld.generator import TASK_TYPES

#: feedback the engine (alfred.twl2 of ALFWorld >= 0.4) writes for each command verb
ENGINE_FEEDBACK = {
    "go": re.compile(
        r"You arrive at [a-z]+ \d+\. (On the [a-z]+ \d+, you see .+\.|The [a-z]+ \d+ is (closed|open\. "
        r"In it, you see .+)\.?)|Nothing happens\."
    ),
    "open": re.compile(r"You open the [a-z]+ \d+\. The [a-z]+ \d+ is open\. In it, you see .+\."),
    "take": re.compile(r"You pick up the [a-z]+ \d+ from the [a-z]+ \d+\."),
    "move": re.compile(r"You move the [a-z]+ \d+ to the [a-z]+ \d+\."),
    "heat": re.compile(r"You heat the [a-z]+ \d+ using the [a-z]+ \d+\."),
    "cool": re.compile(r"You cool the [a-z]+ \d+ using the [a-z]+ \d+\."),
    "clean": re.compile(r"You clean the [a-z]+ \d+ using the [a-z]+ \d+\."),
    "use": re.compile(r"You turn on the [a-z]+ \d+\."),
    "look": re.compile(r"You are facing the .+\. Next to it, you see .+\."),
}


@pytest.mark.parametrize("task_type", TASK_TYPES)
def test_two_examples_of_the_episodes_task_type(task_type: str) -> None:
    examples = few_shot("alfworld", 2, task_type=task_type)
    assert len(examples) == 2 and examples[0] != examples[1]
    for example in examples:
        task = re.search(r"Your task is to: (.+)", example)[1]
        assert parse_goal(task).task_type == task_type


@pytest.mark.parametrize("task_type", TASK_TYPES)
def test_examples_are_in_the_engines_text_and_our_turn_format(task_type: str) -> None:
    for example in few_shot("alfworld", 3, task_type=task_type):
        assert example.startswith("Observation: You are in the middle of a room.")
        assert "\n> " not in example and "in/on the" not in example and "\nOK." not in example
        lines = example.split("\n")
        actions = [
            (i, line[len("Action: ") :]) for i, line in enumerate(lines) if line.startswith("Action: ")
        ]
        assert len(actions) >= 4
        for i, action in actions:
            assert not action.startswith(("think", "put ")) and lines[i + 1].startswith("Observation: ")
            feedback = lines[i + 1][len("Observation: ") :]
            assert ENGINE_FEEDBACK[action.split()[0]].fullmatch(feedback), (action, feedback)
            assert parse(f"{lines[i - 1]}\n{lines[i]}").action == action


def test_without_task_type_and_bad_type() -> None:
    assert len(few_shot("alfworld", 3)) == 3
    assert few_shot("alfworld", 0, task_type="pick_and_place_simple") == []
    with pytest.raises(ValueError, match="unknown ALFWorld task type 'slice'"):
        few_shot("alfworld", 2, task_type="slice")


def test_http_agent_picks_few_shot_of_each_episodes_task_type() -> None:
    from agents.http import HTTPAgent

    agent = HTTPAgent(env="alfworld", base_url="http://127.0.0.1:9", few_shot=2)
    prompts: list[str] = []

    async def answer(batch: list[str]) -> list[str]:
        prompts.extend(batch)
        return ["Thought: looking\nAction: look"] * len(batch)

    agent._request_all = answer
    room = "You are in the middle of a room. Looking quickly around you, you see a fridge 1."
    for slot, (task_type, task) in enumerate(
        [
            ("pick_heat_then_place_in_recep", "put a hot egg in fridge"),
            ("pick_and_place_simple", "put a egg in fridge"),
        ]
    ):
        agent.reset({"task": task, "task_type": task_type}, slot=slot)
    agent.act_batch(
        [
            f"{room}\nYour task is to: put a hot egg in fridge.",
            f"{room}\nYour task is to: put a egg in fridge.",
        ],
        [{"task_type": "pick_heat_then_place_in_recep"}, {"task_type": "pick_and_place_simple"}],
        slots=[0, 1],
    )
    heat, put = prompts
    assert (
        "Your task is to: put a hot apple in fridge." in heat and "put some spraybottle on toilet" not in heat
    )
    assert "Your task is to: find some apple and put it in sidetable." in put and "put a hot apple" not in put
