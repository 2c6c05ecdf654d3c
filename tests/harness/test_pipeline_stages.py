"""Stage caching, resume, --force and input checks of the pipeline's StageRunner (no models involved)."""
from __future__ import annotations

import argparse
import json

import pytest

from harness.errors import UserError
from harness.experiment.pipeline import KNOBS, Pipeline, preset_from_args
from harness.experiment.presets import PRESETS, student_specs
from harness.experiment.stages import StageRunner, Unit, parse_force, read_marker


def _unit(root, stage, name, calls, inputs=(), params=None, fail=False, tokenizer=None):
    path = root / name

    def work():
        calls.append(name)
        (path / "out.txt").write_text(f"made by {name}")
        if fail:
            raise RuntimeError("crash in the middle of the stage")
        return {"tokenizer": tokenizer} if tokenizer else {}

    return Unit(stage, path, params or {"n": 1}, tuple(root / i for i in inputs), work)


def test_complete_units_are_skipped_and_resumed_after_a_crash(tmp_path):
    calls: list[str] = []
    runner = StageRunner(tmp_path, "webshop", set())
    with pytest.raises(RuntimeError, match="crash"):
        runner.run_unit(_unit(tmp_path, "demos", "demos", calls, fail=True))
    assert read_marker(tmp_path / "demos") is None  # a crashed unit is not complete
    first = runner.run_unit(_unit(tmp_path, "demos", "demos", calls))
    again = StageRunner(tmp_path, "webshop", set()).run_unit(_unit(tmp_path, "demos", "demos", calls))
    assert calls == ["demos", "demos"]  # the third call was skipped
    assert again["id"] == first["id"] and again["env"] == "webshop" and again["wall_s"] >= 0


def test_force_redoes_a_stage_and_dependents_refuse_stale_inputs(tmp_path):
    calls: list[str] = []
    StageRunner(tmp_path, "webshop", set()).run_unit(_unit(tmp_path, "demos", "demos", calls))
    StageRunner(tmp_path, "webshop", set()).run_unit(
        _unit(tmp_path, "teacher", "teacher", calls, inputs=["demos"])
    )
    old = read_marker(tmp_path / "demos")["id"]
    forced = StageRunner(tmp_path, "webshop", {"demos"})
    assert forced.run_unit(_unit(tmp_path, "demos", "demos", calls))["id"] != old
    with pytest.raises(UserError, match=r"stage 'teacher' .* built from an earlier demos.*--force teacher\+"):
        forced.run_unit(_unit(tmp_path, "teacher", "teacher", calls, inputs=["demos"]))
    assert StageRunner(tmp_path, "webshop", {"teacher"}).run_unit(
        _unit(tmp_path, "teacher", "teacher", calls, inputs=["demos"])
    )["inputs"] == {"demos": read_marker(tmp_path / "demos")["id"]}
    assert calls == ["demos", "teacher", "demos", "teacher"]


def test_changed_settings_missing_inputs_and_other_env_are_errors(tmp_path):
    calls: list[str] = []
    StageRunner(tmp_path, "webshop", set()).run_unit(
        _unit(tmp_path, "demos", "demos", calls, params={"episodes": 8})
    )
    with pytest.raises(UserError, match=r"stage 'demos' .* other settings \(episodes: was 8, now 9\)"):
        StageRunner(tmp_path, "webshop", set()).run_unit(
            _unit(tmp_path, "demos", "demos", calls, params={"episodes": 9})
        )
    with pytest.raises(
        UserError, match=r"stage 'students' needs the finished output of stage 'teacher_rollouts'"
    ):
        StageRunner(tmp_path, "webshop", set()).run_unit(
            _unit(tmp_path, "students", "students/a", calls, inputs=["teacher_rollouts"]))
    with pytest.raises(
        UserError, match=r"stage 'teacher' expected .*demos to hold env 'alfworld', found env 'webshop'"
    ):
        StageRunner(tmp_path, "alfworld", set()).run_unit(
            _unit(tmp_path, "teacher", "teacher", calls, inputs=["demos"])
        )
    assert calls == ["demos"]


def test_inputs_from_another_tokenizer_are_refused(tmp_path):
    calls: list[str] = []
    runner = StageRunner(tmp_path, "webshop", set())
    runner.run_unit(_unit(tmp_path, "teacher", "teacher", calls, tokenizer="aaaa"))
    runner.run_unit(_unit(tmp_path, "teacher_rollouts", "rollouts", calls, inputs=["teacher"]))
    # inherited from the model that made them
    assert read_marker(tmp_path / "rollouts")["tokenizer"] == "aaaa"
    runner.run_unit(_unit(tmp_path, "teacher", "other_teacher", calls, tokenizer="bbbb"))
    with pytest.raises(UserError, match=r"stage 'students' .* one tokenizer"):
        runner.run_unit(
            _unit(tmp_path, "students", "students/x", calls, inputs=["rollouts", "other_teacher"])
        )


def test_force_names_and_ranges():
    assert parse_force(["student_eval"]) == {"student_eval"}
    assert parse_force(["offline+"]) == {"offline", "report"}
    assert parse_force(["demos,teacher"]) == {"demos", "teacher"}
    with pytest.raises(UserError, match="unknown stage 'teachr'"):
        parse_force(["teachr"])


def test_students_share_init_data_and_seeds_across_methods():
    specs = student_specs(PRESETS["tiny"], ("sad", "token_kd", "sft"), seeds=2, ablations=True)
    main = [s for s in specs if not s.variant and s.student == "tiny-student"]
    assert {(s.method, s.seed) for s in main} == {(m, k) for m in ("sad", "token_kd", "sft") for k in (0, 1)}
    variants = {(s.method, s.variant, tuple(s.overrides.items())) for s in specs if s.variant}
    assert variants == {
        ("sad", "act only (λ_r=0)", (("lambda_reason", 0.0), ("lambda_act", 2.0))),
        ("sad", "reason only (λ_a=0)", (("lambda_reason", 1.0), ("lambda_act", 0.0))),
        ("sad", "+curriculum", (("lambda_reason", 1.0), ("lambda_act", 2.0), ("curriculum", True))),
        ("token_kd", "+curriculum", (("curriculum", True),)),
        ("sad", "equal span weights (λ_r = λ_a = 1, = token-KD)",
         (("lambda_reason", 1.0), ("lambda_act", 1.0))),
        ("sad", "per-span mean (span_norm=per_span_mean)",
         (("lambda_reason", 1.0), ("lambda_act", 2.0), ("span_norm", "per_span_mean"))),
        # SAD's controls: the other span up-weighted, and the act span's share of random tokens
        ("sad", "reason up-weighted (λ_r=2, λ_a=1)", (("lambda_reason", 2.0), ("lambda_act", 1.0))),
        ("sad", "random-token control (span_control=random)",
         (("lambda_reason", 1.0), ("lambda_act", 2.0), ("span_control", "random"))),
    }
    # the main rows: every method with its config defaults, SAD with its span weights (λ_r = λ_a would
    # make it token-KD), the same settings under every ablation row that does not change them
    assert {(s.method, tuple(s.overrides.items())) for s in main} == {
        ("sad", (("lambda_reason", 1.0), ("lambda_act", 2.0))), ("token_kd", ()), ("sft", ())}
    assert {s.student for s in specs} == {"tiny-student", "tiny"}  # student size ablation


def test_ablations_controls_adds_sads_two_controls_per_seed_and_nothing_else():
    methods = ("sad", "token_kd", "sft")
    main = student_specs(PRESETS["tiny"], methods, seeds=3, ablations=None)
    specs = student_specs(PRESETS["tiny"], methods, seeds=3, ablations="controls")
    extra = [s for s in specs if s not in main]
    controls = ("reason up-weighted (λ_r=2, λ_a=1)", "random-token control (span_control=random)")
    assert sorted((s.variant, s.seed) for s in extra) == sorted((c, k) for c in controls for k in range(3))
    assert {s.student for s in specs} == {"tiny-student"} and {s.method for s in extra} == {"sad"}
    assert student_specs(PRESETS["tiny"], ("token_kd",), seeds=1, ablations="controls") == student_specs(
        PRESETS["tiny"], ("token_kd",), seeds=1, ablations=False)  # controls are SAD rows
    with pytest.raises(ValueError, match="expected one of all, controls"):
        student_specs(PRESETS["tiny"], methods, seeds=1, ablations="some")
    assert len({s.label for s in specs}) == len(specs)


def test_budget_knobs_override_the_preset_and_bad_values_are_errors():
    args = argparse.Namespace(preset="tiny", device=None, **{k: None for k in KNOBS})
    args.eval_episodes = 3
    assert preset_from_args(args).eval_episodes == 3
    assert preset_from_args(args).teacher_steps == PRESETS["tiny"].teacher_steps
    args.student_steps = 0
    with pytest.raises(UserError, match="--student-steps must be >= 1, got 0"):
        preset_from_args(args)


def test_marker_is_json_with_the_asked_params(tmp_path):
    calls: list[str] = []
    StageRunner(tmp_path, "hotpotqa", set()).run_unit(
        _unit(tmp_path, "demos", "demos", calls, params={"episodes": 4})
    )
    data = json.loads((tmp_path / "demos" / ".complete.json").read_text())
    assert data["params"] == {"episodes": 4} and data["stage"] == "demos" and data["env"] == "hotpotqa"


def test_demos_and_teacher_made_by_another_expert_version_are_stale(tmp_path, monkeypatch):
    import agents.experts

    pipeline = Pipeline(
        tmp_path, "webshop", PRESETS["tiny"], ("sad",), seeds=1, ablations=False, forced=set(), command="test"
    )

    def units() -> list[Unit]:
        demos, teacher = pipeline.demos_unit(), pipeline.teacher_unit()
        for unit in (demos, teacher):
            unit.work = dict  # the stage's output is not what this test is about: only its marker
        return [demos, teacher]

    version = agents.experts.EXPERT_VERSIONS["webshop"]
    for unit in units():
        assert pipeline.runner.run_unit(unit)["params"]["expert_version"] == version
    versions = agents.experts.EXPERT_VERSIONS
    others_bumped = {env: v + (env != "webshop") for env, v in versions.items()}
    monkeypatch.setattr(agents.experts, "EXPERT_VERSIONS", others_bumped)
    assert all(StageRunner(tmp_path, "webshop", set()).run_unit(u)["params"]["expert_version"] == version
               for u in units())  # another env's expert changed: this env's demos and teacher stay valid
    monkeypatch.setattr(agents.experts, "EXPERT_VERSIONS", {**versions, "webshop": version + 1})
    demos, teacher = units()
    with pytest.raises(
        UserError,
        match=rf"stage 'demos' .* other settings \(expert_version: was {version}, now "
        rf"{version + 1}\); rerun with --force demos\+",
    ):
        StageRunner(tmp_path, "webshop", set()).run_unit(demos)
    with pytest.raises(
        UserError, match=rf"stage 'teacher' .* \(expert_version: was {version}, now {version + 1}\)"
    ):
        StageRunner(tmp_path, "webshop", set()).run_unit(teacher)
    redone = StageRunner(tmp_path, "webshop", {"demos", "teacher"})
    assert [redone.run_unit(u)["params"]["expert_version"] for u in (demos, teacher)] == [version + 1] * 2


def test_a_teacher_trained_or_played_under_another_context_rule_is_stale(tmp_path, monkeypatch):
    import harness.experiment.pipeline as pipeline_module
    from agents.context import CONTEXT_RULE

    pipeline = Pipeline(
        tmp_path, "webshop", PRESETS["tiny"], ("sad",), seeds=1, ablations=False, forced=set(), command="test"
    )

    def units() -> list[Unit]:
        played = pipeline._eval_unit("teacher_eval", tmp_path / "teacher_eval", "lm", "test", 2,
                                     agent_kwargs={"model": tmp_path / "teacher"})
        made = [pipeline.teacher_unit(), played]
        for unit in made:
            unit.work = dict  # only the markers matter here
        return made

    demos = pipeline.demos_unit()
    demos.work = dict
    assert "context_rule" not in pipeline.runner.run_unit(demos)["params"]  # the expert builds no prompt
    for unit in units():
        assert pipeline.runner.run_unit(unit)["params"]["context_rule"] == CONTEXT_RULE
    monkeypatch.setattr(pipeline_module, "CONTEXT_RULE", "another-rule")
    for unit in units():
        with pytest.raises(UserError, match=rf"\(context_rule: was '{CONTEXT_RULE}', now 'another-rule'\)"):
            StageRunner(tmp_path, "webshop", set()).run_unit(unit)


def test_the_estimate_counts_only_the_units_still_to_run(tmp_path):
    """A resumed run's estimate leaves out what is complete: a done teacher stage costs nothing, a stage with
    one of its two units done costs half, and ``--force`` counts a done stage in full again."""
    from harness.experiment.layout import STAGE_MARKER, write_json

    args = argparse.Namespace(preset="tiny", device=None, **{k: None for k in KNOBS})

    def pipeline(forced=frozenset()):
        return Pipeline(tmp_path, "webshop", preset_from_args(args), ("sad", "sft"), 1, None, set(forced),
                        "test")

    expected = pipeline().expected_seconds()
    assert pipeline().remaining_seconds(expected) == expected  # nothing done yet
    for done in (tmp_path / "teacher", tmp_path / "students" / "tiny-student_sad_s0"):
        done.mkdir(parents=True)
        write_json(done / STAGE_MARKER, {"stage": done.name})
    remaining = pipeline().remaining_seconds(expected)
    assert remaining["teacher"] == 0 and remaining["students"] == pytest.approx(expected["students"] / 2)
    assert {s: t for s, t in remaining.items() if s not in ("teacher", "students")} == {
        s: t for s, t in expected.items() if s not in ("teacher", "students")}
    assert pipeline({"teacher"}).remaining_seconds(expected)["teacher"] == expected["teacher"]
