"""`agentdistill bench`: the paired measurement (interleaving, warm-up, pinned threads, the stop rule),
the bootstrap interval and verdicts of a row, and a tiny-budget run that writes a well-formed bench.json
(timings themselves are not checked)."""
import contextlib
import itertools
import json

import pytest
import torch

from harness.bench.cli import FIGURES, format_table, select_figures
from harness.bench.core import Budget, Interval, Result, measure, median_interval, pinned_threads, spread
from harness.cli import main as cli_main
from harness.errors import UserError


def test_median_interval_brackets_the_median_and_narrows_with_repeats():
    assert median_interval([2.0, 2.0, 2.0]) == Interval(2.0, 2.0, 2.0)
    few = median_interval([0.8, 1.0, 1.2, 0.9, 1.1])
    many = median_interval([0.8, 1.0, 1.2, 0.9, 1.1] * 8)
    assert few.median == many.median == pytest.approx(1.0)
    assert few.low <= few.median <= few.high and (few.low, few.high) != (1.0, 1.0)
    assert many.high - many.low < few.high - few.low
    assert Interval(1.0, 0.86, 1.14).within(0.15) and not Interval(1.0, 0.84, 1.1).within(0.15)
    with pytest.raises(ValueError, match="no values"):
        median_interval([])


def test_measure_interleaves_discards_warmup_and_stops_when_stable():
    calls = []

    def side(name, value):
        def run():
            calls.append((name, torch.get_num_threads()))
            return value
        return run

    threads_before = torch.get_num_threads()
    measured = measure({"a": side("a", 4.0), "b": side("b", 2.0)}, [("a", "b")],
                       Budget(seconds=60, min_repeats=3, max_repeats=10, warmup=1), threads=1)
    # warm-up round (a b), then repeats b a, a b, b a: a constant ratio is stable at min_repeats
    assert [name for name, _ in calls] == ["a", "b", "b", "a", "a", "b", "b", "a"]
    assert {threads for _, threads in calls} == {1} and torch.get_num_threads() == threads_before
    assert measured.samples == {"a": [4.0] * 3, "b": [2.0] * 3}
    assert measured.stopped == "stable" and measured.threads == {"torch": 1, "blas": 1}


def test_measure_goes_on_while_the_ratio_is_unstable():
    noisy = itertools.cycle([1.0, 3.0])  # ratio a/b alternates 1 and 3: never within ±15%
    sides = {"a": lambda: next(noisy), "b": lambda: 1.0}
    capped = measure(sides, [("a", "b")], Budget(seconds=60, min_repeats=2, max_repeats=6), threads=1)
    assert capped.stopped == "max repeats" and len(capped.samples["a"]) == 6
    timed = measure(sides, [("a", "b")], Budget(seconds=0, min_repeats=4, max_repeats=50), threads=1)
    assert timed.stopped == "time budget" and len(timed.samples["b"]) == 4


def test_measure_rejects_bad_sides_and_budgets():
    with pytest.raises(ValueError, match=r"ratios name sides that do not exist: \['c'\]"):
        measure({"a": lambda: 1.0, "b": lambda: 1.0}, [("a", "c")], Budget(1), threads=1)
    with pytest.raises(ValueError, match="side 'b' returned 0.0"):
        measure({"a": lambda: 1.0, "b": lambda: 0.0}, [("a", "b")], Budget(1), threads=1)
    with pytest.raises(ValueError, match="min_repeats <= max_repeats"):
        Budget(seconds=1, min_repeats=5, max_repeats=3)
    with pytest.raises(ValueError, match="threads must be >= 1"), pinned_threads(0):
        pass


def test_result_verdict_is_ok_or_miss_only_for_a_stable_ratio():
    stable = Result(1, "x", "episodes/s", [9.0, 9.5, 9.0, 9.2], [10.0] * 4, "bare", floor=0.9,
                    overhead_us_per_step=[20.0, 22.0, 21.0, 20.5], overhead_target_us=50.0,
                    threads={"torch": 2, "blas": 2}).to_json()
    assert stable["ratio"]["stable"] is True and stable["verdict"] == "ok"
    ratio = stable["ratio"]
    assert ratio["low"] <= ratio["median"] <= ratio["high"] and ratio["median"] == pytest.approx(0.91)
    assert stable["overhead_us_per_step"]["meets_target"] is True and stable["repeats"] == 4
    below = Result(4, "y", "tokens/s", [10.0, 10.2, 9.9], [10.0] * 3, "loop", floor=1.5).to_json()
    assert below["verdict"] == "MISS"
    noisy = Result(3, "z", "tokens/s", [10.0, 40.0, 80.0, 20.0], [2.0] * 4, "one by one", floor=8.0).to_json()
    assert noisy["ratio"]["stable"] is False and noisy["verdict"] == "unstable"
    slow = Result(5, "w", "ms", [2.0, 2.0], [1.0, 1.0], "old", floor=1.0, higher_is_better=False).to_json()
    assert slow["ratio"]["median"] == pytest.approx(0.5) and slow["verdict"] == "MISS"
    failed = Result(3, "v", "tokens/s", [], error="no model").to_json()
    assert failed["error"] == "no model" and "value" not in failed
    table = format_table([stable, noisy, failed])
    assert "0.91 [" in table and "unstable" in table and "≤ 50 ok" in table and "torch 2, BLAS 2" in table
    assert "not measured: no model" in table and "baseline of figure 1: bare" in table
    with pytest.raises(ValueError, match="spread of no values"):
        spread([])


def test_select_figures_by_name_or_number():
    assert select_figures(None) == sorted(FIGURES)
    assert select_figures(["policy", "1", "overhead"]) == [1, 3]
    with pytest.raises(UserError, match="'speed'.*overhead"):
        select_figures(["speed"])


def test_bench_rejects_a_bad_budget(tmp_path, capsys):
    assert cli_main(["bench", "--min-repeats", "9", "--max-repeats", "3", "--out", str(tmp_path)]) == 2
    assert "--max-repeats: budget needs 2 <= min_repeats <= max_repeats" in capsys.readouterr().err


def test_bench_quick_writes_bench_json(tmp_path, capsys):
    code = cli_main(["bench", "--quick", "--threads", "1", "--only", "overhead", "policy", "memory",
                     "--out", str(tmp_path)])
    assert code == 0
    report = json.loads((tmp_path / "bench.json").read_text())
    assert report["device"] == "cpu" and report["threads"] == 1 and report["machine"]["cores"] >= 1
    assert report["budget"] == {"seconds": 0.0, "min_repeats": 2, "max_repeats": 2, "warmup": 1}
    rows = report["figures"]
    measured = [r for r in rows if "error" not in r]
    assert {r["figure"] for r in measured} == {1, 3, 6}, [r.get("error") for r in rows]
    for row in measured:
        value = row["value"]
        assert len(value["values"]) == (1 if row["figure"] == 6 else 2)
        assert value["min"] <= value["median"] <= value["max"]
        assert value["min"] > 0
    compared = [r for r in measured if r["figure"] in (1, 3)]
    assert len(compared) == 4  # three envs and the policy
    for row in compared:
        ratio = row["ratio"]
        assert 0 < ratio["low"] <= ratio["median"] <= ratio["high"] and len(ratio["values"]) == 2
        assert row["verdict"] in ("ok", "MISS", "unstable") and row["threads"] == {"torch": 1, "blas": 1}
        assert row["floor"] == (0.9 if row["figure"] == 1 else 8.0)
    for row in (r for r in compared if r["figure"] == 1):
        added = row["overhead_us_per_step"]
        assert added["target"] == 50.0 and len(added["values"]) == 2
        assert added["steps"] == row["details"]["replay"]["steps"] >= 50 and row["details"]["steps"] > 0
    assert not list(tmp_path.glob("bench-*")), "the scratch dir is removed"
    printed = capsys.readouterr().out
    assert "ratio median [95% CI]" in printed and "µs/step added" in printed and "load average" in printed


def test_bench_opd_scores_student_tokens_and_splits_a_round(tmp_path):
    """Figure 7 on a tiny round: the scoring rate counts the student's own completion tokens, and the
    round's three parts (rollout, scoring, training) are the round's time, each a positive share of it."""
    assert cli_main(["bench", "--quick", "--threads", "1", "--only", "opd", "--out", str(tmp_path)]) == 0
    rows = json.loads((tmp_path / "bench.json").read_text())["figures"]
    assert [r.get("error") for r in rows] == [None] * 4
    scoring, *parts = rows
    assert scoring["figure"] == 7 and scoring["unit"] == "student tokens/s"
    assert len(scoring["value"]["values"]) == 2 and scoring["value"]["min"] > 0
    details = scoring["details"]
    assert 0 < details["student_tokens"] < details["sequence_tokens"]  # prompts and observations are context
    assert [p["name"] for p in parts] == ["OPD round: rollout (student plays)",
                                          "OPD round: scoring (teacher forward)",
                                          "OPD round: training (student steps)"]
    shares = [p["details"]["share_of_round"] for p in parts]  # one repeat under --quick
    assert all(len(s) == 1 and 0 < s[0] < 1 for s in shares)
    assert sum(s[0] for s in shares) == pytest.approx(1.0)
    assert all(p["value"]["min"] > 0 and p["details"]["student_tokens"][0] > 0 for p in parts)


def _stop(ctx):
    raise KeyboardInterrupt


def test_bench_json_keeps_the_figures_measured_before_a_run_is_stopped(tmp_path, monkeypatch):
    """bench.json is rewritten after each figure: Ctrl-C in a later figure leaves the earlier ones on disk,
    marked unfinished."""
    import harness.bench.cli as bench_cli

    monkeypatch.setitem(bench_cli.FIGURES, 99, ("stop", f"{__name__}:_stop"))
    code = None
    with contextlib.suppress(KeyboardInterrupt):
        code = cli_main(["bench", "--quick", "--threads", "1", "--only", "memory", "99",
                         "--out", str(tmp_path)])
    assert code in (None, 130)
    report = json.loads((tmp_path / "bench.json").read_text())
    assert report["finished"] is False and {r["figure"] for r in report["figures"]} == {6}
    assert not [r["error"] for r in report["figures"] if "error" in r]
