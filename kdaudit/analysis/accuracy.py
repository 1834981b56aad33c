"""Overall accuracy per role and the paired-bootstrap change between roles."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence

import numpy as np

from kdaudit.analysis.pairs import check_pairs, pair_name
from kdaudit.analysis.stats import (
    DeltaEstimate,
    check_labels,
    encode_cells,
    mcnemar_exact,
    optional_float,
)
from kdaudit.analysis.stats import wilson_interval as _wilson_vector
from kdaudit.errors import InputDataError, UsageError
from kdaudit.results import Record, nested

__all__ = [
    "AccuracyResult",
    "accuracy_analysis",
    "paired_difference_ci",
    "wilson_interval",
]


@dataclasses.dataclass(frozen=True, slots=True, kw_only=True)
class AccuracyResult(Record):
    """Accuracy of each role and paired changes between roles.

    ``accuracy_delta[f"{a}_vs_{b}"]`` is acc(b) - acc(a) with Newcombe's
    hybrid-score interval for a paired difference of proportions and the
    two-sided exact McNemar p-value (the same test as the class-shift table,
    so a change resting on no discordant row has p = 1, never 0).
    """

    accuracy: dict[str, float]
    accuracy_delta: dict[str, DeltaEstimate] = nested(DeltaEstimate, mapping=True)  # noqa: RUF009


def accuracy_analysis(
    y_true: np.ndarray,
    predictions: Mapping[str, np.ndarray],
    *,
    pairs: Sequence[tuple[str, str]],
    n_bootstrap: int = 1000,
    seed: int = 0,
    confidence: float = 0.95,
) -> AccuracyResult:
    """Accuracy of each role and paired accuracy changes.

    Parameters
    ----------
    y_true : ndarray of int, shape (n_samples,)
    predictions : mapping role -> ndarray of int, each shape (n_samples,)
        Predicted labels of each role (teacher, student, baseline).
    pairs : sequence of (reference, other)
        Each gives ``accuracy_delta["reference_vs_other"]`` = acc(other) - acc(reference).
    n_bootstrap : int
        0 gives point values only (CI and p null); any other value gives the
        closed-form interval and exact test (no resampling is needed).
    seed : int
        Unused (kept for a uniform signature: nothing here is random).
    confidence : float
        Coverage of the intervals.

    Returns
    -------
    AccuracyResult
        ``to_dict()`` is ``{"accuracy": {role: float}, "accuracy_delta":
        {pair: {value, ci_low, ci_high, p_value}}}``.

    Notes
    -----
    Each row is reduced to its cell "which roles got it right" (2**n_roles
    cells). For a pair, with ``b`` rows only the reference got right and ``c``
    rows only the other got right, the change is ``(c - b) / n``; its p-value
    is the exact McNemar test on (b, c) (1 when b + c = 0) and its interval is
    Newcombe's (1998) method 10: Wilson score intervals of both accuracies,
    combined with the phi correlation of the paired 2 x 2 table. Cost
    O(n_samples), no resampling. Coverage is checked by simulation in
    tests/test_analysis_accuracy.py.

    Examples
    --------
    >>> import numpy as np
    >>> y = np.array([0, 1] * 50)
    >>> student = np.where(np.arange(100) < 10, 1 - y, y)  # 10 rows now wrong
    >>> res = accuracy_analysis(y, {"teacher": y, "student": student},
    ...                         pairs=[("teacher", "student")])
    >>> res.accuracy
    {'teacher': 1.0, 'student': 0.9}
    >>> d = res.accuracy_delta["teacher_vs_student"]
    >>> round(d.value, 2), round(d.p_value, 4)
    (-0.1, 0.002)
    """
    y = check_labels("y_true", y_true)
    n = y.shape[0]
    if n == 0:
        raise InputDataError("Expected at least one sample; got an empty y_true.")
    roles = list(predictions)
    pairs = check_pairs(pairs, roles)
    if n_bootstrap < 0:
        raise UsageError(f"Expected n_bootstrap >= 0; got {n_bootstrap}.")
    correct = [
        (check_labels(f"{role} predictions", predictions[role], n_samples=n) == y).astype(np.int64)
        for role in roles
    ]
    if not roles:
        return AccuracyResult(accuracy={}, accuracy_delta={})
    cells, counts, _ = encode_cells(correct, [2] * len(roles))
    # acc[role] = share of rows in cells where that role is right
    right = cells.astype(np.float64)  # (n_cells, n_roles)
    point = counts @ right / n
    index = {role: i for i, role in enumerate(roles)}
    deltas = {
        pair_name(a, b): _pair_delta(
            right[:, index[a]] > 0,
            right[:, index[b]] > 0,
            counts,
            point,
            index[a],
            index[b],
            n_bootstrap > 0,
            confidence,
        )
        for a, b in pairs
    }
    return AccuracyResult(
        accuracy={role: float(point[index[role]]) for role in roles},
        accuracy_delta=deltas,
    )


def _pair_delta(
    ra: np.ndarray,
    rb: np.ndarray,
    counts: np.ndarray,
    point: np.ndarray,
    ia: int,
    ib: int,
    with_test: bool,
    confidence: float,
) -> DeltaEstimate:
    """acc(b) - acc(a) from the cells where each role is right (``ra``, ``rb``)."""
    n = int(counts.sum())
    both, only_a = int(counts[ra & rb].sum()), int(counts[ra & ~rb].sum())
    only_b = int(counts[~ra & rb].sum())
    value = float(point[ib] - point[ia])
    low = high = p = None
    if with_test:
        low, high = paired_difference_ci(
            both, only_a, only_b, n - both - only_a - only_b, confidence
        )
        p = float(mcnemar_exact(np.array(only_a), np.array(only_b)))
    return DeltaEstimate(
        value=value,
        ci_low=optional_float(low),
        ci_high=optional_float(high),
        p_value=optional_float(p),
    )


def wilson_interval(successes: int, n: int, confidence: float) -> tuple[float, float]:
    """Wilson score interval of one proportion (``statsmodels`` ``proportion_confint(method="wilson")``)."""
    lo, hi = _wilson_vector(np.array([successes]), np.array([n]), confidence)
    return float(lo[0]), float(hi[0])


def paired_difference_ci(
    both: int, only_a: int, only_b: int, neither: int, confidence: float = 0.95
) -> tuple[float, float]:
    """Newcombe's (1998) hybrid score interval (method 10) for acc(b) - acc(a), paired.

    Parameters
    ----------
    both, only_a, only_b, neither : int
        Cells of the paired 2 x 2 table: rows right for both models, only for
        ``a``, only for ``b``, for neither.
    confidence : float

    Returns
    -------
    low, high : float
        Always contains the point value ``(only_b - only_a) / n``.

    References
    ----------
    Newcombe, R. G. (1998). Improved confidence intervals for the difference
    between binomial proportions based on paired data. Statistics in Medicine
    17, 2635-2650.
    """
    n = both + only_a + only_b + neither
    p1, p2 = (both + only_a) / n, (both + only_b) / n
    l1, u1 = wilson_interval(both + only_a, n, confidence)
    l2, u2 = wilson_interval(both + only_b, n, confidence)
    denom = float(both + only_a) * (only_b + neither) * (both + only_b) * (only_a + neither)
    phi = (both * neither - only_a * only_b) / np.sqrt(denom) if denom > 0 else 0.0
    delta = p2 - p1
    # interval for p2 - p1: the roles of the two Wilson intervals swap relative to p1 - p2
    low = delta - np.sqrt(
        max(0.0, (p2 - l2) ** 2 - 2 * phi * (p2 - l2) * (u1 - p1) + (u1 - p1) ** 2)
    )
    high = delta + np.sqrt(
        max(0.0, (u2 - p2) ** 2 - 2 * phi * (u2 - p2) * (p1 - l1) + (p1 - l1) ** 2)
    )
    return float(max(-1.0, low)), float(min(1.0, high))
