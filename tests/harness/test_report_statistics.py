"""The report's statistics: the two-level paired bootstrap (training seeds within each method, then tasks)
against hand-computed and brute-force exact distributions, the percentile interval and p-value agreeing,
Holm's step-down, and the wording of the paired table ("inconclusive", "no signal", primary, Holm)."""
from __future__ import annotations

import itertools
from collections import Counter
from fractions import Fraction

import numpy as np
import pandas as pd
import pytest

from harness.report.comparison import (
    Comparison,
    comparison_cells,
    comparison_markdown,
    paired_comparisons,
)
from harness.report.statistics import (
    bootstrap_p_value,
    holm_gammas,
    percentile_interval,
    point_estimate,
    two_level_bootstrap,
)
from harness.report.tables import Row


def exact_distribution(a: list[list[int]], b: list[list[int]]) -> dict[Fraction, Fraction]:
    """The exact two-level bootstrap distribution by enumerating every equally likely draw: a tuple of seed
    indices for each method (independently), then a tuple of task indices shared by both."""
    a_seeds, b_seeds, tasks = len(a), len(b), len(a[0])
    pmf: Counter[Fraction] = Counter()
    draws = list(itertools.product(itertools.product(range(a_seeds), repeat=a_seeds),
                                   itertools.product(range(b_seeds), repeat=b_seeds),
                                   itertools.product(range(tasks), repeat=tasks)))
    for sa, sb, ts in draws:
        pmf[sum(Fraction(sum(a[i][t] for i in sa), a_seeds) - Fraction(sum(b[j][t] for j in sb), b_seeds)
                for t in ts) / tasks] += Fraction(1, len(draws))
    return dict(pmf)


def empirical(draws: np.ndarray) -> dict[float, float]:
    values, counts = np.unique(np.round(draws, 9), return_counts=True)
    return {float(v): c / len(draws) for v, c in zip(values, counts, strict=True)}


def assert_matches(draws: np.ndarray, pmf: dict[Fraction, Fraction], tolerance: float = 0.006) -> None:
    seen = empirical(draws)
    assert set(seen) <= {round(float(v), 9) for v in pmf}  # no value the exact bootstrap cannot produce
    for value, p in pmf.items():
        assert seen.get(round(float(value), 9), 0.0) == pytest.approx(float(p), abs=tolerance), value


def test_two_level_bootstrap_matches_a_hand_computed_distribution():
    """A = [[1, 1], [0, 1]] (seed 0 wins both tasks, seed 1 only task 1), B all 0 (2 seeds). Task 0's seed
    average is 1, 1/2, 0 with probability 1/4, 1/2, 1/4; task 1's is 1. Task draws (0,0) 1/4, mixed 1/2,
    (1,1) 1/4 give: P(0) = 1/4·1/4; P(1/2) = 1/4·1/2 + 1/2·1/4 = 4/16; P(3/4) = 1/2·1/2 = 4/16;
    P(1) = 1/4·1/4 + 1/2·1/4 + 1/4 = 7/16."""
    a, b = [[1, 1], [0, 1]], [[0, 0], [0, 0]]
    hand = {Fraction(0): Fraction(1, 16), Fraction(1, 2): Fraction(4, 16), Fraction(3, 4): Fraction(4, 16),
            Fraction(1): Fraction(7, 16)}
    assert exact_distribution(a, b) == hand
    draws = two_level_bootstrap(np.array(a), np.array(b), n_boot=200_000, seed=3)
    assert_matches(draws, hand)
    # the estimator's mean is the point estimate (task 0: 1/2, task 1: 1): 3/4 exactly, and the draws agree
    assert sum(v * p for v, p in hand.items()) == Fraction(3, 4) == Fraction(point_estimate(a, b))
    assert draws.mean() == pytest.approx(0.75, abs=0.003)
    # exact quantiles: CDF 1/16 at 0 (> 2.5%), 1/16 + ... = 9/16 below 1 (< 97.5%): [0, 1]; p = 2 · 1/16
    assert percentile_interval(draws, 0.05) == (0.0, 1.0)
    assert bootstrap_p_value(draws) == pytest.approx(0.125, abs=0.005)


@pytest.mark.parametrize(("a", "b"), [
    ([[1, 0], [1, 1]], [[0, 0], [1, 0]]),  # 2 seeds each, 2 tasks
    ([[1, 0], [0, 1]], [[0, 1], [1, 1], [0, 0]]),  # seeds differ in number: 2 against 3
])
def test_two_level_bootstrap_matches_the_brute_force_enumeration(a, b):
    pmf = exact_distribution(a, b)
    draws = two_level_bootstrap(np.array(a), np.array(b), n_boot=200_000, seed=0)
    assert_matches(draws, pmf)
    mean = sum(v * p for v, p in pmf.items())
    assert float(mean) == pytest.approx(point_estimate(a, b), abs=1e-12)
    assert draws.mean() == pytest.approx(float(mean), abs=0.004)


def test_seeds_are_resampled_per_method_not_averaged_away():
    """Seed 0 of A wins every task, seed 1 loses every one; B never wins. Averaging seeds first makes every
    task's difference 1/2 (a zero-width interval); the two-level bootstrap draws seed 1 twice a quarter of the
    time: the difference can be 0, and the interval says so."""
    a, b = np.array([[1, 1, 1, 1], [0, 0, 0, 0]]), np.zeros((2, 4))
    draws = two_level_bootstrap(a, b, n_boot=20_000, seed=0)
    assert set(empirical(draws)) == {0.0, 0.5, 1.0}
    assert percentile_interval(draws) == (0.0, 1.0)
    assert bootstrap_p_value(draws) == pytest.approx(0.5, abs=0.02)


def test_one_seed_is_task_sampling_only_and_the_bootstrap_is_deterministic():
    a, b = np.array([[1, 0]]), np.array([[0, 0]])
    draws = two_level_bootstrap(a, b, n_boot=100_000, seed=7)
    hand = {Fraction(0): Fraction(1, 4), Fraction(1, 2): Fraction(1, 2), Fraction(1): Fraction(1, 4)}
    assert_matches(draws, hand)
    assert np.array_equal(draws, two_level_bootstrap(a, b, n_boot=100_000, seed=7))
    assert not np.array_equal(draws, two_level_bootstrap(a, b, n_boot=100_000, seed=8))
    with pytest.raises(ValueError, match=r"a \(1, 2\) and b \(1, 3\); expected \[seeds, tasks\] matrices"):
        two_level_bootstrap(a, np.zeros((1, 3)))


def test_the_interval_excludes_0_exactly_when_the_p_value_is_below_its_gamma():
    rng = np.random.default_rng(0)
    samples = [rng.normal(0.1, 0.05, 997), rng.integers(-1, 3, 1000) / 4, np.zeros(50),
               rng.normal(-0.2, 0.1, 400)]
    for draws in samples:
        p = bootstrap_p_value(draws)
        for gamma in (0.05, 0.05 / 2, 0.05 / 3, 0.05 / 11, 0.2, 0.5, 0.9):
            low, high = percentile_interval(draws, gamma)
            assert low <= high
            assert (low > 0 or high < 0) == (p < gamma), (p, gamma, low, high)
    assert percentile_interval(np.zeros(50)) == (0.0, 0.0) and bootstrap_p_value(np.zeros(50)) == 1.0


def test_holm_steps_down_until_the_first_comparison_it_cannot_reject():
    """m = 4: p 0.001 < 0.05/4 and 0.012 < 0.05/3 are rejected; 0.04 ≥ 0.05/2 stops the step-down, so it and
    every later one (0.5) keep γ = 0.05/2, not the 0.05 plain Holm would give the last."""
    assert holm_gammas([0.001, 0.04, 0.012, 0.5]) == [0.05 / 4, 0.05 / 2, 0.05 / 3, 0.05 / 2]
    assert holm_gammas([0.3, 0.2]) == [0.05 / 2, 0.05 / 2]
    assert holm_gammas([0.001, 0.002]) == [0.05 / 2, 0.05]
    assert holm_gammas([]) == []


def _comparison(low: float, high: float, **kw) -> Comparison:
    fields = dict(env="webshop", student="tiny-student", method="sad", baseline="token_kd", metric="score",
                  mean=(low + high) / 2, low=low, high=high, tasks=100, seeds=(1, 1), p_value=0.5, gamma=0.05,
                  primary=False, family=11, no_signal=False)
    return Comparison(**{**fields, **kw})


def test_verdict_wording():
    assert _comparison(0.0, 0.0, no_signal=True).verdict == "no signal: every agent failed every task"
    assert _comparison(-0.012, 0.081).verdict == ("inconclusive (interval [-0.012, +0.081] contains 0, "
                                                  "width 0.093)")
    assert _comparison(0.0, 0.02).verdict == ("inconclusive (interval [+0.000, +0.020] contains 0, "
                                              "width 0.020)")
    assert _comparison(0.019, 0.081).verdict == "SAD (span KL) higher"
    assert _comparison(-0.081, -0.019).verdict == "token-level KD higher"
    cells = comparison_cells(_comparison(0.019, 0.081, gamma=0.05 / 11))
    assert cells[4:8] == ["[+0.019, +0.081]", "99.55%, Holm-adjusted, m = 11", "tasks only (1 seed each)",
                          "100"]
    cells = comparison_cells(_comparison(0.019, 0.081, primary=True, family=0, seeds=(3, 2)))
    assert cells[5:7] == ["95%, primary", "seeds (3, 2), then tasks"]


def _row(method: str, per_seed: list[dict[str, float]], student: str = "tiny-student") -> Row:
    """A student row whose seed i won ``per_seed[i][task]`` (score = success)."""
    tables = [pd.DataFrame({"task_id": list(wins), "won": list(wins.values()), "score": list(wins.values())})
              for wins in per_seed]
    return Row(f"{student} · {method}", "student", "webshop", method=method, student=student,
               seeds=list(range(len(per_seed))), episode_tables=tables)


def test_paired_table_marks_the_primary_holm_and_no_signal():
    tasks = [f"t{i}" for i in range(20)]
    rows = [
        _row("sad", [dict.fromkeys(tasks, 1.0), dict.fromkeys(tasks, 1.0)]),
        _row("token_kd", [dict.fromkeys(tasks, 0.0), dict.fromkeys(tasks, 0.0)]),
        # SFT: seed 1 also played a task nobody else did (left out: pairing is on tasks all seeds played)
        _row("sft", [dict.fromkeys(tasks, 0.0), {**dict.fromkeys(tasks, 0.0), "extra": 1.0}]),
        _row("opd", [dict.fromkeys(tasks, 0.0)]),
    ]
    comparisons = {(c.method, c.baseline, c.metric): c for c in paired_comparisons(rows, n_boot=2_000)}
    primary = comparisons[("sad", "token_kd", "success")]
    assert primary.primary and primary.gamma == 0.05 and primary.level == "95%, primary"
    assert (primary.mean, primary.low, primary.high, primary.tasks) == (1.0, 1.0, 1.0, 20)
    assert primary.verdict == "SAD (span KL) higher"
    others = [c for c in comparisons.values() if not c.primary]
    assert len(others) == 7 and all(c.family == 7 for c in others)  # sad−sft ×2, opd−kd ×2, opd−sft ×2, score
    # p = 0 (rejected first, at 0.05/7 then 0.05/6), then the 4 no-signal ones at p = 1 stop the step-down
    assert sorted(round(c.gamma, 6) for c in others) == sorted(
        round(g, 6) for g in [0.05 / 7, 0.05 / 6, 0.05 / 5, 0.05 / 4, 0.05 / 4, 0.05 / 4, 0.05 / 4])
    sft = comparisons[("sad", "sft", "success")]
    assert sft.tasks == 20 and sft.seeds == (2, 2) and sft.verdict == "SAD (span KL) higher"
    nothing = comparisons[("opd", "token_kd", "success")]
    assert nothing.seeds == (1, 2) and nothing.no_signal and (nothing.low, nothing.high) == (0.0, 0.0)
    assert nothing.verdict == "no signal: every agent failed every task"
    md = comparison_markdown(list(comparisons.values()))
    assert nothing.level == "98.75%, Holm-adjusted, m = 7"  # γ = 0.05/4: the step-down stopped at rank 4
    assert ("| tiny-student | on-policy KD (OPD) − token-level KD | success | +0.000 | [+0.000, +0.000] | "
            "98.75%, Holm-adjusted, m = 7 | seeds (1, 2), then tasks | 20 | no signal: every agent failed "
            "every task |") in md
    assert "Primary comparison (declared before the run): SAD (span KL) − token-level KD on success for " \
           "tiny-student, at 95%." in md
    assert "The other 7 comparisons are one Holm family (m = 7)" in md
    assert "task sampling only" not in md  # no comparison here has one seed on both sides


def test_one_seed_comparisons_say_they_reflect_task_sampling_only():
    tasks = [f"t{i}" for i in range(8)]
    rows = [_row("sad", [{t: float(i % 2) for i, t in enumerate(tasks)}]),
            _row("token_kd", [dict.fromkeys(tasks, 0.0)])]
    comparisons = paired_comparisons(rows, n_boot=2_000)
    assert [c.resampled for c in comparisons] == ["tasks only (1 seed each)"] * 2
    md = comparison_markdown(comparisons)
    assert "With one training seed per method the intervals reflect task sampling only" in md
    assert "The other comparison is a Holm family of one (m = 1)" in md


def test_the_primary_comparison_is_at_the_presets_main_student(tmp_path):
    """Two student sizes: the primary is SAD − token-KD at the manifest's first preset student, whichever
    size the rows list first; the other size's SAD − token-KD on success is in the Holm family."""
    tasks = [f"t{i}" for i in range(6)]
    rows = [_row(method, [dict.fromkeys(tasks, 1.0 if method == "sad" else 0.0)], student=student)
            for student in ("big-student", "main-student") for method in ("sad", "token_kd")]
    for row in rows:
        row.eval_dirs = [tmp_path / "student_eval" / f"{row.student}_{row.method}_s0"]
    (tmp_path / "pipeline.json").write_text('{"env": "webshop", "budget": {"students": ["main-student"]}}')
    primary = [(c.student, c.method, c.baseline, c.metric) for c in paired_comparisons(rows, n_boot=500)
               if c.primary]
    assert primary == [("main-student", "sad", "token_kd", "success")]
    (tmp_path / "pipeline.json").write_text('{"env": "webshop"}')  # no preset students: the first size
    assert [c.student for c in paired_comparisons(rows, n_boot=500) if c.primary] == ["big-student"]
