"""The GPU bench script (``python -m harness.bench.gpu``): MFU from the card's peak, and a toy kit that
runs end to end on the CPU in a subprocess where ray, gymnasium, textworld, alfworld (and the other
packages the GPU machine lacks) cannot be imported."""
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from harness.bench.gpu import add_mfu, main, peak_flops

ROOT = Path(__file__).resolve().parents[2]
#: what the lent GPU machine does not have
ABSENT = ("ray", "gymnasium", "textworld", "alfworld", "bm25s", "Stemmer", "rapidfuzz", "flask", "waitress",
          "bs4")
BLOCKER = f"""import importlib.abc, sys
ABSENT = {set(ABSENT)!r}
class _Absent(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path, target=None):
        if name.split(".")[0] in ABSENT:
            raise ModuleNotFoundError(f"No module named {{name!r}} (absent on the GPU machine)", name=name)
        return None
sys.meta_path.insert(0, _Absent())
"""


def test_mfu_uses_the_cards_peak_and_is_left_out_for_an_unknown_card():
    assert peak_flops("NVIDIA H100 80GB HBM3") == peak_flops("NVIDIA H200") == 989e12
    assert peak_flops("NVIDIA GeForce RTX 4090") is None
    row = {"unit": "student tokens/s", "value": {"median": 1e6}, "baseline": {"median": 5e5},
           "details": {"flops_per_token": 6e8, "baseline_flops_per_token": 9e8}}
    add_mfu(row, 989e12)
    assert row["mfu"] == pytest.approx(6e14 / 989e12)
    assert row["baseline_mfu"] == pytest.approx(4.5e14 / 989e12)
    unknown = {**row, "details": dict(row["details"])}
    del unknown["mfu"], unknown["baseline_mfu"]
    add_mfu(unknown, None)
    assert "mfu" not in unknown


def test_run_without_a_kit_is_a_one_line_error(tmp_path, capsys):
    assert main(["run", "--kit", str(tmp_path / "none"), "--device", "cpu", "--toy", "--out",
                 str(tmp_path / "out")]) == 2
    err = capsys.readouterr().err.strip()
    assert "\n" not in err and "kit.json: no kit here" in err and "prepare" in err


@pytest.mark.slow
def test_toy_kit_runs_every_gpu_figure_on_cpu_without_the_env_packages(tmp_path):
    kit, out = tmp_path / "kit", tmp_path / "out"
    assert main(["prepare", "--kit", str(kit), "--toy"]) == 0
    site = tmp_path / "site"
    site.mkdir()
    (site / "sitecustomize.py").write_text(BLOCKER)
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(site), str(ROOT)])}
    probe = subprocess.run([sys.executable, "-c", "import gymnasium"], env=env, capture_output=True,
                           text=True)
    assert probe.returncode != 0 and "absent on the GPU machine" in probe.stderr  # the blocker is in force
    command = [sys.executable, "-m", "harness.bench.gpu", "run", "--kit", str(kit), "--device", "cpu",
               "--toy", "--threads", "1", "--out", str(out)]
    done = subprocess.run(command, env=env, capture_output=True, text=True, cwd=ROOT, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    report = json.loads((out / "bench.json").read_text())
    rows = report["figures"]
    assert [r.get("error") for r in rows if "error" in r] == []
    assert sorted({r["figure"] for r in rows}) == [3, 4, 7, 9]
    assert report["commit"] and report["kit"]["toy"] is True and report["peak_bf16_TFLOPs"] is None
    assert all("mfu" not in r for r in rows)  # no peak known for a CPU
    assert all(r["details"]["flops_per_token"] > 0 for r in rows if "tokens/s" in r["unit"])
    md = (out / "bench.md").read_text()
    assert "- card: CPU" in md and "- commit: " in md and "MFU: omitted" in md
    assert md.count("\n| ") == 1 + len(rows)  # the header and one line per row
