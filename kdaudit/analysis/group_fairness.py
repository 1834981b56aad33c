"""Group fairness of each model and its change between models (METHODS.md section 2).

For one sensitive attribute (one group label per row) and each role:

* binary task (``n_classes == 2``, positive label 1 unless given, or a
  multi-class task with a named ``positive_label``): per group n, selection
  rate P(yhat = pos), TPR, FPR and accuracy; demographic parity difference
  (DPD, max - min selection rate), equalized odds difference (EOD, the larger
  of the TPR and FPR spreads), equal opportunity difference (TPR spread),
  demographic parity ratio (min / max selection rate) and worst-group accuracy;
* multi-class task (``n_classes > 2``, no positive label): the same per class k
  one-vs-rest (positive = "predicted k", truth = "is k"); ``per_class`` holds
  each class's DPD/EOD and ``value`` is the worst class (max for differences,
  min for the ratio); ``mean_over_classes`` is the mean over classes where the
  metric is defined. Worst-group accuracy is the plain multi-class accuracy.

Uncertainty (noise-aware; docs/methods.md "Noise-aware disparities"): ``value``
stays the fairlearn-equal plug-in number; ``estimate`` is noise-corrected (spreads:
max over pairs of the signed root of the unbiased squared gap; ratio and
worst-group accuracy: bootstrap bias correction); ``ci_low``/``ci_high`` is a
calibrated interval around it (spreads and worst-group accuracy: simultaneous
max-T intervals over every pairwise difference / group; others: basic
bootstrap); ``percentile_ci`` keeps the plain percentile interval; spreads carry
a permutation ``noise_floor``. For every pair of roles the paired bootstrap
(the same resampled rows for both models) gives the change's ``estimate``, basic
interval and a studentized max-T ``p_value`` of "every pairwise gap unchanged".
Each per-group rate (selection rate, TPR, FPR, accuracy) also carries a 95% Wilson
score interval (``<rate>_ci`` in ``by_group``), from that group's own counts.

How it is computed
------------------
Each row is reduced to its cell (group, truth, each role's prediction); only
the distinct observed cells are kept (never a dense C^3 table). A bootstrap
replicate is a multinomial draw of the cell counts (or, when nearly every row
is its own cell, ``n_cells > n / 8``, per-row Poisson(1) weights from a
counter-based generator keyed by (seed, row id, replicate), summed per cell:
:mod:`kdaudit.analysis.poisson`; the result's ``bootstrap_method`` says which,
"multinomial-cells" or "poisson-counter"), and every confusion count of every
group, class and role is one sparse matrix product of those cell counts.
All metrics are then array operations on shape (B, groups, classes); there is
no Python loop over replicates.

Differences from fairlearn (documented)
---------------------------------------
fairlearn uses 0 for a rate whose denominator is 0 (TPR of a group without
positives) and keeps that group in the spread. kdaudit reports such a rate as
null with an ``undefined_reason``, leaves the group out of that spread, and
emits a :class:`~kdaudit.errors.KDAuditWarning`; a spread over fewer than two
groups is undefined (null). Wherever every group's rates are defined, the
point values equal fairlearn's ``demographic_parity_difference`` and
``equalized_odds_difference`` (``method="between_groups"``,
``agg="worst_case"``). In a bootstrap replicate where a rate is undefined the
same rule applies and replicates where a metric is undefined are left out of
its percentile interval and p-value.

The plain percentile intervals (``percentile_ci``) of spreads are biased upwards
under resampling and can exclude their own plug-in value; the calibrated
``ci_low``/``ci_high`` always hold ``estimate`` (bench/calibration.py measures them).
"""

from __future__ import annotations

import dataclasses
import functools
from collections.abc import Mapping, Sequence
from typing import Any, Self

import numpy as np
from scipy import sparse

from kdaudit.analysis.pairs import check_pairs, pair_name
from kdaudit.analysis.poisson import poisson_cell_counts
from kdaudit.analysis.stats import (
    _MULTINOMIAL_COST_RATIO,
    DeltaEstimate,
    abs_interval,
    basic_interval,
    basic_p_value,
    bootstrap_cell_counts,
    check_labels,
    encode_cells,
    factorize_labels,
    max_t_p_value,
    optional_float,
    percentile_ci,
    permuted_group_tables,
    signed_root,
    simultaneous_intervals,
    unbiased_squared_gaps,
    warn,
    wilson_interval,
)
from kdaudit.errors import InputDataError, UsageError
from kdaudit.results import Estimate, Record, nested, to_native

__all__ = [
    "MAX_ALL_PAIRS_GROUPS",
    "METHOD_BC",
    "METHOD_DELTA_SPREAD",
    "METHOD_ROLE_SPREAD",
    "METHOD_SIMULTANEOUS",
    "METRICS",
    "NOISE_FLOOR_DRAWS",
    "ClassFairness",
    "FairnessDelta",
    "FairnessEstimate",
    "GroupFairnessResult",
    "GroupRow",
    "MeanOverClasses",
    "NoiseFloor",
    "PairDelta",
    "RoleFairness",
    "group_fairness",
    "intersectional_groups",
]

METRICS: tuple[str, ...] = (
    "demographic_parity_difference",
    "equalized_odds_difference",
    "equal_opportunity_difference",
    "demographic_parity_ratio",
    "worst_group_accuracy",
)
"""Metrics reported per role (each an Estimate) and per pair (each a DeltaEstimate)."""

_PER_CLASS = ("demographic_parity_difference", "equalized_odds_difference")

# Elements of the (chunk, groups, classes) work arrays per bootstrap chunk.
_CHUNK_ELEMENTS = 2_000_000


# Spread metrics get the unbiased-squared-gap correction; the others a bootstrap bias correction.
_SPREAD_RATES: dict[str, tuple[str, ...]] = {
    "demographic_parity_difference": ("selection_rate",),
    "equalized_odds_difference": ("tpr", "fpr"),
    "equal_opportunity_difference": ("tpr",),
}
#: Groups above which only the extreme groups of each rate are paired (see the module notes).
MAX_ALL_PAIRS_GROUPS = 24
_EXTREME_GROUPS = 6
#: Random-group tables drawn for the noise floor (at most; fewer with many groups).
NOISE_FLOOR_DRAWS = 200

METHOD_ROLE_SPREAD = "usq-basic"
METHOD_DELTA_SPREAD = "usq-maxT"
METHOD_BC = "bc-basic"
METHOD_SIMULTANEOUS = "usq-simultaneous"


# -------------------------------------------------------------------------- records
@dataclasses.dataclass(frozen=True, slots=True, kw_only=True)
class NoiseFloor(Record):
    """What a metric shows under random groups of the same sizes (permutation null)."""

    value: float | None
    ci_high: float | None


@dataclasses.dataclass(frozen=True, slots=True, kw_only=True)
class FairnessEstimate(Estimate):
    """A per-model fairness metric: plug-in ``value`` plus the noise-aware fields.

    ``estimate`` is the noise-corrected number, ``ci_low``/``ci_high`` its
    calibrated interval, ``percentile_ci`` the plain percentile interval of
    ``value`` (kept for traceability), ``noise_floor`` the metric under random groups.
    """

    estimate: float | None = dataclasses.field(default=None, metadata={"omit_none": True})
    method: str | None = dataclasses.field(default=None, metadata={"omit_none": True})
    percentile_ci: tuple[float | None, float | None] | None = dataclasses.field(
        default=None, metadata={"omit_none": True}
    )
    noise_floor: NoiseFloor | None = dataclasses.field(
        default=None, metadata={"omit_none": True, "record": NoiseFloor}
    )


@dataclasses.dataclass(frozen=True, slots=True, kw_only=True)
class FairnessDelta(DeltaEstimate):
    """A change of a fairness metric between two models (noise-aware; see the module notes)."""

    estimate: float | None = dataclasses.field(default=None, metadata={"omit_none": True})
    method: str | None = dataclasses.field(default=None, metadata={"omit_none": True})
    percentile_ci: tuple[float | None, float | None] | None = dataclasses.field(
        default=None, metadata={"omit_none": True}
    )


@dataclasses.dataclass(frozen=True, slots=True, kw_only=True)
class GroupRow(Record):
    """One group of one role: size and rates (null with a reason when undefined)."""

    group: str
    n: int
    selection_rate: float | None
    tpr: float | None
    fpr: float | None
    accuracy: float | None
    small: bool
    undefined_reason: str | None = dataclasses.field(default=None, metadata={"omit_none": True})
    # 95% Wilson score intervals of the rates (see _with_rate_intervals)
    selection_rate_ci: tuple[float, float] | None = dataclasses.field(
        default=None, metadata={"omit_none": True}
    )
    tpr_ci: tuple[float, float] | None = dataclasses.field(
        default=None, metadata={"omit_none": True}
    )
    fpr_ci: tuple[float, float] | None = dataclasses.field(
        default=None, metadata={"omit_none": True}
    )
    accuracy_ci: tuple[float, float] | None = dataclasses.field(
        default=None, metadata={"omit_none": True}
    )


@dataclasses.dataclass(frozen=True, slots=True, kw_only=True)
class ClassFairness(Record):
    """One class of a multi-class (one-vs-rest) result (``class`` in JSON)."""

    class_: int
    demographic_parity_difference: FairnessEstimate = nested(FairnessEstimate)  # noqa: RUF009
    equalized_odds_difference: FairnessEstimate = nested(FairnessEstimate)  # noqa: RUF009

    def to_dict(self) -> dict[str, Any]:
        return {
            "class": self.class_,
            "demographic_parity_difference": self.demographic_parity_difference.to_dict(),
            "equalized_odds_difference": self.equalized_odds_difference.to_dict(),
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Self:
        return cls(
            class_=int(data["class"]),
            demographic_parity_difference=FairnessEstimate.from_dict(
                data["demographic_parity_difference"]
            ),
            equalized_odds_difference=FairnessEstimate.from_dict(data["equalized_odds_difference"]),
        )


@dataclasses.dataclass(frozen=True, slots=True, kw_only=True)
class MeanOverClasses(Record):
    """Mean over the classes where each metric is defined (multi-class only)."""

    demographic_parity_difference: FairnessEstimate = nested(FairnessEstimate)  # noqa: RUF009
    equalized_odds_difference: FairnessEstimate = nested(FairnessEstimate)  # noqa: RUF009


@dataclasses.dataclass(frozen=True, slots=True, kw_only=True)
class RoleFairness(Record):
    """Fairness metrics of one role on one attribute (INTERFACE.md ``group_fairness.ATTR.ROLE``)."""

    demographic_parity_difference: FairnessEstimate = nested(FairnessEstimate)  # noqa: RUF009
    equalized_odds_difference: FairnessEstimate = nested(FairnessEstimate)  # noqa: RUF009
    equal_opportunity_difference: FairnessEstimate = nested(FairnessEstimate)  # noqa: RUF009
    demographic_parity_ratio: FairnessEstimate = nested(FairnessEstimate)  # noqa: RUF009
    worst_group_accuracy: FairnessEstimate = nested(FairnessEstimate)  # noqa: RUF009
    by_group: tuple[GroupRow, ...] = nested(GroupRow, many=True)
    per_class: tuple[ClassFairness, ...] | None = dataclasses.field(
        default=None, metadata={"omit_none": True, "record": ClassFairness, "many": True}
    )
    mean_over_classes: MeanOverClasses | None = dataclasses.field(
        default=None, metadata={"omit_none": True, "record": MeanOverClasses}
    )


@dataclasses.dataclass(frozen=True, slots=True, kw_only=True)
class PairDelta(Record):
    """metric(B) - metric(A) for one pair, paired bootstrap CI and p-value."""

    demographic_parity_difference: FairnessDelta = nested(FairnessDelta)  # noqa: RUF009
    equalized_odds_difference: FairnessDelta = nested(FairnessDelta)  # noqa: RUF009
    equal_opportunity_difference: FairnessDelta = nested(FairnessDelta)  # noqa: RUF009
    demographic_parity_ratio: FairnessDelta = nested(FairnessDelta)  # noqa: RUF009
    worst_group_accuracy: FairnessDelta = nested(FairnessDelta)  # noqa: RUF009


@dataclasses.dataclass(frozen=True, slots=True, kw_only=True)
class GroupFairnessResult(Record):
    """Group fairness of every role on one sensitive attribute.

    ``to_dict()`` is INTERFACE.md's ``group_fairness.ATTR`` block: one key per
    role, then ``delta``, ``groups_flagged``, ``n_groups``, ``positive_label``,
    plus ``task`` ("binary" | "multiclass_ovr"), ``min_group_size`` and
    ``n_bootstrap``.
    """

    roles: dict[str, RoleFairness]
    delta: dict[str, PairDelta]
    groups_flagged: tuple[str, ...]
    n_groups: int
    positive_label: int | None
    task: str
    min_group_size: int
    n_bootstrap: int
    bootstrap_method: str = "multinomial-cells"

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {role: rf.to_dict() for role, rf in self.roles.items()}
        out["delta"] = {pair: d.to_dict() for pair, d in self.delta.items()}
        for name in _RESULT_SCALARS:
            out[name] = to_native(getattr(self, name))
        return out

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Self:
        known = {"delta", *_RESULT_SCALARS}
        return cls(
            roles={k: RoleFairness.from_dict(v) for k, v in data.items() if k not in known},
            delta={k: PairDelta.from_dict(v) for k, v in data["delta"].items()},
            groups_flagged=tuple(data["groups_flagged"]),
            **{k: data[k] for k in _RESULT_SCALARS if k in data and k != "groups_flagged"},
        )


_RESULT_SCALARS = (
    "groups_flagged",
    "n_groups",
    "positive_label",
    "task",
    "min_group_size",
    "n_bootstrap",
    "bootstrap_method",
)


# ---------------------------------------------------------------- intersectional
def intersectional_groups(sensitive: Mapping[str, np.ndarray]) -> np.ndarray:
    """Combine several sensitive attributes into one group label per row.

    Parameters
    ----------
    sensitive : mapping name -> ndarray, each shape (n_samples,)
        Group labels of each attribute, in the order the names should appear.

    Returns
    -------
    ndarray of str, shape (n_samples,)
        ``"name1=value1|name2=value2"`` per row; only observed combinations occur.

    Examples
    --------
    >>> intersectional_groups({"sex": ["F", "M", "F"], "age": ["young", "old", "old"]}).tolist()
    ['sex=F|age=young', 'sex=M|age=old', 'sex=F|age=old']
    """
    names = list(sensitive)
    if not names:
        raise UsageError("Expected at least one sensitive attribute to combine; got none.")
    n = len(sensitive[names[0]])
    codes, uniques = [], []
    for name in names:
        values = sensitive[name]
        values = values if hasattr(values, "codes") else np.asarray(values).reshape(-1)
        if values.shape[0] != n:
            raise InputDataError(
                f"Expected sensitive attribute {name!r} to have {n} rows like "
                f"{names[0]!r}; got {values.shape[0]}."
            )
        u, c = factorize_labels(values)
        uniques.append(u)
        codes.append(c)
    if n == 0:
        return np.array([], dtype=str)
    cells, _, cell_of_row = encode_cells(codes, [len(u) for u in uniques])
    labels = np.empty(cells.shape[0], dtype=object)  # object: no fixed-width copy per row
    labels[:] = [
        "|".join(f"{name}={u[v]}" for name, u, v in zip(names, uniques, row, strict=True))
        for row in cells.tolist()
    ]
    return labels[cell_of_row]


# ------------------------------------------------------------------- array maths
def _spread(x: np.ndarray, axis: int) -> np.ndarray:
    """max - min over the finite entries along ``axis``; NaN with fewer than 2."""
    ok = np.isfinite(x)
    cnt = ok.sum(axis=axis)
    hi = np.where(ok, x, -np.inf).max(axis=axis)
    lo = np.where(ok, x, np.inf).min(axis=axis)
    with np.errstate(invalid="ignore"):
        return np.where(cnt >= 2, hi - lo, np.nan)


def _ratio(x: np.ndarray, axis: int) -> np.ndarray:
    """min / max over the finite entries; NaN with fewer than 2 or max == 0."""
    ok = np.isfinite(x)
    cnt = ok.sum(axis=axis)
    hi = np.where(ok, x, -np.inf).max(axis=axis)
    lo = np.where(ok, x, np.inf).min(axis=axis)
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where((cnt >= 2) & (hi > 0), lo / hi, np.nan)


def _reduce(x: np.ndarray, how: str, axis: int) -> np.ndarray:
    """NaN-skipping max / min / mean along ``axis`` without all-NaN warnings."""
    ok = np.isfinite(x)
    cnt = ok.sum(axis=axis)
    if how == "max":
        r = np.where(ok, x, -np.inf).max(axis=axis)
    elif how == "min":
        r = np.where(ok, x, np.inf).min(axis=axis)
    else:
        with np.errstate(invalid="ignore", divide="ignore"):
            r = np.where(ok, x, 0.0).sum(axis=axis) / cnt
    return np.where(cnt > 0, r, np.nan)


@dataclasses.dataclass
class _Layout:
    """Column layout of the aggregated counts (one row per replicate)."""

    n_groups: int
    n_roles: int
    n_kinds: int  # classes of interest: 1 (binary) or n_classes (one-vs-rest)

    @property
    def sizes(self) -> tuple[int, ...]:
        g, r, k = self.n_groups, self.n_roles, self.n_kinds
        return (g, r * g, g * k, r * g * k, r * g * k)

    @functools.cached_property
    def offsets(self) -> np.ndarray:
        return np.concatenate([[0], np.cumsum(self.sizes)])

    def split(
        self, agg: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """(b, Q) -> n (b,G), correct (b,R,G), pos (b,G,K), predpos (b,R,G,K), tp (b,R,G,K)."""
        g, r, k = self.n_groups, self.n_roles, self.n_kinds
        o = self.offsets
        b = agg.shape[0]
        return (
            agg[:, o[0] : o[1]],
            agg[:, o[1] : o[2]].reshape(b, r, g),
            agg[:, o[2] : o[3]].reshape(b, g, k),
            agg[:, o[3] : o[4]].reshape(b, r, g, k),
            agg[:, o[4] : o[5]].reshape(b, r, g, k),
        )


def _metrics(
    n_g: np.ndarray, correct: np.ndarray, pos: np.ndarray, predpos: np.ndarray, tp: np.ndarray
) -> dict[str, np.ndarray]:
    """Metrics of one role from counts.

    Shapes: n_g (b, G), correct (b, G), pos/predpos/tp (b, G, K).
    Returns per-class arrays of shape (b, K) for the four spreads/ratios,
    ``worst_group_accuracy`` (b,), and the per-group rates (b, G, K) / (b, G).
    """
    with np.errstate(divide="ignore", invalid="ignore"):
        nn = n_g[..., None]
        sel = predpos / nn
        tpr = tp / pos
        fpr = (predpos - tp) / (nn - pos)
        acc = correct / n_g
    eopp = _spread(tpr, axis=1)
    fpr_spread = _spread(fpr, axis=1)
    return {
        "demographic_parity_difference": _spread(sel, axis=1),
        "equalized_odds_difference": np.maximum(eopp, fpr_spread),  # NaN if either is NaN
        "equal_opportunity_difference": eopp,
        "fpr_spread": fpr_spread,
        "demographic_parity_ratio": _ratio(sel, axis=1),
        "worst_group_accuracy": _reduce(acc, "min", axis=1),
        "selection_rate": sel,
        "tpr": tpr,
        "fpr": fpr,
        "accuracy": acc,
        "n:selection_rate": np.broadcast_to(nn, sel.shape),
        "n:tpr": pos,
        "n:fpr": nn - pos,
    }


def _pair_index(rate: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Group pairs (ia, ib), each shape (P, K), whose squared gaps are estimated.

    ``rate`` is one role's point rates, shape (G, K). Up to
    :data:`MAX_ALL_PAIRS_GROUPS` groups every pair is used; above, per class the
    :data:`_EXTREME_GROUPS` lowest against the as many highest groups (by the
    point rate), which is where max - min lives.
    """
    n_groups, n_kinds = rate.shape
    if n_groups <= MAX_ALL_PAIRS_GROUPS:
        ia, ib = np.triu_indices(n_groups, k=1)
        return (np.repeat(ia[:, None], n_kinds, axis=1), np.repeat(ib[:, None], n_kinds, axis=1))
    j = _EXTREME_GROUPS
    order = np.argsort(np.where(np.isfinite(rate), rate, np.inf), axis=0, kind="stable")
    n_ok = np.isfinite(rate).sum(axis=0)
    low = order[:j]  # (j, K)
    # the j highest finite rates: positions n_ok - j .. n_ok - 1 (clipped)
    pos_hi = np.clip(n_ok[None, :] - j + np.arange(j)[:, None], 0, n_groups - 1)
    high = np.take_along_axis(order, pos_hi, axis=0)
    ia = np.repeat(low, j, axis=0)
    ib = np.tile(high, (j, 1))
    return ia, ib


def _corrected(
    m: dict[str, np.ndarray], pairs: dict[str, tuple[np.ndarray, np.ndarray]]
) -> dict[str, np.ndarray]:
    """Noise-corrected spreads per class, shape (b, K), and their squared-gap components.

    For each rate, the unbiased squared gap U of every pair, its signed root,
    and the max over pairs (the corrected max - min). Keys ``corr:NAME``
    (b, K) and ``u:NAME`` (b, M) for each spread metric.
    """
    gaps: dict[str, np.ndarray] = {}
    roots: dict[str, np.ndarray] = {}
    diffs: dict[str, np.ndarray] = {}
    for rate, (ia, ib) in pairs.items():
        u = unbiased_squared_gaps(m[rate], m[f"n:{rate}"], ia, ib)  # (b, P, K)
        k = np.arange(m[rate].shape[2])[None, :]
        diffs[rate] = m[rate][:, ia, k] - m[rate][:, ib, k]
        gaps[rate] = u
        if ia.shape[0] == 0:  # one group: no pair, no spread
            roots[rate] = np.full((u.shape[0], u.shape[2]), np.nan)
        else:
            roots[rate] = _reduce(signed_root(u), "max", axis=1)  # (b, K)
    out: dict[str, np.ndarray] = {}
    for name, rates in _SPREAD_RATES.items():
        corr = roots[rates[0]]
        for r in rates[1:]:
            corr = np.maximum(corr, roots[r])
        out[f"corr:{name}"] = corr
        b = corr.shape[0]
        out[f"u:{name}"] = np.concatenate(
            [signed_root(gaps[r]).reshape(b, -1) for r in rates], axis=1
        )
        out[f"d:{name}"] = np.concatenate([diffs[r].reshape(b, -1) for r in rates], axis=1)
    return out


def _summaries(
    m: dict[str, np.ndarray],
    multiclass: bool,
    pairs: dict[str, tuple[np.ndarray, np.ndarray]] | None = None,
) -> dict[str, np.ndarray]:
    """Per-replicate scalars, shape (b,): the worst class (binary: the one class).

    With ``pairs``, also the corrected spreads ``est:NAME`` (b,), per class
    ``est_class:NAME`` (b, K), their class mean ``est_mean:NAME`` and the
    squared-gap components ``u:NAME`` (b, M).
    """
    out: dict[str, np.ndarray] = {"worst_group_accuracy": m["worst_group_accuracy"]}
    if pairs is not None:
        c = _corrected(m, pairs)
        for name in _SPREAD_RATES:
            corr = c[f"corr:{name}"]
            out[f"est:{name}"] = corr[:, 0] if not multiclass else _reduce(corr, "max", axis=1)
            out[f"u:{name}"] = c[f"u:{name}"]
            out[f"d:{name}"] = c[f"d:{name}"]
            if multiclass and name in _PER_CLASS:
                out[f"est_class:{name}"] = corr
                out[f"est_mean:{name}"] = _reduce(corr, "mean", axis=1)
        out["acc:groups"] = m["accuracy"]
    for name in METRICS[:4]:
        x = m[name]
        if not multiclass:
            out[name] = x[:, 0]
        else:
            out[name] = _reduce(x, "min" if name == "demographic_parity_ratio" else "max", axis=1)
    if multiclass:
        for name in _PER_CLASS:
            out[f"mean:{name}"] = _reduce(m[name], "mean", axis=1)
            out[f"class:{name}"] = m[name]
    return out


# ------------------------------------------------------------------ the analyzer
def group_fairness(
    y_true: np.ndarray,
    predictions: Mapping[str, np.ndarray],
    sensitive_features: np.ndarray,
    *,
    n_classes: int,
    pairs: Sequence[tuple[str, str] | str],
    positive_label: int | None = None,
    n_bootstrap: int = 1000,
    seed: int = 0,
    confidence: float = 0.95,
    min_group_size: int = 30,
    row_ids: np.ndarray | None = None,
) -> GroupFairnessResult:
    """Group fairness of each role on one sensitive attribute, with bootstrap CIs and deltas.

    Parameters
    ----------
    y_true : ndarray of int, shape (n_samples,)
    predictions : mapping role -> ndarray of int, each shape (n_samples,)
        Predicted labels of each role.
    sensitive_features : ndarray, shape (n_samples,)
        One group label per row (str; other types are compared as strings).
        Use :func:`intersectional_groups` to combine several attributes.
    n_classes : int
        C >= 2. With C == 2 the task is binary (positive label 1 unless given).
    pairs : sequence of (reference, other) or "reference_vs_other"
        ``delta[f"{a}_vs_{b}"]`` holds metric(b) - metric(a).
    positive_label : int, optional
        The positive class. Given on a multi-class task, that class is
        analysed as a binary task; omitted there, every class one-vs-rest.
    n_bootstrap : int
        Replicates B of the row bootstrap; 0 gives point values only.
    seed : int
        Seed of the ``numpy.random.Generator``.
    confidence : float
        Coverage of the percentile intervals.
    min_group_size : int
        Groups with fewer rows are flagged (``by_group[i].small``, ``groups_flagged``).
    row_ids : ndarray of int, shape (n_samples,), optional
        Global row ids keying the Poisson weights when that bootstrap is used
        (``bootstrap_method == "poisson-counter"``), so that workers holding
        disjoint rows draw the weights of their own rows. Default: each row's
        rank in cell order, which makes the draws a function of the cell
        counts alone (independent of the row order, and the same from merged
        count tables).

    Returns
    -------
    GroupFairnessResult

    Warns
    -----
    KDAuditWarning
        One group only; a rate undefined in some group (left out of its
        spread); groups smaller than ``min_group_size``.

    Examples
    --------
    >>> import numpy as np
    >>> y = np.array([0, 1, 0, 1, 0, 1, 0, 1])
    >>> group = np.array(["a", "a", "a", "a", "b", "b", "b", "b"])
    >>> preds = {"teacher": y, "student": np.array([1, 1, 1, 1, 0, 1, 0, 1])}
    >>> res = group_fairness(y, preds, group, n_classes=2,
    ...                      pairs=[("teacher", "student")], n_bootstrap=0, min_group_size=1)
    >>> res.roles["student"].demographic_parity_difference.value  # 4/4 - 2/4
    0.5
    >>> res.delta["teacher_vs_student"].demographic_parity_difference.value
    0.5
    """
    inp = _validate(
        y_true,
        predictions,
        sensitive_features,
        n_classes=n_classes,
        pairs=pairs,
        positive_label=positive_label,
        n_bootstrap=n_bootstrap,
        confidence=confidence,
    )
    table = _cell_table(inp)
    est = _estimate_all(table, n_bootstrap=n_bootstrap, seed=seed, row_ids=row_ids)
    return _records(
        inp,
        table,
        est,
        confidence=confidence,
        min_group_size=min_group_size,
        n_bootstrap=n_bootstrap,
    )


# ------------------------------------------------------------------- stage 1: validate
@dataclasses.dataclass(frozen=True, slots=True, kw_only=True)
class _Inputs:
    """Checked inputs: labels, each role's predictions and the group codes."""

    y: np.ndarray
    roles: list[str]
    pairs: list[tuple[str, str]]
    preds: list[np.ndarray]
    group_names: np.ndarray
    group_code: np.ndarray
    n_classes: int
    multiclass: bool
    pos_label: int | None

    @property
    def n_groups(self) -> int:
        return int(self.group_names.shape[0])


def _validate(
    y_true: np.ndarray,
    predictions: Mapping[str, np.ndarray],
    sensitive_features: np.ndarray,
    *,
    n_classes: int,
    pairs: Sequence[tuple[str, str] | str],
    positive_label: int | None,
    n_bootstrap: int,
    confidence: float,
) -> _Inputs:
    if n_classes < 2:
        raise UsageError(f"Expected n_classes >= 2 for group fairness; got {n_classes}.")
    if n_bootstrap < 0:
        raise UsageError(f"Expected n_bootstrap >= 0; got {n_bootstrap}.")
    if not 0.0 < confidence < 1.0:
        raise UsageError(f"Expected confidence in (0, 1); got {confidence!r}.")
    y = check_labels("y_true", y_true, n_classes=n_classes)
    n = y.shape[0]
    if n == 0:
        raise InputDataError("Expected at least one sample; got an empty y_true.")
    roles = list(predictions)
    if not roles:
        raise UsageError("Expected predictions of at least one role; got none.")
    checked_pairs = check_pairs(pairs, roles)
    preds = [
        check_labels(f"{role} predictions", predictions[role], n_samples=n, n_classes=n_classes)
        for role in roles
    ]
    # group labels given as codes + names (kdaudit.data.labels) stay that way: no per-row strings
    sens = (
        sensitive_features
        if hasattr(sensitive_features, "codes")
        else np.asarray(sensitive_features)
    )
    if sens.ndim != 1 or sens.shape[0] != n:
        raise InputDataError(
            f"Expected sensitive_features of shape ({n},) like y_true; got {sens.shape}.",
            tip="Pass one attribute at a time, or combine several with intersectional_groups().",
        )
    group_names, g = factorize_labels(sens)
    multiclass = positive_label is None and n_classes > 2
    pos_label = None
    if not multiclass:
        pos_label = 1 if positive_label is None else int(positive_label)
        if not 0 <= pos_label < n_classes:
            raise UsageError(
                f"Expected positive_label in [0, {n_classes}); got {positive_label!r}."
            )
    return _Inputs(
        y=y,
        roles=roles,
        pairs=checked_pairs,
        preds=preds,
        group_names=group_names,
        group_code=g,
        n_classes=n_classes,
        multiclass=multiclass,
        pos_label=pos_label,
    )


# ---------------------------------------------------------------- stage 2: cell table
@dataclasses.dataclass(frozen=True, slots=True, kw_only=True)
class _CellTable:
    """Distinct (group, truth, each role's prediction) cells, their counts and the
    sparse matrix that turns cell counts into every confusion count."""

    cells: np.ndarray
    counts: np.ndarray
    cell_of_row: np.ndarray
    layout: _Layout
    agg_matrix: sparse.csr_matrix
    multiclass: bool
    n_classes: int

    def compute(
        self, cell_counts: np.ndarray, matrix: sparse.csr_matrix | None = None
    ) -> list[dict[str, np.ndarray]]:
        """Each role's metrics (:func:`_metrics`) from (b, n_cells) counts."""
        matrix = self.agg_matrix if matrix is None else matrix
        agg = np.asarray(matrix @ cell_counts.T.astype(np.float64)).T
        n_g, correct, pos, predpos, tp = self.layout.split(agg)
        return [
            _metrics(n_g, correct[:, r], pos, predpos[:, r], tp[:, r])
            for r in range(self.layout.n_roles)
        ]


def _cell_table(inp: _Inputs) -> _CellTable:
    n_groups, n_roles, n_classes, g = inp.n_groups, len(inp.roles), inp.n_classes, inp.group_code
    if inp.multiclass:
        columns = [g, inp.y, *inp.preds]
        sizes = [n_groups] + [n_classes] * (1 + n_roles)
    else:
        columns = [g, (inp.y == inp.pos_label).astype(np.int64)]
        columns += [(p == inp.pos_label).astype(np.int64) for p in inp.preds]
        sizes = [n_groups] + [2] * (1 + n_roles)
        if n_classes > 2:  # correctness is not implied by the binarized labels
            columns += [(p == inp.y).astype(np.int64) for p in inp.preds]
            sizes += [2] * n_roles
    cells, counts, cell_of_row = encode_cells(columns, sizes)
    layout = _Layout(n_groups, n_roles, n_classes if inp.multiclass else 1)
    return _CellTable(
        cells=cells,
        counts=counts,
        cell_of_row=cell_of_row,
        layout=layout,
        agg_matrix=_aggregation_matrix(cells, layout, inp.multiclass, n_classes),
        multiclass=inp.multiclass,
        n_classes=n_classes,
    )


# ------------------------------------------------------------------ stage 3: estimate
@dataclasses.dataclass(frozen=True, slots=True, kw_only=True)
class _Estimates:
    """Point metrics and summaries per role, bootstrap replicates and the noise floor."""

    point: list[dict[str, np.ndarray]]
    point_sum: list[dict[str, np.ndarray]]
    reps: list[dict[str, np.ndarray]] | None
    floor: list[dict[str, np.ndarray]] | None
    use_poisson: bool


def _estimate_all(
    table: _CellTable, *, n_bootstrap: int, seed: int, row_ids: np.ndarray | None
) -> _Estimates:
    multiclass, counts = table.multiclass, table.counts
    point = table.compute(counts[None, :])
    pairs_of_rate = {
        rate: _pair_index(_col_mean(np.stack([pm[rate][0] for pm in point])))
        for rate in ("selection_rate", "tpr", "fpr")
    }
    point_sum = [_summaries(m, multiclass, pairs_of_rate) for m in point]
    use_poisson = counts.shape[0] * _MULTINOMIAL_COST_RATIO > int(counts.sum())
    reps: list[dict[str, np.ndarray]] | None = None
    floor: list[dict[str, np.ndarray]] | None = None
    if n_bootstrap > 0:
        reps = _bootstrap_summaries(
            table, pairs_of_rate, n_bootstrap, seed, row_ids, use_poisson=use_poisson
        )
        if table.layout.n_groups >= 2:
            floor = _noise_floor(
                table.cells,
                counts,
                table.layout,
                multiclass,
                table.n_classes,
                n_bootstrap,
                np.random.default_rng([seed, 8]),
                table.compute,
            )
    return _Estimates(
        point=point, point_sum=point_sum, reps=reps, floor=floor, use_poisson=use_poisson
    )


def _bootstrap_summaries(
    table: _CellTable,
    pairs_of_rate: dict[str, tuple[np.ndarray, np.ndarray]],
    n_bootstrap: int,
    seed: int,
    row_ids: np.ndarray | None,
    *,
    use_poisson: bool,
) -> list[dict[str, np.ndarray]]:
    """Per role, the replicates of every summary (:func:`_summaries`), chunk by chunk."""
    layout, counts = table.layout, table.counts
    n_roles = layout.n_roles
    rng = np.random.default_rng(seed)
    n_pairs = pairs_of_rate["tpr"][0].shape[0]
    per_rep = max(
        1,
        layout.n_groups * layout.n_kinds * (3 * n_roles + 1),
        6 * n_pairs * layout.n_kinds * n_roles,
    )
    # bound both the metric arrays (per_rep) and the drawn cell counts (n_cells) per chunk
    chunk = max(
        1,
        min(n_bootstrap, _CHUNK_ELEMENTS // per_rep, _CHUNK_ELEMENTS // max(1, counts.shape[0])),
    )
    draws = (
        # no ids given: rows keyed by their rank in cell order (rows of one cell are
        # interchangeable), so the draws depend on the counts only, not the row order
        poisson_cell_counts(
            table.cell_of_row
            if row_ids is not None
            else np.repeat(np.arange(counts.shape[0], dtype=np.int64), counts),
            counts.shape[0],
            n_bootstrap,
            seed,
            row_ids=row_ids,
            chunk_size=chunk,
        )
        if use_poisson
        else bootstrap_cell_counts(counts, n_bootstrap, rng, chunk_size=chunk)
    )
    pieces = [
        [_summaries(m, table.multiclass, pairs_of_rate) for m in table.compute(draw)]
        for draw in draws
    ]
    return [
        {k: np.concatenate([p[r][k] for p in pieces], axis=0) for k in pieces[0][r]}
        for r in range(n_roles)
    ]


# ------------------------------------------------------------------- stage 4: records
def _records(
    inp: _Inputs,
    table: _CellTable,
    est: _Estimates,
    *,
    confidence: float,
    min_group_size: int,
    n_bootstrap: int,
) -> GroupFairnessResult:
    group_names, n_groups, multiclass = inp.group_names, inp.n_groups, inp.multiclass
    group_n = np.bincount(inp.group_code, minlength=n_groups)
    small = group_n < min_group_size
    flagged = tuple(str(x) for x in group_names[small])
    if flagged:
        warn(
            f"{len(flagged)} group(s) have fewer than {min_group_size} samples and are "
            f"flagged: {_some(flagged)}. Their rates are noisy."
        )
    if n_groups < 2:
        warn(
            f"The sensitive attribute has only one group ({str(group_names[0])!r}); "
            "between-group differences are undefined."
        )
    reasons = _point_reasons(est.point[0], n_groups, multiclass, group_names)
    role_records = {
        role: _role_record(
            est.point[r],
            est.point_sum[r],
            None if est.reps is None else est.reps[r],
            None if est.floor is None else est.floor[r],
            reasons,
            group_names,
            group_n,
            small,
            multiclass,
            confidence,
        )
        for r, role in enumerate(inp.roles)
    }
    role_records = _with_rate_intervals(
        role_records, table.agg_matrix, table.counts, table.layout, confidence
    )
    index = {role: i for i, role in enumerate(inp.roles)}
    deltas = {
        pair_name(a, b): _pair_delta(est, index[a], index[b], reasons, confidence)
        for a, b in inp.pairs
    }
    return GroupFairnessResult(
        roles=role_records,
        delta=deltas,
        groups_flagged=flagged,
        n_groups=n_groups,
        positive_label=inp.pos_label,
        task="multiclass_ovr" if multiclass else "binary",
        min_group_size=int(min_group_size),
        n_bootstrap=int(n_bootstrap),
        bootstrap_method="poisson-counter" if est.use_poisson else "multinomial-cells",
    )


def _pair_delta(
    est: _Estimates, ia: int, ib: int, reasons: dict[str, str], confidence: float
) -> PairDelta:
    """metric(b) - metric(a) of every metric for one pair of roles."""
    fields: dict[str, FairnessDelta] = {}
    for name in METRICS:
        va, vb = est.point_sum[ia][name][0], est.point_sum[ib][name][0]
        value = optional_float(vb - va)
        if value is None:
            reason = reasons.get(name) or "undefined for at least one of the two models"
            fields[name] = FairnessDelta(value=None, undefined_reason=reason)
            continue
        fields[name] = _delta_estimate(
            name,
            value,
            est.point_sum[ia],
            est.point_sum[ib],
            None if est.reps is None else est.reps[ia],
            None if est.reps is None else est.reps[ib],
            confidence,
        )
    return PairDelta(**fields)


# ------------------------------------------------------------ per-group rate intervals
def _with_rate_intervals(
    records: dict[str, RoleFairness],
    agg_matrix: sparse.csr_matrix,
    counts: np.ndarray,
    layout: _Layout,
    confidence: float,
) -> dict[str, RoleFairness]:
    """Add a Wilson interval to every defined per-group rate of every role.

    selection rate = predicted positives / n, TPR = true positives / positives,
    FPR = false positives / negatives, accuracy = correct / n, each over the group's
    rows (binary task; multi-class: accuracy only, the other rates are per class).
    """
    agg = np.asarray(agg_matrix @ counts.astype(np.float64)).ravel()[None, :]
    n_g, correct, pos, predpos, tp = layout.split(agg)
    n_g, pos = n_g[0], pos[0, :, 0]
    out = {}
    for r, (role, rec) in enumerate(records.items()):
        pp_, tp_ = predpos[0, r, :, 0], tp[0, r, :, 0]
        bounds = {
            "accuracy": wilson_interval(correct[0, r], n_g, confidence),
            "selection_rate": wilson_interval(pp_, n_g, confidence),
            "tpr": wilson_interval(tp_, pos, confidence),
            "fpr": wilson_interval(pp_ - tp_, n_g - pos, confidence),
        }
        rows = []
        for i, row in enumerate(rec.by_group):
            extra: dict[str, Any] = {}
            for name, (lo, hi) in bounds.items():
                if getattr(row, name) is not None and np.isfinite(lo[i]) and np.isfinite(hi[i]):
                    extra[f"{name}_ci"] = (float(lo[i]), float(hi[i]))
            rows.append(dataclasses.replace(row, **extra))
        out[role] = dataclasses.replace(rec, by_group=tuple(rows))
    return out


def _aggregation_matrix(
    cells: np.ndarray, layout: _Layout, multiclass: bool, n_classes: int
) -> sparse.csr_matrix:
    """Sparse (Q, n_cells) 0/1 matrix: aggregated counts = matrix @ cell counts."""
    g = cells[:, 0]
    truth = cells[:, 1]
    n_cells = cells.shape[0]
    n_groups, n_roles, n_kinds = layout.n_groups, layout.n_roles, layout.n_kinds
    o = layout.offsets
    rows: list[np.ndarray] = [o[0] + g]
    cols: list[np.ndarray] = [np.arange(n_cells)]

    def add(mask: np.ndarray, target: np.ndarray) -> None:
        rows.append(target[mask])
        cols.append(np.flatnonzero(mask))

    if multiclass:
        is_pos = np.ones(n_cells, dtype=bool)
        kind_truth = truth
    else:
        is_pos = truth == 1
        kind_truth = np.zeros(n_cells, dtype=np.int64)
    add(is_pos, o[2] + g * n_kinds + kind_truth)
    for r in range(n_roles):
        pred = cells[:, 2 + r]
        if multiclass:
            right = pred == truth
            add(np.ones(n_cells, dtype=bool), o[3] + (r * n_groups + g) * n_kinds + pred)
            add(right, o[4] + (r * n_groups + g) * n_kinds + pred)
        else:
            right = cells[:, 2 + n_roles + r] == 1 if n_classes > 2 else pred == truth
            add(pred == 1, o[3] + (r * n_groups + g) * n_kinds)
            add((pred == 1) & is_pos, o[4] + (r * n_groups + g) * n_kinds)
        add(right, o[1] + r * n_groups + g)
    row = np.concatenate(rows)
    col = np.concatenate(cols)
    data = np.ones(row.shape[0], dtype=np.float64)
    return sparse.csr_matrix((data, (row, col)), shape=(int(o[-1]), n_cells))


def _some(names: Sequence[str], limit: int = 8) -> str:
    shown = ", ".join(repr(x) for x in names[:limit])
    return shown + (f" and {len(names) - limit} more" if len(names) > limit else "")


def _point_reasons(
    m: dict[str, np.ndarray], n_groups: int, multiclass: bool, group_names: np.ndarray
) -> dict[str, str]:
    """Why each headline metric is undefined (only the undefined ones), plus warnings.

    The counts that make a rate undefined (no positives / no negatives in a
    group) depend on the truth only, so the reasons are the same for every role.
    """
    reasons: dict[str, str] = {}
    if n_groups < 2:
        one = "only one group in this attribute"
        for name in METRICS[:4]:
            reasons[name] = one
        return reasons
    tpr, fpr = m["tpr"][0], m["fpr"][0]  # (G, K)
    if not multiclass:
        no_pos = group_names[~np.isfinite(tpr[:, 0])].tolist()
        no_neg = group_names[~np.isfinite(fpr[:, 0])].tolist()
        if no_pos:
            warn(
                f"{len(no_pos)} group(s) have no positives, so their TPR is undefined and "
                f"left out of the TPR spread: {_some(no_pos)}."
            )
        if no_neg:
            warn(
                f"{len(no_neg)} group(s) have no negatives, so their FPR is undefined and "
                f"left out of the FPR spread: {_some(no_neg)}."
            )
        if n_groups - len(no_pos) < 2:
            reasons["equal_opportunity_difference"] = (
                "fewer than 2 groups have positives, so the TPR spread is undefined"
            )
            reasons["equalized_odds_difference"] = reasons["equal_opportunity_difference"]
        elif n_groups - len(no_neg) < 2:
            reasons["equalized_odds_difference"] = (
                "fewer than 2 groups have negatives, so the FPR spread is undefined"
            )
        if not np.isfinite(m["demographic_parity_ratio"][0, 0]):
            reasons["demographic_parity_ratio"] = "no group has a positive prediction (0 / 0)"
    else:
        undefined = int((~np.isfinite(tpr)).sum() + (~np.isfinite(fpr)).sum())
        if undefined:
            warn(
                f"{undefined} (group, class) TPR/FPR values are undefined (a class absent "
                "from a group, or the only class in it); they are left out of that class's "
                "spreads."
            )
        for name in METRICS[:4]:
            if not np.isfinite(m[name][0]).any():
                reasons[name] = "undefined for every class (see per_class)"
    return reasons


def _clip01(x: float | None) -> float | None:
    return None if x is None else min(1.0, max(0.0, x))


def _contain(
    low: float | None, high: float | None, est: float | None
) -> tuple[float | None, float | None]:
    """Widen [low, high] so it holds ``est`` (no interval excludes its own estimate)."""
    if low is None or high is None or est is None:
        return low, high
    return min(low, est), max(high, est)


def _col_mean(x: np.ndarray) -> np.ndarray:
    ok = np.isfinite(x)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(ok, x, 0.0).sum(axis=0) / ok.sum(axis=0)


def _nanmean(x: np.ndarray) -> float:
    ok = np.isfinite(x)
    return float(x[ok].mean()) if ok.any() else float("nan")


def _estimate(
    value: float | None,
    rep: np.ndarray | None,
    confidence: float,
    reason: str | None,
    *,
    corrected: float | None = None,
    rep_corrected: np.ndarray | None = None,
    floor: np.ndarray | None = None,
    components: tuple[np.ndarray, np.ndarray, str] | None = None,
) -> FairnessEstimate:
    """A per-model metric record.

    ``corrected``/``rep_corrected`` given (spreads): the estimate is the
    corrected spread (clipped to [0, 1]) with the basic interval of its
    replicates. Otherwise (ratio, worst-group accuracy): the bootstrap
    bias-corrected ``2 value - mean(rep)`` with the basic interval.
    """
    if value is None:
        return FairnessEstimate(value=None, undefined_reason=reason or "undefined")
    if rep is None:
        est = value if corrected is None else _clip01(corrected)
        return FairnessEstimate(value=value, estimate=est)
    p_low, p_high = percentile_ci(rep, confidence)
    pct = (optional_float(p_low), optional_float(p_high))
    if corrected is not None and rep_corrected is not None:
        low, high = basic_interval(
            np.float64(corrected), rep_corrected, np.float64(value), confidence
        )
        est = _clip01(corrected)
        method = METHOD_ROLE_SPREAD
    else:
        bias = _nanmean(rep) - value
        est = _clip01(value - bias) if np.isfinite(bias) else value
        low, high = basic_interval(
            np.float64(value - (bias if np.isfinite(bias) else 0.0)),
            rep,
            np.float64(value),
            confidence,
            center=True,
        )
        method = METHOD_BC
    if components is not None:
        obs, crep, how = components
        c_low, c_high = simultaneous_intervals(obs, crep, confidence)
        if how == "max_abs":
            c_low, c_high = abs_interval(c_low, c_high)
            low, high = _reduce(c_low, "max", 0), _reduce(c_high, "max", 0)
            method = METHOD_SIMULTANEOUS
        else:
            low, high = _reduce(c_low, "min", 0), _reduce(c_high, "min", 0)
            method = "simultaneous"
    lo, hi = _clip01(optional_float(low)), _clip01(optional_float(high))
    lo, hi = _contain(lo, hi, est)
    nf = None
    if floor is not None:
        ok = floor[np.isfinite(floor)]
        if ok.size:
            nf = NoiseFloor(value=float(ok.mean()), ci_high=float(np.percentile(ok, 95)))
    return FairnessEstimate(
        value=value,
        ci_low=lo,
        ci_high=hi,
        estimate=est,
        method=method,
        percentile_ci=pct,
        noise_floor=nf,
    )


def _delta_estimate(
    name: str,
    value: float,
    sa: dict[str, np.ndarray],
    sb: dict[str, np.ndarray],
    ra: dict[str, np.ndarray] | None,
    rb: dict[str, np.ndarray] | None,
    confidence: float,
) -> FairnessDelta:
    """metric(B) - metric(A): corrected estimate, calibrated interval and p-value.

    Spreads: estimate = difference of the (unclipped) corrected spreads; interval
    = basic bootstrap interval of that difference, widened to include 0 when
    the test does not reject; p = studentized max-|T| test of "every squared
    gap is the same in both models" (:func:`max_t_p_value`). Ratio and
    worst-group accuracy: bias-corrected difference, basic interval, p by
    inverting the basic interval.
    """
    alpha = 1.0 - confidence
    if name in _SPREAD_RATES:
        ea, eb = sa[f"est:{name}"][0], sb[f"est:{name}"][0]
        est = optional_float(eb - ea)
        if ra is None or rb is None:
            return FairnessDelta(value=value, estimate=est)
        rep = rb[name] - ra[name]
        p_low, p_high = percentile_ci(rep, confidence)
        rep_est = rb[f"est:{name}"] - ra[f"est:{name}"]
        if est is None:
            est = value
            rep_est = rep
        low, high = basic_interval(np.float64(est), rep_est, np.float64(value), confidence)
        u_obs = sb[f"u:{name}"][0] - sa[f"u:{name}"][0]
        u_rep = rb[f"u:{name}"] - ra[f"u:{name}"]
        # bootstrap bias correction of each component: the bootstrap world's true gap is
        # the plug-in |d|, so mean(root*) - |d| estimates the bias of the signed root
        bias = (_col_mean(rb[f"u:{name}"]) - np.abs(sb[f"d:{name}"][0])) - (
            _col_mean(ra[f"u:{name}"]) - np.abs(sa[f"d:{name}"][0])
        )
        u_obs = u_obs - np.where(np.isfinite(bias), bias, 0.0)
        p, _ = max_t_p_value(u_obs, u_rep)
        lo, hi = optional_float(low), optional_float(high)
        if lo is not None and hi is not None and (not np.isfinite(p) or p > alpha):
            lo, hi = min(lo, 0.0), max(hi, 0.0)
        method = METHOD_DELTA_SPREAD
    else:
        if ra is None or rb is None:
            return FairnessDelta(value=value, estimate=value)
        rep = rb[name] - ra[name]
        p_low, p_high = percentile_ci(rep, confidence)
        err = rep - value
        bias = _nanmean(err)
        if not np.isfinite(bias):
            bias = 0.0
        est = value - bias
        low, high = basic_interval(np.float64(est), rep, np.float64(value), confidence, center=True)
        p = float(basic_p_value(np.float64(est), err - bias))
        lo, hi = optional_float(low), optional_float(high)
        method = METHOD_BC
    lo, hi = _contain(lo, hi, est)
    return FairnessDelta(
        value=value,
        ci_low=lo,
        ci_high=hi,
        p_value=optional_float(p),
        estimate=est,
        method=method,
        percentile_ci=(optional_float(p_low), optional_float(p_high)),
    )


def _noise_floor(
    cells: np.ndarray,
    counts: np.ndarray,
    layout: _Layout,
    multiclass: bool,
    n_classes: int,
    n_bootstrap: int,
    rng: np.random.Generator,
    compute: Any,
) -> list[dict[str, np.ndarray]]:
    """Each role's plug-in spreads under random groups of the observed sizes.

    The group labels are shuffled over the rows: group sizes and the counts of
    every (truth, predictions) cell are kept, the (group x cell) table is
    multivariate-hypergeometric (:func:`permuted_group_tables`). Returns per role
    ``{metric: (D,)}`` for the spread metrics.
    """
    n_groups = layout.n_groups
    rest, rest_of_cell = np.unique(cells[:, 1:], axis=0, return_inverse=True)
    rest_of_cell = rest_of_cell.reshape(-1)
    rest_counts = np.bincount(rest_of_cell, weights=counts, minlength=rest.shape[0]).astype(
        np.int64
    )
    group_sizes = np.bincount(cells[:, 0], weights=counts, minlength=n_groups).astype(np.int64)
    n_rest = rest.shape[0]
    full = np.concatenate(
        [np.repeat(np.arange(n_groups), n_rest)[:, None], np.tile(rest, (n_groups, 1))], axis=1
    )
    matrix = _aggregation_matrix(full, layout, multiclass, n_classes)
    # cost ~ draws x groups x cells hypergeometric steps: keep it to a few seconds at most
    budget = 4_000_000 // max(1, (n_groups - 1) * n_rest)
    n_draws = int(min(n_bootstrap, NOISE_FLOOR_DRAWS, max(40, budget)))
    chunk = max(1, min(n_draws, _CHUNK_ELEMENTS // max(1, full.shape[0])))
    out: list[dict[str, list[np.ndarray]]] = [
        {k: [] for k in _SPREAD_RATES} for _ in range(layout.n_roles)
    ]
    done = 0
    # draw the groups in an order fixed by their content (size, then counts), not their
    # names, so renaming groups leaves the noise floor unchanged
    observed = np.zeros((n_groups, n_rest), dtype=np.int64)
    np.add.at(observed, (cells[:, 0], rest_of_cell), counts)
    order = np.lexsort((*observed.T[::-1], group_sizes))
    while done < n_draws:
        b = min(chunk, n_draws - done)
        drawn = permuted_group_tables(group_sizes[order], rest_counts, b, rng)
        tables = np.empty_like(drawn)
        tables[:, order] = drawn
        tables = tables.reshape(b, -1)
        for r, m in enumerate(compute(tables, matrix)):
            s = _summaries(m, multiclass)
            for k in _SPREAD_RATES:
                out[r][k].append(s[k])
        done += b
    return [{k: np.concatenate(v) for k, v in role.items()} for role in out]


def _role_record(
    m: dict[str, np.ndarray],
    s: dict[str, np.ndarray],
    reps: dict[str, np.ndarray] | None,
    floor: dict[str, np.ndarray] | None,
    reasons: dict[str, str],
    group_names: np.ndarray,
    group_n: np.ndarray,
    small: np.ndarray,
    multiclass: bool,
    confidence: float,
) -> RoleFairness:
    est = {}
    for name in METRICS:
        spread = name in _SPREAD_RATES
        est[name] = _estimate(
            optional_float(s[name][0]),
            None if reps is None else reps[name],
            confidence,
            reasons.get(name, "undefined"),
            corrected=optional_float(s[f"est:{name}"][0]) if spread else None,
            rep_corrected=None if reps is None or not spread else reps[f"est:{name}"],
            floor=None if floor is None or not spread else floor[name],
            components=None
            if reps is None
            else (
                (s[f"d:{name}"][0], reps[f"d:{name}"], "max_abs")
                if spread
                else (s["acc:groups"][0], reps["acc:groups"], "min")
                if name == "worst_group_accuracy"
                else None
            ),
        )
    per_class = mean = None
    if multiclass:
        per_class = _per_class_records(m, s, reps, confidence)
        mean = MeanOverClasses(
            **{
                name: _estimate(
                    optional_float(s[f"mean:{name}"][0]),
                    None if reps is None else reps[f"mean:{name}"],
                    confidence,
                    reasons.get(name, "undefined for every class"),
                    corrected=optional_float(s[f"est_mean:{name}"][0]),
                    rep_corrected=None if reps is None else reps[f"est_mean:{name}"],
                )
                for name in _PER_CLASS
            }
        )
    return RoleFairness(
        **est,
        by_group=_group_rows(m, group_names, group_n, small, multiclass),
        per_class=per_class,
        mean_over_classes=mean,
    )


def _group_rows(
    m: dict[str, np.ndarray],
    group_names: np.ndarray,
    group_n: np.ndarray,
    small: np.ndarray,
    multiclass: bool,
) -> tuple[GroupRow, ...]:
    """One role's per-group rates (null with a reason where undefined)."""
    acc = m["accuracy"][0]
    rows = []
    for i, name in enumerate(group_names.tolist()):
        if multiclass:
            sel = tpr = fpr = None
            reason = "multi-class task: rates are per class (one-vs-rest); see per_class"
        else:
            sel = optional_float(m["selection_rate"][0, i, 0])
            tpr = optional_float(m["tpr"][0, i, 0])
            fpr = optional_float(m["fpr"][0, i, 0])
            missing = [k for k, v in (("tpr", tpr), ("fpr", fpr)) if v is None]
            reason = None
            if missing:
                reason = " and ".join(
                    "tpr undefined: no positives in this group"
                    if k == "tpr"
                    else "fpr undefined: no negatives in this group"
                    for k in missing
                )
        rows.append(
            GroupRow(
                group=str(name),
                n=int(group_n[i]),
                selection_rate=sel,
                tpr=tpr,
                fpr=fpr,
                accuracy=optional_float(acc[i]),
                small=bool(small[i]),
                undefined_reason=reason,
            )
        )
    return tuple(rows)


def _per_class_records(
    m: dict[str, np.ndarray],
    s: dict[str, np.ndarray],
    reps: dict[str, np.ndarray] | None,
    confidence: float,
) -> tuple[ClassFairness, ...]:
    """One role's DPD and EOD of each class, one-vs-rest (multi-class task)."""
    n_kinds = m["demographic_parity_difference"].shape[1]
    per_class_est: dict[str, list[FairnessEstimate]] = {}
    for name in _PER_CLASS:
        values = m[name][0]
        corr = s[f"est_class:{name}"][0]
        comp_class = np.arange(s[f"d:{name}"].shape[1]) % n_kinds
        ests = []
        for k in range(n_kinds):
            v = optional_float(values[k])
            if v is None:
                ests.append(FairnessEstimate(value=None, undefined_reason=_class_reason(name)))
                continue
            ests.append(
                _estimate(
                    v,
                    None if reps is None else reps[f"class:{name}"][:, k],
                    confidence,
                    None,
                    corrected=optional_float(corr[k]),
                    rep_corrected=None if reps is None else reps[f"est_class:{name}"][:, k],
                    components=None
                    if reps is None
                    else (
                        s[f"d:{name}"][0][comp_class == k],
                        reps[f"d:{name}"][:, comp_class == k],
                        "max_abs",
                    ),
                )
            )
        per_class_est[name] = ests
    return tuple(
        ClassFairness(
            class_=k,
            demographic_parity_difference=per_class_est[_PER_CLASS[0]][k],
            equalized_odds_difference=per_class_est[_PER_CLASS[1]][k],
        )
        for k in range(n_kinds)
    )


def _class_reason(name: str) -> str:
    if name == "demographic_parity_difference":
        return "fewer than 2 groups"
    return "fewer than 2 groups have both samples of this class and samples of other classes"
