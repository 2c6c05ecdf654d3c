"""The ReAct text format: format/parse round trips, malformed completions, the prompt budget."""
import pytest

from agents.react import Turn, build_prompt, format_turn, parse, render


@pytest.mark.parametrize(
    "thought, action",
    [("I should search.", "search[red shoes]"), ("", "click[buy now]"), ("two\nlines", "go to cabinet 1")],
)
def test_format_parse_round_trip(thought, action):
    parsed = parse(format_turn(thought, action))
    assert (parsed.thought, parsed.action, parsed.has_action) == (thought, action, True)


def test_format_flattens_the_action_to_one_line():
    assert format_turn("t", "search[a\n b]") == "Thought: t\nAction: search[a b]"


@pytest.mark.parametrize(
    "completion, thought, action",
    [
        ("Action: click[x]", "", "click[x]"),                                      # missing thought
        ("Thought: go\nAction: look\nObservation: You see", "go", "look"),         # extra text after
        ("Thought: a\nAction: first\nAction: second", "a", "first"),               # several actions
        ("thought:   spaced  \n  ACTION  :  search[q]  ", "spaced", "search[q]"),  # case and spacing
        ("Thought 3: numbered\nAction 3: Finish[yes]", "numbered", "Finish[yes]"),  # step numbers
        ("I think so.\nAction: take apple 1", "I think so.", "take apple 1"),      # unlabelled thought
        ("Thought: x\nAction:\n\n  go to desk 1\n", "x", "go to desk 1"),          # action on next line
        ("Reasoning: r\nAction: a", "r", "a"),
    ],
)
def test_parse_variants(completion, thought, action):
    parsed = parse(completion)
    assert (parsed.thought, parsed.action, parsed.has_action) == (thought, action, True)


@pytest.mark.parametrize("completion", ["", "Thought: no action here", "   ", "Action:"])
def test_parse_without_action_passes_text_through(completion):
    parsed = parse(completion)
    assert parsed.has_action is False
    assert parsed.action == " ".join(completion.split())


def turns(n):
    return [
        Turn(f"t{i}", f"a{i}", f"Thought: t{i}\nAction: a{i}", observation=f"obs {i} " + "x" * 40)
        for i in range(n)
    ]


def test_prompt_layout():
    prompt = build_prompt("find a mug", "You are in a room.", turns(2), instructions="Be brief.")
    assert prompt.startswith("Be brief.\n\nTask: find a mug\nObservation: You are in a room.\n")
    assert "Thought: t0\nAction: a0\nObservation: obs 0" in prompt
    assert prompt.endswith("\n")
    # the task is not repeated when the first observation already states it
    assert "Task:" not in build_prompt("find a mug", "Your task is to: find a mug", [])


def test_prompt_budget_drops_oldest_turns_first():
    full = build_prompt("task", "start", turns(10))
    short = build_prompt("task", "start", turns(10), max_tokens=60)
    assert len(short) < len(full)
    assert "Observation: start" in short and "Thought: t9" in short and "Thought: t0" not in short
    assert "earlier turns omitted" in short
    kept = [i for i in range(10) if f"Thought: t{i}\n" in short]
    assert kept == list(range(kept[0], 10))  # a contiguous suffix


def test_render_marks_completions():
    text, ranges = render("task", "start", turns(3))
    assert [text[a:b] for a, b in ranges] == [t.text + "\n" for t in turns(3)]  # each ends its line
    assert text == build_prompt("task", "start", turns(3))
