"""The exact kNN search against a float64 brute-force reference, ties included."""

from __future__ import annotations

import numpy as np
import pytest

from kdaudit.analysis.neighbors import knn_graph


def brute_force(x: np.ndarray, k: int, metric: str, rows: np.ndarray | None = None):
    """Every pairwise distance in float64, self excluded, sorted by (distance, index)."""
    x = np.asarray(x, dtype=np.float32).astype(np.float64)
    n = x.shape[0]
    rows = np.arange(n) if rows is None else rows
    norms = np.sqrt(np.einsum("ij,ij->i", x, x))
    out_i, out_d = [], []
    for r in rows:
        a, c = x[r], x
        if metric == "cosine":
            a = a / (norms[r] if norms[r] > 0 else 1.0)
            c = x / np.where(norms > 0, norms, 1.0)[:, None]
        diff = c - a
        d = np.einsum("ij,ij->i", diff, diff)
        if metric == "cosine":
            d = np.where((norms == 0) | (norms[r] == 0), 1.0, 0.5 * d)
        else:
            d = np.sqrt(d)
        d[r] = np.inf
        order = np.lexsort((np.arange(n), d))[:k]
        out_i.append(order)
        out_d.append(d[order])
    return np.array(out_i), np.array(out_d)


@pytest.mark.parametrize("metric", ["euclidean", "cosine"])
@pytest.mark.parametrize("n", [500, 3000])  # 3000 takes the grouped-threshold path
def test_ties_everywhere_match_the_brute_force_order(metric, n, rng):
    # 3 values on 3 features: 27 distinct points, so every row has about n / 27 exact
    # duplicates and many equal distances; ties must go to the smaller index
    x = rng.integers(-1, 2, size=(n, 3)).astype(np.float32)
    g = knn_graph(x, k=5, metric=metric, spare=4)
    ref_i, ref_d = brute_force(x, 9, metric)
    np.testing.assert_array_equal(g.extended_indices, ref_i)
    np.testing.assert_allclose(g.extended_distances, ref_d, rtol=1e-6, atol=1e-7)
    np.testing.assert_array_equal(g.indices, ref_i[:, :5])


@pytest.mark.parametrize("metric", ["euclidean", "cosine"])
def test_continuous_data_and_query_rows_match_the_brute_force(metric, rng):
    x = rng.normal(size=(2600, 12)).astype(np.float32)
    x[7] = 0.0  # a zero row: cosine distance 1 to everything
    x[100] = x[200]  # an exact duplicate pair
    rows = np.array([0, 7, 100, 200, 2599, 1234])
    g = knn_graph(x, k=6, metric=metric, queries=rows, block_rows=4)
    ref_i, ref_d = brute_force(x, 6, metric, rows)
    np.testing.assert_array_equal(g.indices, ref_i)
    np.testing.assert_allclose(g.distances, ref_d, rtol=1e-6, atol=1e-7)
    full = knn_graph(x, k=6, metric=metric)
    np.testing.assert_array_equal(full.indices[rows], g.indices)
