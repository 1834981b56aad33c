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

Uncertainty: percentile bootstrap CIs for every metric, and for every pair of
roles the paired bootstrap (the same resampled rows for both models) of
delta = metric(B) - metric(A) with its CI and two-sided p-value.

How it is computed
------------------
Each row is reduced to its cell (group, truth, each role's prediction); only
the distinct observed cells are kept (never a dense C^3 table). A bootstrap
replicate is a multinomial draw of the cell counts (or, when nearly every row
is its own cell, a draw of row indices), and every confusion count of every
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

A caveat on the intervals: spreads (max - min over groups) and the worst class
are biased upwards under resampling, so with small groups or many classes the
percentile interval can sit above the point value (it need not contain it).
The paired deltas are much less affected since both models share the bias.
"""

from __future__ import annotations

import dataclasses
import functools
from collections.abc import Mapping, Sequence
from typing import Any, Self

import numpy as np
from scipy import sparse

from kdaudit.analysis.accuracy import check_pairs, pair_name
from kdaudit.analysis.stats import (
    DeltaEstimate,
    bootstrap_cell_counts,
    check_labels,
    encode_cells,
    factorize_labels,
    optional_float,
    percentile_ci,
    replicate_summary,
    warn,
)
from kdaudit.errors import InputDataError, UsageError
from kdaudit.results import Estimate, Record, nested, to_native

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


# -------------------------------------------------------------------------- records
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


@dataclasses.dataclass(frozen=True, slots=True, kw_only=True)
class ClassFairness(Record):
    """One class of a multi-class (one-vs-rest) result (``class`` in JSON)."""

    class_: int
    demographic_parity_difference: Estimate = nested(Estimate)  # noqa: RUF009
    equalized_odds_difference: Estimate = nested(Estimate)  # noqa: RUF009

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
            demographic_parity_difference=Estimate.from_dict(data["demographic_parity_difference"]),
            equalized_odds_difference=Estimate.from_dict(data["equalized_odds_difference"]),
        )


@dataclasses.dataclass(frozen=True, slots=True, kw_only=True)
class MeanOverClasses(Record):
    """Mean over the classes where each metric is defined (multi-class only)."""

    demographic_parity_difference: Estimate = nested(Estimate)  # noqa: RUF009
    equalized_odds_difference: Estimate = nested(Estimate)  # noqa: RUF009


@dataclasses.dataclass(frozen=True, slots=True, kw_only=True)
class RoleFairness(Record):
    """Fairness metrics of one role on one attribute (INTERFACE.md ``group_fairness.ATTR.ROLE``)."""

    demographic_parity_difference: Estimate = nested(Estimate)  # noqa: RUF009
    equalized_odds_difference: Estimate = nested(Estimate)  # noqa: RUF009
    equal_opportunity_difference: Estimate = nested(Estimate)  # noqa: RUF009
    demographic_parity_ratio: Estimate = nested(Estimate)  # noqa: RUF009
    worst_group_accuracy: Estimate = nested(Estimate)  # noqa: RUF009
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

    demographic_parity_difference: DeltaEstimate = nested(DeltaEstimate)  # noqa: RUF009
    equalized_odds_difference: DeltaEstimate = nested(DeltaEstimate)  # noqa: RUF009
    equal_opportunity_difference: DeltaEstimate = nested(DeltaEstimate)  # noqa: RUF009
    demographic_parity_ratio: DeltaEstimate = nested(DeltaEstimate)  # noqa: RUF009
    worst_group_accuracy: DeltaEstimate = nested(DeltaEstimate)  # noqa: RUF009


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
            **{k: data[k] for k in _RESULT_SCALARS if k != "groups_flagged"},
        )


_RESULT_SCALARS = (
    "groups_flagged",
    "n_groups",
    "positive_label",
    "task",
    "min_group_size",
    "n_bootstrap",
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
    }


def _summaries(m: dict[str, np.ndarray], multiclass: bool) -> dict[str, np.ndarray]:
    """Per-replicate scalars, shape (b,): the worst class (binary: the one class)."""
    out: dict[str, np.ndarray] = {"worst_group_accuracy": m["worst_group_accuracy"]}
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
    pairs: Sequence[tuple[str, str]],
    positive_label: int | None = None,
    n_bootstrap: int = 1000,
    seed: int = 0,
    confidence: float = 0.95,
    min_group_size: int = 30,
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
    pairs : sequence of (reference, other)
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

    Returns
    -------
    GroupFairnessResult

    Warns
    -----
    KDAuditWarning
        One group only; a rate undefined in some group (left out of its
        spread); groups smaller than ``min_group_size``.
    """
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
    pairs = check_pairs(pairs, roles)
    preds = [
        check_labels(f"{role} predictions", predictions[role], n_samples=n, n_classes=n_classes)
        for role in roles
    ]
    # group labels given as codes + names (kdaudit.data.labels) stay that way: no per-row strings
    sens = sensitive_features if hasattr(sensitive_features, "codes") else np.asarray(sensitive_features)
    if sens.ndim != 1 or sens.shape[0] != n:
        raise InputDataError(
            f"Expected sensitive_features of shape ({n},) like y_true; got {sens.shape}.",
            tip="Pass one attribute at a time, or combine several with intersectional_groups().",
        )
    group_names, g = factorize_labels(sens)
    n_groups = int(group_names.shape[0])
    n_roles = len(roles)

    multiclass = positive_label is None and n_classes > 2
    if multiclass:
        pos_label = None
        columns = [g, y, *preds]
        sizes = [n_groups] + [n_classes] * (1 + n_roles)
    else:
        pos_label = 1 if positive_label is None else int(positive_label)
        if not 0 <= pos_label < n_classes:
            raise UsageError(
                f"Expected positive_label in [0, {n_classes}); got {positive_label!r}."
            )
        columns = [g, (y == pos_label).astype(np.int64)]
        columns += [(p == pos_label).astype(np.int64) for p in preds]
        sizes = [n_groups] + [2] * (1 + n_roles)
        if n_classes > 2:  # correctness is not implied by the binarized labels
            columns += [(p == y).astype(np.int64) for p in preds]
            sizes += [2] * n_roles
    cells, counts, _ = encode_cells(columns, sizes)
    layout = _Layout(n_groups, n_roles, n_classes if multiclass else 1)
    agg_matrix = _aggregation_matrix(cells, layout, multiclass, n_classes)

    def compute(cell_counts: np.ndarray) -> list[dict[str, np.ndarray]]:
        agg = np.asarray(agg_matrix @ cell_counts.T.astype(np.float64)).T
        n_g, correct, pos, predpos, tp = layout.split(agg)
        return [_metrics(n_g, correct[:, r], pos, predpos[:, r], tp[:, r]) for r in range(n_roles)]

    point = compute(counts[None, :])
    point_sum = [_summaries(m, multiclass) for m in point]

    reps: list[dict[str, np.ndarray]] | None = None
    if n_bootstrap > 0:
        rng = np.random.default_rng(seed)
        per_rep = max(1, n_groups * layout.n_kinds * (3 * n_roles + 1))
        # bound both the metric arrays (per_rep) and the drawn cell counts (n_cells) per chunk
        chunk = max(1, min(n_bootstrap, _CHUNK_ELEMENTS // per_rep,
                           _CHUNK_ELEMENTS // max(1, counts.shape[0])))
        pieces: list[list[dict[str, np.ndarray]]] = []
        for draw in bootstrap_cell_counts(counts, n_bootstrap, rng, chunk_size=chunk):
            pieces.append([_summaries(m, multiclass) for m in compute(draw)])
        reps = [
            {k: np.concatenate([p[r][k] for p in pieces], axis=0) for k in pieces[0][r]}
            for r in range(n_roles)
        ]

    # ---- reasons, warnings, records
    group_n = np.bincount(g, minlength=n_groups)
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
    reasons = _point_reasons(point[0], n_groups, multiclass, group_names)

    role_records: dict[str, RoleFairness] = {}
    for r, role in enumerate(roles):
        role_records[role] = _role_record(
            point[r],
            point_sum[r],
            None if reps is None else reps[r],
            reasons,
            group_names,
            group_n,
            small,
            multiclass,
            confidence,
        )
    deltas: dict[str, PairDelta] = {}
    index = {role: i for i, role in enumerate(roles)}
    for a, b in pairs:
        ia, ib = index[a], index[b]
        fields: dict[str, DeltaEstimate] = {}
        for name in METRICS:
            va, vb = point_sum[ia][name][0], point_sum[ib][name][0]
            value = optional_float(vb - va)
            rep = None if reps is None else reps[ib][name] - reps[ia][name]
            low, high, p = replicate_summary(rep, confidence)
            reason = None
            if value is None:
                reason = reasons.get(name) or "undefined for at least one of the two models"
            fields[name] = DeltaEstimate(
                value=value,
                ci_low=None if value is None else optional_float(low),
                ci_high=None if value is None else optional_float(high),
                p_value=None if value is None else optional_float(p),
                undefined_reason=reason,
            )
        deltas[pair_name(a, b)] = PairDelta(**fields)

    return GroupFairnessResult(
        roles=role_records,
        delta=deltas,
        groups_flagged=flagged,
        n_groups=n_groups,
        positive_label=pos_label,
        task="multiclass_ovr" if multiclass else "binary",
        min_group_size=int(min_group_size),
        n_bootstrap=int(n_bootstrap),
    )


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


def _estimate(
    value: float | None,
    rep: np.ndarray | None,
    confidence: float,
    reason: str | None,
) -> Estimate:
    if value is None:
        return Estimate(value=None, undefined_reason=reason or "undefined")
    if rep is None:
        return Estimate(value=value)
    low, high = percentile_ci(rep, confidence)
    return Estimate(value=value, ci_low=optional_float(low), ci_high=optional_float(high))


def _role_record(
    m: dict[str, np.ndarray],
    s: dict[str, np.ndarray],
    reps: dict[str, np.ndarray] | None,
    reasons: dict[str, str],
    group_names: np.ndarray,
    group_n: np.ndarray,
    small: np.ndarray,
    multiclass: bool,
    confidence: float,
) -> RoleFairness:
    est = {
        name: _estimate(
            optional_float(s[name][0]),
            None if reps is None else reps[name],
            confidence,
            reasons.get(name, "undefined"),
        )
        for name in METRICS
    }
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
    per_class = None
    mean = None
    if multiclass:
        n_kinds = m["demographic_parity_difference"].shape[1]
        per_class_est: dict[str, list[Estimate]] = {}
        for name in _PER_CLASS:
            values = m[name][0]
            rep = None if reps is None else reps[f"class:{name}"]
            lows, highs = (None, None) if rep is None else percentile_ci(rep, confidence)
            ests = []
            for k in range(n_kinds):
                v = optional_float(values[k])
                if v is None:
                    ests.append(Estimate(value=None, undefined_reason=_class_reason(name)))
                elif lows is None or highs is None:
                    ests.append(Estimate(value=v))
                else:
                    ests.append(
                        Estimate(
                            value=v,
                            ci_low=optional_float(lows[k]),
                            ci_high=optional_float(highs[k]),
                        )
                    )
            per_class_est[name] = ests
        per_class = tuple(
            ClassFairness(
                class_=k,
                demographic_parity_difference=per_class_est[_PER_CLASS[0]][k],
                equalized_odds_difference=per_class_est[_PER_CLASS[1]][k],
            )
            for k in range(n_kinds)
        )
        mean = MeanOverClasses(
            **{
                name: _estimate(
                    optional_float(s[f"mean:{name}"][0]),
                    None if reps is None else reps[f"mean:{name}"],
                    confidence,
                    reasons.get(name, "undefined for every class"),
                )
                for name in _PER_CLASS
            }
        )
    return RoleFairness(
        **est,
        by_group=tuple(rows),
        per_class=per_class,
        mean_over_classes=mean,
    )


def _class_reason(name: str) -> str:
    if name == "demographic_parity_difference":
        return "fewer than 2 groups"
    return "fewer than 2 groups have both samples of this class and samples of other classes"
