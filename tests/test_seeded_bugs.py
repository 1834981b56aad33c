"""Tests that kill the seeded-bug survivors of issue 12 (each fails if its bug is planted).

(a) with a correction, raw and corrected significant counts differ, and the report
    carries both (a bug that swaps them, or counts raw p against alpha under a
    correction, is caught);
(b) a p-value exactly at alpha counts as significant: METHODS.md and docs/methods.md say
    "significant when its adjusted p <= alpha" (a ``<`` is caught);
(c) a group with exactly ``min_group_size`` rows is not flagged; one row fewer is
    ("groups smaller than min_group_size are flagged": a ``<=`` is caught);
(d) I(f) and its delete-one jackknife interval, on data with duplicate rows, equal a
    plain loop over rows written here (pairs at distance 0 skipped, the k-NN graph rebuilt
    without the deleted row).

Values are constructed so that the expected numbers follow from closed forms (exact
McNemar on small counts: p = 2 * BinomCDF(min(b, d); b + d, 1/2)).
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from scipy import special, stats

from kdaudit.analysis.class_shift import class_shift
from kdaudit.analysis.group_fairness import group_fairness
from kdaudit.analysis.individual_fairness import individual_fairness
from kdaudit.analysis.neighbors import knn_graph, representation
from kdaudit.analysis.robustness import robustness
from kdaudit.cli import main
from kdaudit.errors import KDAuditWarning


def _shift_case(extra_classes: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Labels and two models' predictions with known discordant counts per class.

    class 0: b = 9 (A right, B wrong), d = 1  -> p = 2 * 11 / 1024 = 0.021484375
    class 1: b = 6, d = 0                     -> p = 2 / 64       = 0.03125
    classes 2..: 20 rows each, both right     -> p = 1
    plus 10 rows of each class that both models get right.
    """
    n_classes = 2 + extra_classes
    y, a, b = [], [], []

    def add(c: int, a_right: bool, b_right: bool, times: int) -> None:
        wrong = (c + 1) % n_classes
        for _ in range(times):
            y.append(c)
            a.append(c if a_right else wrong)
            b.append(c if b_right else wrong)

    add(0, True, False, 9)
    add(0, False, True, 1)
    add(1, True, False, 6)
    for c in range(n_classes):
        add(c, True, True, 20 if c >= 2 else 10)
    return np.array(y), np.array(a), np.array(b)


@pytest.mark.parametrize(
    ("extra", "correction", "raw", "corrected"),
    [
        (1, "none", 2, 2),
        (1, "fdr_bh", 2, 2),  # BH over m=3: both adjusted to 0.046875 <= 0.05
        (1, "holm", 2, 0),  # Holm over m=3: 3 * 0.021484375 = 0.064 > 0.05
        (2, "fdr_bh", 2, 0),  # BH over m=4: both adjusted to 0.0625 > 0.05
        (2, "holm", 2, 0),
    ],
)
def test_raw_and_corrected_counts_differ_as_the_closed_form_says(
    extra: int, correction: str, raw: int, corrected: int
) -> None:
    from statsmodels.stats.multitest import multipletests

    y, a, b = _shift_case(extra)
    res = class_shift(y, a, b, n_classes=2 + extra, alpha=0.05, correction=correction)
    p = [row.p_value for row in res.per_class]
    assert p[:2] == [0.021484375, 0.03125] and all(v == 1.0 for v in p[2:])
    assert res.n_significant_uncorrected == raw
    assert res.n_significant == corrected
    oracle = p if correction == "none" else multipletests(p, alpha=0.05, method=correction)[1]
    np.testing.assert_allclose([row.p_adjusted for row in res.per_class], oracle, rtol=1e-12)
    assert [row.significant for row in res.per_class] == [q <= 0.05 for q in oracle]


def _save_case(
    tmp_path: Path, y: np.ndarray, a: np.ndarray, b: np.ndarray, n_classes: int
) -> list[str]:
    np.savez(tmp_path / "data.npz", y=y)
    for name, pred in (("teacher", a), ("student", b)):
        logits = np.zeros((y.size, n_classes), np.float32)
        logits[np.arange(y.size), pred] = 3.0
        np.save(tmp_path / f"{name}.npy", logits)
    return [
        "compare", str(tmp_path / "teacher.npy"), str(tmp_path / "student.npy"),
        "--data", str(tmp_path / "data.npz"), "--out", str(tmp_path / "out"),
        "--bootstrap", "0", "--quiet", "--no-cache",
    ]  # fmt: skip


def test_report_shows_both_counts(tmp_path: Path) -> None:
    y, a, b = _shift_case(1)
    argv = _save_case(tmp_path, y, a, b, 3)
    assert main([*argv, "--correction", "holm"]) == 0
    block = json.loads((tmp_path / "out" / "report.json").read_text())["class_shift"]
    pair = block["teacher_vs_student"]
    assert pair["correction"] == "holm" and pair["alpha"] == 0.05
    assert pair["n_significant_uncorrected"] == 2
    assert pair["n_significant"] == 0


# ---------------------------------------------------------------- (b) p exactly at alpha
def test_p_exactly_at_alpha_is_significant(tmp_path: Path) -> None:
    """b = 5, d = 0 gives p = 2 / 32 = 0.0625 exactly; alpha = 0.0625 -> significant."""
    y = np.array([0] * 5 + [0] * 10 + [1] * 10)
    a = y.copy()
    b = y.copy()
    b[:5] = 1  # A right, B wrong on 5 rows of class 0
    exact = class_shift(y, a, b, n_classes=2, alpha=0.0625, correction="none")
    assert exact.per_class[0].p_value == 0.0625
    assert exact.per_class[0].significant and exact.n_significant == 1
    below = class_shift(y, a, b, n_classes=2, alpha=np.nextafter(0.0625, 0), correction="none")
    assert not below.per_class[0].significant and below.n_significant == 0
    # and through the CLI and report.json
    argv = _save_case(tmp_path, y, a, b, 2)
    assert main([*argv, "--alpha", "0.0625", "--correction", "none"]) == 0
    pair = json.loads((tmp_path / "out" / "report.json").read_text())["class_shift"][
        "teacher_vs_student"
    ]
    assert pair["n_significant"] == 1 and pair["per_class"][0]["significant"] is True


# ----------------------------------------------------------- (c) n at the minimum group size
def test_group_of_exactly_min_group_size_is_not_flagged() -> None:
    sizes = {"g29": 29, "g30": 30, "g31": 31}
    groups = np.concatenate([[name] * n for name, n in sizes.items()])
    rng = np.random.default_rng(0)
    y = rng.integers(0, 2, groups.size)
    preds = {"teacher": y, "student": np.where(rng.random(groups.size) < 0.8, y, 1 - y)}
    with pytest.warns(KDAuditWarning, match="1 group"):
        res = group_fairness(
            y, preds, groups, n_classes=2, pairs=[("teacher", "student")], n_bootstrap=0,
            min_group_size=30,
        )  # fmt: skip
    assert res.groups_flagged == ("g29",)
    rows = {row.group: row for row in res.roles["teacher"].by_group}
    assert {g: (rows[g].n, rows[g].small) for g in sizes} == {
        "g29": (29, True),
        "g30": (30, False),
        "g31": (31, False),
    }


def test_robustness_group_of_exactly_min_group_size_is_not_small() -> None:
    attr = np.array(["a"] * 30 + ["b"] * 29)
    y = np.zeros(attr.size, dtype=int)
    res = robustness(
        y, {"teacher": y}, bias_attribute=attr, attribute_name="a", n_bootstrap=0,
        min_group_size=30,
    )  # fmt: skip
    rows = res.to_dict()["teacher"]["by_group"]
    assert {(row["group"], row["n"], row["small"]) for row in rows} == {
        ("a", 30, False),
        ("b", 29, True),
    }


# ------------------------------------------------- (d) I(f) and its jackknife on duplicate rows
def _loop_lipschitz(rep: np.ndarray, probs: np.ndarray, alive: np.ndarray, k: int) -> float:
    """I(f) by a plain loop: each kept row's k nearest kept rows (ties: smaller index),
    total variation over Euclidean distance, pairs at distance 0 skipped."""
    total, count = 0.0, 0
    kept = np.flatnonzero(alive)
    for i in kept:
        cand = [(float(np.linalg.norm(rep[i] - rep[j])), int(j)) for j in kept if j != i]
        for dist, j in sorted(cand)[:k]:
            if dist == 0.0:
                continue
            total += 0.5 * float(np.abs(probs[i] - probs[j]).sum()) / dist
            count += 1
    return total / count


def test_lipschitz_and_jackknife_with_duplicate_rows_match_a_loop() -> None:
    rng = np.random.default_rng(11)
    n, k = 24, 3
    x = rng.normal(size=(n, 3))
    x[7] = x[3]  # duplicate rows: pairs at distance 0
    x[15] = x[3]
    x[20] = x[11]
    logits = rng.normal(size=(n, 2)) * 2.0
    rep = representation(x)
    graph = knn_graph(rep, k=k, spare=4)
    with pytest.warns(KDAuditWarning, match="distance 0"):
        res = individual_fairness(
            graph, {"teacher": logits}, n_bootstrap=1, n_groups=n, consistency_k=k + 1, seed=3
        )
    probs = np.exp(logits - logits.max(axis=1, keepdims=True))
    probs /= probs.sum(axis=1, keepdims=True)
    r64 = rep.astype(np.float64)
    everyone = np.ones(n, dtype=bool)
    lip = res.roles["teacher"].lipschitz
    assert lip.value == pytest.approx(_loop_lipschitz(r64, probs, everyone, k), rel=1e-5)
    # delete-one jackknife: T_(-i) with the graph rebuilt on the other rows
    reps = np.array([_loop_lipschitz(r64, probs, np.arange(n) != i, k) for i in range(n)])
    se = np.sqrt((n - 1) / n * np.sum((reps - reps.mean()) ** 2))
    half = special.stdtrit(n - 1, 0.975) * se
    assert half == pytest.approx(stats.t.ppf(0.975, n - 1) * se)
    assert lip.ci_low == pytest.approx(max(0.0, lip.value - half), rel=1e-4)  # I(f) >= 0
    assert lip.ci_high == pytest.approx(lip.value + half, rel=1e-4)
