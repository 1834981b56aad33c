"""Independent references for two statistics added with the scale work.

* ``recall_at_k``: a graph with a known share of wrong neighbours, against a plain
  set-intersection loop over an exact brute-force neighbour list (sklearn);
* ``max_t_p_value``: the single-step max-T p-value, against a per-replicate loop
  written from its definition (Westfall & Young 1993).
"""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.neighbors import NearestNeighbors

from kdaudit.analysis.ann import recall_at_k, row_hash
from kdaudit.analysis.neighbors import knn_graph
from kdaudit.analysis.stats import max_t_p_value


def test_recall_at_k_equals_a_set_intersection_loop() -> None:
    rng = np.random.default_rng(0)
    x = rng.normal(size=(600, 8)).astype(np.float32)
    k = 5
    graph = knn_graph(x, k=k)
    idx = graph.indices.copy()
    # replace neighbours of a known set of rows by far-away rows (never true neighbours)
    spoil = rng.choice(600, size=200, replace=False)
    for r, c in zip(spoil, rng.integers(0, k, size=200), strict=True):
        idx[r, c] = -1 - r  # an id that is no row: certainly a miss
    bad = type(graph)(
        indices=idx, distances=graph.distances, metric=graph.metric, k=k, space=graph.space
    )
    n_q = 300
    got, m = recall_at_k(bad, x, n_queries=n_q, seed=3)
    # the reference: the same deterministic query sample, truth by sklearn brute force
    rows = np.sort(np.argsort(row_hash(np.arange(600), 3), kind="stable")[:n_q])
    nn = NearestNeighbors(n_neighbors=k + 1, algorithm="brute").fit(x.astype(np.float64))
    truth = nn.kneighbors(x[rows].astype(np.float64), return_distance=False)
    hits = 0
    for j, r in enumerate(rows):
        true_set = {int(t) for t in truth[j] if t != r}
        hits += len(true_set & {int(v) for v in idx[r]})
    assert m == n_q
    assert got == pytest.approx(hits / (n_q * k), abs=1e-12)
    assert 0.85 < got < 0.98  # about 200 of 3,000 slots were spoiled


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_max_t_p_value_equals_its_definition(seed: int) -> None:
    rng = np.random.default_rng(seed)
    b, m = 199, 4
    rep = rng.normal(size=(b, m)) * np.array([1.0, 2.0, 0.5, 3.0]) + 0.3
    rep[rng.integers(0, b, 5), rng.integers(0, m, 5)] = np.nan  # missing replicates
    obs = np.array([0.4, -1.5, 0.2, 2.0])
    p, t = max_t_p_value(obs, rep)
    # reference: per component mean and sd over finite replicates (ddof 1), then a loop
    se, mu = [], []
    for c in range(m):
        col = rep[:, c][np.isfinite(rep[:, c])]
        mu.append(col.mean())
        se.append(col.std(ddof=1))
    t_obs = max(abs(obs[c]) / se[c] for c in range(m))
    exceed = 0
    for i in range(b):
        t_i = max(abs(rep[i, c] - mu[c]) / se[c] for c in range(m) if np.isfinite(rep[i, c]))
        exceed += t_i >= t_obs
    assert t == pytest.approx(t_obs, rel=1e-12)
    assert p == pytest.approx((1 + exceed) / (b + 1), abs=1e-12)
