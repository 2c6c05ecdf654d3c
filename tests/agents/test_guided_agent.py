"""The guided agent of on-policy distillation: p = 0 plays exactly the student, p = 1 exactly the guide
(a teacher LM or the env's per-step expert), the coins depend on (seed, round, task, step) alone and are
marked in the log, both players share one history (every logged context rebuilds exactly in training),
and it runs in the harness's batched policy actor under Ray like the plain LM agent."""
from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest
import torch
from transformers import AutoModelForCausalLM, AutoTokenizer

from agents.guided import GuidedAgent, guide_coin
from distill.data import encode_episode, load_episodes
from distill.models import build_tiny
from harness.evaluate import evaluate
from harness.logs import read_episodes
from harness.rollout import Rollout, is_batched
from tests.harness.opd_models import LM, TEXTS  # a few short turns: who played which tokens matters

ENV = "webshop"
PLAY = {"episodes": 2, "env_kwargs": {"max_steps": 3}, "progress": False, "split": "train"}
#: what two plays of the same turns share (timings and run names differ)
SAME = ["task_id", "episode", "step", "observation", "completion", "action", "n_dropped_turns",
        "prompt_tokens"]


def teach(model_dir: Path, line: str) -> Path:
    """Teach the tiny Llama in ``model_dir`` one line by a few gradient steps: untrained, with tied
    embeddings, any of them greedily repeats its prompt's last token, so two would play alike."""
    model = AutoModelForCausalLM.from_pretrained(model_dir)
    ids = torch.tensor([AutoTokenizer.from_pretrained(model_dir)("Observation: ok\n" + line)["input_ids"]])
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-2)
    for _ in range(30):
        model(input_ids=ids, labels=ids).loss.backward()
        optimizer.step()
        optimizer.zero_grad()
    model.save_pretrained(model_dir)
    return model_dir


@pytest.fixture(scope="module")
def models(tmp_path_factory):
    """(teacher dir, student dir): two tiny Llamas sharing one tokenizer that write different turns."""
    root = tmp_path_factory.mktemp("guided-models")
    teacher = build_tiny(TEXTS, root / "teacher")
    teach(teacher, "Thought: I should search.\nAction: search[red shoes]\n")
    student = build_tiny([], root / "student", preset="tiny-student", tokenizer_from=teacher, seed=1)
    return teacher, teach(student, "Thought: buy it now.\nAction: click[buy now]\n")


def play(tmp_path, name: str, agent: str, workers: int = 0, **agent_kwargs) -> pd.DataFrame:
    """The log of ``agent`` (an LM one: with the :data:`LM` options) on :data:`PLAY`'s episodes."""
    options = agent_kwargs if agent == "expert" else {**LM, **agent_kwargs}
    evaluate(ENV, agent, workers=workers, run=tmp_path / name, agent_kwargs=options, **PLAY)
    return read_episodes(tmp_path / name)


def same(frame: pd.DataFrame) -> pd.DataFrame:
    out = frame[SAME].copy()
    out["token_ids"] = frame["token_ids"].map(list)
    return out.reset_index(drop=True)


@pytest.fixture(scope="module")
def plain(models, tmp_path_factory):
    """The student's and the teacher's own plays, as the plain LM agent."""
    teacher, student = models
    root = tmp_path_factory.mktemp("plain")
    return {"student": play(root, "student", "lm", model=str(student)),
            "teacher": play(root, "teacher", "lm", model=str(teacher))}


def test_coins_depend_on_seed_round_task_and_step_alone():
    coins = [guide_coin(0, 0, "task-1", step) for step in range(2000)]
    assert all(0 <= c < 1 for c in coins) and 0.45 < sum(coins) / len(coins) < 0.55
    assert guide_coin(3, 1, "task-1", 4) == guide_coin(3, 1, "task-1", 4)
    assert len({guide_coin(*key) for key in [(0, 0, "a", 0), (1, 0, "a", 0), (0, 1, "a", 0), (0, 0, "b", 0),
                                              (0, 0, "a", 1)]}) == 5


def test_p0_plays_exactly_the_student_and_p1_exactly_the_teacher(models, plain, tmp_path):
    teacher, student = models
    nobody = play(tmp_path, "p0", "guided", model=str(student), teacher=str(teacher), guide_p=0.0)
    everybody = play(tmp_path, "p1", "guided", model=str(student), teacher=str(teacher), guide_p=1.0)
    assert not nobody["guided"].any() and everybody["guided"].all()
    assert not plain["student"]["guided"].any()
    pd.testing.assert_frame_equal(same(nobody), same(plain["student"]))
    pd.testing.assert_frame_equal(same(everybody), same(plain["teacher"]))
    # the two models write different turns, so the identities above tell the players apart
    assert set(plain["student"]["completion"]).isdisjoint(plain["teacher"]["completion"])


def test_mixed_turns_follow_the_coins_and_share_one_history(models, plain, tmp_path):
    teacher, student = models
    options = {"model": str(student), "teacher": str(teacher), "guide_p": 0.5, "round_index": 2, "seed": 3}
    mixed = play(tmp_path, "mixed", "guided", **options)
    turns = zip(mixed["task_id"], mixed["step"], strict=True)
    coins = [guide_coin(3, 2, task, step) < 0.5 for task, step in turns]
    assert mixed["guided"].tolist() == coins
    assert 0 < sum(coins) < len(coins)  # these seeds mix the players
    # reproducible: a second play draws the same coins and plays the same turns
    pd.testing.assert_frame_equal(same(play(tmp_path, "again", "guided", **options)), same(mixed))
    # a guided first turn is the teacher's own (tokens included), an unguided one the student's
    for _, turn in mixed[mixed["step"] == 0].iterrows():
        own = plain["teacher" if turn["guided"] else "student"]
        mine = own[(own["episode"] == turn["episode"]) & (own["step"] == 0)].iloc[0]
        assert (mine["completion"], list(mine["token_ids"])) == (turn["completion"], list(turn["token_ids"]))
    # every turn's logged context (the student's or the teacher's prompt, which splice each other's ids)
    # rebuilds exactly from the log: encode_episode raises when a prompt length differs
    tokenizer = AutoTokenizer.from_pretrained(student)
    for episode in load_episodes([tmp_path / "mixed"]):
        assert episode.has_context and encode_episode(episode, tokenizer, 1024, logged_context=True)


def test_the_expert_guide_relabels_and_logs_the_ids_the_student_saw(models, tmp_path):
    _, student = models
    expert = play(tmp_path, "expert", "expert")
    relabelled = play(tmp_path, "p1-expert", "guided", model=str(student), guide="expert", guide_p=1.0)
    assert relabelled["guided"].all()
    for column in ["task_id", "step", "observation", "action", "completion"]:
        assert relabelled[column].tolist() == expert[column].tolist()
    tokenizer = AutoTokenizer.from_pretrained(student)
    ids = [tokenizer(text.strip() + "\n", add_special_tokens=False)["input_ids"]  # the turn ends its line
           for text in relabelled["completion"]]
    assert relabelled["token_ids"].map(list).tolist() == ids
    mixed = play(tmp_path, "mixed-expert", "guided", model=str(student), guide="expert", guide_p=0.5, seed=1)
    assert 0 < mixed["guided"].sum() < len(mixed)
    for episode in load_episodes([tmp_path / "mixed-expert"]):
        assert encode_episode(episode, tokenizer, 1024, logged_context=True)


def test_bad_options_are_refused(models):
    teacher, student = models
    with pytest.raises(ValueError, match="guide='teacher' needs teacher=PATH"):
        GuidedAgent(student, ENV, guide="teacher")
    with pytest.raises(ValueError, match=r"guide_p=1.5: expected a probability in \[0, 1\]"):
        GuidedAgent(student, ENV, teacher=teacher, guide_p=1.5)
    with pytest.raises(ValueError, match="guide='coach': expected one of teacher, expert, none"):
        GuidedAgent(student, ENV, guide="coach")


def test_ray_plays_it_in_the_batched_policy_actor(models, ray_session, tmp_path):
    teacher, student = models
    options = {"model": str(student), "teacher": str(teacher), "guide_p": 0.5, "round_index": 2, "seed": 3}
    assert is_batched(("guided", options))
    engine = Rollout(ENV, ("guided", options), [], lambda rows: None, workers=1)
    assert not engine.episode_parallel  # the round loop, one act_batch per round for every episode
    local = play(tmp_path, "local", "guided", **options)
    on_ray = play(tmp_path, "ray", "guided", workers=1, **options)
    pd.testing.assert_frame_equal(same(on_ray), same(local))
    assert on_ray["guided"].tolist() == local["guided"].tolist()
