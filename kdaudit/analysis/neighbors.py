"""The representation space and the exact k-nearest-neighbour graph (METHODS.md 3).

The graph is built ONCE per audit and shared by every model, so that all
models are compared on the same pairs of samples.

How the search works
--------------------
Query rows are processed in blocks. For a block ``A`` against all rows ``R``
one float32 GEMM of ``[-2 A | 1]`` with ``[R | ||R||^2]`` gives the ranking key
``||r_j||^2 - 2 a_i . r_j`` (the squared distance minus the row constant
``||a_i||^2``). Cosine is the same search on unit rows (``||a - b||^2 / 2 =
1 - cos``). Each row's k-th smallest key is bounded from above by the k-th
smallest of its *group minima* (columns in strided groups of up to 32: an
elementwise SIMD minimum, no full-row selection). Every column whose key is
within twice a float32 rounding bound of that threshold becomes a candidate;
the candidates' distances are recomputed in float64 from the stored vectors,
and the k nearest are chosen by ``(distance, column index)``. So the result is
exact (up to the float32 storage of the representation), ties are broken by
the smaller index, and blocking does not change it.

Memory: one block's key matrix (``block_rows x n`` float32) per thread stays below
:data:`BLOCK_BYTES`; everything else is ``O(block_rows x k)``.
"""

from __future__ import annotations

import dataclasses
import math
import os
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import numpy as np

from kdaudit.errors import InputDataError, UsageError
from kdaudit.vocab import METRIC_DISTANCES

SPACES: tuple[str, ...] = ("auto", "standardized", "flat", "embedding")
METRICS: tuple[str, ...] = METRIC_DISTANCES

BLOCK_BYTES = 64 * 1024 * 1024
"""Upper bound on one block's key matrix (block_rows x n_samples float32)."""

_EPS32 = float(np.finfo(np.float32).eps)
_PAD_KEY = float(np.finfo(np.float32).max)
_EXACT_BYTES = 32 * 1024 * 1024  # working memory of the float64 re-ranking step


# ------------------------------------------------------------------ representation
def representation(
    x: np.ndarray | None,
    *,
    space: str = "auto",
    embedding: np.ndarray | None = None,
) -> np.ndarray:
    """The vectors in which neighbours are searched.

    Parameters
    ----------
    x : ndarray of shape (n_samples, n_features) or (n_samples, ...), or None
        Model inputs as stored. Ignored when ``space="embedding"``.
    space : {"auto", "standardized", "flat", "embedding"}
        ``"standardized"``: each column shifted to zero mean and scaled to unit
        variance (population std, ``ddof=0``); constant columns become 0.
        ``"flat"``: the inputs flattened per sample, values as stored.
        ``"embedding"``: ``embedding`` used as given (flattened per sample).
        ``"auto"``: ``"embedding"`` if ``embedding`` is given, else
        ``"standardized"`` for 1-D/2-D inputs (tables) and ``"flat"`` for
        higher-dimensional inputs (images).
    embedding : ndarray of shape (n_samples, n_dims), optional
        A user-supplied representation (e.g. penultimate-layer features).

    Returns
    -------
    ndarray of float32, shape (n_samples, n_dims)
        C-contiguous.

    Raises
    ------
    UsageError
        Unknown ``space``, or ``"embedding"`` without an embedding.
    InputDataError
        Missing inputs, multi-input data, empty or non-finite values.
    """
    if space not in SPACES:
        raise UsageError(f"Expected space to be one of {', '.join(SPACES)}; got {space!r}.")
    if space == "auto" and embedding is not None:
        space = "embedding"
    if space == "embedding":
        if embedding is None:
            raise UsageError(
                "space='embedding' needs an embedding array; none was given.",
                tip="Pass --embedding FILE.npy (shape (n_samples, n_dims)).",
            )
        return _flat_float32(embedding, "embedding")
    if x is None:
        raise InputDataError(
            "Individual fairness needs the model inputs ('x') or an embedding; the data has neither.",
            tip="Add an 'x' array to the data or pass --embedding FILE.npy.",
        )
    if isinstance(x, dict):
        raise InputDataError(
            f"The data has several input arrays ({', '.join(sorted(x))}); kdaudit cannot "
            "choose a distance between such samples.",
            tip="Pass an embedding (--embedding FILE.npy, shape (n_samples, n_dims)).",
        )
    arr = np.asarray(x)
    if space == "auto":
        space = "standardized" if arr.ndim <= 2 else "flat"
    if space == "flat":
        return _flat_float32(arr, "inputs")
    flat = _flat_float32(arr, "inputs")
    mean = flat.mean(axis=0, dtype=np.float64)
    std = flat.std(axis=0, dtype=np.float64)
    scale = np.where(std > 0, 1.0 / np.where(std > 0, std, 1.0), 0.0)
    out = (flat - mean.astype(np.float32)) * scale.astype(np.float32)
    return np.ascontiguousarray(out, dtype=np.float32)


def _flat_float32(arr: Any, name: str) -> np.ndarray:
    a = np.asarray(arr)
    if a.ndim == 0 or a.shape[0] == 0:
        raise InputDataError(f"Expected {name} with at least one row; got shape {a.shape}.")
    if a.dtype.kind not in "biuf":
        raise InputDataError(
            f"Expected numeric {name} to compute distances; got dtype {a.dtype}.",
            tip="Encode the features as numbers, or pass an embedding.",
        )
    out = np.ascontiguousarray(a.reshape(a.shape[0], -1), dtype=np.float32)
    if out.shape[1] == 0:
        raise InputDataError(f"Expected {name} with at least one feature; got shape {a.shape}.")
    if not np.isfinite(out).all():
        row = int(np.flatnonzero(~np.isfinite(out).all(axis=1))[0])
        raise InputDataError(
            f"The {name} contain NaN or inf (first at row {row}); distances are undefined.",
            tip="Impute or drop missing values first.",
        )
    return out


# ----------------------------------------------------------------------- kNN graph
@dataclasses.dataclass(frozen=True, eq=False)
class KNNGraph:
    """Each sample's k nearest other samples.

    Attributes
    ----------
    indices : ndarray of int64, shape (n_samples, k)
        Row ``i`` lists the k nearest samples other than ``i`` itself, nearest
        first; equal distances are ordered by the smaller index.
    distances : ndarray of float32, shape (n_samples, k)
        The matching distances (0 for exact duplicates).
    metric : {"euclidean", "cosine"}
    k : int
    space : str
        Name of the representation space (for reports).
    """

    indices: np.ndarray
    distances: np.ndarray
    metric: str
    k: int
    space: str = "unknown"
    extended_indices: np.ndarray | None = None
    """Optional ``(n_samples, K)`` list of the K >= k nearest other samples (first k =
    ``indices``): lets resampling rebuild the k-NN graph of a subsample exactly."""
    extended_distances: np.ndarray | None = None

    @property
    def n_samples(self) -> int:
        return int(self.indices.shape[0])

    def extended(self) -> tuple[np.ndarray, np.ndarray]:
        """The longest neighbour lists held: ``(indices, distances)``, shape (n_samples, K)."""
        if self.extended_indices is None or self.extended_distances is None:
            return self.indices, self.distances
        return self.extended_indices, self.extended_distances


def knn_graph(
    rep: np.ndarray,
    *,
    k: int = 5,
    metric: str = "euclidean",
    block_rows: int | None = None,
    space: str = "unknown",
    spare: int = 0,
    queries: np.ndarray | None = None,
    threads: int | None = None,
) -> KNNGraph:
    """Exact k nearest neighbours of every row (or of ``queries``), excluding the row itself.

    Parameters
    ----------
    rep : ndarray, shape (n_samples, n_dims)
        The representation (see :func:`representation`); cast to float32.
    k : int
        Neighbours per row, ``1 <= k <= n_samples - 1``.
    metric : {"euclidean", "cosine"}
        Cosine distance is ``1 - cos(a, b)``; a zero vector has cosine
        distance 1 to everything (scikit-learn's convention).
    block_rows : int, optional
        Query rows per block; default: as many as keep one block's
        ``(block_rows, n_samples)`` float32 key matrix under
        :data:`BLOCK_BYTES`. The result does not depend on it.
    space : str
        Recorded in the graph for reports.
    spare : int
        Further neighbours searched beyond the k nearest (capped at
        ``n_samples - 1 - k``) and kept in ``extended_indices`` /
        ``extended_distances``: the k-NN graph of any subsample that keeps at
        least k of a row's ``k + spare`` nearest is then read off exactly
        (the grouped jackknife of :mod:`kdaudit.analysis.individual_fairness`).
    queries : ndarray of int, optional
        Search the neighbours of these rows only (among all rows); row ``j`` of
        the graph then belongs to row ``queries[j]``.
    threads : int, optional
        Threads, each searching its own blocks (default: one per CPU). The
        result does not depend on it.

    Returns
    -------
    KNNGraph

    Notes
    -----
    The row itself is excluded by index, not by distance, so an exact
    duplicate of row ``i`` is a neighbour of ``i`` at distance 0. Ties are
    broken by the smaller column index, deterministically.
    """
    if metric not in METRICS:
        raise UsageError(f"Expected metric to be one of {', '.join(METRICS)}; got {metric!r}.")
    x = _flat_float32(rep, "representation")
    n, d = x.shape
    if not isinstance(k, (int, np.integer)) or k < 1:
        raise UsageError(f"Expected k >= 1 nearest neighbours; got {k!r}.")
    if k > n - 1:
        raise InputDataError(
            f"Expected more than k={k} samples to find {k} neighbours of each; got {n}.",
            tip="Lower k (--knn-k) or use more data.",
        )
    if spare < 0:
        raise UsageError(f"Expected spare >= 0 extra neighbours; got {spare!r}.")
    k_out, k = int(k), int(k) + min(int(spare), n - 1 - int(k))
    rows = np.arange(n) if queries is None else np.asarray(queries, dtype=np.int64).reshape(-1)
    if rows.size and (rows.min() < 0 or rows.max() >= n):
        raise UsageError(
            f"Expected query rows in 0..{n - 1}; got rows {int(rows.min())}..{int(rows.max())}."
        )

    # one code path: cosine is the euclidean search on unit rows (a zero row is given
    # the norm term 1, so its key is that of squared distance 2, i.e. cosine distance 1)
    norms = np.sqrt(np.einsum("ij,ij->i", x, x, dtype=np.float64))
    base = x if metric == "euclidean" else (x / np.where(norms > 0, norms, 1.0)[:, None])
    base = base.astype(np.float32)
    sqn = np.einsum("ij,ij->i", base, base, dtype=np.float64)
    extra = sqn if metric == "euclidean" else np.where(norms > 0, sqn, 1.0)

    group = _group_size(n, k)
    n_pad = -(-n // group) * group
    # R' = [R | ||R||^2] against L' = [-2 A | 1]: key = ||r||^2 - 2 a.r; padding is largest
    right = np.zeros((n_pad, d + 1), dtype=np.float32)
    right[:n, :d] = base
    right[:n, d] = extra
    right[n:, d] = _PAD_KEY
    right_t = right.T
    m = rows.shape[0]
    block_rows = int(max(1, min(block_rows or BLOCK_BYTES // (4 * n_pad), m)))
    tol_scale = 32.0 * _EPS32 * (math.sqrt(d) + 2.0)

    indices = np.empty((m, k), dtype=np.int64)
    distances = np.empty((m, k), dtype=np.float32)

    def search(worker: int, n_workers: int) -> None:
        """Blocks worker, worker + n_workers, ...: disjoint rows of the result."""
        buf = np.empty((block_rows, n_pad), dtype=np.float32)
        left = np.ones((block_rows, d + 1), dtype=np.float32)
        for start in range(worker * block_rows, m, n_workers * block_rows):
            q = rows[start : start + block_rows]
            b = q.shape[0]
            np.multiply(base[q], np.float32(-2.0), out=left[:b, :d])
            keys = np.matmul(left[:b], right_t, out=buf[:b])
            keys[np.arange(b), q] = np.inf  # exclude self by index
            # group c holds columns c, c + G, c + 2G, ...: the k-th smallest group minimum
            # bounds the k-th smallest key from above without a full-row selection
            gmin = keys.reshape(b, group, n_pad // group).min(axis=1) if group > 1 else keys
            thr = np.partition(gmin, k - 1, axis=1)[:, k - 1].astype(np.float64)
            sq_k = np.maximum(thr + sqn[q], 0.0)
            tol = tol_scale * (3.0 * sqn[q] + 2.0 * sq_k + 1e-30)  # float32 rounding bound
            limit = (thr + 2.0 * tol).astype(np.float32)
            cand_r, cand_c = _candidates(keys, gmin, limit, group, n)
            indices[start : start + b], distances[start : start + b] = _exact_top_k(
                x, norms, q, cand_r, cand_c, k, metric
            )

    _in_threads(search, min(-(-m // block_rows), threads or os.cpu_count() or 1))
    if k == k_out:
        return KNNGraph(indices=indices, distances=distances, metric=metric, k=k, space=space)
    return KNNGraph(
        indices=np.ascontiguousarray(indices[:, :k_out]),
        distances=np.ascontiguousarray(distances[:, :k_out]),
        metric=metric,
        k=k_out,
        space=space,
        extended_indices=indices,
        extended_distances=distances,
    )


def _in_threads(fn: Any, n_workers: int) -> None:
    """``fn(w, n_workers)`` for every w on its own thread, BLAS limited to one thread each.

    numpy releases the GIL in the GEMM and the selections, so every phase of a block runs
    in parallel (BLAS's own threads would parallelize the GEMM alone and spin in between).
    Without threadpoolctl the blocks run on this thread, BLAS threaded as configured.
    """
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:  # pragma: no cover - threadpoolctl is a dependency
        n_workers = 1
    if n_workers <= 1:
        fn(0, 1)
        return
    with threadpool_limits(limits=1, user_api="blas"), ThreadPoolExecutor(n_workers) as pool:
        for f in [pool.submit(fn, w, n_workers) for w in range(n_workers)]:
            f.result()


def _group_size(n: int, k: int) -> int:
    """Columns per group for the threshold bound; >= 2(k+1) groups are kept."""
    if n < 2048:
        return 1
    return next((g for g in (32, 16, 8, 4, 2) if n // g >= 2 * (k + 1)), 1)


def _candidates(
    keys: np.ndarray, gmin: np.ndarray, limit: np.ndarray, group: int, n: int
) -> tuple[np.ndarray, np.ndarray]:
    """(row-in-block, column) of every key <= the row's limit, rows ascending."""
    n_groups = keys.shape[1] // group
    gr, gc = np.nonzero(gmin <= limit[:, None])
    vals = keys.reshape(keys.shape[0], group, n_groups)[gr, :, gc]  # (pairs, group)
    pr, off = np.nonzero(vals <= limit[gr][:, None])
    rows = gr[pr].astype(np.int64)
    cols = gc[pr].astype(np.int64) + off.astype(np.int64) * n_groups
    ok = cols < n
    return rows[ok], cols[ok]


def _exact_top_k(
    x: np.ndarray,
    norms: np.ndarray,
    q: np.ndarray,
    rows: np.ndarray,
    cols: np.ndarray,
    k: int,
    metric: str,
) -> tuple[np.ndarray, np.ndarray]:
    """Re-rank candidates by float64 distance, then column index; keep k per query row."""
    exact = np.empty(rows.shape[0], dtype=np.float64)
    step = max(1, _EXACT_BYTES // (16 * x.shape[1]))  # bounded memory even with many ties
    for s in range(0, rows.shape[0], step):
        i, j = q[rows[s : s + step]], cols[s : s + step]
        a, c = x[i].astype(np.float64), x[j].astype(np.float64)
        if metric == "cosine":  # ||a - c||^2 / 2 == 1 - cos(a, c) for unit rows, no cancellation
            a /= np.where(norms[i] > 0, norms[i], 1.0)[:, None]
            c /= np.where(norms[j] > 0, norms[j], 1.0)[:, None]
        a -= c
        e = np.einsum("ij,ij->i", a, a)
        zero = (norms[i] == 0) | (norms[j] == 0)
        exact[s : s + step] = e if metric == "euclidean" else np.where(zero, 1.0, 0.5 * e)
    order = np.lexsort((cols, exact, rows))
    counts = np.bincount(rows, minlength=q.shape[0])
    if counts.min() < k:  # pragma: no cover - guarded by the threshold bound
        raise AssertionError("kNN candidate bound failed; please report this bug")
    take = order[(np.cumsum(counts) - counts)[:, None] + np.arange(k)]
    dist = exact[take] if metric == "cosine" else np.sqrt(exact[take])
    return cols[take], dist.astype(np.float32)
