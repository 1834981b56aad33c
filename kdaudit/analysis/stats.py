"""Statistical building blocks shared by the analyzers (pure numpy/scipy).

Everything here is vectorized: exact McNemar p-values for many classes at once,
Welch's t-test for many classes at once, p-value adjustment, percentile
confidence intervals and paired-bootstrap p-values over arrays of replicates,
and the row bootstrap expressed as resampled *cell counts*.

The row bootstrap
-----------------
Every analyzer reduces its rows to a small number of distinct *cells* (for
example ``(group, y_true, teacher prediction, student prediction)``); all the
metrics are functions of the per-cell counts. Resampling ``n`` rows with
replacement is then the same as drawing the cell counts from a multinomial
``Multinomial(n, counts / n)``, so a bootstrap costs ``O(B x cells)`` rather
than ``O(B x n)``. When almost every row is its own cell, drawing row indices
directly is cheaper; :func:`bootstrap_cell_counts` picks whichever is cheaper.
Both give exactly the same distribution.
"""

from __future__ import annotations

import dataclasses
import math
import warnings
from collections.abc import Iterator
from typing import Any

import numpy as np
from scipy import special as _special

from kdaudit.analysis.multitest import bh_adjust, holm_adjust
from kdaudit.errors import InputDataError, KDAuditWarning, UsageError
from kdaudit.results import Estimate
from kdaudit.vocab import CORRECTIONS

__all__ = [
    "DeltaEstimate",
    "abs_interval",
    "adjust_pvalues",
    "basic_interval",
    "basic_p_value",
    "bootstrap_cell_counts",
    "bootstrap_p_value",
    "check_correction",
    "check_labels",
    "encode_cells",
    "estimate",
    "factorize_labels",
    "max_t_p_value",
    "mcnemar_exact",
    "nan_mean_var",
    "optional_float",
    "percentile_ci",
    "permuted_group_tables",
    "signed_root",
    "simultaneous_intervals",
    "unbiased_squared_gaps",
    "warn",
    "welch_ttest",
    "wilson_interval",
]

# Multinomial draws cost ~90 ns per cell, index draws + bincount ~10 ns per row.
_MULTINOMIAL_COST_RATIO = 8.0


@dataclasses.dataclass(frozen=True, slots=True, kw_only=True)
class DeltaEstimate(Estimate):
    """A change between two models: like :class:`Estimate`, but ``p_value`` is
    always written (``null`` when there was no bootstrap)."""

    p_value: float | None = None


def optional_float(x: Any) -> float | None:
    """A number, 0-d array or None -> float or None (NaN and inf -> None)."""
    if x is None:
        return None
    f = float(x)
    return f if math.isfinite(f) else None


def warn(message: str) -> None:
    """Emit a :class:`~kdaudit.errors.KDAuditWarning` pointing at the caller's caller."""
    warnings.warn(message, KDAuditWarning, stacklevel=3)


# --------------------------------------------------------------------------- tests
def mcnemar_exact(b: np.ndarray, d: np.ndarray) -> np.ndarray:
    """Exact (binomial) McNemar p-values, vectorized.

    Parameters
    ----------
    b, d : array_like of int, same shape
        Discordant counts: ``b`` = first model right and second wrong,
        ``d`` = first wrong and second right.

    Returns
    -------
    ndarray of float64, same shape
        ``min(1, 2 * BinomCDF(min(b, d); b + d, 1/2))``; 1 where ``b + d == 0``.
        Identical to ``statsmodels.stats.contingency_tables.mcnemar(exact=True)``.
    """
    b = np.asarray(b, dtype=np.int64)
    d = np.asarray(d, dtype=np.int64)
    n = b + d
    p = np.minimum(1.0, 2.0 * _special.bdtr(np.minimum(b, d), n, 0.5))
    return np.where(n == 0, 1.0, p).astype(np.float64)


def welch_ttest(
    a: np.ndarray, b: np.ndarray, *, axis: int = 0
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Welch's two-sample t-test (unequal variances), vectorized, NaN-aware.

    Semantics of ``scipy.stats.ttest_ind(a, b, equal_var=False)`` along
    ``axis`` (statistic = mean(a) - mean(b) over its standard error), except
    that NaN entries are dropped per column instead of propagated.

    Parameters
    ----------
    a : ndarray, shape (n_a, ...) when ``axis=0``
    b : ndarray, shape (n_b, ...) when ``axis=0``
    axis : int
        The axis holding the samples (runs).

    Returns
    -------
    statistic, df, p_value : ndarray, shape of the other axes
        NaN where the test is undefined: fewer than 2 finite values on either
        side, or both variances 0 (then the caller decides; see
        :func:`kdaudit.analysis.class_shift.class_shift_multirun`).
    """
    a = np.moveaxis(np.asarray(a, dtype=np.float64), axis, 0)
    b = np.moveaxis(np.asarray(b, dtype=np.float64), axis, 0)
    ma, va, na = nan_mean_var(a)
    mb, vb, nb = nan_mean_var(b)
    with np.errstate(divide="ignore", invalid="ignore"):
        sa = va / na
        sb = vb / nb
        se2 = sa + sb
        t = (ma - mb) / np.sqrt(se2)
        df = se2**2 / (sa**2 / (na - 1) + sb**2 / (nb - 1))
        p = 2.0 * _special.stdtr(df, -np.abs(t))  # = 2 * scipy.stats.t.sf(|t|, df)
    bad = (na < 2) | (nb < 2) | ~(se2 > 0)
    t = np.where(bad, np.nan, t)
    df = np.where(bad, np.nan, df)
    p = np.where(bad, np.nan, p)
    return t, df, p


def nan_mean_var(x: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Mean, sample variance (ddof=1) and count of finite values along axis 0.

    A column whose finite values are all equal gets exactly that value as its mean and
    a variance of exactly 0: summing [r, r, r] and dividing by 3 need not give r back,
    and a variance of 1e-32 from rounding would turn "no variation" into a t statistic.
    """
    ok = np.isfinite(x)
    n = ok.sum(axis=0).astype(np.float64)
    x0 = np.where(ok, x, 0.0)
    with np.errstate(divide="ignore", invalid="ignore"):
        mean = x0.sum(axis=0) / n
        dev = np.where(ok, x - mean, 0.0)
        var = (dev**2).sum(axis=0) / (n - 1)
    lo = np.where(ok, x, np.inf).min(axis=0)
    hi = np.where(ok, x, -np.inf).max(axis=0)
    constant = (n > 0) & (lo == hi)
    mean = np.where(constant, lo, mean)
    var = np.where(constant & (n > 1), 0.0, var)
    return mean, var, n


# --------------------------------------------------------------------- corrections
def check_correction(correction: str) -> str:
    """Return ``correction`` if it is one of :data:`CORRECTIONS`, else raise UsageError."""
    if correction not in CORRECTIONS:
        raise UsageError(
            f"Expected correction to be one of {', '.join(CORRECTIONS)}; got {correction!r}."
        )
    return correction


def adjust_pvalues(p_values: np.ndarray, correction: str) -> np.ndarray:
    """Adjust p-values for multiple comparisons.

    Parameters
    ----------
    p_values : ndarray, shape (m,)
        Raw p-values. NaN entries (undefined tests) are not part of the family:
        they stay NaN and do not count towards ``m``.
    correction : {"fdr_bh", "holm", "none"}
        Benjamini-Hochberg FDR, Holm's step-down FWER, or no adjustment.
        Computed as ``statsmodels.stats.multitest.multipletests`` does, by
        :mod:`kdaudit.analysis.multitest`.

    Returns
    -------
    ndarray, shape (m,)
        Adjusted p-values (capped at 1).
    """
    check_correction(correction)
    p = np.asarray(p_values, dtype=np.float64)
    out = np.full(p.shape, np.nan)
    ok = np.isfinite(p)
    if not ok.any():
        return out
    if correction == "none":
        out[ok] = p[ok]
        return out
    adjust = bh_adjust if correction == "fdr_bh" else holm_adjust
    out[ok] = adjust(p[ok])
    return out


# ----------------------------------------------------------------------- bootstrap
def percentile_ci(
    samples: np.ndarray, confidence: float = 0.95, *, axis: int = 0
) -> tuple[np.ndarray, np.ndarray]:
    """Percentile bootstrap interval, ignoring NaN replicates.

    Parameters
    ----------
    samples : ndarray, shape (n_bootstrap, ...) when ``axis=0``
        Bootstrap replicates; NaN marks a replicate where the statistic was
        undefined (e.g. a group drew no positives).
    confidence : float
        Coverage, e.g. 0.95 gives the 2.5% and 97.5% percentiles.

    Returns
    -------
    low, high : ndarray, shape of the other axes
        Linear-interpolated percentiles (``numpy.nanpercentile``'s default
        method) over the finite replicates; NaN where there are none.
    """
    if not 0.0 < confidence < 1.0:
        raise UsageError(f"Expected confidence in (0, 1); got {confidence!r}.")
    x = np.moveaxis(np.asarray(samples, dtype=np.float64), axis, 0)
    if x.shape[0] == 0:
        nan = np.full(x.shape[1:], np.nan)
        return nan, nan.copy()
    x = np.sort(x, axis=0)  # NaN sorts last
    n_ok = np.isfinite(x).sum(axis=0)
    alpha = (1.0 - confidence) / 2.0
    return _sorted_quantile(x, n_ok, alpha), _sorted_quantile(x, n_ok, 1.0 - alpha)


def _sorted_quantile(x: np.ndarray, n_ok: np.ndarray, q: float) -> np.ndarray:
    pos = q * np.maximum(n_ok - 1, 0)
    lo = np.floor(pos).astype(np.int64)
    hi = np.minimum(lo + 1, np.maximum(n_ok - 1, 0))
    frac = pos - lo
    xl = np.take_along_axis(x, lo[None, ...], axis=0)[0]
    xh = np.take_along_axis(x, hi[None, ...], axis=0)[0]
    # numpy's "linear" method: lerp, exact at frac == 0
    out = np.where(frac == 0, xl, xl + (xh - xl) * frac)
    return np.where(n_ok > 0, out, np.nan)


def bootstrap_p_value(deltas: np.ndarray, *, axis: int = 0) -> np.ndarray:
    """Two-sided paired-bootstrap p-value for ``delta == 0``.

    ``p = min(1, 2 * min(share(delta* <= 0), share(delta* >= 0)))`` over the
    finite replicates; NaN where there are none.

    Parameters
    ----------
    deltas : ndarray, shape (n_bootstrap, ...) when ``axis=0``
        Replicates of metric(B) - metric(A), computed on the same resampled rows.

    Returns
    -------
    ndarray, shape of the other axes
    """
    x = np.moveaxis(np.asarray(deltas, dtype=np.float64), axis, 0)
    ok = np.isfinite(x)
    n = ok.sum(axis=0)
    with np.errstate(divide="ignore", invalid="ignore"):
        le = (ok & (x <= 0)).sum(axis=0) / n
        ge = (ok & (x >= 0)).sum(axis=0) / n
        p = np.minimum(1.0, 2.0 * np.minimum(le, ge))
    return np.where(n > 0, p, np.nan)


def bootstrap_cell_counts(
    cell_counts: np.ndarray,
    n_bootstrap: int,
    rng: np.random.Generator,
    *,
    chunk_size: int | None = None,
    cell_of_row: np.ndarray | None = None,
) -> Iterator[np.ndarray]:
    """Resampled cell counts for a row bootstrap, in chunks of replicates.

    Resampling ``n = cell_counts.sum()`` rows with replacement and counting
    them per cell is a draw from ``Multinomial(n, cell_counts / n)``. That
    costs ``O(B x cells)``; when there are nearly as many cells as rows, row
    indices into the rows *sorted by cell* are drawn instead (``O(B x n)``,
    cheaper per element). Both give the same distribution, and neither
    depends on the order of the rows.

    Parameters
    ----------
    cell_counts : ndarray of int, shape (n_cells,)
        Observed count of each cell (all > 0 is typical but not required).
    n_bootstrap : int
        Number of replicates B.
    rng : numpy.random.Generator
        The seeded generator; the sequence of chunks is reproducible.
    chunk_size : int, optional
        Replicates per chunk (default: all B at once). The draws do not
        depend on the chunking.
    cell_of_row : ndarray of int, shape (n,), optional
        Accepted for compatibility and ignored: the row-index path draws from
        the rows sorted by cell (``np.repeat(arange(n_cells), cell_counts)``),
        which keeps the draws independent of the row order.

    Yields
    ------
    ndarray of int64, shape (chunk, n_cells)
        Each row sums to ``n``.
    """
    del cell_of_row  # see the docstring
    counts = np.asarray(cell_counts, dtype=np.int64)
    n = int(counts.sum())
    k = counts.shape[0]
    chunk = n_bootstrap if chunk_size is None else max(1, int(chunk_size))
    use_index = k * _MULTINOMIAL_COST_RATIO > n
    cell_of_sorted_row = np.repeat(np.arange(k, dtype=np.int64), counts) if use_index else None
    probs = counts / n if n > 0 else np.full(k, 1.0 / max(k, 1))
    done = 0
    while done < n_bootstrap:
        b = min(chunk, n_bootstrap - done)
        if n == 0:
            yield np.zeros((b, k), dtype=np.int64)
        elif use_index:
            assert cell_of_sorted_row is not None
            # one replicate's n row draws at a time keeps memory at O(n), not O(b x n)
            out = np.empty((b, k), dtype=np.int64)
            for i in range(b):
                out[i] = np.bincount(cell_of_sorted_row[rng.integers(0, n, size=n)], minlength=k)
            yield out
        else:
            yield rng.multinomial(n, probs, size=b).astype(np.int64, copy=False)
        done += b


def encode_cells(
    columns: list[np.ndarray], sizes: list[int]
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Distinct observed combinations of several small-integer columns.

    Parameters
    ----------
    columns : list of ndarray of int, each shape (n,)
        Column ``j`` takes values in ``[0, sizes[j])``.
    sizes : list of int
        The number of possible values of each column.

    Returns
    -------
    cells : ndarray of int64, shape (n_cells, n_columns)
        Each distinct observed combination, in lexicographic order.
    counts : ndarray of int64, shape (n_cells,)
        How many rows fall in each cell.
    cell_of_row : ndarray of int64, shape (n,)
        The cell index of each row.

    Notes
    -----
    A dense ``prod(sizes)`` array is never built when it would be large:
    combined codes are compressed with ``np.unique`` whenever they could
    overflow, and the counts come from ``np.bincount`` over a dense code
    only when the dense space is small.
    """
    n = columns[0].shape[0]
    code = np.zeros(n, dtype=np.int64)
    space = 1
    for col, size in zip(columns, sizes, strict=True):
        if space * size >= 2**62:
            # compress before the combined code could overflow; order is kept
            uniq, code = np.unique(code, return_inverse=True)
            code = code.astype(np.int64).reshape(-1)
            space = int(uniq.shape[0])
        code = code * size + np.asarray(col, dtype=np.int64)
        space *= size
    if space <= max(1 << 22, 4 * n):
        full = np.bincount(code, minlength=space)
        present = np.flatnonzero(full)
        counts = full[present]
        remap = np.zeros(space, dtype=np.int64)
        remap[present] = np.arange(present.shape[0])
        cell_of_row = remap[code]
    else:
        present, cell_of_row, counts = np.unique(code, return_inverse=True, return_counts=True)
        cell_of_row = cell_of_row.astype(np.int64).reshape(-1)
    rep = np.empty(present.shape[0], dtype=np.int64)
    rep[cell_of_row] = np.arange(n)  # any row of each cell represents it
    cells = np.stack([np.asarray(c, dtype=np.int64)[rep] for c in columns], axis=1)
    return cells, counts.astype(np.int64), cell_of_row


def factorize_labels(labels: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Sorted distinct labels and the integer code of each row.

    Parameters
    ----------
    labels : ndarray, shape (n,)
        Group labels (str, int, bool or object).

    Returns
    -------
    uniques : ndarray of str, shape (n_groups,)
        The distinct labels as strings, sorted.
    codes : ndarray of int64, shape (n,)
        ``uniques[codes]`` equals ``labels`` as strings.
    """
    if hasattr(labels, "codes") and hasattr(labels, "names"):  # codes + name table already
        names = np.empty(len(labels.names), dtype=object)
        names[:] = list(labels.names)
        return names, np.asarray(labels.codes, dtype=np.int64)
    arr = np.asarray(labels)
    if arr.ndim != 1:
        arr = arr.reshape(-1)
    if arr.dtype.kind == "O":
        # never astype(str): a fixed-width copy sizes every row like the longest label
        table: dict[str, int] = {}
        keys = [v if isinstance(v, str) else str(v) for v in arr.tolist()]
        codes = np.fromiter(
            (table.setdefault(k, len(table)) for k in keys), dtype=np.int64, count=len(keys)
        )
        found = list(table)
        by_name = sorted(range(len(found)), key=found.__getitem__)
        found_rank = np.empty(len(found), dtype=np.int64)
        found_rank[by_name] = np.arange(len(found))
        found_names = np.empty(len(found), dtype=object)
        found_names[:] = [found[i] for i in by_name]
        return found_names, found_rank[codes] if len(found) else codes
    if arr.dtype.kind == "U":
        # hash-based distinct values (numpy >= 2.3), then one binary search per row:
        # about 5x faster than a full sort of a million strings
        try:
            uniq = np.unique(arr, sorted=False)
        except TypeError:  # older numpy: no ``sorted`` argument
            uniq = np.unique(arr)
        uniq = np.sort(uniq)
        return uniq, np.searchsorted(uniq, arr).astype(np.int64)
    uniq, codes = np.unique(arr, return_inverse=True)
    names = uniq.astype(str)
    order = np.argsort(names, kind="stable")
    rank = np.empty_like(order)
    rank[order] = np.arange(order.shape[0])
    return names[order], rank[codes.reshape(-1)].astype(np.int64)


def estimate(
    value: float | None,
    replicates: np.ndarray | None,
    confidence: float,
    reason: str | None = None,
    *,
    paired: bool = False,
) -> Estimate:
    """An :class:`Estimate` from a point value and its bootstrap replicates.

    ``value`` None or non-finite, or a ``reason``, gives an undefined estimate;
    ``replicates`` None or empty gives no CI; ``paired=True`` adds the two-sided
    paired-bootstrap p-value (the replicates are then deltas).
    """
    if reason is not None or value is None or not np.isfinite(value):
        return Estimate(value=None, undefined_reason=reason or "undefined")
    if replicates is None or replicates.shape[0] == 0:
        return Estimate(value=float(value))
    low, high = percentile_ci(replicates, confidence)
    p = float(bootstrap_p_value(replicates)) if paired else None
    return Estimate(
        value=float(value), ci_low=optional_float(low), ci_high=optional_float(high), p_value=p
    )


def check_labels(
    name: str, values: np.ndarray, *, n_samples: int | None = None, n_classes: int | None = None
) -> np.ndarray:
    """Validate a 1-D array of class labels and return it as int64.

    Raises
    ------
    InputDataError
        Wrong dimension, length different from ``n_samples``, non-integer
        values, or labels outside ``[0, n_classes)``.
    """
    arr = np.asarray(values)
    if arr.ndim != 1:
        raise InputDataError(f"Expected {name} to be 1-D (n_samples,); got shape {arr.shape}.")
    if n_samples is not None and arr.shape[0] != n_samples:
        raise InputDataError(
            f"Expected {name} to have {n_samples} rows like y_true; got {arr.shape[0]}.",
            tip="All models must be evaluated on the same rows, in the same order.",
        )
    if arr.dtype.kind == "b":
        arr = arr.astype(np.int64)
    if arr.dtype.kind not in "iu":
        if arr.dtype.kind == "f" and np.all(np.isfinite(arr)) and np.all(arr == np.round(arr)):
            arr = arr.astype(np.int64)
        else:
            raise InputDataError(
                f"Expected {name} to hold integer class labels; got dtype {arr.dtype}."
            )
    arr = arr.astype(np.int64, copy=False)
    if n_classes is not None and arr.shape[0] > 0:
        lo, hi = int(arr.min()), int(arr.max())
        if lo < 0 or hi >= n_classes:
            raise InputDataError(
                f"Expected {name} to hold labels in [0, {n_classes}); got values from {lo} to {hi}.",
                tip="Check n_classes and that labels are encoded as 0..n_classes-1.",
            )
    return arr


# ------------------------------------------------------- noise-aware disparities
def unbiased_squared_gaps(
    rates: np.ndarray, denominators: np.ndarray, ia: np.ndarray, ib: np.ndarray
) -> np.ndarray:
    """Unbiased estimates of squared gaps between group rates.

    For groups a and b with observed rates ``p_a = x_a / n_a``,
    ``U_ab = (p_a - p_b)^2 - v_a - v_b`` with ``v = p (1 - p) / (n - 1)``.
    Conditionally on the denominators, ``E[v] = Var(p)``, so ``E[U_ab] =
    (pi_a - pi_b)^2`` exactly (binomial counts, independent groups): the
    noise that inflates the plain squared gap is subtracted (Cochran 1954;
    the same correction as in the unbiased estimator of a between-group
    variance component).

    Parameters
    ----------
    rates, denominators : ndarray, shape (b, G, K)
        Per-replicate, per-group, per-class rates and their denominators.
    ia, ib : ndarray of int, shape (P, K)
        Group indices of the P pairs compared in each class.

    Returns
    -------
    ndarray, shape (b, P, K)
        NaN where either rate is undefined. A group with one row has no
        variance estimate; its ``v`` is taken as 0.
    """
    r = np.asarray(rates, dtype=np.float64)
    n = np.broadcast_to(np.asarray(denominators, dtype=np.float64), r.shape)
    with np.errstate(divide="ignore", invalid="ignore"):
        v = np.where(n > 1, r * (1.0 - r) / (n - 1.0), 0.0)
    k = np.arange(r.shape[2])[None, :]
    ra, rb = r[:, ia, k], r[:, ib, k]
    va, vb = v[:, ia, k], v[:, ib, k]
    return (ra - rb) ** 2 - va - vb


def signed_root(u: np.ndarray) -> np.ndarray:
    """``sign(u) * sqrt(|u|)``: an (approximately unbiased) gap from an unbiased squared gap."""
    return np.sign(u) * np.sqrt(np.abs(u))


def basic_interval(
    estimate: np.ndarray | float,
    replicates: np.ndarray,
    bootstrap_truth: np.ndarray | float,
    confidence: float,
    *,
    center: bool = False,
) -> tuple[np.ndarray, np.ndarray]:
    """Basic (reverse-percentile) bootstrap interval around a corrected estimate.

    The bootstrap errors are ``e* = replicate - bootstrap_truth`` (the truth of
    the bootstrap world is the plug-in value of the sample); the interval is
    ``[estimate - q_hi(e*), estimate - q_lo(e*)]`` (Davison & Hinkley 1997,
    eq. 5.6). With ``center=True`` the mean error (the bootstrap bias, already
    removed from a bias-corrected ``estimate``) is taken out of ``e*`` first.

    Parameters
    ----------
    estimate, bootstrap_truth : ndarray, shape (...)
    replicates : ndarray, shape (B, ...)
        NaN replicates are ignored.
    confidence : float

    Returns
    -------
    low, high : ndarray, shape (...)
    """
    e = np.asarray(replicates, dtype=np.float64) - np.asarray(bootstrap_truth)
    if center:
        ok = np.isfinite(e)
        with np.errstate(invalid="ignore", divide="ignore"):
            mean = np.where(ok, e, 0.0).sum(axis=0) / ok.sum(axis=0)
        e = e - mean
    q_lo, q_hi = percentile_ci(e, confidence)
    return estimate - q_hi, estimate - q_lo


def basic_p_value(estimate: np.ndarray | float, errors: np.ndarray) -> np.ndarray:
    """Two-sided p of "true value 0" by inverting the basic interval.

    ``p = min(1, 2 * min(share(e* >= estimate), share(e* <= estimate)))``: the
    smallest level at which ``[estimate - q_hi(e*), estimate - q_lo(e*)]``
    excludes 0.
    """
    e = np.asarray(errors, dtype=np.float64)
    ok = np.isfinite(e)
    n = ok.sum(axis=0)
    with np.errstate(divide="ignore", invalid="ignore"):
        ge = (ok & (e >= estimate)).sum(axis=0) / n
        le = (ok & (e <= estimate)).sum(axis=0) / n
        p = np.minimum(1.0, 2.0 * np.minimum(ge, le))
    return np.where(n > 0, p, np.nan)


def max_t_p_value(observed: np.ndarray, replicates: np.ndarray) -> tuple[float, float]:
    """Studentized max-|T| p-value of "every component is 0", calibrated by the centred bootstrap.

    Component ``c`` has statistic ``T_c = observed_c / se_c`` with ``se_c`` the
    bootstrap standard deviation of its replicates; the null distribution of
    ``max_c |T_c|`` is that of ``max_c |replicate_c - mean_c| / se_c`` over the
    replicates (Westfall & Young 1993, the single-step max-T; Romano & Wolf
    2005). Components without variation or with an undefined observed value
    are left out.

    Parameters
    ----------
    observed : ndarray, shape (M,)
    replicates : ndarray, shape (B, M)

    Returns
    -------
    p_value, t_max : float
        ``p = (1 + #{max|T*| >= max|T|}) / (B + 1)``; ``(nan, nan)`` when no
        component can be tested, ``(1.0, 0.0)`` when every testable observed
        component is exactly 0.
    """
    obs = np.asarray(observed, dtype=np.float64).reshape(-1)
    rep = np.asarray(replicates, dtype=np.float64).reshape(-1, obs.shape[0])
    ok = np.isfinite(rep)
    cnt = ok.sum(axis=0)
    with np.errstate(invalid="ignore", divide="ignore"):
        mean = np.where(ok, rep, 0.0).sum(axis=0) / cnt
        dev = np.where(ok, rep - mean, 0.0)
        sd = np.sqrt((dev**2).sum(axis=0) / (cnt - 1))
    use = np.isfinite(obs) & (cnt >= 2) & (sd > 1e-15)
    if not use.any():
        fin = np.isfinite(obs)
        if fin.any() and np.all(np.abs(obs[fin]) <= 1e-15) and (cnt[fin] >= 1).all():
            return 1.0, 0.0  # no variation and no difference: nothing to detect
        return float("nan"), float("nan")
    t_obs = float(np.max(np.abs(obs[use]) / sd[use]))
    if t_obs == 0.0:
        return 1.0, 0.0
    t_rep = np.where(ok[:, use], np.abs(dev[:, use]) / sd[use], -np.inf).max(axis=1)
    b = rep.shape[0]
    p = (1.0 + float((t_rep >= t_obs).sum())) / (b + 1.0)
    return min(1.0, p), t_obs


def permuted_group_tables(
    group_sizes: np.ndarray, rest_counts: np.ndarray, n_draws: int, rng: np.random.Generator
) -> np.ndarray:
    """Random (group x cell) tables with the observed margins: group labels shuffled.

    Shuffling the group labels over the rows keeps every group's size and the
    count of every other cell (truth, predictions); the table of counts it gives
    is multivariate-hypergeometric, drawn group by group
    (``Generator.multivariate_hypergeometric``) without touching rows.

    Parameters
    ----------
    group_sizes : ndarray of int, shape (G,)
    rest_counts : ndarray of int, shape (R,)
        Counts of the non-group cells; sums to ``group_sizes.sum()``.
    n_draws : int
    rng : numpy.random.Generator

    Returns
    -------
    ndarray of int64, shape (n_draws, G, R)
    """
    sizes = np.asarray(group_sizes, dtype=np.int64)
    rest = np.asarray(rest_counts, dtype=np.int64)
    out = np.empty((n_draws, sizes.shape[0], rest.shape[0]), dtype=np.int64)
    for i in range(n_draws):
        remaining = rest.copy()
        for g, size in enumerate(sizes[:-1].tolist()):
            t = rng.multivariate_hypergeometric(remaining, size, method="marginals")
            out[i, g] = t
            remaining -= t
        out[i, -1] = remaining
    return out


def simultaneous_intervals(
    observed: np.ndarray, replicates: np.ndarray, confidence: float
) -> tuple[np.ndarray, np.ndarray]:
    """Simultaneous studentized intervals ``observed_c +- c * se_c`` (bootstrap max-T).

    ``se_c`` is the bootstrap standard deviation of component ``c`` and ``c`` the
    ``confidence`` quantile of ``max_c |replicate_c - mean_c| / se_c`` (the
    centred bootstrap of the max-|T| statistic; Romano & Wolf 2005). All
    components are covered at once with probability about ``confidence``, so any
    function of them (a max over pairs, a min over groups) gets an interval
    from the ends. Components without variation get a zero-width interval;
    undefined ones NaN.

    Parameters
    ----------
    observed : ndarray, shape (M,)
    replicates : ndarray, shape (B, M)
    confidence : float

    Returns
    -------
    low, high : ndarray, shape (M,)
    """
    obs = np.asarray(observed, dtype=np.float64).reshape(-1)
    rep = np.asarray(replicates, dtype=np.float64).reshape(-1, obs.shape[0])
    ok = np.isfinite(rep)
    cnt = ok.sum(axis=0)
    with np.errstate(invalid="ignore", divide="ignore"):
        mean = np.where(ok, rep, 0.0).sum(axis=0) / cnt
        dev = np.where(ok, rep - mean, 0.0)
        sd = np.sqrt((dev**2).sum(axis=0) / (cnt - 1))
    sd = np.where(cnt >= 2, sd, np.nan)
    use = np.isfinite(obs) & (sd > 1e-15)
    if use.any():
        t = np.where(ok[:, use], np.abs(dev[:, use]) / sd[use], -np.inf).max(axis=1)
        t = t[np.isfinite(t)]
        crit = float(np.quantile(t, confidence)) if t.size else float("nan")
    else:
        crit = 0.0
    half = np.where(use, crit * sd, 0.0)
    half = np.where(np.isfinite(obs), half, np.nan)
    return obs - half, obs + half


def abs_interval(low: np.ndarray, high: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Interval for ``|d|`` from an interval ``[low, high]`` for ``d`` (0 when it straddles 0)."""
    lo = np.where((low <= 0) & (high >= 0), 0.0, np.minimum(np.abs(low), np.abs(high)))
    return lo, np.maximum(np.abs(low), np.abs(high))


def wilson_interval(
    k: np.ndarray, n: np.ndarray, confidence: float = 0.95
) -> tuple[np.ndarray, np.ndarray]:
    """Wilson score interval of a binomial proportion k / n (NaN where n == 0).

    Chosen over the bootstrap for single-group rates: closed form, and close to
    nominal coverage even for small groups and rates near 0 or 1 (Brown, Cai and
    DasGupta 2001), where the percentile bootstrap of a rate collapses to a point.
    """
    k = np.asarray(k, dtype=np.float64)
    n = np.asarray(n, dtype=np.float64)
    z = float(_special.ndtri(0.5 + confidence / 2))
    with np.errstate(divide="ignore", invalid="ignore"):
        p = k / n
        denom = 1.0 + z * z / n
        centre = (p + z * z / (2 * n)) / denom
        half = z * np.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / denom
    ok = n > 0
    return (
        np.where(ok, np.clip(centre - half, 0.0, 1.0), np.nan),
        np.where(ok, np.clip(centre + half, 0.0, 1.0), np.nan),
    )
