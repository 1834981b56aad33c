"""Oracle and edge-case tests for kdaudit.analysis.class_shift."""

from __future__ import annotations

import json

import numpy as np
import pytest
from scipy import stats as sps
from statsmodels.stats.contingency_tables import mcnemar
from statsmodels.stats.multitest import multipletests

from kdaudit.analysis.class_shift import ClassShiftResult, class_shift, class_shift_multirun
from kdaudit.errors import InputDataError, UsageError

SINGLE_KEYS = {
    "mode",
    "test",
    "alpha",
    "correction",
    "n_classes",
    "n_significant",
    "n_significant_uncorrected",
    "disagreement_rate",
    "per_class",
    "disagreement_matrix",
}
ROW_KEYS = {
    "class",
    "n",
    "acc_a",
    "acc_b",
    "p_value",
    "p_adjusted",
    "significant",
    "newly_wrong",
    "newly_right",
    "disagreement_rate",
}
MULTI_ROW_EXTRA = {
    "ratio_mean_a",
    "ratio_mean_b",
    "ratio_std_a",
    "ratio_std_b",
    "disagreement_rate_std",
}


def _noisy(rng: np.random.Generator, y: np.ndarray, acc: float, n_classes: int) -> np.ndarray:
    return np.where(rng.random(y.shape[0]) < acc, y, rng.integers(0, n_classes, y.shape[0]))


def _shifted_pair(rng: np.random.Generator, n: int = 3000, n_classes: int = 8):
    y = rng.integers(0, n_classes, size=n)
    a = _noisy(rng, y, 0.8, n_classes)
    # B is much worse on classes 0 and 1, the same elsewhere
    per_class_acc = np.where(y < 2, 0.45, 0.8)
    b = np.where(rng.random(n) < per_class_acc, y, rng.integers(0, n_classes, n))
    return y, a, b


def test_single_run_matches_statsmodels_and_direct_counts(rng: np.random.Generator) -> None:
    n_classes = 8
    y, a, b = _shifted_pair(rng, n_classes=n_classes)
    res = class_shift(y, a, b, n_classes=n_classes, alpha=0.05, correction="fdr_bh")
    d = res.to_dict()
    assert set(d) == SINGLE_KEYS and d["mode"] == "single_run" and d["test"] == "mcnemar_exact"
    p_ref = []
    for c, row in enumerate(d["per_class"]):
        assert set(row) == ROW_KEYS
        m = y == c
        ra, rb = a[m] == c, b[m] == c
        bb, dd = int(np.sum(ra & ~rb)), int(np.sum(~ra & rb))
        table = [[int(np.sum(ra & rb)), bb], [dd, int(np.sum(~ra & ~rb))]]
        p_ref.append(mcnemar(table, exact=True).pvalue if bb + dd else 1.0)
        assert row["class"] == c and row["n"] == m.sum()
        assert row["acc_a"] == pytest.approx(ra.mean(), abs=1e-15)
        assert row["acc_b"] == pytest.approx(rb.mean(), abs=1e-15)
        assert (row["newly_wrong"], row["newly_right"]) == (bb, dd)
        assert row["disagreement_rate"] == pytest.approx(np.mean(a[m] != b[m]), abs=1e-15)
    p_ref = np.array(p_ref)
    np.testing.assert_allclose([r["p_value"] for r in d["per_class"]], p_ref, rtol=1e-12)
    reject, p_adj, _, _ = multipletests(p_ref, alpha=0.05, method="fdr_bh")
    np.testing.assert_allclose([r["p_adjusted"] for r in d["per_class"]], p_adj, rtol=1e-12)
    assert [r["significant"] for r in d["per_class"]] == reject.tolist()
    assert d["n_significant"] == reject.sum()
    assert d["n_significant_uncorrected"] == int(np.sum(p_ref <= 0.05))
    assert d["per_class"][0]["significant"] and d["per_class"][1]["significant"]
    assert d["disagreement_rate"] == pytest.approx(np.mean(a != b), abs=1e-15)


def test_disagreement_matrix_matches_loop(rng: np.random.Generator) -> None:
    y = rng.integers(0, 6, size=500)
    a, b = _noisy(rng, y, 0.6, 6), _noisy(rng, y, 0.6, 6)
    m = class_shift(y, a, b, n_classes=6).matrix()
    want = np.zeros((6, 6), dtype=np.int64)
    for i, j in zip(a, b, strict=True):
        if i != j:
            want[i, j] += 1
    np.testing.assert_array_equal(m, want)
    assert m.sum() == np.sum(a != b)


@pytest.mark.parametrize("correction", ["none", "holm", "fdr_bh"])
def test_corrections_change_counts_consistently(correction, rng: np.random.Generator) -> None:
    y, a, b = _shifted_pair(rng, n=1500)
    d = class_shift(y, a, b, n_classes=8, correction=correction).to_dict()
    assert d["correction"] == correction
    assert d["n_significant"] <= d["n_significant_uncorrected"]
    if correction == "none":
        assert d["n_significant"] == d["n_significant_uncorrected"]
        assert all(r["p_value"] == r["p_adjusted"] for r in d["per_class"])


def test_empty_class_is_null_and_outside_the_family(rng: np.random.Generator) -> None:
    y = rng.integers(0, 4, size=400)  # class 4 never occurs
    a, b = _noisy(rng, y, 0.8, 4), _noisy(rng, y, 0.5, 4)
    d = class_shift(y, a, b, n_classes=5, correction="holm").to_dict()
    row = d["per_class"][4]
    assert row["n"] == 0 and row["acc_a"] is None and row["p_value"] is None
    assert row["p_adjusted"] is None and row["significant"] is False
    assert "no samples" in row["undefined_reason"]
    present = [r["p_value"] for r in d["per_class"][:4]]
    want = multipletests(present, method="holm")[1]
    np.testing.assert_allclose([r["p_adjusted"] for r in d["per_class"][:4]], want)


def test_identical_models_give_zero_shift(rng: np.random.Generator) -> None:
    y = rng.integers(0, 5, size=300)
    a = _noisy(rng, y, 0.7, 5)
    d = class_shift(y, a, a.copy(), n_classes=5).to_dict()
    assert d["n_significant"] == d["n_significant_uncorrected"] == 0
    assert d["disagreement_rate"] == 0.0
    assert all(r["p_value"] == 1.0 and r["newly_wrong"] == 0 for r in d["per_class"])
    assert not np.any(d["disagreement_matrix"])


def test_shuffling_rows_changes_nothing(rng: np.random.Generator) -> None:
    y, a, b = _shifted_pair(rng, n=1000)
    perm = rng.permutation(y.shape[0])
    r1 = class_shift(y, a, b, n_classes=8)
    r2 = class_shift(y[perm], a[perm], b[perm], n_classes=8)
    assert r1 == r2


def test_round_trip_and_json(rng: np.random.Generator) -> None:
    y, a, b = _shifted_pair(rng, n=500)
    res = class_shift(y, a, b, n_classes=9)
    d = json.loads(json.dumps(res.to_dict()))
    assert ClassShiftResult.from_dict(d) == res
    assert len(d["disagreement_matrix"]) == 9 and len(d["disagreement_matrix"][0]) == 9


def test_input_errors() -> None:
    y = np.array([0, 1, 2])
    with pytest.raises(InputDataError, match="pred_b"):
        class_shift(y, y, np.array([0, 1, 5]), n_classes=3)
    with pytest.raises(InputDataError, match="3 rows"):
        class_shift(y, y, np.array([0, 1]), n_classes=3)
    with pytest.raises(UsageError, match="correction"):
        class_shift(y, y, y, n_classes=3, correction="bonferroni")
    with pytest.raises(UsageError, match="alpha"):
        class_shift(y, y, y, n_classes=3, alpha=5)


# -------------------------------------------------------------------- multi-run
def _runs(rng, y, accs, n_classes, weak_classes=(), weak_acc=0.4):
    out = []
    for acc in accs:
        per = np.where(np.isin(y, weak_classes), weak_acc, acc)
        out.append(
            np.where(rng.random(y.shape[0]) < per, y, rng.integers(0, n_classes, y.shape[0]))
        )
    return out


def test_multirun_matches_scipy_welch_per_class(rng: np.random.Generator) -> None:
    n_classes = 6
    y = rng.integers(0, n_classes, size=2400)
    runs_a = _runs(rng, y, [0.8, 0.82, 0.78, 0.81, 0.79], n_classes)
    runs_b = _runs(rng, y, [0.75, 0.77, 0.74, 0.76], n_classes, weak_classes=(0,))
    res = class_shift_multirun(y, runs_a, runs_b, n_classes=n_classes, correction="none")
    d = res.to_dict()
    assert d["mode"] == "multi_run" and d["test"] == "welch_t"
    assert (d["n_runs_a"], d["n_runs_b"]) == (5, 4)

    def ratios(runs):
        return np.array(
            [[np.mean(p[y == c] == c) / np.mean(p == y) for c in range(n_classes)] for p in runs]
        )

    ra, rb = ratios(runs_a), ratios(runs_b)
    for c, row in enumerate(d["per_class"]):
        assert set(row) == ROW_KEYS | MULTI_ROW_EXTRA
        ref = sps.ttest_ind(ra[:, c], rb[:, c], equal_var=False)
        assert row["p_value"] == pytest.approx(ref.pvalue, rel=1e-10)
        assert row["ratio_mean_a"] == pytest.approx(ra[:, c].mean(), rel=1e-12)
        assert row["ratio_std_b"] == pytest.approx(rb[:, c].std(ddof=1), rel=1e-10)
        assert row["acc_a"] == pytest.approx(np.mean([np.mean(p[y == c] == c) for p in runs_a]))
    assert d["per_class"][0]["significant"]
    combos = [np.mean(pa != pb) for pa in runs_a for pb in runs_b]
    assert d["disagreement_rate"] == pytest.approx(np.mean(combos), rel=1e-12)
    assert d["disagreement_rate_std"] == pytest.approx(np.std(combos, ddof=1), rel=1e-10)
    np.testing.assert_array_equal(
        res.matrix(), class_shift(y, runs_a[0], runs_b[0], n_classes=6).matrix()
    )
    assert ClassShiftResult.from_dict(json.loads(json.dumps(d))) == res


def test_multirun_degenerate_classes(rng: np.random.Generator) -> None:
    n_classes = 4
    y = rng.integers(0, 3, size=900)  # class 3 has no samples
    y[:30] = 2
    runs_a = _runs(rng, y, [0.8, 0.7, 0.75], n_classes)
    runs_b = _runs(rng, y, [0.8, 0.7, 0.75], n_classes)
    for runs in (runs_a, runs_b):  # class 2 is never right in any run: ratios all 0
        for p in runs:
            p[y == 2] = 0
    d = class_shift_multirun(
        y, runs_a, runs_b, n_classes=n_classes, alpha=0.05, correction="fdr_bh"
    ).to_dict()
    assert d["per_class"][2]["p_value"] == 1.0
    assert d["per_class"][2]["ratio_std_a"] == 0.0
    row3 = d["per_class"][3]
    assert row3["p_value"] is None and row3["ratio_mean_a"] is None and row3["ratio_std_a"] is None
    assert "no samples" in row3["undefined_reason"]
    json.dumps(d)


def test_multirun_identical_runs_no_shift(rng: np.random.Generator) -> None:
    y = rng.integers(0, 5, size=600)
    runs = _runs(rng, y, [0.8, 0.7, 0.75], 5)
    d = class_shift_multirun(y, runs, [r.copy() for r in runs], n_classes=5).to_dict()
    assert d["n_significant_uncorrected"] == 0
    assert all(r["p_value"] == pytest.approx(1.0) for r in d["per_class"])


def test_multirun_needs_two_runs(rng: np.random.Generator) -> None:
    y = rng.integers(0, 3, size=50)
    with pytest.raises(UsageError, match="at least 2 runs"):
        class_shift_multirun(y, [y], [y, y], n_classes=3)


def test_multirun_reports_per_run_counts_mean_and_std():
    """#TC per run pair (run r of A vs run r of B, single-run McNemar) with mean and std."""
    from kdaudit.analysis.class_shift import class_shift, class_shift_multirun

    rng = np.random.default_rng(5)
    y = rng.integers(0, 4, 800)
    runs_a = [np.where(rng.random(800) < 0.9, y, rng.integers(0, 4, 800)) for _ in range(3)]
    runs_b = [
        np.where(rng.random(800) < 0.6 + 0.1 * (y == 0), y, rng.integers(0, 4, 800))
        for _ in range(3)
    ]
    res = class_shift_multirun(y, runs_a, runs_b, n_classes=4, alpha=0.05, correction="fdr_bh")
    expected = [
        class_shift(y, a, b, n_classes=4).n_significant for a, b in zip(runs_a, runs_b, strict=True)
    ]
    assert list(res.n_significant_per_run) == expected
    assert res.n_significant_run_mean == pytest.approx(np.mean(expected))
    assert res.n_significant_run_std == pytest.approx(np.std(expected, ddof=1))
    d = res.to_dict()
    assert d["n_significant_per_run"] == expected


def test_multirun_constant_ratios_are_not_rounding_noise():
    """Identical runs give exactly constant ratios: equal means -> p = 1, different -> null."""
    from kdaudit.analysis.class_shift import class_shift_multirun

    rng = np.random.default_rng(2)
    y = rng.integers(0, 10, 3000)
    pa = np.where(rng.random(3000) < 0.83, y, rng.integers(0, 10, 3000))
    pb = np.where(rng.random(3000) < 0.71, y, rng.integers(0, 10, 3000))
    same = class_shift_multirun(y, [pa] * 3, [pa] * 5, n_classes=10, correction="none").to_dict()
    assert all(row["p_value"] == 1.0 for row in same["per_class"])
    assert same["n_significant"] == 0
    diff = class_shift_multirun(y, [pa] * 3, [pb] * 5, n_classes=10, correction="none").to_dict()
    assert diff["n_significant"] == 0  # no variance: Welch's t is undefined, never "significant"
    assert all(row["p_value"] is None and row["undefined_reason"] for row in diff["per_class"])
