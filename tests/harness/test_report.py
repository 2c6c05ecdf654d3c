"""The report over stored runs: tables, CSV, plots, HTML with span colours (rendered in headless Chromium)."""
from __future__ import annotations

import csv
import json
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import torch
from PIL import Image
from safetensors.torch import save_file

from distill.models import count_parameters
from harness import report
from harness.errors import UserError
from harness.experiment.layout import OFFLINE_METRICS, STAGE_MARKER, Layout
from harness.experiment.offline_metrics import action_match_rate, rouge_l_f
from harness.logs import EpisodeWriter
from harness.report.comparison import initial_students_fact, paired_comparisons
from harness.report.html import ACT_COLOUR, REASON_COLOUR, highlight
from harness.report.statistics import percentile_interval, two_level_bootstrap
from harness.report.tables import Row, collect_rows

TASKS = ["t-0", "t-1", "t-2"]


def _write_run(run_dir: Path, env: str, wins: list[bool], thought: str = "I should look for red shoes.",
               reason_tokens: int | None = 7, tasks: list[str] | None = None) -> None:
    """A finished evaluation run: one 2-step episode per entry of ``wins``, episode i on ``tasks[i]``
    (default: the 3 ``TASKS`` in turn)."""
    tasks = tasks or [TASKS[i % len(TASKS)] for i in range(len(wins))]
    writer = EpisodeWriter(run_dir)
    for episode, (won, task_id) in enumerate(zip(wins, tasks, strict=True)):
        rows = []
        for step in range(2):
            action = "search[red shoes]" if step == 0 else "click[buy now]"
            rows.append(
                {
                    "run_id": run_dir.name,
                    "env": env,
                    "split": "test",
                    "task_id": task_id,
                    "task": f"buy red shoes number {episode}",
                    "task_type": "shoes",
                    "episode": episode,
                    "step": step,
                    "observation": f"page {step} of the shop <b>&</b>",
                    "thought": thought,
                    "action": action,
                    "completion": f"Thought: {thought}\nAction: {action}",
                    "reward": float(won and step == 1),
                    "terminated": step == 1,
                    "truncated": False,
                    "won": bool(won and step == 1),
                    "score": float(won and step == 1),
                    "invalid_action": False,
                    "n_reason_tokens": reason_tokens,
                    "n_act_tokens": 4 if reason_tokens else None,
                    "latency_s": 0.01,
                    "error": None,
                }
            )
        writer.write(rows)
    writer.consolidate()
    summary = {"env": env, "success_rate": sum(wins) / len(wins), "data_source": "generated"}
    (run_dir / "summary.json").write_text(json.dumps(summary))
    (run_dir / "run.json").write_text(json.dumps({"env": env, "seed": 0}))


def _write_model(model_dir: Path, width: int) -> None:
    model_dir.mkdir(parents=True, exist_ok=True)
    save_file(
        {"embed": torch.zeros(100, width), "layer": torch.zeros(width, width)},
        str(model_dir / "model.safetensors"),
    )
    (model_dir / "config.json").write_text("{}")
    (model_dir / "metrics.csv").write_text("step,loss,eval_loss\n1,3.0,\n2,2.5,2.7\n3,2.0,\n4,1.8,2.1\n")


def make_stored_pipeline(root: Path, env: str = "webshop") -> Path:
    """A pipeline directory as the pipeline leaves it: teacher, baselines, 3 methods x 2 seeds."""
    layout = Layout(root)
    root.mkdir(parents=True, exist_ok=True)
    layout.manifest.write_text(
        json.dumps(
            {
                "env": env,
                "preset": "tiny",
                "seeds": 2,
                "command": "agentdistill pipeline",
                "commit": "abc123",
                "methods": ["sad", "token_kd", "sft"],
            }
        )
    )
    _write_model(layout.teacher, 32)
    _write_run(layout.teacher_eval, env, [True, True, False, True])
    _write_run(layout.baseline("random"), env, [False] * 4, thought="", reason_tokens=None)
    _write_run(layout.baseline("expert"), env, [True] * 4, reason_tokens=None)
    for method, wins in {"sad": [True, False, True, False], "token_kd": [False, True, False, False],
                         "sft": [False, False, False, False]}.items():
        for seed in (0, 1):
            label = f"tiny-student_{method}_s{seed}"
            _write_model(layout.student(label), 8)
            (layout.student(label) / "student.json").write_text(
                json.dumps({"method": method, "student": "tiny-student", "variant": "", "seed": seed}))
            _write_run(layout.student_eval(label), env, wins if seed == 0 else wins[::-1])
            layout.offline(label).mkdir(parents=True, exist_ok=True)
            (layout.offline(label) / OFFLINE_METRICS).write_text(
                json.dumps({"action_match": 0.5 + 0.1 * seed, "reasoning_match": 0.25})
            )
    (layout.demos).mkdir(exist_ok=True)
    (layout.demos / STAGE_MARKER).write_text(
        json.dumps({"stage": "demos", "wall_s": 1.5, "finished_at": 1.0})
    )
    return root


@pytest.fixture(scope="module")
def built(tmp_path_factory) -> tuple[Path, dict[str, Path]]:
    root = make_stored_pipeline(tmp_path_factory.mktemp("pipe") / "webshop-tiny")
    return root, report.build_report(root)


def test_report_has_every_section_and_row(built):
    _, written = built
    md = written["markdown"].read_text()
    for section in (
        "## webshop",
        "## Plots",
        "## Stage wall times",
        "success_by_method.png",
        "training_curves.png",
    ):
        assert section in md
    for name in (
        "teacher",
        "random agent",
        "expert (scripted)",
        "tiny-student · sad",
        "tiny-student · token_kd",
        "tiny-student · sft",
    ):
        assert f"| {name} |" in md
    # sad: 2 wins of 4 in each seed -> 0.50 ± 0.00; teacher 3/4 with one seed: no ±
    sad_line = next(line for line in md.splitlines() if line.startswith("| tiny-student · sad |"))
    assert "0.50 ± 0.00" in sad_line and "0.55 ± 0.07" in sad_line  # action match over seeds 0.5, 0.6
    teacher_line = next(line for line in md.splitlines() if line.startswith("| teacher |"))
    assert "| 0.75 |" in teacher_line and "1.0×" in teacher_line
    assert (
        written["training curves"].stat().st_size > 1000
        and written["success by method"].stat().st_size > 1000
    )


def test_a_student_given_as_a_model_directory_is_named_by_the_directory(tmp_path):
    """``--student /some/dir/81m-sad``: the row reads ``81m-sad · sad``, not the whole path."""
    root = make_stored_pipeline(tmp_path / "webshop-tiny")
    layout = Layout(root)
    for seed in (0, 1):
        description = layout.student(f"tiny-student_sad_s{seed}") / "student.json"
        description.write_text(json.dumps({"method": "sad", "student": "/elsewhere/models/81m-sad/",
                                           "variant": "", "seed": seed}))
    md = report.build_report(root)["markdown"].read_text()
    assert "| 81m-sad · sad |" in md and "/elsewhere" not in md


def test_report_csv_holds_numbers_and_intervals(built):
    _, written = built
    records = list(csv.DictReader(written["csv"].open()))
    by_agent = {r["agent"]: r for r in records}
    sad = by_agent["tiny-student · sad"]
    assert float(sad["success_mean"]) == pytest.approx(0.5)
    assert sad["seeds"] == "0 1" and int(sad["episodes"]) == 8 and int(sad["tasks"]) == 3
    # seed 0 wins t-0, t-2 (of t-0, t-1, t-2, t-0), seed 1 the others: every task is 0.5 over seeds, so the
    # interval over tasks has no width (pooling the 8 episodes as independent would give a wide one)
    assert (float(sad["success_ci_low"]), float(sad["success_ci_high"])) == (0.5, 0.5)
    teacher = by_agent["teacher"]  # t-0 won twice, t-1 won, t-2 lost: per-task 1, 1, 0
    assert (float(teacher["success_ci_low"]), float(teacher["success_ci_high"])) == (0.0, 1.0)
    teacher_params = 100 * 32 + 32 * 32
    assert int(by_agent["teacher"]["params"]) == teacher_params
    assert float(sad["compression"]) == pytest.approx(teacher_params / (100 * 8 + 8 * 8))
    assert float(by_agent["random agent"]["success_mean"]) == 0.0


def test_offline_metrics():
    assert action_match_rate(["Search[ Red shoes ]", "click[x]"], ["search[red shoes]", "click[y]"]) == 0.5
    assert rouge_l_f(["the red shoes"], ["the red shoes"]) == pytest.approx(1.0)
    assert rouge_l_f(["nothing alike"], ["the red shoes"]) == 0.0
    with pytest.raises(ValueError, match="2 candidates and 1 references"):
        rouge_l_f(["a", "b"], ["a"])


def test_count_parameters_names_the_directory(tmp_path):
    with pytest.raises(FileNotFoundError, match=str(tmp_path)):
        count_parameters(tmp_path)


def test_report_on_a_directory_without_manifest_is_a_clear_error(tmp_path):
    with pytest.raises(FileNotFoundError, match="pipeline.json"):
        report.build_report(tmp_path)


def test_highlight_marks_reason_and_act_and_escapes():
    out = highlight("Thought: <b>shoes</b> & more\nAction: click[buy now]")
    assert '<span class="reason">Thought: &lt;b&gt;shoes&lt;/b&gt; &amp; more</span>' in out
    assert '<span class="act">Action: click[buy now]</span>' in out


def _chromium() -> str | None:
    return shutil.which("chromium") or shutil.which("chromium-browser")


def _hex_rgb(colour: str) -> tuple[int, int, int]:
    return tuple(int(colour[i:i + 2], 16) for i in (1, 3, 5))  # type: ignore[return-value]


def _screenshot(html_path: Path, out_dir: Path) -> Image.Image:
    shot = out_dir / "shot.png"
    cmd = [_chromium(), "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
           "--disable-component-update", "--disable-sync", "--no-first-run", "--hide-scrollbars",
           f"--user-data-dir={out_dir / 'profile'}", "--window-size=1400,9000", f"--screenshot={shot}",
           html_path.resolve().as_uri()]
    subprocess.run(cmd, check=True, capture_output=True, timeout=120)
    return Image.open(shot).convert("RGB")


def _count(image: Image.Image, colour: str, tolerance: int = 2) -> int:
    target = _hex_rgb(colour)
    return sum(n for n, px in image.getcolors(maxcolors=1 << 24)
               if all(abs(a - b) <= tolerance for a, b in zip(px, target, strict=True)))


@pytest.mark.skipif(_chromium() is None, reason="needs Debian's chromium (installed by .ci/run)")
def test_html_renders_in_chromium_with_both_span_colours(built, tmp_path):
    _, written = built
    image = _screenshot(written["html"], tmp_path)
    colours = image.getcolors(maxcolors=1 << 24)
    assert len(colours) > 50, "the screenshot is blank"
    # many completions are highlighted: far more pixels than the two legend swatches (12x12 each)
    assert _count(image, REASON_COLOUR) > 5000
    assert _count(image, ACT_COLOUR) > 5000


@pytest.mark.skipif(_chromium() is None, reason="needs Debian's chromium (installed by .ci/run)")
def test_html_without_spans_shows_only_the_legend_colours(built, tmp_path):
    """The pixel check can fail: completions with no Thought/Action keywords leave only the legend."""
    root, _ = built
    plain = tmp_path / "plain"
    shutil.copytree(root, plain)
    for parquet in plain.rglob("episodes.parquet"):
        table = pq.read_table(parquet)
        index = table.schema.get_field_index("completion")
        table = table.set_column(index, "completion", pa.array(["no keywords here"] * table.num_rows))
        pq.write_table(table, parquet)
    image = _screenshot(report.build_report(plain)["html"], tmp_path)
    assert _count(image, REASON_COLOUR) < 1000 and _count(image, ACT_COLOUR) < 1000


def test_all_envs_report_has_a_section_per_env(tmp_path):
    root = tmp_path / "all-tiny"
    make_stored_pipeline(root / "webshop", "webshop")
    make_stored_pipeline(root / "hotpotqa", "hotpotqa")
    (root / "pipeline.json").write_text(
        json.dumps({"env": "all", "envs": ["webshop", "hotpotqa"], "preset": "tiny"})
    )
    written = report.build_report(root)
    md = written["markdown"].read_text()
    assert "## webshop" in md and "## hotpotqa" in md and "| webshop/demos |" in md
    assert (root / "webshop" / "report.md").is_file() and (root / "hotpotqa" / "report.html").is_file()
    envs = {r["env"] for r in csv.DictReader(written["csv"].open())}
    assert envs == {"webshop", "hotpotqa"}


def test_paired_bootstrap_resamples_seeds_then_tasks_and_words_its_verdicts(tmp_path):
    """4 tasks, 2 seeds. Seed by seed, in task order a b c d: SAD 1111 / 1110, token-KD 0000 / 0001, SFT
    1010 / 1011. Averaged over seeds first, SAD − token-KD is 1, 1, 1, 0 per task and a task-only bootstrap
    excludes 0 ([0.25, 1.0]); resampling each method's two seeds too, a quarter of the draws take SAD's
    seed 1 twice and token-KD's seed 1 twice, and the 95% interval reaches 0: inconclusive."""
    root = make_stored_pipeline(tmp_path / "webshop-tiny")
    layout = Layout(root)
    tasks = ["a", "b", "c", "d"]
    wins = {  # per seed, in task order a b c d
        "sad": ([1, 1, 1, 1], [1, 1, 1, 0]),
        "token_kd": ([0, 0, 0, 0], [0, 0, 0, 1]),
        "sft": ([1, 0, 1, 0], [1, 0, 1, 1]),
    }
    for method, per_seed in wins.items():
        for seed, seed_wins in enumerate(per_seed):
            order = tasks if seed == 0 else tasks[::-1]  # pairing is on task ids, not on episode numbers
            won = [bool(seed_wins[tasks.index(t)]) for t in order]
            run_dir = layout.student_eval(f"tiny-student_{method}_s{seed}")
            shutil.rmtree(run_dir)
            _write_run(run_dir, "webshop", won, tasks=order)
    comparisons = {(c.baseline, c.metric): c for c in paired_comparisons(collect_rows(root))}
    kd, sft = comparisons[("token_kd", "success")], comparisons[("sft", "success")]
    # the report's matrices are the ones above, seeds as rows and tasks a b c d as columns
    draws = two_level_bootstrap(np.array(wins["sad"]), np.array(wins["token_kd"]), n_boot=10_000, seed=0)
    assert (kd.low, kd.high) == percentile_interval(draws, 0.05) == (0.0, 1.0)
    assert (kd.mean, kd.tasks, kd.seeds, kd.primary, kd.level) == (0.75, 4, (2, 2), True, "95%, primary")
    assert kd.verdict == "inconclusive (interval [+0.000, +1.000] contains 0, width 1.000)"
    # the rest are one Holm family of 3: the smallest p-value (SAD − token-KD on score, ≈ 0.06) is not below
    # 0.05/3, so the step-down stops at once and all three keep level 1 − 0.05/3
    assert {c.family for c in comparisons.values() if not c.primary} == {3}
    assert (sft.mean, sft.low, sft.high, sft.level) == (0.25, -0.5, 0.875, "98.33%, Holm-adjusted, m = 3")
    assert sft.verdict == "inconclusive (interval [-0.500, +0.875] contains 0, width 1.375)"
    written = report.build_report(root)
    md = written["markdown"].read_text()
    page = written["html"].read_text()  # the page shows the same table and notes
    assert "<td>98.33%, Holm-adjusted, m = 3</td>" in page and "<p>Primary comparison (declared" in page
    assert ("| tiny-student | SAD (span KL) − token-level KD | success | +0.750 | [+0.000, +1.000] | "
            "95%, primary | seeds (2, 2), then tasks | 4 | inconclusive (interval [+0.000, +1.000] "
            "contains 0, width 1.000) |") in md
    assert ("| tiny-student | SAD (span KL) − imitation (SFT) | success | +0.250 | [-0.500, +0.875] | "
            "98.33%, Holm-adjusted, m = 3 | seeds (2, 2), then tasks | 4 | inconclusive (interval [-0.500, "
            "+0.875] contains 0, width 1.375) |") in md
    assert ("Primary comparison (declared before the run): SAD (span KL) − token-level KD on success for "
            "tiny-student, at 95%. The other 3 comparisons are one Holm family (m = 3)") in md
    assert "two-level bootstrap" in md and "task sampling only" not in md
    assert "- training seeds: 0, 1 (seed i for every method)" in md
    assert "- data source: **generated world (not the official benchmark)**" in md
    same = "which is token-KD's objective exactly: SAD − token-KD is 0 by construction"
    assert same in md  # the fixture's SAD students record no λ overrides: λ_r = λ_a = 1
    assert "- tiny-student · sad: λ_r 1, λ_a 1, span_norm sum" in md  # the span weights it trained with
    for seed in (0, 1):
        description = layout.student(f"tiny-student_sad_s{seed}") / "student.json"
        meta = json.loads(description.read_text())
        description.write_text(json.dumps({**meta, "overrides": {"lambda_act": 0.5}}))
    md = report.build_report(root)["markdown"].read_text()
    assert same not in md and "- tiny-student · sad: λ_r 1, λ_a 0.5, span_norm sum" in md


def test_report_states_tasks_and_flags_agents_that_played_other_tasks(built, tmp_path):
    _, written = built
    md = written["markdown"].read_text()
    assert ("- tasks: 3 test tasks (shoes 3), drawn stratified by task type; episode i uses env seed 0 + i "
            "(i < 4); every agent and seed played these same tasks with the same env seeds") in md
    root = tmp_path / "webshop-tiny"
    shutil.copytree(built[0], root)
    run_dir = Layout(root).student_eval("tiny-student_sft_s1")
    shutil.rmtree(run_dir)
    _write_run(run_dir, "webshop", [False] * 4, tasks=["t-0", "t-1", "t-9", "t-0"])
    run_json = {"seed": 0, "data": {"data_source": "/data/webshop", "protocol": {"max_steps": 15}}}
    (Layout(root).teacher_eval / "run.json").write_text(json.dumps(run_json))
    (Layout(root).teacher_eval / "summary.json").write_text("{}")  # an older summary: run.json says it
    md = report.build_report(root)["markdown"].read_text()
    assert "- data source: **/data/webshop** (teacher)" in md
    assert "- protocol options: `{\"max_steps\": 15}`" in md
    assert "**agents played different tasks or env seeds**" in md
    assert "tiny-student · sft seed 1 played 1 other task(s)" in md
    assert "- tasks: 2 test tasks" in md  # only the tasks every agent played are counted as common


def test_training_curves_show_full_vocabulary_kl_and_label_bucket_kl(tmp_path):
    from harness.report.plots import CURVE_PANELS
    from harness.report.tables import final_kl_markdown

    root = make_stored_pipeline(tmp_path / "webshop-tiny")
    for i, label in enumerate(("tiny-student_sad_s0", "tiny-student_sad_s1")):
        (Layout(root).student(label) / "metrics.csv").write_text(
            "step,loss,eval_loss,eval_kl_reason,eval_kl_act,eval_bucket_kl_reason,eval_bucket_kl_act\n"
            f"1,3.0,,,,,\n2,2.5,2.7,0.9,0.8,0.3,0.2\n4,1.8,2.1,{0.4 + 0.2 * i},0.3,0.07,0.05\n"
        )
    rows = collect_rows(root)
    table = final_kl_markdown(rows)
    assert table.splitlines()[0] == (
        "| student | KL reason (full vocab) | KL act (full vocab) | bucket KL reason (top-k, lower bound) | "
        "bucket KL act (top-k, lower bound) |"
    )
    assert "| tiny-student · sad | 0.500 ± 0.141 | 0.300 ± 0.000 | 0.070 ± 0.000 | 0.050 ± 0.000 |" in table
    assert "| tiny-student · sft | – | – | – | – |" in table  # no KL logged: nothing is made up
    assert "full vocabulary" in CURVE_PANELS["eval_kl_reason"]
    assert "lower bound" in CURVE_PANELS["eval_bucket_kl_act"]
    figure = report.build_report(root)["training curves"]
    assert figure.stat().st_size > 1000


def _round(index: int, p: float, success: float, tokens: int) -> dict:
    return {"round": index, "guide": "teacher", "guide_p": p, "depth_limit": 0, "episodes": 4,
            "task_offset": 4 * index, "tasks_wrapped": False, "rollout_temperature": 1.0,
            "guided_loss": "forward_kl", "teacher_signal": "logits", "success_rate": success,
            "mean_score": success, "guided_turn_fraction": p,
            "student_tokens": tokens, "rollout_s": 2.5, "scoring_s": 0.5, "train_s": 1.25}


def add_on_policy_students(root: Path) -> Path:
    """``opd`` and ``sad_opd`` students (2 seeds, 2 rounds each) beside the stored pipeline's off-policy ones,
    and the off-policy SFT students' ``train_summary.json``: opd wins every task, sad_opd plays as SAD."""
    layout = Layout(root)
    manifest = json.loads(layout.manifest.read_text())
    manifest["methods"] += ["opd", "sad_opd"]
    manifest["on_policy"] = {"rounds": 2, "episodes_per_round": 4, "steps_per_round": 3, "guide": "teacher",
                             "guide_p0": 1.0, "divergence": "reverse_kl", "depth_curriculum": False}
    layout.manifest.write_text(json.dumps(manifest))
    for method, wins in {"opd": [True] * 4, "sad_opd": [True, False, True, False]}.items():
        for seed in (0, 1):
            label = f"tiny-student_{method}_s{seed}"
            _write_model(layout.student(label), 8)
            (layout.student(label) / "student.json").write_text(
                json.dumps({"method": method, "student": "tiny-student", "variant": "", "seed": seed}))
            rounds = [_round(0, 1.0, 0.25, 40_000 + 2_000 * seed), _round(1, 0.0, 0.5 + 0.25 * seed, 50_000)]
            (layout.student(label) / "rounds.json").write_text(json.dumps(rounds))
            _write_run(layout.student_eval(label), "webshop", wins if seed == 0 else wins[::-1])
    for seed, tokens in ((0, 120_000), (1, 124_000)):
        summary = {"steps": 4, "student_tokens": tokens}
        (layout.student(f"tiny-student_sft_s{seed}") / "train_summary.json").write_text(json.dumps(summary))
    return root


def test_on_policy_rows_tokens_rounds_and_paired_intervals(built, tmp_path):
    _, off_policy_only = built
    assert "on-policy success by round" not in off_policy_only
    assert "on-policy rounds" not in off_policy_only["markdown"].read_text()
    root = add_on_policy_students(make_stored_pipeline(tmp_path / "webshop-tiny"))
    written = report.build_report(root)
    md = written["markdown"].read_text()
    lines: dict[str, str] = {}  # each row's first line: the main table's (the rounds table follows it)
    for line in md.splitlines():
        lines.setdefault(line.split(" | ")[0], line)
    # student tokens trained: rounds summed (90k, 92k over the seeds), the trainer's count for SFT, "–" where
    # nothing recorded it
    assert "| 91k ± 1k | 3 | 8 | 2 |" in lines["| tiny-student · opd"]
    assert "| 122k ± 3k | 3 | 8 | 2 |" in lines["| tiny-student · sft"]
    assert "| – | 3 | 8 | 2 |" in lines["| tiny-student · sad"]
    assert "| 1.00 ± 0.00 |" in lines["| tiny-student · opd"]
    records = {r["agent"]: r for r in csv.DictReader(written["csv"].open())}
    assert float(records["tiny-student · opd"]["student_tokens_mean"]) == 91_000
    assert float(records["tiny-student · sft"]["student_tokens_mean"]) == 122_000
    # paired on the tasks: opd wins every task with both seeds, SFT none (+1 on every draw: p = 0, the first
    # two of the Holm family of 11, at 1 − 0.05/11); sad_opd plays as SAD (0 on average, ±1 with one seed)
    assert ("| tiny-student | on-policy KD (OPD) − imitation (SFT) | success | +1.000 | [+1.000, +1.000] "
            "| 99.55%, Holm-adjusted, m = 11 | seeds (2, 2), then tasks | 3 | on-policy KD (OPD) higher |"
            ) in md
    assert ("| tiny-student | on-policy SAD (span OPD) − SAD (span KL) | success | +0.000 | [-1.000, +1.000] "
            "| 99.44%, Holm-adjusted, m = 11 | seeds (2, 2), then tasks | 3 | inconclusive (interval "
            "[-1.000, +1.000] contains 0, width 2.000) |") in md
    comparisons = {(c.method, c.baseline) for c in paired_comparisons(collect_rows(root))}
    assert comparisons == {("sad", "token_kd"), ("sad", "sft"), ("opd", "token_kd"), ("opd", "sft"),
                           ("sad_opd", "sad"), ("sad_opd", "opd")}
    # the rounds, from each seed's rounds.json
    assert "### webshop: on-policy rounds" in md
    assert ("| tiny-student · opd | 1 | 1 | 4 | 1.0 | teacher | 0.00 | forward_kl | all | 4 | 0.75 | 0.75 "
            "| 0.00 | 50k | 2.5 | 0.5 | 1.2 |") in md
    # what each student learnt from: the live teacher (on-policy), the teacher's tokens (imitation)
    assert lines["| tiny-student · opd"].startswith("| tiny-student · opd | live logits |")
    assert lines["| tiny-student · sft"].startswith("| tiny-student · sft | teacher's tokens |")
    assert ("- on-policy methods: 2 rounds × 4 train episodes, 3 optimizer steps a round; guide teacher "
            "(p 1 in round 0, decaying to 0), divergence reverse_kl, depth curriculum off") in md
    assert written["on-policy success by round"].stat().st_size > 1000
    assert "opd_rounds.png" in md
    page = written["html"].read_text()
    assert "on-policy rounds" in page and "student tokens trained" in page and "91k ± 1k" in page


def test_a_malformed_rounds_file_is_an_error_naming_it(tmp_path):
    root = add_on_policy_students(make_stored_pipeline(tmp_path / "webshop-tiny"))
    path = Layout(root).student("tiny-student_opd_s1") / "rounds.json"
    rounds = json.loads(path.read_text())
    del rounds[1]["student_tokens"]
    path.write_text(json.dumps(rounds))
    with pytest.raises(UserError, match=r"tiny-student_opd_s1/rounds.json: round 1 lacks student_tokens"):
        report.build_report(root)
    path.write_text("{not json")
    with pytest.raises(UserError, match=r"rounds.json: not valid JSON"):
        report.build_report(root)


def test_on_policy_facts_name_the_initial_student_each_method_started_from(tmp_path):
    def student(name: str, method: str, params: dict) -> Row:
        (tmp_path / name).mkdir()
        (tmp_path / name / STAGE_MARKER).write_text(json.dumps({"params": params}))
        return Row(name, "student", "hotpotqa", method=method, model_dirs=[tmp_path / name])

    sad = student("sad", "sad", {"model": "smol-81m", "student": "smol-81m", "init_from_teacher": True})
    opd = student("opd", "sad_opd", {"student": "smol-81m", "student_init": "teacher-layers"})
    assert initial_students_fact([sad, opd]) == "same initial student as the off-policy methods"
    later = student("later", "sad_opd", {"student": "/runs/x/81m-more-steps", "student_init": "pretrained"})
    assert initial_students_fact([sad, later]) == (
        "initial student 81m-more-steps (pretrained); the off-policy methods' smol-81m (teacher-layers)"
    )
