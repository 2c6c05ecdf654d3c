"""DAgger data: replaying a logged run, labelling each reached state with the expert, and the aggregate
whose loss covers the expert's turns only."""
from __future__ import annotations

import pandas as pd
import pytest
import torch

from distill.train import loss_mask
from harness.evaluate import evaluate
from harness.experiment.dagger import relabel_played, write_aggregate


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    root = tmp_path_factory.mktemp("dagger")
    kwargs = {"split": "train", "workers": 0, "env_kwargs": {"max_steps": 6}, "progress": False}
    expert = evaluate("webshop", "expert", episodes=3, run=str(root / "expert"), **kwargs)
    random = evaluate("webshop", "random", episodes=3, run=str(root / "random"), task_offset=3, seed=5,
                      **kwargs)
    assert expert["episodes"] == random["episodes"] == 3
    return root


def test_relabelling_the_experts_own_run_gives_back_its_actions(runs):
    result = relabel_played(runs / "expert")
    logged = pd.read_parquet(runs / "expert" / "episodes.parquet")
    assert result.diverged == 0 and result.states == len(logged)
    assert result.disagreements == 0  # in every state of its own path the expert would do what it did


def test_a_learner_off_the_path_is_relabelled_in_every_state_it_reached(runs):
    # the random agent's run: task offset 3 and seed 5, which the replay must take from run.json
    result = relabel_played(runs / "random")
    logged = pd.read_parquet(runs / "random" / "episodes.parquet")
    assert result.diverged == 0 and result.states == len(logged)
    assert result.disagreements > 0
    for replayed in result.episodes:
        assert list(replayed.rows["step"]) == list(range(len(replayed.labels)))
        assert all(label.action and label.text.startswith("Thought:") for label in replayed.labels)


def test_a_replay_that_does_not_reproduce_the_logged_observations_is_left_out(runs, tmp_path):
    copy = tmp_path / "run"
    copy.mkdir()
    (copy / "run.json").write_text((runs / "random" / "run.json").read_text())
    frame = pd.read_parquet(runs / "random" / "episodes.parquet")
    frame.loc[(frame["episode"] == 0) & (frame["step"] == 1), "observation"] = "a page the env never showed"
    frame.to_parquet(copy / "episodes.parquet")
    result = relabel_played(copy)
    assert result.diverged == 1 and len(result.episodes) == frame["episode"].nunique() - 1


def test_the_aggregate_holds_the_demos_and_one_episode_per_state_with_the_label_last(runs, tmp_path):
    result = relabel_played(runs / "random")
    path = write_aggregate([runs / "expert"], result, tmp_path / "data")
    data = pd.read_parquet(path)
    demos = data[data["run_id"] == "demos-0"]
    assert len(demos) == len(pd.read_parquet(runs / "expert" / "episodes.parquet")) and demos["guided"].all()
    states = data[data["run_id"] == "relabelled"]
    assert states["episode"].nunique() == result.states
    replayed = result.episodes[0]
    for k, label in enumerate(replayed.labels):
        episode = states[states["episode"] == k].sort_values("step")
        assert list(episode["guided"]) == [False] * k + [True]  # the learner's turns, then the label
        assert list(episode["completion"].iloc[:k]) == list(replayed.rows["completion"].iloc[:k])
        assert episode["completion"].iloc[-1] == label.text and episode["action"].iloc[-1] == label.action
        assert episode["observation"].iloc[-1] == replayed.rows["observation"].iloc[k]


def test_loss_on_guided_covers_the_completions_of_guided_turns_only():
    completion = torch.tensor([[False, True, True, False, True, True]])
    guided = torch.tensor([[False, False, False, False, True, True]])
    labels = torch.zeros(1, 6, dtype=torch.long)
    batch = {"completion_mask": completion, "guided_mask": guided, "labels": labels}
    assert loss_mask(batch, "guided").tolist() == [[False, False, False, False, True, True]]
    assert loss_mask(batch, "completion").tolist() == completion.tolist()
