"""Accuracy changes: exact McNemar p-values, Newcombe's paired interval, degenerate samples."""

from __future__ import annotations

import numpy as np
import pytest
from statsmodels.stats.contingency_tables import mcnemar
from statsmodels.stats.proportion import proportion_confint

from kdaudit.analysis.accuracy import accuracy_analysis, paired_difference_ci, wilson_interval


def _table(y: np.ndarray, a: np.ndarray, b: np.ndarray) -> tuple[int, int, int, int]:
    ra, rb = a == y, b == y
    return (
        int((ra & rb).sum()),
        int((ra & ~rb).sum()),
        int((~ra & rb).sum()),
        int((~ra & ~rb).sum()),
    )


def test_one_row_cannot_show_a_change() -> None:
    y = np.array([1])
    for student in (0, 1):
        res = accuracy_analysis(
            y,
            {"teacher": np.array([0]), "student": np.array([student])},
            pairs=[("teacher", "student")],
        )
        d = res.accuracy_delta["teacher_vs_student"]
        assert d.p_value == 1.0  # exact McNemar on one discordant pair
        assert d.ci_low <= 0.0 <= d.ci_high
        assert d.ci_low <= d.value <= d.ci_high


def test_p_value_is_statsmodels_exact_mcnemar(rng: np.random.Generator) -> None:
    for n in (5, 40, 300):
        y = rng.integers(0, 3, n)
        a = np.where(rng.random(n) < 0.7, y, rng.integers(0, 3, n))
        b = np.where(rng.random(n) < 0.6, y, rng.integers(0, 3, n))
        res = accuracy_analysis(y, {"a": a, "b": b}, pairs=[("a", "b")])
        both, only_a, only_b, neither = _table(y, a, b)
        ref = mcnemar([[both, only_a], [only_b, neither]], exact=True).pvalue
        assert res.accuracy_delta["a_vs_b"].p_value == pytest.approx(ref, rel=1e-12)
        assert res.accuracy_delta["a_vs_b"].value == pytest.approx((only_b - only_a) / n, abs=1e-15)


def test_wilson_matches_statsmodels() -> None:
    for s, n in [(0, 1), (1, 1), (7, 20), (0, 50), (50, 50), (333, 1000)]:
        lo, hi = proportion_confint(s, n, alpha=0.05, method="wilson")
        assert wilson_interval(s, n, 0.95) == pytest.approx((lo, hi), abs=1e-12)


def test_newcombe_closed_form_cases() -> None:
    # independent discordance (phi = 0): the interval is the square-and-add (Newcombe method 10
    # reduces to method 10 of the unpaired case, MOVER with Wilson limits)
    low, high = paired_difference_ci(25, 25, 25, 25)
    l1, u1 = wilson_interval(50, 100, 0.95)
    assert low == pytest.approx(-np.hypot(0.5 - l1, u1 - 0.5), abs=1e-12)
    assert high == pytest.approx(np.hypot(0.5 - l1, u1 - 0.5), abs=1e-12)
    # every interval contains its point value and stays in [-1, 1]
    for cells in [(0, 0, 1, 0), (0, 1, 0, 0), (10, 0, 0, 0), (3, 0, 9, 1), (90, 1, 8, 1)]:
        lo, hi = paired_difference_ci(*cells)
        delta = (cells[2] - cells[1]) / sum(cells)
        assert -1.0 <= lo <= delta <= hi <= 1.0


@pytest.mark.parametrize(
    "n, p_both, p_a, p_b", [(200, 0.6, 0.05, 0.15), (1000, 0.7, 0.1, 0.1), (60, 0.8, 0.02, 0.08)]
)
def test_interval_coverage_and_false_alarms_by_simulation(n, p_both, p_a, p_b) -> None:
    rng = np.random.default_rng(n)
    probs = [p_both, p_a, p_b, 1 - p_both - p_a - p_b]
    truth = p_b - p_a
    tables = rng.multinomial(n, probs, size=1500)
    covered = [lo <= truth <= hi for lo, hi in (paired_difference_ci(*t) for t in tables)]
    assert 0.93 <= np.mean(covered) <= 0.985
    if p_a == p_b:  # a null: the exact test holds its level
        from kdaudit.analysis.stats import mcnemar_exact

        p = mcnemar_exact(tables[:, 1], tables[:, 2])
        assert np.mean(p <= 0.05) <= 0.05 + 0.015


def test_one_row_accuracy_and_class_shift_agree() -> None:
    """The report's two tests of the same one-row change give the same p (issue 8 item 5)."""
    from kdaudit.analysis.class_shift import class_shift

    y, a, b = np.array([1]), np.array([0]), np.array([1])
    acc = accuracy_analysis(y, {"teacher": a, "student": b}, pairs=[("teacher", "student")])
    shift = class_shift(y, a, b, n_classes=2).to_dict()
    ps = [r["p_value"] for r in shift["per_class"] if r["p_value"] is not None]
    assert acc.accuracy_delta["teacher_vs_student"].p_value == 1.0 == ps[0]
    assert shift["n_significant"] == 0
