"""`agentdistill bench`: runs on a tiny budget and writes a well-formed bench.json (timings are not
checked)."""
import json

import pytest

from harness.bench.cli import FIGURES, format_table, select_figures
from harness.bench.core import Result, alternate, spread
from harness.cli import main as cli_main
from harness.errors import UserError


def test_alternate_runs_sides_in_alternating_order():
    calls = []
    out = alternate({"a": lambda: calls.append("a") or 1.0, "b": lambda: calls.append("b") or 2.0}, repeats=3)
    assert calls == ["a", "b", "b", "a", "a", "b"]
    assert out == {"a": [1.0, 1.0, 1.0], "b": [2.0, 2.0, 2.0]}
    with pytest.raises(ValueError, match="repeats"):
        alternate({"a": lambda: 1.0}, repeats=0)


def test_result_reports_median_spread_ratio_and_floor():
    row = Result(1, "x", "episodes/s", [9.0, 10.0, 12.0], [10.0, 10.0, 10.0], "bare", floor=0.9).to_json()
    assert row["value"]["median"] == 10.0 and (row["value"]["min"], row["value"]["max"]) == (9.0, 12.0)
    assert row["ratio"]["median"] == pytest.approx(1.0) and row["ratio"]["min"] == pytest.approx(0.9)
    assert row["meets_floor"] is True
    slow = Result(5, "y", "ms", [2.0], [1.0], "old", floor=1.0, higher_is_better=False).to_json()
    assert slow["ratio"]["median"] == pytest.approx(0.5) and slow["meets_floor"] is False
    failed = Result(3, "z", "tokens/s", [], error="no model").to_json()
    assert failed["error"] == "no model" and "value" not in failed
    assert "not measured: no model" in format_table([failed])
    with pytest.raises(ValueError, match="spread of no values"):
        spread([])


def test_select_figures_by_name_or_number():
    assert select_figures(None) == sorted(FIGURES)
    assert select_figures(["policy", "1", "overhead"]) == [1, 3]
    with pytest.raises(UserError, match="'speed'.*overhead"):
        select_figures(["speed"])


def test_bench_quick_writes_bench_json(tmp_path, capsys):
    code = cli_main(["bench", "--quick", "--repeats", "2", "--only", "overhead", "policy", "memory",
                     "--out", str(tmp_path)])
    assert code == 0
    report = json.loads((tmp_path / "bench.json").read_text())
    assert report["device"] == "cpu" and report["repeats"] == 2 and report["machine"]["cores"] >= 1
    rows = report["figures"]
    assert {r["figure"] for r in rows} == {1, 3, 6}
    measured = [r for r in rows if "error" not in r]
    assert {r["figure"] for r in measured} == {1, 3, 6}, [r.get("error") for r in rows]
    for row in measured:
        value = row["value"]
        assert (
            len(value["values"]) == 2 and value["min"] <= value["median"] <= value["max"] and value["min"] > 0
        )
    compared = [r for r in measured if r["figure"] in (1, 3)]
    for row in compared:
        assert row["ratio"]["median"] > 0 and isinstance(row["meets_floor"], bool)
        assert row["floor"] == (0.9 if row["figure"] == 1 else 8.0)
    assert not list(tmp_path.glob("bench-*")), "the scratch dir is removed"
    printed = capsys.readouterr().out
    assert "ours median" in printed and "bench.json" in printed
