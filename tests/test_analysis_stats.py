"""Oracle tests for kdaudit.analysis.stats and kdaudit.analysis.accuracy."""

from __future__ import annotations

import json

import numpy as np
import pytest
from scipy import stats as sps
from statsmodels.stats.contingency_tables import mcnemar

from kdaudit.analysis import stats
from kdaudit.analysis.accuracy import AccuracyResult, accuracy_analysis
from kdaudit.errors import InputDataError, UsageError


# ------------------------------------------------------------------ McNemar
def test_mcnemar_matches_statsmodels_exact(rng: np.random.Generator) -> None:
    b = rng.integers(0, 40, size=300)
    d = rng.integers(0, 40, size=300)
    b[:5] = 0
    d[:3] = 0  # includes b + d == 0
    got = stats.mcnemar_exact(b, d)
    want = [mcnemar([[10, bi], [di, 10]], exact=True).pvalue for bi, di in zip(b, d, strict=True)]
    want = np.where(b + d == 0, 1.0, want)
    np.testing.assert_allclose(got, want, rtol=1e-12, atol=0)
    assert got.shape == (300,)


def test_mcnemar_closed_form_small_cases() -> None:
    # b=0, d=5: 2 * 0.5**5
    assert stats.mcnemar_exact(np.array([0]), np.array([5]))[0] == pytest.approx(2 * 0.5**5)
    # symmetric discordance gives p = 1 (capped)
    assert stats.mcnemar_exact(np.array([7]), np.array([7]))[0] == 1.0
    assert stats.mcnemar_exact(np.array([0]), np.array([0]))[0] == 1.0


# -------------------------------------------------------------- corrections
def _bh_closed_form(p: np.ndarray) -> np.ndarray:
    m = p.size
    order = np.argsort(p)
    ranked = p[order] * m / np.arange(1, m + 1)
    ranked = np.minimum.accumulate(ranked[::-1])[::-1]
    out = np.empty(m)
    out[order] = np.minimum(ranked, 1.0)
    return out


def _holm_closed_form(p: np.ndarray) -> np.ndarray:
    m = p.size
    order = np.argsort(p)
    ranked = p[order] * (m - np.arange(m))
    ranked = np.maximum.accumulate(ranked)
    out = np.empty(m)
    out[order] = np.minimum(ranked, 1.0)
    return out


@pytest.mark.parametrize(
    ("method", "oracle"), [("fdr_bh", _bh_closed_form), ("holm", _holm_closed_form)]
)
def test_adjust_pvalues_matches_closed_form(method, oracle, rng: np.random.Generator) -> None:
    p = np.concatenate([rng.random(40) ** 3, [1.0, 1.0, 0.0]])
    np.testing.assert_allclose(stats.adjust_pvalues(p, method), oracle(p), rtol=1e-12, atol=1e-15)


def test_adjust_pvalues_nan_excluded_from_family(rng: np.random.Generator) -> None:
    p = rng.random(20) ** 2
    with_nan = np.insert(p, [3, 10], np.nan)
    got = stats.adjust_pvalues(with_nan, "fdr_bh")
    assert np.isnan(got[3]) and np.isnan(got[11])
    np.testing.assert_allclose(got[np.isfinite(got)], _bh_closed_form(p), rtol=1e-12)
    np.testing.assert_array_equal(stats.adjust_pvalues(with_nan, "none")[[0, 1]], with_nan[[0, 1]])
    assert np.isnan(stats.adjust_pvalues(np.array([np.nan]), "holm")).all()


def test_adjust_pvalues_rejects_unknown_method() -> None:
    with pytest.raises(UsageError, match="fdr_bh"):
        stats.adjust_pvalues(np.array([0.1]), "bonferroni")


# --------------------------------------------------------------------- Welch
def test_welch_matches_scipy_per_column(rng: np.random.Generator) -> None:
    a = rng.normal(1.0, 0.1, size=(5, 30))
    b = rng.normal(1.02, 0.3, size=(4, 30))
    t, df, p = stats.welch_ttest(a, b)
    for c in range(30):
        ref = sps.ttest_ind(a[:, c], b[:, c], equal_var=False)
        assert t[c] == pytest.approx(ref.statistic, rel=1e-10)
        assert p[c] == pytest.approx(ref.pvalue, rel=1e-10)
        assert df[c] == pytest.approx(ref.df, rel=1e-10)


def test_welch_nan_aware_and_degenerate(rng: np.random.Generator) -> None:
    a = rng.normal(size=(5, 3))
    b = rng.normal(size=(5, 3))
    a[0, 0] = np.nan  # dropped: compare with scipy on the remaining 4 runs
    a[1:, 1] = np.nan  # one finite run left -> undefined
    b[:, 2] = 2.0
    a[:, 2] = 2.0  # both variances 0 -> undefined here (caller decides)
    _, _, p = stats.welch_ttest(a, b)
    assert p[0] == pytest.approx(sps.ttest_ind(a[1:, 0], b[:, 0], equal_var=False).pvalue)
    assert np.isnan(p[1]) and np.isnan(p[2])


# ------------------------------------------------------------ bootstrap bits
def test_percentile_ci_matches_nanpercentile(rng: np.random.Generator) -> None:
    x = rng.normal(size=(501, 7))
    x[rng.random(x.shape) < 0.1] = np.nan
    x[:, 6] = np.nan
    low, high = stats.percentile_ci(x, 0.9)
    with np.errstate(all="ignore"), pytest.warns(RuntimeWarning):
        want_low = np.nanpercentile(x, 5.0, axis=0)
        want_high = np.nanpercentile(x, 95.0, axis=0)
    np.testing.assert_allclose(low, want_low, rtol=1e-12, equal_nan=True)
    np.testing.assert_allclose(high, want_high, rtol=1e-12, equal_nan=True)
    with pytest.raises(UsageError):
        stats.percentile_ci(x, 95)


def test_bootstrap_p_value_closed_forms() -> None:
    assert stats.bootstrap_p_value(np.zeros(100)) == 1.0
    assert stats.bootstrap_p_value(np.arange(1.0, 101.0)) == 0.0
    # 10 of 100 replicates <= 0 -> p = 2 * 0.1
    x = np.concatenate([-np.ones(10), np.ones(90)])
    assert stats.bootstrap_p_value(x) == pytest.approx(0.2)
    x2 = np.stack([x, -x, np.full(100, np.nan)], axis=1)
    p = stats.bootstrap_p_value(x2)
    assert p[0] == pytest.approx(0.2) and p[1] == pytest.approx(0.2) and np.isnan(p[2])


def test_bootstrap_cell_counts_paths_agree_in_distribution() -> None:
    counts = np.array([50, 30, 15, 5])
    multi = np.concatenate(
        list(stats.bootstrap_cell_counts(counts, 4000, np.random.default_rng(0), chunk_size=999))
    )
    # many (empty) cells force the row-index path
    many = np.concatenate([counts, np.zeros(100, dtype=np.int64)])
    index = next(stats.bootstrap_cell_counts(many, 4000, np.random.default_rng(1)))
    assert not index[:, 4:].any()
    index = index[:, :4]
    for draws in (multi, index):
        assert draws.shape == (4000, 4)
        assert (draws.sum(axis=1) == 100).all()
        p = counts / 100
        np.testing.assert_allclose(draws.mean(axis=0), 100 * p, rtol=0.03, atol=0.1)
        np.testing.assert_allclose(draws.var(axis=0), 100 * p * (1 - p), rtol=0.12)


def test_bootstrap_cell_counts_independent_of_chunking() -> None:
    counts = np.array([5, 7, 11])
    a = next(stats.bootstrap_cell_counts(counts, 50, np.random.default_rng(3)))
    b = np.concatenate(
        list(stats.bootstrap_cell_counts(counts, 50, np.random.default_rng(3), chunk_size=7))
    )
    np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize("sizes", [[3, 2, 2], [5, 1000, 1000, 1000], [2, 2**40, 2**40]])
def test_encode_cells_round_trip(sizes, rng: np.random.Generator) -> None:
    n = 2000
    cols = [rng.integers(0, min(s, 7), size=n) * (s // min(s, 7)) for s in sizes]
    cells, counts, cell_of_row = stats.encode_cells(cols, sizes)
    np.testing.assert_array_equal(cells[cell_of_row], np.stack(cols, axis=1))
    assert counts.sum() == n
    np.testing.assert_array_equal(np.bincount(cell_of_row), counts)
    assert len({tuple(r) for r in cells.tolist()}) == cells.shape[0]  # distinct
    assert [tuple(r) for r in cells.tolist()] == sorted(tuple(r) for r in cells.tolist())


def test_factorize_labels_sorted_and_round_trip() -> None:
    labels = np.array(["b", "a", "ç", "b", "aa", "a"])
    uniq, codes = stats.factorize_labels(labels)
    assert uniq.tolist() == ["a", "aa", "b", "ç"]
    np.testing.assert_array_equal(uniq[codes], labels)
    uniq, codes = stats.factorize_labels(np.array([10, 2, 10], dtype=object))
    assert uniq.tolist() == ["10", "2"] and codes.tolist() == [0, 1, 0]


def test_check_labels_messages() -> None:
    with pytest.raises(InputDataError, match=r"\[0, 3\)"):
        stats.check_labels("y_true", np.array([0, 3]), n_classes=3)
    with pytest.raises(InputDataError, match="5 rows"):
        stats.check_labels("student predictions", np.zeros(4, int), n_samples=5)
    with pytest.raises(InputDataError, match="integer"):
        stats.check_labels("y_true", np.array([0.5]))


# ------------------------------------------------------------------ accuracy
def _models(rng: np.random.Generator, n: int, n_classes: int = 5):
    y = rng.integers(0, n_classes, size=n)
    noise = rng.integers(0, n_classes, size=n)
    teacher = np.where(rng.random(n) < 0.8, y, noise)
    student = np.where(rng.random(n) < 0.72, y, noise)
    return y, {"teacher": teacher, "student": student}


def test_accuracy_point_values_and_dict_shape(rng: np.random.Generator) -> None:
    y, preds = _models(rng, 800)
    res = accuracy_analysis(y, preds, pairs=[("teacher", "student")], n_bootstrap=200)
    d = res.to_dict()
    assert set(d) == {"accuracy", "accuracy_delta"}
    assert d["accuracy"]["teacher"] == pytest.approx(np.mean(preds["teacher"] == y), abs=1e-15)
    delta = d["accuracy_delta"]["teacher_vs_student"]
    assert set(delta) == {"value", "ci_low", "ci_high", "p_value"}
    assert delta["value"] == pytest.approx(
        np.mean(preds["student"] == y) - np.mean(preds["teacher"] == y), abs=1e-15
    )
    assert delta["ci_low"] <= delta["value"] <= delta["ci_high"]
    json.dumps(d)
    assert AccuracyResult.from_dict(json.loads(json.dumps(d))) == res


def test_accuracy_bootstrap_matches_python_loop_reference() -> None:
    rng = np.random.default_rng(7)
    y, preds = _models(rng, 400)
    res = accuracy_analysis(y, preds, pairs=[("teacher", "student")], n_bootstrap=2000, seed=1)
    ref_rng = np.random.default_rng(99)
    right_t = preds["teacher"] == y
    right_s = preds["student"] == y
    deltas = []
    for _ in range(2000):
        idx = ref_rng.integers(0, 400, size=400)
        deltas.append(right_s[idx].mean() - right_t[idx].mean())
    lo, hi = np.percentile(deltas, [2.5, 97.5])
    got = res.accuracy_delta["teacher_vs_student"]
    width = hi - lo
    assert got.ci_high - got.ci_low == pytest.approx(width, rel=0.15)
    assert (got.ci_low + got.ci_high) / 2 == pytest.approx((lo + hi) / 2, abs=0.1 * width)


def test_accuracy_no_bootstrap_keeps_keys() -> None:
    y = np.array([0, 1, 1, 0])
    res = accuracy_analysis(
        y, {"teacher": y, "student": 1 - y}, pairs=[("teacher", "student")], n_bootstrap=0
    )
    assert res.to_dict()["accuracy_delta"]["teacher_vs_student"] == {
        "value": -1.0,
        "ci_low": None,
        "ci_high": None,
        "p_value": None,
    }


def test_accuracy_input_errors() -> None:
    y = np.array([0, 1, 1])
    with pytest.raises(InputDataError, match="3 rows"):
        accuracy_analysis(y, {"teacher": np.array([0, 1])}, pairs=[])
    with pytest.raises(UsageError, match="baseline"):
        accuracy_analysis(y, {"teacher": y}, pairs=[("teacher", "baseline")])


@pytest.mark.slow
def test_accuracy_delta_ci_coverage_by_simulation() -> None:
    """95% paired-bootstrap CIs cover the true accuracy change ~95% of the time."""
    rng = np.random.default_rng(2024)
    n, trials, covered = 300, 400, 0
    # known joint distribution of (teacher right, student right)
    cells = np.array([[0, 0], [0, 1], [1, 0], [1, 1]])
    probs = np.array([0.1, 0.1, 0.2, 0.6])
    true_delta = probs @ cells[:, 1] - probs @ cells[:, 0]
    for t in range(trials):
        which = rng.choice(4, size=n, p=probs)
        y = np.zeros(n, dtype=np.int64)
        preds = {"teacher": 1 - cells[which, 0], "student": 1 - cells[which, 1]}
        res = accuracy_analysis(y, preds, pairs=[("teacher", "student")], n_bootstrap=500, seed=t)
        est = res.accuracy_delta["teacher_vs_student"]
        covered += est.ci_low <= true_delta <= est.ci_high
    assert 0.91 <= covered / trials <= 0.985
