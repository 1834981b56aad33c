"""Approximate nearest neighbours for individual fairness at a million rows.

The exact graph (:func:`kdaudit.analysis.neighbors.knn_graph`) costs
``O(n^2 d)``; past a few hundred thousand rows an HNSW index (hnswlib, the
``ann`` extra) finds nearly the same neighbours in ``O(n log n)``. What is
approximate is said with a number: :func:`recall_at_k` compares the graph with
exact neighbours for a deterministic sample of rows, and the report carries it.

:func:`anchor_mask` keeps a deterministic subsample of *anchor* rows (those
whose neighbourhoods are averaged): row ``i`` is kept when a hash of
``(seed, i)`` falls below the fraction, so every worker keeps the same rows
without talking to the others, whatever the sharding.

Chosen by measurement (``bench/bench_ann.py``): hnswlib (8 MB, no
dependencies) against faiss-cpu (66 MB) and pynndescent (210 MB with numba
and llvmlite).
"""

from __future__ import annotations

import dataclasses
import os
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import numpy as np

from kdaudit._optional import require
from kdaudit.analysis.neighbors import KNNGraph
from kdaudit.errors import UsageError
from kdaudit.vocab import METRIC_DISTANCES

_MASK64 = np.uint64(0xFFFFFFFFFFFFFFFF)


def _splitmix64(x: np.ndarray) -> np.ndarray:
    """SplitMix64 finaliser on uint64 (a counter-based hash: same input, same output anywhere)."""
    with np.errstate(over="ignore"):
        z = (x + np.uint64(0x9E3779B97F4A7C15)) & _MASK64
        z = ((z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)) & _MASK64
        z = ((z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)) & _MASK64
        return z ^ (z >> np.uint64(31))


def row_hash(row_ids: np.ndarray, seed: int) -> np.ndarray:
    """A uniform uint64 per (seed, row id), independent of where the row is processed."""
    ids = np.asarray(row_ids, dtype=np.uint64)
    return _splitmix64(ids ^ _splitmix64(np.array([seed], dtype=np.uint64))[0])


def anchor_mask(n_samples: int, fraction: float, *, seed: int = 0, start: int = 0) -> np.ndarray:
    """Rows ``[start, start + n_samples)`` kept as anchors: ``hash(seed, row) < fraction * 2**64``.

    Parameters
    ----------
    n_samples : int
        Rows in this block.
    fraction : float
        Expected share kept, in (0, 1].
    seed : int
    start : int
        Global id of the first row (a shard's offset), so shards agree.

    Returns
    -------
    ndarray of bool, shape (n_samples,)
    """
    if not 0.0 < fraction <= 1.0:
        raise UsageError(f"The anchor fraction must be in (0, 1]; got {fraction}.")
    if fraction == 1.0:
        return np.ones(n_samples, dtype=bool)
    h = row_hash(np.arange(start, start + n_samples, dtype=np.uint64), seed)
    return (h >> np.uint64(11)).astype(np.float64) * 2.0**-53 < fraction


#: HNSW defaults, chosen by ``bench/bench_ann.py --part c`` (recall@5 against time)
HNSW_M = 16
HNSW_EF_CONSTRUCTION = 60
HNSW_EF_SEARCH = 48
#: independent indexes, each built by one thread (reproducible), in parallel
HNSW_SHARDS = 2


@dataclasses.dataclass(frozen=True, slots=True, kw_only=True)
class AnnInfo:
    """How an approximate graph was built (for the report's individual-fairness config)."""

    backend: str
    params: dict[str, int]
    build_seconds: float
    recall_at_k: float | None = None
    recall_queries: int = 0

    def to_dict(self) -> dict[str, object]:
        return {
            "backend": self.backend,
            "params": dict(self.params),
            "recall_at_k": self.recall_at_k,
            "recall_queries": self.recall_queries,
        }


def ann_graph(
    rep: np.ndarray,
    *,
    k: int = 5,
    metric: str = "euclidean",
    space: str = "unknown",
    seed: int = 0,
    m: int = HNSW_M,
    ef_construction: int = HNSW_EF_CONSTRUCTION,
    ef_search: int | None = None,
    shards: int = HNSW_SHARDS,
    threads: int = -1,
    queries: np.ndarray | None = None,
) -> tuple[KNNGraph, AnnInfo]:
    """Approximate k nearest neighbours of every row (or of ``queries`` rows), self excluded.

    The rows are cut into ``shards`` contiguous ranges; each range gets its own HNSW
    index, built by ONE thread (hnswlib's multi-threaded insertion order, hence its
    graph, varies from run to run), the ranges in parallel. Every query searches
    every index and keeps the k nearest by ``(distance, row)``. So the graph is the
    same for the same data, parameters and seed on any machine, whatever the
    thread count.

    Parameters
    ----------
    rep : ndarray, shape (n_samples, n_dims)
        The representation (see :func:`kdaudit.analysis.neighbors.representation`).
    k : int
    metric : {"euclidean", "cosine"}
    space : str
        Recorded in the graph.
    seed : int
        Seed of the indexes' random levels (shard ``s`` uses ``seed + s``).
    m, ef_construction, ef_search : int
        HNSW parameters; ``ef_search`` defaults to ``max(HNSW_EF_SEARCH, 2 k)``.
    shards : int
        Independent indexes (built in parallel); at most one per ``4 (k + 1)`` rows.
    threads : int
        Threads for building (up to one per shard) and searching; -1: all CPUs.
    queries : ndarray of int, optional
        Only these rows' neighbours (anchors); the indexes hold every row.

    Returns
    -------
    (KNNGraph, AnnInfo)
        The graph has the structure :func:`~kdaudit.analysis.neighbors.knn_graph`
        returns (distances in the metric's units; cosine is ``1 - cos``).
    """
    hnswlib = require("hnswlib", purpose="Approximate neighbours (past 200,000 rows)")
    x = np.ascontiguousarray(rep, dtype=np.float32).reshape(rep.shape[0], -1)
    n = x.shape[0]
    if not 1 <= k <= n - 1:
        raise UsageError(f"k for nearest neighbours must be in 1..{n - 1}; got {k}.")
    if metric not in METRIC_DISTANCES:
        raise UsageError(f"distance must be euclidean or cosine; got {metric!r}.")
    t0 = time.perf_counter()
    n_threads = (os.cpu_count() or 1) if threads < 1 else threads
    n_shards = max(1, min(int(shards), n // (4 * (k + 1))))
    bounds = np.linspace(0, n, n_shards + 1).astype(np.int64)
    ef = max(ef_search or max(HNSW_EF_SEARCH, 2 * k), k + 1)

    def build(s: int) -> Any:
        lo, hi = int(bounds[s]), int(bounds[s + 1])
        index = hnswlib.Index(space="l2" if metric == "euclidean" else "cosine", dim=x.shape[1])
        index.init_index(
            max_elements=hi - lo, M=m, ef_construction=ef_construction, random_seed=seed + s
        )
        index.set_num_threads(1)  # one inserting thread: a reproducible graph
        index.add_items(x[lo:hi], np.arange(lo, hi))
        index.set_num_threads(n_threads)  # searching is read-only: any thread count
        index.set_ef(ef)
        return index

    with ThreadPoolExecutor(max_workers=min(n_threads, n_shards)) as pool:
        indexes = list(pool.map(build, range(n_shards)))  # hnswlib releases the GIL
    rows = np.arange(n) if queries is None else np.asarray(queries, dtype=np.int64)
    found = [index.knn_query(x[rows], k=min(k + 1, index.get_current_count())) for index in indexes]
    labels = np.concatenate([f[0] for f in found], axis=1).astype(np.int64)
    dist = np.concatenate([f[1] for f in found], axis=1).astype(np.float64)
    dist[labels == rows[:, None]] = np.inf  # the row itself
    take = np.lexsort((labels, dist), axis=1)[:, :k]
    labels = np.take_along_axis(labels, take, axis=1)
    dist = np.take_along_axis(dist, take, axis=1)
    if metric == "euclidean":  # hnswlib's l2 is the squared distance
        dist = np.sqrt(np.maximum(dist, 0.0))
    info = AnnInfo(
        backend=f"hnswlib {getattr(hnswlib, '__version__', '')}".strip(),
        params={"M": m, "ef_construction": ef_construction, "ef_search": ef, "shards": n_shards},
        build_seconds=time.perf_counter() - t0,
    )
    return KNNGraph(
        indices=labels, distances=dist.astype(np.float32), metric=metric, k=k, space=space
    ), info


def exact_neighbours(
    rep: np.ndarray, rows: np.ndarray, *, k: int, metric: str = "euclidean"
) -> np.ndarray:
    """Exact k nearest neighbours (self excluded, ties by index) of ``rows`` among every row."""
    from kdaudit.analysis.neighbors import knn_graph

    return knn_graph(rep, k=k, metric=metric, queries=np.asarray(rows, dtype=np.int64)).indices


def recall_at_k(
    graph: KNNGraph,
    rep: np.ndarray,
    *,
    n_queries: int = 1000,
    seed: int = 0,
    rows: np.ndarray | None = None,
) -> tuple[float, int]:
    """Share of the true k nearest neighbours the graph found, over a deterministic row sample.

    ``graph`` row ``j`` must hold the neighbours of ``rows[j]`` (default: row ``j``).
    Returns ``(recall, number of query rows)``.
    """
    graph_rows = np.arange(graph.n_samples) if rows is None else np.asarray(rows, dtype=np.int64)
    m = min(n_queries, graph_rows.shape[0])
    pick = np.sort(np.argsort(row_hash(graph_rows, seed), kind="stable")[:m])
    truth = exact_neighbours(rep, graph_rows[pick], k=graph.k, metric=graph.metric)
    found = graph.indices[pick]
    hits = sum(np.intersect1d(a, b).shape[0] for a, b in zip(found, truth, strict=True))
    return hits / float(m * graph.k), int(m)


@dataclasses.dataclass(frozen=True, eq=False)
class ApproximateKNNGraph(KNNGraph):
    """A :class:`KNNGraph` found by :func:`ann_graph`, with how well it matches exact search."""

    ann: dict[str, object] = dataclasses.field(default_factory=dict)


def approximate_graph(
    rep: np.ndarray, *, k: int, metric: str, space: str, seed: int = 0, n_recall_queries: int = 1000
) -> ApproximateKNNGraph:
    """:func:`ann_graph` plus its measured recall@k, as one graph for the analyses."""
    graph, info = ann_graph(rep, k=k, metric=metric, space=space, seed=seed)
    rec, m = recall_at_k(graph, rep, n_queries=n_recall_queries, seed=seed)
    info = dataclasses.replace(info, recall_at_k=rec, recall_queries=m)
    return ApproximateKNNGraph(
        indices=graph.indices,
        distances=graph.distances,
        metric=metric,
        k=k,
        space=space,
        ann=info.to_dict(),
    )


#: up to this many rows the exact graph is used (about a minute on 2 cores); beyond, ANN
EXACT_MAX_ROWS = 200_000


def choose_graph(
    rep: np.ndarray,
    *,
    k: int,
    metric: str,
    space: str,
    seed: int = 0,
    exact: Any = None,
    exact_max_rows: int | None = None,
) -> KNNGraph:
    """The exact graph where it is fast enough, else :func:`approximate_graph` (when hnswlib is there).

    ``exact`` is the exact builder (:func:`kdaudit.analysis.neighbors.knn_graph`).
    Without hnswlib, large data keeps the exact graph and a warning says how to speed it up.
    """
    import importlib.util
    import warnings

    from kdaudit.errors import KDAuditWarning

    if exact is None:
        from kdaudit.analysis.neighbors import knn_graph as exact
    if rep.shape[0] <= (EXACT_MAX_ROWS if exact_max_rows is None else exact_max_rows):
        return exact(rep, k=k, metric=metric, space=space)
    if importlib.util.find_spec("hnswlib") is None:
        warnings.warn(
            f"Exact nearest neighbours on {rep.shape[0]:,} rows take time quadratic in the "
            "rows; pip install 'kdaudit[ann]' for approximate neighbours with a measured recall.",
            KDAuditWarning,
            stacklevel=2,
        )
        return exact(rep, k=k, metric=metric, space=space)
    return approximate_graph(rep, k=k, metric=metric, space=space, seed=seed)


def anchor_mean_interval(
    values: np.ndarray, n_population: int, *, confidence: float = 0.95
) -> tuple[float, float, float]:
    """Mean of per-row values over anchors, with the extra uncertainty of subsampling.

    The anchors are a hash-drawn (so, simple random) sample of ``m`` of the
    ``n_population`` rows; the full-data value is the population mean. The interval
    is Student-t with the finite-population correction ``1 - m / N``:
    ``mean +- t * sqrt((1 - m/N) * s^2 / m)`` (Cochran 1977, ch. 2). With every row
    an anchor it collapses to the point.

    Returns
    -------
    (value, ci_low, ci_high)
    """
    from scipy import stats

    v = np.asarray(values, dtype=np.float64)
    v = v[np.isfinite(v)]
    m = v.shape[0]
    if m == 0:
        return float("nan"), float("nan"), float("nan")
    mean = float(v.mean())
    if m < 2:
        return mean, float("nan"), float("nan")
    fpc = max(0.0, 1.0 - m / float(n_population))
    half = float(stats.t.ppf(0.5 + confidence / 2, m - 1)) * float(np.sqrt(fpc * v.var(ddof=1) / m))
    return mean, mean - half, mean + half
