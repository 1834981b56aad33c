"""Temperature-sweep rows: intervals per row, seed spread, main student, references."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import stats as sps

from kdaudit.analysis.accuracy import wilson_interval
from kdaudit.arrays import LogitArray
from kdaudit.sweep import combine_runs, metric_row, temperature_sweep


def test_combine_runs_closed_forms() -> None:
    assert combine_runs([0.8], [(0.7, 0.85)], 0.95) == (0.8, [0.7, 0.85], None)
    assert combine_runs([None], [(None, None)], 0.95) == (None, None, None)
    mean, ci, std = combine_runs([0.8, 0.9, None], [(0.75, 0.85), (0.86, 0.94), (None, None)], 0.95)
    assert mean == pytest.approx(0.85) and std == pytest.approx(np.std([0.8, 0.9], ddof=1))
    half = math.hypot(sps.t.ppf(0.975, 1) * std / math.sqrt(2), (0.05 + 0.04) / 2)
    assert ci == pytest.approx([0.85 - half, 0.85 + half])
    # centred on the analyzers' estimates when given
    _, ci2, _ = combine_runs([0.1, 0.2], [(0.0, 0.1), (0.1, 0.2)], 0.95, centres=[0.05, 0.15])
    assert (ci2[0] + ci2[1]) / 2 == pytest.approx(0.1)


def test_combined_accuracy_interval_covers_the_recipe_accuracy() -> None:
    """Runs of one recipe (seed noise) on a shared test set (row noise): the row interval
    covers the recipe's population accuracy about 95% of the time."""
    rng = np.random.default_rng(5)
    n, runs, reps = 1500, 3, 400
    # truth in closed form: P(z + 0.6 e - 0.15 eta < 0.8), all standard normal
    truth = float(sps.norm.cdf(0.8 / math.hypot(1.0, 0.6, 0.15)))
    covered = 0
    for _ in range(reps):
        z = rng.normal(size=n)
        vals, ivs = [], []
        for _ in range(runs):
            right = int((z + 0.6 * rng.normal(size=n) < 0.8 + 0.15 * rng.normal()).sum())
            vals.append(right / n)
            ivs.append(wilson_interval(right, n, 0.95))
        _, (lo, hi), _ = combine_runs(vals, ivs, 0.95)
        covered += lo <= truth <= hi
    assert 0.92 <= covered / reps <= 0.995


def _logits(pred: np.ndarray, n_classes: int = 3) -> LogitArray:
    return LogitArray.from_array(np.eye(n_classes)[pred] * 5.0)


def test_main_student_flagged_or_added_and_references() -> None:
    rng = np.random.default_rng(0)
    y = rng.integers(0, 3, 400)
    noisy = [
        _logits(np.where(rng.random(400) < a, y, rng.integers(0, 3, 400))) for a in (0.9, 0.7, 0.6)
    ]
    calls = []

    def shift(ref, st):
        calls.append((len(ref), len(st)))
        return {"n_significant": 1, "n_significant_uncorrected": 2}

    def groups(pred):
        return {
            "demographic_parity_difference": {
                "value": 0.1,
                "ci_low": 0.05,
                "ci_high": 0.2,
                "estimate": 0.08,
            }
        }

    kw = {
        "references": {"teacher": [noisy[0]]},
        "attribute": "sex",
        "group_metrics": groups,
        "individual": None,
        "class_shift": shift,
        "confidence": 0.95,
    }
    entries = [(2.0, ["a.npy"], [noisy[1]]), (8.0, ["b.npy", "c.npy"], [noisy[1], noisy[2]])]
    rows, ref = temperature_sweep(
        y, entries, main=(8.0, ["b.npy", "c.npy"], [noisy[1], noisy[2]]), **kw
    )
    assert [r["main"] for r in rows] == [False, True]
    rows, ref = temperature_sweep(y, entries, main=(4.0, ["m.npy"], [noisy[2]]), **kw)
    assert [(r["temperature"], r["main"]) for r in rows] == [
        (2.0, False),
        (4.0, True),
        (8.0, False),
    ]
    r8 = rows[2]
    assert (
        r8["n_runs"] == 2 and r8["n_tc"] == 1 and r8["n_tc_uncorrected"] == 2 and r8["n_sc"] is None
    )
    acc = [float(np.mean(la.predictions() == y)) for la in (noisy[1], noisy[2])]
    assert r8["accuracy"] == pytest.approx(np.mean(acc)) and r8["accuracy_std"] == pytest.approx(
        np.std(acc, ddof=1)
    )
    assert r8["demographic_parity_difference_estimate"] == pytest.approx(0.08)
    assert r8["attribute"] == "sex" and r8["lipschitz"] is None
    r2 = rows[0]
    right = int((noisy[1].predictions() == y).sum())
    assert r2["accuracy_ci"] == pytest.approx(list(wilson_interval(right, 400, 0.95)))
    assert "accuracy_std" not in r2
    assert ref["teacher"]["accuracy"] == pytest.approx(np.mean(noisy[0].predictions() == y))
    assert ref["teacher"]["attribute"] == "sex"


def test_individual_fairness_columns_use_the_analyzer() -> None:
    y = np.array([0, 1] * 10)

    def individual(roles, preds):
        return {
            r: {
                "lipschitz": {"value": 0.5, "ci_low": 0.4, "ci_high": 0.6},
                "lipschitz_normalized": {"value": 0.05, "ci_low": 0.04, "ci_high": 0.06},
            }
            for r in roles
        }

    row = metric_row(y, [_logits(y, 2)], group_metrics=None, individual=individual, confidence=0.95)
    assert row["lipschitz"] == 0.5 and row["lipschitz_ci"] == [0.4, 0.6]
    assert row["lipschitz_normalized_ci"] == [0.04, 0.06]
    assert row["demographic_parity_difference"] is None
