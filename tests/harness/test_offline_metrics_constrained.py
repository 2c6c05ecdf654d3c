"""Offline metrics decode as play does: on a constrained run, the student LM agent is given, at each held-out
teacher state, the admissible actions the env gave the teacher there (replayed from the teacher's run), and
the metrics file says which decoding was used."""
from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from agents.base import AgentStep
from agents.lm import LMAgent
from distill.models import build_tiny
from harness.evaluate import evaluate
from harness.experiment.offline_metrics import (
    decoding_facts,
    predict_on_states,
    replay_admissible_actions,
    student_offline_metrics,
    teacher_states,
)
from harness.logs import read_episodes

ENV, STEPS = "webshop", 3


class RecordingLM(LMAgent):
    """The real LM agent, recording the admissible actions it is given at each (task, step)."""

    def __init__(self, *args: Any, **kwargs: Any):
        super().__init__(*args, **kwargs)
        self.given: dict[tuple[str, int], Any] = {}

    def act_batch(self, observations: Sequence[str], infos: Sequence[dict[str, Any]] | None = None,
                  slots: Sequence[int] | None = None) -> list[AgentStep]:
        for slot, info in zip(slots or [], infos or [], strict=True):
            key = (str(info["task_id"]), len(self._episode(slot).turns))
            self.given[key] = info.get("admissible_actions", "not given")
        return super().act_batch(observations, infos, slots)


@pytest.fixture(scope="module")
def teacher_run(tmp_path_factory) -> tuple[Path, RecordingLM, str]:
    """(run dir, teacher agent, model dir) of a tiny random LM played constrained on WebShop's test split."""
    root = tmp_path_factory.mktemp("offline")
    texts = ["Thought: search for it.\nAction: search[red shoes]\nObservation: [Back to Search] B01 shoes",
             "Thought: buy it.\nAction: click[Buy Now]\nObservation: Thank you for shopping"] * 20
    model = str(build_tiny(texts, root / "model", preset="tiny-student"))
    teacher = RecordingLM(model, env=ENV, max_new_tokens=16, device="cpu", constrain_actions=True)
    evaluate(ENV, teacher, split="test", episodes=2, workers=0, run=str(root / "teacher_eval"),
             env_kwargs={"max_steps": STEPS}, progress=False, command=["test"])
    return root / "teacher_eval", teacher, model


def test_a_constrained_student_gets_the_admissible_actions_the_teacher_had(teacher_run):
    run, teacher, model = teacher_run
    states = replay_admissible_actions(teacher_states(read_episodes(run), max_states=100), run)
    assert len(states) == len(teacher.given) >= 4  # every step of both episodes (some end early)
    student = RecordingLM(model, env=ENV, max_new_tokens=16, device="cpu", constrain_actions=True)
    metrics = student_offline_metrics(student, states)
    assert student.given == teacher.given  # the same lists, state by state
    assert all(student.given.values())  # WebShop lists each page's actions: search or clicks
    assert any(a.startswith("click[") for actions in student.given.values() for a in actions)
    assert metrics["decoding"] == "constrained" and metrics["states"] == len(states)
    # and it decodes within them: each action it chose is one of them (a search query is open text)
    for state, step in zip(states, predict_on_states(student, states), strict=True):
        listed = {" ".join(a.split()) for a in state.admissible_actions or ()}
        assert step.action.startswith("search[") or step.action in listed, (step.action, listed)


def test_unreplayed_states_decode_freely_and_the_report_says_which(teacher_run, tmp_path):
    run, teacher, model = teacher_run
    states = teacher_states(read_episodes(run), max_states=100)
    student = RecordingLM(model, env=ENV, max_new_tokens=16, device="cpu", constrain_actions=True)
    metrics = student_offline_metrics(student, states)
    assert metrics["decoding"] == "free" and set(student.given.values()) == {"not given"}
    for label, decoding in (("a", "free"), ("b", "constrained")):
        (tmp_path / "offline" / label).mkdir(parents=True)
        (tmp_path / "offline" / label / "metrics.json").write_text(json.dumps({"decoding": decoding}))
    line, = decoding_facts(tmp_path)
    assert "freely" in line and "constrained to the admissible actions the teacher had" in line


def test_a_replay_that_differs_from_the_log_is_an_error_naming_the_episode_and_step(teacher_run, tmp_path):
    run, _, _ = teacher_run
    episodes = read_episodes(run)
    changed = episodes.copy()
    second = changed.index[(changed["episode"] == 0) & (changed["step"] == 1)]
    changed.loc[second, "observation"] = "a page the env never showed"
    states = [s for s in teacher_states(pd.DataFrame(changed), max_states=100) if s.episode == 0]
    with pytest.raises(ValueError, match=r"episode 0 .* at step 1 than its log"):
        replay_admissible_actions(states, run)
