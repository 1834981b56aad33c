"""kdaudit's own Benjamini-Hochberg and Holm adjustments against statsmodels (the oracle),
plus simulations of the error rates they promise."""

from __future__ import annotations

import gc

import numpy as np
import pytest
from statsmodels.stats.multitest import multipletests

from kdaudit.analysis import stats
from kdaudit.analysis.multitest import bh_adjust, holm_adjust

METHODS = [("fdr_bh", bh_adjust), ("holm", holm_adjust)]


@pytest.fixture(autouse=True)
def _no_gc_in_statsmodels(monkeypatch: pytest.MonkeyPatch) -> None:
    """statsmodels' Holm branch calls gc.collect() on every call (0.2 s or more in a test
    process); it does not change the result."""
    monkeypatch.setattr(gc, "collect", lambda *args: 0)


def _random_pvalues(rng: np.random.Generator, m: int) -> np.ndarray:
    """Uniform and small p-values with ties, exact zeros and exact ones mixed in."""
    p = rng.random(m) ** rng.choice([1.0, 3.0, 8.0])
    k = max(1, m // 5)
    p[rng.integers(0, m, k)] = rng.choice(p, k)  # ties
    p[rng.integers(0, m, max(1, m // 10))] = 0.0
    p[rng.integers(0, m, max(1, m // 10))] = 1.0
    if m > 3:
        p[: m // 3] = np.round(p[: m // 3], 2)  # many ties, as exact tests give
    return p


@pytest.mark.parametrize(("method", "adjust"), METHODS)
def test_matches_statsmodels_multipletests(method, adjust, rng: np.random.Generator) -> None:
    for m in [1, 2, 3, 5, 10, 37, 200, 1000]:
        for _ in range(10):
            p = _random_pvalues(rng, m)
            reject, want, _, _ = multipletests(p, alpha=0.05, method=method)
            got = adjust(p)
            np.testing.assert_allclose(got, want, rtol=1e-14, atol=0)
            # the decision rule the analyzers use (adjusted <= alpha) is statsmodels' one
            np.testing.assert_array_equal(got <= 0.05, reject)


@pytest.mark.parametrize(("method", "adjust"), METHODS)
def test_edge_vectors(method, adjust) -> None:
    for p in ([0.0], [1.0], [0.0, 0.0, 0.0], [1.0, 1.0], [0.5, 0.5, 0.5, 0.5], [0.0, 1.0, 0.3]):
        arr = np.array(p)
        np.testing.assert_allclose(adjust(arr), multipletests(arr, method=method)[1], rtol=1e-15)
    assert adjust(np.array([])).shape == (0,)
    with pytest.raises(ValueError, match="1-D"):
        adjust(np.zeros((2, 2)))


@pytest.mark.parametrize(("method", "adjust"), METHODS)
def test_order_invariant_and_bounded(method, adjust, rng: np.random.Generator) -> None:
    p = _random_pvalues(rng, 60)
    perm = rng.permutation(60)
    np.testing.assert_array_equal(adjust(p)[perm], adjust(p[perm]))
    adj = adjust(p)
    assert np.all(adj >= p) and np.all(adj <= 1.0)
    # monotone: a smaller raw p-value never gets a larger adjusted one
    order = np.argsort(p, kind="stable")
    assert np.all(np.diff(adj[order]) >= 0)


def test_adjust_pvalues_uses_them(rng: np.random.Generator) -> None:
    p = _random_pvalues(rng, 30)
    p[[4, 9]] = np.nan
    for method, adjust in METHODS:
        got = stats.adjust_pvalues(p, method)
        ok = np.isfinite(p)
        np.testing.assert_array_equal(got[ok], adjust(p[ok]))
        assert np.isnan(got[~ok]).all()


def test_simulated_error_rates(rng: np.random.Generator) -> None:
    """Holm keeps the family-wise error rate and BH the false discovery rate at or below
    alpha; both still find real effects (power well above alpha)."""
    alpha, m, m_true, reps = 0.1, 20, 5, 4000
    z = rng.normal(size=(reps, m))
    z[:, :m_true] += 3.0  # the first m_true hypotheses are false nulls
    from scipy.special import ndtr

    p = 2 * ndtr(-np.abs(z))
    fwer = fdp_sum = power = 0.0
    for row in p:
        holm = holm_adjust(row) <= alpha
        bh = bh_adjust(row) <= alpha
        fwer += holm[m_true:].any()
        n_rej = bh.sum()
        fdp_sum += bh[m_true:].sum() / n_rej if n_rej else 0.0
        power += bh[:m_true].mean()
    # binomial standard error at 0.1 over 4000 reps is 0.005; allow 3 of them
    assert fwer / reps <= alpha + 0.015
    assert fdp_sum / reps <= alpha * (m - m_true) / m + 0.015
    assert power / reps > 0.5
