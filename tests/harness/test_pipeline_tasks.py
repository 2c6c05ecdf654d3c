"""The comparison's design: which tasks every agent plays (stratified, the same for all), one knob per
difference between students (curriculum off for every method unless an ablation row turns it on), and
the pipeline's wiring of the trainer and the env protocol."""
from __future__ import annotations

import dataclasses
import json
from collections import Counter
from pathlib import Path

import pytest

from distill.config import METHODS as CONFIGS
from distill.config import TrainConfig
from distill.train import check_out_dir
from harness.evaluate import evaluate
from harness.experiment.pipeline import Pipeline
from harness.experiment.presets import ENV_MAX_STEPS, PRESETS, StudentSpec, student_specs
from harness.logs import read_episodes
from harness.tasks import planned_tasks, stratified_order, task_types

ALFWORLD_TYPES = {"look_at_obj_in_light", "pick_and_place_simple", "pick_clean_then_place_in_recep",
                  "pick_cool_then_place_in_recep", "pick_heat_then_place_in_recep", "pick_two_obj_and_place"}


def test_every_prefix_of_the_order_is_stratified_and_a_longer_run_extends_a_shorter_one():
    types = ["a"] * 50 + ["b"] * 30 + ["c"] * 15 + ["d"] * 5
    ids = [f"{t}-{i:02d}" for i, t in enumerate(types)]
    kind = dict(zip(ids, types, strict=True))
    order = stratified_order(ids, types)
    assert sorted(order) == sorted(ids)  # each task once
    assert {kind[t] for t in order[:4]} == {"a", "b", "c", "d"}  # every type as soon as there is room
    share = Counter(types)
    for n in range(1, len(ids) + 1):
        counts = Counter(kind[t] for t in order[:n])
        for t in share:  # each type within one episode of its share of the split
            assert abs(counts[t] - n * share[t] / len(ids)) <= 1.0, (n, t, counts)
    assert stratified_order(ids, types) == order  # deterministic
    assert order[:12] != [t for t in sorted(ids) if kind[t] == "a"][:12]  # shuffled within a type
    with pytest.raises(ValueError, match="3 task ids but 2 task types"):
        stratified_order(["x", "y", "z"], ["a", "b"])
    with pytest.raises(ValueError, match=r"repeated: \['x'\]"):
        stratified_order(["x", "x"], ["a", "a"])


def test_twenty_alfworld_episodes_cover_all_six_task_types():
    """`make eval ENV=alfworld EPISODES=20` used to play 18 look_at_obj_in_light games and 2 others."""
    import envs

    tasks = planned_tasks("alfworld", "test", {}, 20)
    env = envs.make("alfworld", split="test")
    played = Counter(task_types(env, tasks))
    split = Counter(task_types(env, env.unwrapped.task_ids))
    env.close()
    assert set(played) == ALFWORLD_TYPES and len(set(tasks)) == 20
    for task_type, n in split.items():
        assert abs(played[task_type] - 20 * n / split.total()) <= 1.0
    longer = planned_tasks("alfworld", "test", {}, split.total() + 5)
    assert longer[:20] == tasks  # a resumed run with more episodes keeps the tasks it played
    assert set(longer) == set(env.unwrapped.task_ids) and longer[-5:] == longer[:5]  # then it cycles


def test_different_agents_play_the_same_task_ids_with_the_same_env_seeds(tmp_path):
    runs = {}
    for agent in ("expert", "random"):
        evaluate("hotpotqa", agent, episodes=6, workers=0, run=str(tmp_path / agent), progress=False)
        runs[agent] = read_episodes(tmp_path / agent).groupby("episode")[["task_id", "task_type"]].first()
    assert runs["expert"]["task_id"].tolist() == runs["random"]["task_id"].tolist()
    assert set(runs["expert"]["task_type"]) == {"bridge", "comparison"}  # stratified: both types in 6
    seeds = {agent: json.loads((tmp_path / agent / "run.json").read_text())["seed"] for agent in runs}
    assert seeds == {"expert": 0, "random": 0}  # episode i: env seed 0 + i for both


def _pipeline(tmp_path: Path, env: str = "hotpotqa", preset: str = "tiny") -> Pipeline:
    return Pipeline(tmp_path, env, PRESETS[preset], ("sad", "token_kd", "sft"), seeds=2, ablations=True,
                    forced=set(), command="test")


def _config(pipeline: Pipeline, spec: StudentSpec):
    """The training config the student's unit builds (from what its marker records)."""
    params = dict(pipeline.student_unit(spec).params)
    method, data = params.pop("method"), params.pop("data")
    params.pop("context_rule")  # recorded in the marker, not a training option
    return CONFIGS[method](data=[data], out="unused", **params)


def test_curriculum_is_its_own_axis_off_for_every_method_and_on_only_in_its_ablation_rows(tmp_path):
    pipeline = _pipeline(tmp_path)
    configs = {(s.method, s.variant, s.seed): _config(pipeline, s) for s in pipeline.specs
               if s.student == "tiny-student"}
    main = {key: c for key, c in configs.items() if not key[1]}
    assert {(m, seed) for m, _, seed in main} == {(m, k) for m in ("sad", "token_kd", "sft") for k in (0, 1)}
    assert not any(c.curriculum for c in main.values())
    assert {key[:2] for key, c in configs.items() if c.curriculum} == {
        ("sad", "+curriculum"), ("token_kd", "+curriculum")}
    # seed i for every method, and no setting every method has differs between the main rows of one seed
    common = {f.name for f in dataclasses.fields(TrainConfig)} - {"method"}
    for seed in (0, 1):
        shared = [{k: v for k, v in dataclasses.asdict(c).items() if k in common}
                  for (_, _, s), c in main.items() if s == seed]
        assert len(shared) == 3 and all(c == shared[0] for c in shared) and shared[0]["seed"] == seed
    assert configs[("sad", "per-span mean (span_norm=per_span_mean)", 0)].span_norm == "per_span_mean"
    assert main[("sad", "", 0)].span_norm == "sum"


def test_teacher_from_a_config_trains_on_whole_episodes_a_pretrained_one_on_completions(tmp_path):
    assert _pipeline(tmp_path / "a").teacher_unit().params["loss_on"] == "episode"
    assert "loss_on" not in _pipeline(tmp_path / "b", preset="gpu").teacher_unit().params


def test_a_training_unit_overwrites_leftovers_and_resumes_from_its_checkpoint(tmp_path, monkeypatch):
    import distill.train

    seen = []

    class Captured(Exception):
        pass

    def train(config):
        seen.append(config)
        raise Captured

    monkeypatch.setattr(distill.train, "train", train)
    pipeline = _pipeline(tmp_path)
    unit = pipeline.student_unit(pipeline.specs[0])
    unit.path.mkdir(parents=True)
    (unit.path / "metrics.csv").write_text("step,loss\n")  # a crash before the first checkpoint
    with pytest.raises(Captured):
        unit.work()
    assert (seen[-1].resume, seen[-1].overwrite) == (False, True)
    assert check_out_dir(seen[-1]) is True  # the trainer accepts it and clears the leftovers
    (unit.path / "checkpoints").mkdir()
    (unit.path / "checkpoints" / "last.pt").write_bytes(b"")
    with pytest.raises(Captured):
        unit.work()
    assert (seen[-1].resume, seen[-1].overwrite) == (True, False)


def test_every_preset_uses_each_envs_standard_step_limit_and_at_least_100_test_episodes(tmp_path):
    assert ENV_MAX_STEPS == {"webshop": 15, "hotpotqa": 7, "alfworld": 50}
    for name, preset in PRESETS.items():
        assert preset.eval_episodes >= 100, name
        for env, limit in ENV_MAX_STEPS.items():
            pipeline = Pipeline(tmp_path / name / env, env, preset, ("sad",), 1, False, set(), "test")
            assert pipeline.max_steps == limit
            assert pipeline.baselines == (("expert", "random", "first-result") if env == "webshop"
                                          else ("expert", "random"))


def test_ablation_rows_follow_the_methods_asked_for():
    specs = student_specs(PRESETS["tiny"], ("token_kd",), seeds=1, ablations=True)
    assert {(s.method, s.variant) for s in specs if s.variant} == {("token_kd", "+curriculum")}
    assert [s.label for s in specs if s.variant] == ["tiny-student_token_kd_curriculum_s0"]
