"""On-policy rounds that explore (issue 27 item 1): round r plays the train tasks from r × episodes_per_round
on, the student samples its turns at temperature 1 with a seeded sampler (a round played again replays the
same rollouts), guided turns train with forward KL to the teacher by default, and the rounds are one
training: one AdamW state and one LR schedule."""
from __future__ import annotations

import csv
import json
import shutil

import pytest
import torch
from safetensors.torch import load_file

import envs
from agents.guided import GuidedAgent
from distill.config import OPDConfig
from distill.train import lr_multiplier
from harness.errors import UserError
from harness.evaluate import evaluate
from harness.experiment.opd import OPDSchedule, run_opd, task_offset
from harness.logs import read_episodes
from harness.tasks import episode_tasks, planned_tasks
from tests.harness.opd_models import LM, build_opd_models

#: two optimizer steps of two sequences a round, one warm-up step, on CPU
TRAIN = {"role": "student", "batch_size": 2, "micro_batch_size": 2, "max_length": 512, "lr": 1e-3,
         "warmup_steps": 1, "min_lr_ratio": 0.1, "eval_every": 0, "eval_fraction": 0.0, "save_every": 1,
         "device": "cpu", "progress": False, "tensorboard": False}
#: round 0: the teacher plays every turn (p = 1); round 1: the student alone, sampling
SCHEDULE = OPDSchedule(rounds=2, episodes_per_round=2, steps_per_round=2, guide="teacher", guide_p0=1.0)
ENV_MAX_STEPS = 3


@pytest.fixture(scope="module")
def models(tmp_path_factory):
    return build_opd_models(tmp_path_factory.mktemp("opd-explore-models"))


def opd(models, out) -> dict:
    teacher, student = models
    return run_opd(env="webshop", method="opd", student=student, teacher=teacher, out=out, schedule=SCHEDULE,
                   train_settings=TRAIN, agent_kwargs=LM, max_steps=ENV_MAX_STEPS, workers=0, seed=0)


@pytest.fixture(scope="module")
def played(models, tmp_path_factory):
    """Two rounds played and trained once; tests that change them work on a copy."""
    out = tmp_path_factory.mktemp("opd-explore") / "opd"
    opd(models, out)
    return out


def rows(path) -> list[dict[str, str]]:
    with path.open() as f:
        return list(csv.DictReader(f))


def test_rounds_start_at_their_task_offset_and_wrap_around_past_the_split():
    assert [task_offset(OPDSchedule(rounds=3, episodes_per_round=32), r) for r in range(3)] == [0, 32, 64]
    env = envs.make("webshop", split="train")
    order = episode_tasks(env, len(env.unwrapped.task_ids))
    assert episode_tasks(env, 2, offset=4) == order[4:6]
    assert episode_tasks(env, 2, offset=len(order) - 1) == [order[-1], order[0]]  # wraps around
    with pytest.raises(ValueError, match=r"OPDSchedule.rollout_temperature=-1.0: expected a finite number"):
        OPDSchedule(rollout_temperature=-1.0)
    with pytest.raises(UserError, match="task_offset must be >= 0"):
        evaluate("webshop", "expert", episodes=1, workers=0, task_offset=-1)


def test_the_guided_agent_samples_the_students_turns_alone_seeded(models):
    teacher, student = models
    options = {"env": "webshop", "guide": "teacher", "teacher": teacher, "guide_p": 0.0, **LM}
    assert GuidedAgent(student, **options).student.temperature == 0.0  # greedy unless asked
    info = {"task_id": "t0", "task": "Find red running shoes", "admissible_actions": None}

    def turn(seed: int) -> list[int]:
        agent = GuidedAgent(student, seed=seed, temperature=1.0, **options)
        assert (agent.student.temperature, agent.teacher.temperature) == (1.0, 0.0)
        agent.reset(info)
        return agent.act_batch(["WebShop [SEP] Search"], [info])[0].token_ids

    assert turn(0) == turn(0) != turn(1)


def test_guided_turns_train_with_forward_kl_by_default():
    assert OPDConfig(data=["x"], out="y", teacher="t").guided_loss == "forward_kl"
    assert OPDConfig(data=["x"], out="y", teacher="t", guided_loss="sft").guided_loss == "sft"


@pytest.mark.slow
def test_rounds_record_offsets_temperature_loss_and_signal_and_play_disjoint_tasks(played):
    records = json.loads((played / "rounds.json").read_text())
    assert [(r["task_offset"], r["tasks_wrapped"], r["rollout_temperature"]) for r in records] == [
        (0, False, 1.0), (2, False, 1.0)]
    assert {(r["guided_loss"], r["teacher_signal"], r["total_steps"]) for r in records} == {
        ("forward_kl", "logits", 4)}
    assert all(r["student_tokens"] > 0 for r in records)
    # what the trainer trained the guided turns (all of round 0's) with
    state = torch.load(played / "round_0" / "model" / "checkpoints" / "last.pt", weights_only=True)
    assert state["config"]["guided_loss"] == "forward_kl"
    tasks = planned_tasks("webshop", "train", {"max_steps": ENV_MAX_STEPS}, 4)
    for r in range(2):
        run = json.loads((played / f"round_{r}" / "rollouts" / "run.json").read_text())
        assert (run["task_offset"], run["agent_kwargs"]["temperature"]) == (2 * r, 1.0)
        played_tasks = read_episodes(played / f"round_{r}" / "rollouts").groupby("episode")["task_id"].first()
        assert played_tasks.tolist() == tasks[2 * r:2 * r + 2]
    assert len(set(tasks)) == 4  # disjoint rounds


@pytest.mark.slow
def test_the_rounds_are_one_training_with_one_lr_schedule_and_one_optimizer_state(played):
    first, second = rows(played / "round_0" / "model" / "metrics.csv"), rows(
        played / "round_1" / "model" / "metrics.csv")
    assert [int(r["step"]) for r in first] == [1, 2] and [int(r["step"]) for r in second] == [1, 2, 3, 4]
    assert second[:2] == first  # round 1 continues round 0's log
    # one warm-up step, then one cosine decay over all 4 steps: round 1's first step continues the curve
    expected = [1e-3 * lr_multiplier(step, 1, 4, 0.1) for step in range(1, 5)]
    assert [float(r["lr"]) for r in second] == pytest.approx(expected)
    assert float(second[2]["lr"]) < float(second[1]["lr"])  # a fresh schedule would restart at the peak
    state = torch.load(played / "round_1" / "model" / "checkpoints" / "last.pt", weights_only=True)
    assert state["step"] == 4
    assert {int(s["step"]) for s in state["optimizer"]["state"].values()} == {4}  # AdamW's count: 4 steps
    # the model round 1 played is round 0's checkpoint; the final model is the trainer's at step 4
    exported = load_file(played / "round_0" / "model" / "model.safetensors")
    saved = torch.load(played / "round_0" / "model" / "checkpoints" / "last.pt", weights_only=True)["model"]
    assert all(torch.equal(exported[k], saved[k]) for k in exported)
    final = load_file(played / "model.safetensors")
    assert all(torch.equal(final[k], state["model"][k]) for k in final)


@pytest.mark.slow
def test_a_round_played_again_replays_the_same_sampled_rollouts(models, played, tmp_path):
    out = tmp_path / "opd"
    shutil.copytree(played, out)
    before = read_episodes(out / "round_1" / "rollouts")
    metrics = (out / "round_1" / "model" / "metrics.csv").read_text()
    # the round's rollouts and record lost (its training had finished): they are played again
    for name in ("rollouts", "rollouts.json", "DONE"):
        path = out / "round_1" / name
        shutil.rmtree(path) if path.is_dir() else path.unlink()
    again = opd(models, out)["rounds"][1]
    after = read_episodes(out / "round_1" / "rollouts")
    assert not before["guided"].any()  # the student played (and sampled) every turn
    key = ["episode", "step"]
    assert before.sort_values(key)["token_ids"].map(list).tolist() == \
        after.sort_values(key)["token_ids"].map(list).tolist()
    # the finished training is not run again
    assert (out / "round_1" / "model" / "metrics.csv").read_text() == metrics
    assert again["train_wall_s"] is None and again["student_tokens"] == json.loads(
        (played / "rounds.json").read_text())[1]["student_tokens"]
