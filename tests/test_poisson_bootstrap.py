"""Poisson(1) bootstrap from a counter-based generator (issue 11: split-independent replicates)."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import stats as sps

from kdaudit.analysis import group_fairness as gf_module
from kdaudit.analysis.group_fairness import group_fairness
from kdaudit.analysis.poisson import (
    POISSON_CDF,
    poisson_cell_counts,
    poisson_weights,
    uniform_counter,
)
from kdaudit.analysis.stats import bootstrap_cell_counts

M64 = (1 << 64) - 1


def _splitmix_py(x: int) -> int:
    """Reference SplitMix64 finaliser on Python ints (independent of the numpy one)."""
    z = (x + 0x9E3779B97F4A7C15) & M64
    z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & M64
    z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & M64
    return z ^ (z >> 31)


def test_uniform_matches_python_reference():
    seed, rows, reps = 12345, np.array([0, 1, 7, 10**9]), np.array([0, 3, 999])
    u = uniform_counter(seed, rows, reps)
    key = _splitmix_py(seed)
    for a, r in enumerate(reps):
        for b, i in enumerate(rows):
            h = _splitmix_py(_splitmix_py(int(i) ^ key) ^ _splitmix_py(int(r) ^ (1 << 63)))
            assert u[a, b] == (h >> 11) / 2.0**53


def test_cdf_is_poisson_one():
    k = np.arange(POISSON_CDF.shape[0])
    np.testing.assert_allclose(POISSON_CDF, sps.poisson.cdf(k, 1.0), rtol=0, atol=1e-15)


def test_weights_mean_one_variance_one():
    w = poisson_weights(3, np.arange(20_000), np.arange(50)).ravel().astype(np.float64)
    n = w.size  # 10^6 draws; Poisson(1): mean 1, var 1, fourth central moment 4
    assert abs(w.mean() - 1.0) < 4.5 * np.sqrt(1.0 / n)
    assert abs(w.var() - 1.0) < 4.5 * np.sqrt((4.0 - 1.0) / n)
    # every frequency against the closed-form pmf e^-1 / k!
    freq = np.bincount(w.astype(np.int64), minlength=8)[:6] / n
    pmf = sps.poisson.pmf(np.arange(6), 1.0)
    assert np.all(np.abs(freq - pmf) < 4.5 * np.sqrt(pmf * (1 - pmf) / n))


def test_weights_independent_of_batching():
    rows = np.arange(1000, 1500)
    whole = poisson_weights(9, rows, np.arange(20))
    part = poisson_weights(9, rows[::-1][:100], np.array([19, 4]))
    np.testing.assert_array_equal(part, whole[[19, 4]][:, ::-1][:, :100])
    assert not np.array_equal(whole, poisson_weights(10, rows, np.arange(20)))


def test_replicate_counts_identical_in_seven_uneven_shards():
    rng = np.random.default_rng(0)
    n, k, b = 5003, 900, 37
    cell = rng.integers(0, k, n)
    whole = np.concatenate(list(poisson_cell_counts(cell, k, b, seed=5, chunk_size=10)))
    cuts = np.sort(rng.choice(np.arange(1, n), 6, replace=False))
    shards = list(zip(np.r_[0, cuts], np.r_[cuts, n], strict=True))
    rng.shuffle(shards)  # any order
    merged = np.zeros_like(whole)
    for lo, hi in shards:
        merged += np.concatenate(
            list(
                poisson_cell_counts(
                    cell[lo:hi], k, b, seed=5, row_ids=np.arange(lo, hi), chunk_size=16
                )
            )
        )
    np.testing.assert_array_equal(merged, whole)
    # and against the plain definition: per replicate, bincount of that replicate's weights
    w = poisson_weights(5, np.arange(n), np.arange(b))
    for r in (0, 17, 36):
        np.testing.assert_array_equal(whole[r], np.bincount(cell, weights=w[r], minlength=k))


def _many_cell_data(n, groups, rng):
    y = rng.integers(0, 40, n)
    pred = {
        role: np.where(rng.random(n) < 0.6, y, rng.integers(0, 40, n))
        for role in ("teacher", "student")
    }
    return y, pred, rng.choice(groups, n)


def test_group_fairness_uses_poisson_and_is_row_order_free():
    rng = np.random.default_rng(1)
    y, pred, g = _many_cell_data(400, np.array(["a", "b", "c"]), rng)
    kw = dict(n_classes=40, pairs=[("teacher", "student")], n_bootstrap=60, seed=2)
    with pytest.warns(Warning):
        first = group_fairness(y, pred, g, **kw)
    assert first.bootstrap_method == "poisson-counter"
    assert first.to_dict()["bootstrap_method"] == "poisson-counter"
    perm = rng.permutation(400)  # rows arrive in another order, each with its own id
    with pytest.warns(Warning):
        again = group_fairness(
            y[perm], {r: p[perm] for r, p in pred.items()}, g[perm], row_ids=perm, **kw
        )
    assert again.to_dict() != first.to_dict()  # other ids, other (equally valid) draws
    with pytest.warns(Warning):
        keyed = group_fairness(y, pred, g, row_ids=np.arange(400), **kw)
    with pytest.warns(Warning):  # same ids travelling with their rows: identical
        again = group_fairness(
            y[perm], {r: p[perm] for r, p in pred.items()}, g[perm], row_ids=perm, **kw
        )
    assert again.to_dict() == keyed.to_dict()
    with pytest.warns(Warning):  # no ids: keyed by rank in cell order, so order-free
        shuffled = group_fairness(y[perm], {r: p[perm] for r, p in pred.items()}, g[perm], **kw)
    assert shuffled.to_dict() == first.to_dict()
    few = group_fairness(y % 2, {r: p % 2 for r, p in pred.items()}, g, **{**kw, "n_classes": 2})
    assert few.bootstrap_method == "multinomial-cells"


def _coverage(n_sims: int, seed: int) -> tuple[float, float]:
    """Percentile-interval coverage of a two-group rate difference, Poisson vs multinomial.

    Cells: (group, predicted positive, a junk column with ~n levels), so nearly
    every row is its own cell, the regime the Poisson path is for.
    """
    rng = np.random.default_rng(seed)
    n, b, p0, p1 = 240, 300, 0.3, 0.5
    hits = {"poisson": 0, "multinomial": 0}
    for s in range(n_sims):
        grp = rng.integers(0, 2, n)
        pos = (rng.random(n) < np.where(grp == 1, p1, p0)).astype(np.int64)
        junk = rng.integers(0, n, n)
        cell_id = (grp * 2 + pos) * n + junk
        uniq, cell, counts = np.unique(cell_id, return_inverse=True, return_counts=True)
        kind = uniq // n  # group*2 + pos of each cell

        def diff(c, kind=kind):
            tot = np.stack([c[:, kind // 2 == q].sum(axis=1) for q in (0, 1)])
            hit = np.stack([c[:, kind == 2 * q + 1].sum(axis=1) for q in (0, 1)])
            with np.errstate(invalid="ignore", divide="ignore"):
                return hit[1] / tot[1] - hit[0] / tot[0]

        draws = {
            "poisson": next(poisson_cell_counts(cell, uniq.size, b, seed=s)),
            "multinomial": next(bootstrap_cell_counts(counts, b, np.random.default_rng(s))),
        }
        for name, c in draws.items():
            lo, hi = np.nanpercentile(diff(c), [2.5, 97.5])
            hits[name] += lo <= p1 - p0 <= hi
    return hits["poisson"] / n_sims, hits["multinomial"] / n_sims


def test_poisson_coverage_comparable_to_multinomial_quick():
    pois, multi = _coverage(150, seed=0)
    # 95% nominal; 150 simulations: binomial sd ~0.018
    assert 0.88 <= pois <= 0.995
    assert abs(pois - multi) <= 0.06


@pytest.mark.slow
def test_poisson_coverage_comparable_to_multinomial_slow():
    pois, multi = _coverage(1500, seed=1)
    assert 0.925 <= pois <= 0.975
    assert abs(pois - multi) <= 0.025


def test_poisson_path_is_the_same_estimator_with_poisson_counts(monkeypatch):
    """Forcing the multinomial path on the same data changes only the draws, not the point values."""
    rng = np.random.default_rng(4)
    y, pred, g = _many_cell_data(300, np.array(["x", "y"]), rng)
    kw = dict(n_classes=40, pairs=[("teacher", "student")], n_bootstrap=40, seed=0)
    with pytest.warns(Warning):
        pois = group_fairness(y, pred, g, **kw).to_dict()
    monkeypatch.setattr(gf_module, "_MULTINOMIAL_COST_RATIO", 0.0)
    with pytest.warns(Warning):
        multi = group_fairness(y, pred, g, **kw).to_dict()
    assert multi["bootstrap_method"] == "multinomial-cells"
    for role in ("teacher", "student"):
        for key in pois[role]:
            if isinstance(pois[role][key], dict) and "value" in pois[role][key]:
                assert pois[role][key]["value"] == multi[role][key]["value"]
