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
import time
from typing import Any

import numpy as np

from kdaudit.analysis.neighbors import KNNGraph
from kdaudit.errors import UsageError

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
    m: int = 16,
    ef_construction: int = 100,
    ef_search: int | None = None,
    threads: int = -1,
    queries: np.ndarray | None = None,
) -> tuple[KNNGraph, AnnInfo]:
    """Approximate k nearest neighbours of every row (or of ``queries`` rows), self excluded.

    Parameters
    ----------
    rep : ndarray, shape (n_samples, n_dims)
        The representation (see :func:`kdaudit.analysis.neighbors.representation`).
    k : int
    metric : {"euclidean", "cosine"}
    space : str
        Recorded in the graph.
    seed : int
        Seed of the index's random levels (the graph is reproducible for a seed
        and a thread count of 1; with several threads insertion order may vary).
    m, ef_construction, ef_search : int
        HNSW parameters; ``ef_search`` defaults to ``max(64, 8 k)``.
    queries : ndarray of int, optional
        Only these rows' neighbours (anchors); the index holds every row.

    Returns
    -------
    (KNNGraph, AnnInfo)
        The graph has the structure :func:`~kdaudit.analysis.neighbors.knn_graph`
        returns (distances in the metric's units; cosine is ``1 - cos``).
    """
    try:
        import hnswlib
    except ImportError as exc:
        raise UsageError(
            "Approximate neighbours need hnswlib, which is not installed.",
            tip="pip install 'kdaudit[ann]'",
        ) from exc
    x = np.ascontiguousarray(rep, dtype=np.float32).reshape(rep.shape[0], -1)
    n = x.shape[0]
    if not 1 <= k <= n - 1:
        raise UsageError(f"k for nearest neighbours must be in 1..{n - 1}; got {k}.")
    if metric not in ("euclidean", "cosine"):
        raise UsageError(f"distance must be euclidean or cosine; got {metric!r}.")
    t0 = time.perf_counter()
    index = hnswlib.Index(space="l2" if metric == "euclidean" else "cosine", dim=x.shape[1])
    index.init_index(max_elements=n, M=m, ef_construction=ef_construction, random_seed=seed)
    index.set_num_threads(threads)
    index.add_items(x, np.arange(n))
    ef = ef_search or max(64, 8 * k)
    index.set_ef(max(ef, k + 1))
    rows = np.arange(n) if queries is None else np.asarray(queries, dtype=np.int64)
    labels, dist = index.knn_query(x[rows], k=k + 1)
    labels = labels.astype(np.int64)
    # drop the row itself (or, when the search missed it, the farthest extra)
    is_self = labels == rows[:, None]
    drop = np.where(is_self.any(axis=1), is_self.argmax(axis=1), k)
    keep = np.ones_like(labels, dtype=bool)
    keep[np.arange(rows.shape[0]), drop] = False
    labels = labels[keep].reshape(-1, k)
    dist = dist[keep].reshape(-1, k).astype(np.float64)
    if metric == "euclidean":  # hnswlib's l2 is the squared distance
        dist = np.sqrt(np.maximum(dist, 0.0))
    info = AnnInfo(
        backend=f"hnswlib {getattr(hnswlib, '__version__', '')}".strip(),
        params={"M": m, "ef_construction": ef_construction, "ef_search": ef},
        build_seconds=time.perf_counter() - t0,
    )
    return KNNGraph(
        indices=labels, distances=dist.astype(np.float32), metric=metric, k=k, space=space
    ), info


def exact_neighbours(
    rep: np.ndarray, rows: np.ndarray, *, k: int, metric: str = "euclidean", block: int = 256
) -> np.ndarray:
    """Exact k nearest neighbours (self excluded) of ``rows`` against every row, float64."""
    x = np.asarray(rep, dtype=np.float64).reshape(rep.shape[0], -1)
    if metric == "cosine":
        norms = np.linalg.norm(x, axis=1, keepdims=True)
        x = np.divide(x, norms, out=np.zeros_like(x), where=norms > 0)
    sq = (x * x).sum(axis=1)
    out = np.empty((rows.shape[0], k), dtype=np.int64)
    for lo in range(0, rows.shape[0], block):
        q = rows[lo : lo + block]
        d = sq[None, :] - 2.0 * x[q] @ x.T if metric == "euclidean" else -(x[q] @ x.T)
        d[np.arange(q.shape[0]), q] = np.inf
        part = np.argpartition(d, k, axis=1)[:, :k]
        order = np.lexsort((part, np.take_along_axis(d, part, axis=1)), axis=1)
        out[lo : lo + block] = np.take_along_axis(part, order, axis=1)
    return out


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
