"""Poisson(1) bootstrap weights from a counter-based generator.

When a cell table has nearly as many cells as rows (very many classes x three
models), a multinomial draw over the cells is no cheaper than resampling rows,
and a row resample needs all rows in one place. The Poisson bootstrap gives
every row an independent weight ``w ~ Poisson(1)`` per replicate instead; with
the weight a pure function of ``(seed, row id, replicate)`` (SplitMix64 of the
three, turned into a Poisson draw by inversion of its CDF), any worker computes
the weights of its own rows, and the per-cell sums of the weights (the
replicate's cell counts) add up exactly across shards, in any order and for any
split of the rows.

A replicate's total ``sum(w)`` is Poisson(n) rather than exactly ``n``; the
estimators consume rates (ratios of counts), for which the Poisson and the
multinomial bootstrap agree to first order (Hanley & MacGibbon 2006; Chamandy
et al. 2012, "Estimating uncertainty for massive data streams").
"""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np

from kdaudit.analysis.ann import _splitmix64

__all__ = ["POISSON_CDF", "poisson_cell_counts", "poisson_weights", "uniform_counter"]

# CDF of Poisson(1) at k = 0..K; past K = 24 the tail is below 2**-53 (a double's resolution).
_K_MAX = 24
_pmf = np.exp(-1.0) / np.cumprod(np.r_[1.0, np.arange(1, _K_MAX + 1, dtype=np.float64)])
POISSON_CDF: np.ndarray = np.cumsum(_pmf)
POISSON_CDF.setflags(write=False)

# Elements (replicates x rows) hashed at once; bounds the working memory to ~64 MB.
_BLOCK_ELEMENTS = 1 << 22


def uniform_counter(seed: int, row_ids: np.ndarray, replicates: np.ndarray) -> np.ndarray:
    """Uniform [0, 1) doubles keyed by ``(seed, row id, replicate)``, shape (R, n).

    ``u[r, i] = top 53 bits of splitmix64(splitmix64(splitmix64(seed) ^ row_id) ^ rep_key(r))``
    with ``rep_key(r) = splitmix64(r + 2**63)``; the same triple gives the same
    number on any machine and in any batch.
    """
    ids = np.asarray(row_ids, dtype=np.uint64)
    reps = np.asarray(replicates, dtype=np.uint64)
    key = _splitmix64(np.array([int(seed) & 0xFFFFFFFFFFFFFFFF], dtype=np.uint64))[0]
    row_key = _splitmix64(ids ^ key)  # (n,)
    rep_key = _splitmix64(reps ^ np.uint64(1 << 63))  # (R,)
    h = _splitmix64(row_key[None, :] ^ rep_key[:, None])
    return (h >> np.uint64(11)).astype(np.float64) * (1.0 / (1 << 53))


def poisson_weights(seed: int, row_ids: np.ndarray, replicates: np.ndarray) -> np.ndarray:
    """Poisson(1) bootstrap weights, shape (R, n), int64, by inversion of the CDF.

    Parameters
    ----------
    seed : int
        The audit seed.
    row_ids : ndarray of int, shape (n,)
        Global row ids (a shard passes its rows' ids, not positions in the shard).
    replicates : ndarray of int, shape (R,)
        Replicate indices ``0..B-1`` (any subset, any order).

    Returns
    -------
    ndarray of int64, shape (R, n)
    """
    u = uniform_counter(seed, row_ids, replicates)
    return np.searchsorted(POISSON_CDF, u, side="right").astype(np.int64)


def poisson_cell_counts(
    cell_of_row: np.ndarray,
    n_cells: int,
    n_bootstrap: int,
    seed: int,
    *,
    row_ids: np.ndarray | None = None,
    chunk_size: int | None = None,
) -> Iterator[np.ndarray]:
    """Replicate cell counts ``sum of w[r, i] over rows i in each cell``, in chunks.

    Parameters
    ----------
    cell_of_row : ndarray of int, shape (n,)
        Cell index of each row.
    n_cells : int
    n_bootstrap : int
        Replicates B.
    seed : int
    row_ids : ndarray of int, shape (n,), optional
        Global row ids (default ``0..n-1``). Counts computed on any partition of
        the rows (with their global ids) sum to the counts of the whole.
    chunk_size : int, optional
        Replicates per yielded chunk (default all B); the counts do not depend on it.

    Yields
    ------
    ndarray of int64, shape (chunk, n_cells)
    """
    cells = np.asarray(cell_of_row, dtype=np.int64)
    n = cells.shape[0]
    ids = np.arange(n, dtype=np.int64) if row_ids is None else np.asarray(row_ids, dtype=np.int64)
    if ids.shape != cells.shape:
        raise ValueError(f"row_ids has shape {ids.shape}; expected {cells.shape}.")
    chunk = n_bootstrap if chunk_size is None else max(1, int(chunk_size))
    done = 0
    while done < n_bootstrap:
        b = min(chunk, n_bootstrap - done)
        out = np.zeros(b * n_cells, dtype=np.float64)
        reps_per_block = max(1, min(b, _BLOCK_ELEMENTS // max(1, n)))
        rows_per_block = max(1, _BLOCK_ELEMENTS // reps_per_block)
        for r0 in range(0, b, reps_per_block):
            reps = np.arange(done + r0, done + min(b, r0 + reps_per_block))
            base = (reps - done)[:, None] * n_cells
            for s in range(0, n, rows_per_block):
                w = poisson_weights(seed, ids[s : s + rows_per_block], reps)
                idx = base + cells[None, s : s + rows_per_block]
                out += np.bincount(idx.ravel(), weights=w.ravel(), minlength=b * n_cells)
        # integer sums of at most n weights: exact in float64 below 2**53
        yield out.reshape(b, n_cells).astype(np.int64)
        done += b
