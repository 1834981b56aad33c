"""Approximate neighbours: recall on data with known neighbours; deterministic anchors."""

from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("hnswlib", reason="hnswlib (the 'ann' extra) is not installed")

from kdaudit.analysis.ann import (
    anchor_mask,
    anchor_mean_interval,
    ann_graph,
    approximate_graph,
    exact_neighbours,
    recall_at_k,
)
from kdaudit.analysis.neighbors import knn_graph


def clustered(rng: np.random.Generator, n_clusters: int, size: int, dim: int = 32):
    """Tight clusters far apart: each row's true neighbours are exactly its cluster mates."""
    centres = rng.normal(scale=100.0, size=(n_clusters, dim))
    x = np.repeat(centres, size, axis=0) + rng.normal(scale=0.01, size=(n_clusters * size, dim))
    return x.astype(np.float32), np.repeat(np.arange(n_clusters), size)


def test_ann_finds_the_known_neighbours(rng):
    x, cluster = clustered(rng, 400, 6)  # k = 5: the other five members
    graph = approximate_graph(x, k=5, metric="euclidean", space="embedding")
    assert graph.indices.shape == (x.shape[0], 5)
    assert not (graph.indices == np.arange(x.shape[0])[:, None]).any()  # self excluded
    same = cluster[graph.indices] == cluster[:, None]
    # the defaults aim at recall@k >= 0.97 (issue 11's goal is 0.95), measured and reported
    assert same.mean() >= 0.97
    assert graph.ann["recall_at_k"] >= 0.97 and graph.ann["recall_queries"] == 1000
    assert np.all(np.diff(graph.distances, axis=1) >= -1e-5)  # nearest first


def test_recall_agrees_with_the_exact_graph(rng):
    x = rng.normal(size=(1500, 8)).astype(np.float32)
    exact = knn_graph(x, k=4)
    rec, m = recall_at_k(exact, x, n_queries=300)
    assert rec == 1.0 and m == 300
    np.testing.assert_array_equal(exact_neighbours(x, np.arange(50), k=4), exact.indices[:50])
    broken = type(exact)(
        indices=np.roll(exact.indices, 1, axis=0),
        distances=exact.distances,
        metric="euclidean",
        k=4,
    )
    assert recall_at_k(broken, x, n_queries=300)[0] < 0.1


def test_cosine_ann_matches_exact_cosine(rng):
    x = rng.normal(size=(2000, 16)).astype(np.float32)
    graph = approximate_graph(x, k=5, metric="cosine", space="embedding")
    exact = knn_graph(x, k=5, metric="cosine")
    assert (
        np.mean(
            [len(set(a) & set(b)) / 5 for a, b in zip(graph.indices, exact.indices, strict=True)]
        )
        > 0.95
    )
    np.testing.assert_allclose(
        np.sort(graph.distances[:20], axis=1), np.sort(exact.distances[:20], axis=1), atol=1e-4
    )


def test_anchors_are_the_same_whatever_the_sharding():
    whole = anchor_mask(10_000, 0.1, seed=7)
    parts = np.concatenate(
        [anchor_mask(b - a, 0.1, seed=7, start=a) for a, b in [(0, 37), (37, 5000), (5000, 10_000)]]
    )
    np.testing.assert_array_equal(whole, parts)
    assert 0.09 < whole.mean() < 0.11
    assert not np.array_equal(whole, anchor_mask(10_000, 0.1, seed=8))
    assert anchor_mask(5, 1.0).all()


def test_anchor_interval_covers_the_full_data_value_in_simulation():
    # a fixed population of per-row values (skewed, like per-row Lipschitz ratios);
    # anchors drawn by the hash with 400 seeds: the 95% interval must cover the full mean
    pop = np.random.default_rng(0).gamma(0.5, 2.0, size=20_000)
    full = pop.mean()
    covered, widths = 0, []
    for seed in range(400):
        keep = anchor_mask(pop.shape[0], 0.02, seed=seed)
        _, lo, hi = anchor_mean_interval(pop[keep], pop.shape[0])
        covered += lo <= full <= hi
        widths.append(hi - lo)
    # 400 draws: a true 95% rate falls in [0.92, 0.975] with probability > 0.99
    assert 0.92 <= covered / 400 <= 0.975
    # every row an anchor: no subsampling uncertainty left
    value, lo, hi = anchor_mean_interval(pop, pop.shape[0])
    assert lo == hi == value == pytest.approx(full)


def test_choose_graph_is_exact_below_the_limit_and_approximate_above(rng):
    from kdaudit.analysis.ann import ApproximateKNNGraph, choose_graph

    x = rng.normal(size=(600, 8)).astype(np.float32)
    small = choose_graph(x, k=3, metric="euclidean", space="s")
    assert not isinstance(small, ApproximateKNNGraph)
    big = choose_graph(x, k=3, metric="euclidean", space="s", exact_max_rows=100)
    assert isinstance(big, ApproximateKNNGraph) and big.ann["recall_at_k"] > 0.9


def test_an_audit_with_approximate_neighbours_reports_the_recall(rng, monkeypatch, tmp_path):
    import kdaudit.analysis.ann as ann
    from kdaudit import api
    from kdaudit.data.dataset import Dataset

    monkeypatch.setattr(ann, "EXACT_MAX_ROWS", 100)
    n = 500
    x = rng.normal(size=(n, 4)).astype(np.float32)
    y = (x[:, 0] > 0).astype(np.int64)
    ds = Dataset(
        y_true=y, x=x, sensitive_features={"g": rng.choice(["a", "b"], n)}, fingerprint="f"
    )
    t, s = tmp_path / "t.npy", tmp_path / "s.npy"
    np.save(t, np.stack([-x[:, 0], x[:, 0]], axis=1))
    np.save(s, np.stack([-x[:, 0] - 0.1 * x[:, 1], x[:, 0]], axis=1))
    rep = api.compare(str(t), str(s), data=ds, bootstrap=20, use_cache=False).data
    neighbors = rep["individual_fairness"]["config"]["neighbors"]
    assert neighbors["method"] == "approximate" and neighbors["recall_at_k"] > 0.9


def test_ann_graph_is_reproducible_whatever_the_thread_count(rng):
    # each shard's index is built by one thread: same data, parameters and seed, same graph
    x = rng.normal(size=(3000, 8)).astype(np.float32)
    a, info = ann_graph(x, k=4, threads=1)
    b, _ = ann_graph(x, k=4, threads=2)
    np.testing.assert_array_equal(a.indices, b.indices)
    np.testing.assert_array_equal(a.distances, b.distances)
    assert info.params["shards"] == 2
    # the merge across shards keeps the nearest by (distance, row), self excluded
    assert not (a.indices == np.arange(3000)[:, None]).any()
    assert np.all(np.diff(a.distances, axis=1) >= 0)


def test_anchored_ann_reports_its_recall(rng, monkeypatch):
    import kdaudit.analysis.anchored as anchored

    monkeypatch.setattr(anchored, "EXACT_MAX_ROWS", 100)
    x = rng.normal(size=(2000, 6)).astype(np.float32)
    logits = {"teacher": np.stack([x[:, 0], -x[:, 0]], axis=1)}
    out = anchored.anchored_individual_fairness(
        x, logits, n_anchors=300, k=5, metric="euclidean", space="s"
    )
    nb = out["config"]["anchors"]["neighbors"]
    assert nb["method"] == "approximate" and nb["recall_at_k"] > 0.95
    assert nb["recall_queries"] == out["config"]["anchors"]["count"]
