"""`agentdistill compare`: two arms' runs paired on (task id, env seed), the report's bootstrap, and refusals
of runs that did not play the same tasks."""
from __future__ import annotations

import json

import numpy as np
import pytest

from harness import cli
from harness.compare import compare, load_run
from harness.evaluate import evaluate
from harness.logs import read_episodes
from harness.metrics import per_episode


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    """Real HotPotQA runs, played in-process: the expert and the random agent on the same 8 test episodes,
    the random agent on the first 4 of them, on 4 others (another seed), and with other env options."""
    root = tmp_path_factory.mktemp("compare")
    out = {}
    for name, agent, kwargs in [
        ("expert", "expert", {"episodes": 8}),
        ("random", "random", {"episodes": 8}),
        ("random_short", "random", {"episodes": 4}),
        ("random_seed9", "random", {"episodes": 4, "seed": 9, "task_offset": 50}),
        ("random_3steps", "random", {"episodes": 4, "env_kwargs": {"max_steps": 3}}),
    ]:
        evaluate("hotpotqa", agent, workers=0, run=root / name, progress=False, **kwargs)
        out[name] = root / name
    return out


def test_a_difference_is_paired_on_every_episode_both_played(runs):
    comparisons, facts = compare([load_run(runs["expert"])], [load_run(runs["random"])], ("expert", "random"))
    expert = per_episode(read_episodes(runs["expert"]))
    random = per_episode(read_episodes(runs["random"]))
    assert facts["episodes"] == 8
    by_metric = {c.metric: c for c in comparisons}
    for metric, column in (("success", "won"), ("score", "score")):
        c = by_metric[metric]
        assert c.mean == pytest.approx(expert[column].mean() - random[column].mean())
        assert c.low <= c.mean <= c.high and c.tasks == 8 and c.seeds == (1, 1)
    assert expert["won"].all() and by_metric["success"].low > 0  # the expert wins every task: a finding
    assert by_metric["success"].verdict == "expert higher"
    assert facts["only_won_by"] == {"expert": int((random["won"] == 0).sum()), "random": 0}


def test_runs_of_different_lengths_pair_on_the_episodes_they_share(runs):
    comparisons, facts = compare([load_run(runs["expert"])], [load_run(runs["random_short"])], ("e", "r"))
    assert facts["episodes"] == 4
    expert = per_episode(read_episodes(runs["expert"])).head(4)
    short = per_episode(read_episodes(runs["random_short"]))
    assert comparisons[1].mean == pytest.approx(expert["score"].mean() - short["score"].mean())


def test_an_arm_of_two_runs_averages_them_per_episode(runs):
    arm = [load_run(runs["random"]), load_run(runs["random_short"])]
    comparisons, facts = compare([load_run(runs["expert"])], arm, ("expert", "random"))
    assert facts["episodes"] == 4 and comparisons[0].seeds == (1, 2)
    assert comparisons[0].resampled == "seeds (1, 2), then tasks"


@pytest.mark.parametrize("other, message", [
    ("random_seed9", "share no (task id, env seed)"),
    ("random_3steps", "data.protocol"),
])
def test_runs_that_did_not_play_the_same_tasks_are_refused(runs, other, message, capsys):
    assert cli.main(["compare", str(runs["expert"]), str(runs[other])]) == 2
    err = capsys.readouterr().err
    assert message in err and "Traceback" not in err


def test_the_command_prints_and_writes_the_comparison(runs, tmp_path, capsys):
    out = tmp_path / "cmp.json"
    assert cli.main(["compare", str(runs["expert"]), f"{runs['random']},{runs['random_short']}",
                     "--labels", "expert,random", "--json", str(out)]) == 0
    printed = capsys.readouterr().out
    assert "expert − random, paired on 4 episodes" in printed and "success" in printed
    written = json.loads(out.read_text())
    assert [c["metric"] for c in written["comparisons"]] == ["success", "score"]
    assert np.isfinite([c["low"] for c in written["comparisons"]]).all()


def test_a_directory_without_a_run_file_is_named(tmp_path, capsys):
    assert cli.main(["compare", str(tmp_path), str(tmp_path)]) == 2
    assert f"{tmp_path}/run.json: no such file" in capsys.readouterr().err
