"""Overall accuracy per role and the paired-bootstrap change between roles."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence

import numpy as np

from kdaudit.analysis.stats import (
    DeltaEstimate,
    bootstrap_cell_counts,
    check_labels,
    encode_cells,
    optional_float,
    replicate_summary,
)
from kdaudit.errors import InputDataError, UsageError
from kdaudit.results import Record, nested


@dataclasses.dataclass(frozen=True, slots=True, kw_only=True)
class AccuracyResult(Record):
    """Accuracy of each role and paired changes between roles.

    ``accuracy_delta[f"{a}_vs_{b}"]`` is acc(b) - acc(a) with a percentile
    bootstrap CI and a two-sided paired-bootstrap p-value (all roles are
    resampled on the same rows).
    """

    accuracy: dict[str, float]
    accuracy_delta: dict[str, DeltaEstimate] = nested(DeltaEstimate, mapping=True)  # noqa: RUF009


def pair_name(a: str, b: str) -> str:
    """Name of the pair (a, b): the reference ``a`` first; deltas are b minus a."""
    return f"{a}_vs_{b}"


def check_pairs(pairs: Sequence[tuple[str, str]], roles: Sequence[str]) -> list[tuple[str, str]]:
    """Validate that every pair names two known roles; return them as a list."""
    out = []
    for pair in pairs:
        if len(pair) != 2:
            raise UsageError(f"Expected each pair to be (reference, other); got {pair!r}.")
        a, b = pair
        for role in (a, b):
            if role not in roles:
                raise UsageError(
                    f"Pair {pair_name(a, b)} names {role!r}, which has no predictions; "
                    f"known roles: {', '.join(roles) or 'none'}."
                )
        out.append((a, b))
    return out


def accuracy_analysis(
    y_true: np.ndarray,
    predictions: Mapping[str, np.ndarray],
    *,
    pairs: Sequence[tuple[str, str]],
    n_bootstrap: int = 1000,
    seed: int = 0,
    confidence: float = 0.95,
) -> AccuracyResult:
    """Accuracy of each role and paired-bootstrap accuracy changes.

    Parameters
    ----------
    y_true : ndarray of int, shape (n_samples,)
    predictions : mapping role -> ndarray of int, each shape (n_samples,)
        Predicted labels of each role (teacher, student, baseline).
    pairs : sequence of (reference, other)
        Each gives ``accuracy_delta["reference_vs_other"]`` = acc(other) - acc(reference).
    n_bootstrap : int
        Bootstrap replicates B; 0 gives point values only (CI and p null).
    seed : int
        Seed of the ``numpy.random.Generator`` drawing the replicates.
    confidence : float
        Coverage of the percentile intervals.

    Returns
    -------
    AccuracyResult
        ``to_dict()`` is ``{"accuracy": {role: float}, "accuracy_delta":
        {pair: {value, ci_low, ci_high, p_value}}}``.

    Notes
    -----
    Each row is reduced to its cell "which roles got it right" (2**n_roles
    cells); a bootstrap replicate is a multinomial draw of the cell counts,
    so the cost is O(B x 2**n_roles), independent of n_samples.
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
    reps = None
    if n_bootstrap > 0:
        rng = np.random.default_rng(seed)
        draws = next(bootstrap_cell_counts(counts, n_bootstrap, rng))
        reps = draws @ right / n  # (B, n_roles)
    index = {role: i for i, role in enumerate(roles)}
    deltas: dict[str, DeltaEstimate] = {}
    for a, b in pairs:
        value = float(point[index[b]] - point[index[a]])
        rep = None if reps is None else reps[:, index[b]] - reps[:, index[a]]
        low, high, p = replicate_summary(rep, confidence)
        deltas[pair_name(a, b)] = DeltaEstimate(
            value=value,
            ci_low=optional_float(low),
            ci_high=optional_float(high),
            p_value=optional_float(p),
        )
    return AccuracyResult(
        accuracy={role: float(point[index[role]]) for role in roles},
        accuracy_delta=deltas,
    )
