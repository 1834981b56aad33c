"""Robustness of debiasing across splits and groups (METHODS.md 4, after P2).

P2 (Cheng, Agarwal & Amiri) did not publish its exact formulas in reachable
form, so every definition here is explicit, configurable and written into
the result's ``config``.

Definitions (per model)
-----------------------
* ``accuracy``: share of rows predicted right.
* ``by_split``: accuracy within each split value (e.g. in- vs
  out-of-distribution, or bias-aligned vs bias-conflicting).
* ``gap`` (smaller is more robust), by ``gap_definition``:

  - ``"reference_minus_worst"`` (default when the split has >= 2 values): accuracy on the
    reference split minus the lowest accuracy among the other splits. With
    exactly two splits this is ``acc(reference) - acc(other)``.
  - ``"reference_minus_rest"``: accuracy on the reference split minus the
    accuracy on all other rows pooled.
  - ``"average_minus_worst_group"`` (default otherwise): overall
    accuracy minus worst-group accuracy.

  The reference split is ``reference_split`` if given; else the first split
  value (in sorted order) among the usual in-distribution names
  (:data:`REFERENCE_NAMES`: ``id``, ``in``, ``iid``, ``in_distribution``,
  ``aligned``, ``bias_aligned``, ``train``, ``0``, ...); else the first split
  value in sorted order. The rule used is reported.
* ``worst_group_accuracy``: the lowest accuracy over the observed groups
  (``y_true`` x ``bias_attribute``), or (``y_true`` x ``split``) when no
  attribute is given.

Definitions across models (need the roles named)
------------------------------------------------
* ``distillability`` = ``(gap(baseline) - gap(student)) / (gap(baseline) -
  gap(teacher))``: the share of the teacher's gap reduction (relative to the
  non-distilled baseline) that the student keeps. 1 = as robust as the
  teacher, 0 = no better than the baseline, < 0 = worse than the baseline.
  Null with a reason when ``|gap(baseline) - gap(teacher)| <=
  min_gap_reduction`` (the teacher reduced nothing to keep). Bootstrap
  replicates whose denominator is that small are dropped from the interval
  and counted in ``n_dropped``.
* ``contribution`` = ``gap(student) - gap(baseline)``: what distillation did
  to the gap (the ``baseline_vs_student`` delta of the gap); negative means
  the student is more robust than the baseline trained without KD.
* ``delta.PAIR``: ``metric(B) - metric(A)`` for accuracy, gap and
  worst-group accuracy.

Uncertainty: percentile bootstrap over rows (B resamples, seeded), drawn as
multinomial counts of the distinct (split, label, group, correct-per-model)
cells (exactly equivalent to resampling rows, see
:mod:`kdaudit.analysis.stats`); the same resamples serve every model, so
deltas, distillability and contribution are paired. p-value: ``min(1, 2 *
min(share delta* <= 0, share delta* >= 0))``.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Mapping
from typing import Any, Self

import numpy as np

from kdaudit.analysis import stats
from kdaudit.errors import InputDataError, UsageError
from kdaudit.results import Estimate, Record, to_native

GAP_DEFINITIONS: tuple[str, ...] = (
    "reference_minus_worst",
    "reference_minus_rest",
    "average_minus_worst_group",
)
REFERENCE_NAMES: tuple[str, ...] = (
    "id",
    "in",
    "iid",
    "in_distribution",
    "in-distribution",
    "indistribution",
    "ind",
    "aligned",
    "bias_aligned",
    "bias-aligned",
    "biasaligned",
    "train",
    "source",
    "majority",
    "0",
    "false",
)
_RESERVED = frozenset({"config", "delta", "distillability", "contribution"})
_CHUNK = 250  # bootstrap replicates per chunk


# -------------------------------------------------------------------------- records
@dataclasses.dataclass(frozen=True, slots=True, kw_only=True)
class RobustnessConfig(Record):
    attribute_name: str
    n_samples: int
    splits: tuple[str, ...]
    reference_split: str | None
    reference_split_rule: str
    gap_definition: str
    group_definition: str
    distillability_definition: str
    contribution_definition: str
    min_group_size: int
    n_bootstrap: int
    confidence: float
    seed: int


@dataclasses.dataclass(frozen=True, slots=True, kw_only=True)
class SplitAccuracy(Record):
    split: str
    n: int
    accuracy: float


@dataclasses.dataclass(frozen=True, slots=True, kw_only=True)
class GroupAccuracy(Record):
    label: int
    group: str
    n: int
    accuracy: float
    small: bool


@dataclasses.dataclass(frozen=True, slots=True, kw_only=True)
class RoleRobustness(Record):
    accuracy: Estimate = dataclasses.field(metadata={"record": Estimate})
    gap: Estimate = dataclasses.field(metadata={"record": Estimate})
    worst_group_accuracy: Estimate = dataclasses.field(metadata={"record": Estimate})
    worst_group: GroupAccuracy | None = dataclasses.field(metadata={"record": GroupAccuracy})
    by_split: tuple[SplitAccuracy, ...] = dataclasses.field(
        metadata={"record": SplitAccuracy, "many": True}
    )
    by_group: tuple[GroupAccuracy, ...] = dataclasses.field(
        metadata={"record": GroupAccuracy, "many": True}
    )


@dataclasses.dataclass(frozen=True, slots=True, kw_only=True)
class PairRobustness(Record):
    """metric(B) - metric(A) for the pair A_vs_B, paired bootstrap."""

    accuracy: Estimate = dataclasses.field(metadata={"record": Estimate})
    gap: Estimate = dataclasses.field(metadata={"record": Estimate})
    worst_group_accuracy: Estimate = dataclasses.field(metadata={"record": Estimate})


@dataclasses.dataclass(frozen=True, slots=True, kw_only=True)
class Distillability(Record):
    value: float | None
    ci_low: float | None = None
    ci_high: float | None = None
    gap_reduction_teacher: float | None = None
    gap_reduction_student: float | None = None
    n_dropped: int = 0
    undefined_reason: str | None = dataclasses.field(default=None, metadata={"omit_none": True})


@dataclasses.dataclass(frozen=True, slots=True, kw_only=True)
class RobustnessResult(Record):
    """``to_dict()``: ``{config, ROLE: {...}, delta?, distillability?, contribution?}``."""

    config: RobustnessConfig
    roles: dict[str, RoleRobustness]
    delta: dict[str, PairRobustness] = dataclasses.field(default_factory=dict)
    distillability: Distillability | None = None
    contribution: Estimate | None = None

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"config": self.config.to_dict()}
        for role, rec in self.roles.items():
            out[role] = rec.to_dict()
        if self.delta:
            out["delta"] = {k: v.to_dict() for k, v in self.delta.items()}
        if self.distillability is not None:
            out["distillability"] = self.distillability.to_dict()
        if self.contribution is not None:
            out["contribution"] = self.contribution.to_dict()
        return to_native(out)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Self:
        roles = {k: RoleRobustness.from_dict(v) for k, v in data.items() if k not in _RESERVED}
        return cls(
            config=RobustnessConfig.from_dict(data["config"]),
            roles=roles,
            delta={k: PairRobustness.from_dict(v) for k, v in data.get("delta", {}).items()},
            distillability=(
                Distillability.from_dict(data["distillability"])
                if "distillability" in data
                else None
            ),
            contribution=(
                Estimate.from_dict(data["contribution"]) if "contribution" in data else None
            ),
        )


# ------------------------------------------------------------------------- analysis
def robustness(
    y_true: np.ndarray,
    predictions: Mapping[str, np.ndarray],
    *,
    split: np.ndarray | None = None,
    bias_attribute: np.ndarray | None = None,
    attribute_name: str = "",
    pairs: Iterable[tuple[str, str] | str] = (),
    n_bootstrap: int = 1000,
    seed: int = 0,
    confidence: float = 0.95,
    reference_split: str | None = None,
    gap_definition: str | None = None,
    min_group_size: int = 30,
    min_gap_reduction: float = 1e-9,
) -> RobustnessResult:
    """Accuracy per split, the gap, worst-group accuracy, distillability, contribution.

    Parameters
    ----------
    y_true : ndarray of shape (n_samples,)
        True labels.
    predictions : mapping of role -> ndarray of shape (n_samples,)
        Predicted labels per model (``teacher``, ``student``, ``baseline``...).
    split : ndarray of shape (n_samples,), optional
        Split labels (e.g. ``"id"``/``"ood"``, ``"aligned"``/``"conflicting"``).
    bias_attribute : ndarray of shape (n_samples,), optional
        The bias attribute (one bias type per call); groups are
        (label x attribute). At least one of ``split`` and ``bias_attribute``
        is needed.
    attribute_name : str
        Name of the bias attribute, for the report.
    pairs : iterable of (A, B) tuples or "A_vs_B" strings
        Paired deltas ``metric(B) - metric(A)``; absent roles are ignored.
    n_bootstrap : int
        Bootstrap replicates (0: no intervals or p-values).
    seed : int
    confidence : float
    reference_split : str, optional
        The in-distribution / bias-aligned split value (see module docstring).
    gap_definition : {"reference_minus_worst", "reference_minus_rest", "average_minus_worst_group"}, optional
        Default: ``"reference_minus_worst"`` when ``split`` has >= 2 values,
        else ``"average_minus_worst_group"``. A split-based definition with a
        single split value gives a null gap with a reason.
    min_group_size : int
        Groups smaller than this are flagged ``small`` (still counted).
    min_gap_reduction : float
        Distillability is undefined when ``|gap(baseline) - gap(teacher)|``
        is at most this.

    Returns
    -------
    RobustnessResult
    """
    y = np.asarray(y_true)
    n = y.shape[0]
    if y.ndim != 1 or n == 0:
        raise InputDataError(
            f"Expected y_true of shape (n_samples,) with n_samples > 0; got {y.shape}."
        )
    if not predictions:
        raise UsageError("robustness needs at least one model's predictions; got none.")
    bad = _RESERVED.intersection(predictions)
    if bad:
        raise UsageError(f"Role names {sorted(bad)} are reserved in the robustness report.")
    if split is None and bias_attribute is None:
        raise UsageError(
            "robustness needs a split array or a bias attribute; got neither.",
            tip="Add a 'split' array to the data or name a --sensitive attribute.",
        )
    if n_bootstrap < 0:
        raise UsageError(f"Expected n_bootstrap >= 0; got {n_bootstrap}.")
    roles = list(predictions)
    correct = np.empty((len(roles), n), dtype=np.int64)
    for r, role in enumerate(roles):
        p = np.asarray(predictions[role])
        if p.shape != (n,):
            raise InputDataError(f"Expected {role} predictions of shape ({n},); got {p.shape}.")
        correct[r] = p == y

    # ---- splits and groups as small integer codes
    if split is not None:
        split_labels, split_code = _codes(split, n, "split")
    else:
        split_labels, split_code = np.array(["all"]), np.zeros(n, dtype=np.int64)
    if bias_attribute is not None:
        attr_labels, attr_code = _codes(bias_attribute, n, attribute_name or "bias attribute")
        group_definition = f"label x {attribute_name or 'attribute'}"
    elif split is not None:
        attr_labels, attr_code = split_labels, split_code
        group_definition = "label x split"
    y_labels, y_code = np.unique(y, return_inverse=True)
    y_code = y_code.reshape(-1).astype(np.int64)

    if gap_definition is None:
        gap_definition = (
            "reference_minus_worst"
            if split is not None and split_labels.size >= 2
            else "average_minus_worst_group"
        )
    if gap_definition not in GAP_DEFINITIONS:
        raise UsageError(
            f"Expected gap_definition to be one of {', '.join(GAP_DEFINITIONS)}; got {gap_definition!r}."
        )
    ref_idx, ref_rule = _reference(split_labels if split is not None else None, reference_split)
    gap_reason = None
    if gap_definition != "average_minus_worst_group":
        if split is None:
            raise UsageError(f"gap_definition={gap_definition!r} needs a split array.")
        if split_labels.size < 2:
            gap_reason = f"only one split value ({split_labels[0]!r}) is present"

    # ---- cells: (split, label, group, correct per role)
    columns = [split_code, y_code, attr_code, *correct]
    sizes = [split_labels.size, y_labels.size, attr_labels.size] + [2] * len(roles)
    cells, counts, cell_of_row = stats.encode_cells(columns, sizes)
    cell_split = cells[:, 0]
    cell_group = cells[:, 1] * attr_labels.size + cells[:, 2]
    cell_correct = cells[:, 3:].T.astype(np.float64)  # (roles, cells)
    # sum cells per split / per group with reduceat over cells ordered by split / group
    perm_s = np.argsort(cell_split, kind="stable")
    split_present, starts_s = np.unique(cell_split[perm_s], return_index=True)
    perm_g = np.argsort(cell_group, kind="stable")
    group_present, starts_g = np.unique(cell_group[perm_g], return_index=True)

    def metrics(k: np.ndarray) -> dict[str, np.ndarray]:
        """k: (B, cells) counts -> metrics, each (B, roles[, splits | groups])."""
        k = k.astype(np.float64)
        kc = k[:, None, :] * cell_correct[None, :, :]  # (B, roles, cells)
        total = k.sum(axis=1, keepdims=True)
        right = kc.sum(axis=2)  # (B, roles)
        n_split = np.add.reduceat(k[:, perm_s], starts_s, axis=1)  # (B, S)
        n_group = np.add.reduceat(k[:, perm_g], starts_g, axis=1)  # (B, G)
        with np.errstate(divide="ignore", invalid="ignore"):
            acc = right / total
            acc_split = np.add.reduceat(kc[:, :, perm_s], starts_s, axis=2) / n_split[:, None, :]
            acc_group = np.add.reduceat(kc[:, :, perm_g], starts_g, axis=2) / n_group[:, None, :]
        wga = _nanmin(acc_group, axis=2)
        if gap_reason is not None:
            gap = np.full_like(acc, np.nan)
        elif gap_definition == "average_minus_worst_group":
            gap = acc - wga
        elif gap_definition == "reference_minus_worst":
            others = np.delete(acc_split, ref_idx, axis=2)
            gap = acc_split[:, :, ref_idx] - _nanmin(others, axis=2)
        else:
            ref_n = n_split[:, ref_idx][:, None]
            ref_right = acc_split[:, :, ref_idx] * ref_n
            with np.errstate(divide="ignore", invalid="ignore"):
                rest = (right - np.nan_to_num(ref_right)) / (total - ref_n)
            gap = acc_split[:, :, ref_idx] - rest
        return {
            "accuracy": acc,
            "gap": gap,
            "worst_group_accuracy": wga,
            "acc_split": acc_split,
            "acc_group": acc_group,
            "n_split": n_split,
            "n_group": n_group,
        }

    point = metrics(counts[None, :])
    reps: dict[str, list[np.ndarray]] = {"accuracy": [], "gap": [], "worst_group_accuracy": []}
    if n_bootstrap:
        rng = np.random.default_rng(seed)
        for kk in stats.bootstrap_cell_counts(
            counts, n_bootstrap, rng, chunk_size=_CHUNK, cell_of_row=cell_of_row
        ):
            m = metrics(kk)
            for key in reps:
                reps[key].append(m[key])
    rep = {
        key: (np.concatenate(v, axis=0) if v else np.empty((0, len(roles))))
        for key, v in reps.items()
    }

    # ---- per-role records
    n_split0 = point["n_split"][0]
    n_group0 = point["n_group"][0]
    results: dict[str, RoleRobustness] = {}
    for r, role in enumerate(roles):
        by_split = (
            tuple(
                SplitAccuracy(
                    split=str(split_labels[lab]),
                    n=int(n_split0[s]),
                    accuracy=float(point["acc_split"][0, r, s]),
                )
                for s, lab in enumerate(split_present)
            )
            if split is not None
            else ()
        )
        by_group = tuple(
            GroupAccuracy(
                label=to_native(y_labels[g // attr_labels.size]),
                group=str(attr_labels[g % attr_labels.size]),
                n=int(n_group0[g_i]),
                accuracy=float(point["acc_group"][0, r, g_i]),
                small=bool(n_group0[g_i] < min_group_size),
            )
            for g_i, g in enumerate(group_present)
        )
        worst = min(by_group, key=lambda rec: (rec.accuracy, rec.label, rec.group), default=None)
        results[role] = RoleRobustness(
            accuracy=stats.estimate(point["accuracy"][0, r], rep["accuracy"][:, r], confidence),
            gap=stats.estimate(point["gap"][0, r], rep["gap"][:, r], confidence, gap_reason),
            worst_group_accuracy=stats.estimate(
                point["worst_group_accuracy"][0, r], rep["worst_group_accuracy"][:, r], confidence
            ),
            worst_group=worst,
            by_split=by_split,
            by_group=by_group,
        )

    delta: dict[str, PairRobustness] = {}
    for a, b in stats.parse_pairs(pairs):
        if a not in predictions or b not in predictions:
            continue
        ia, ib = roles.index(a), roles.index(b)
        fields = {
            key: stats.estimate(
                point[key][0, ib] - point[key][0, ia],
                rep[key][:, ib] - rep[key][:, ia],
                confidence,
                gap_reason if key == "gap" else None,
                paired=True,
            )
            for key in ("accuracy", "gap", "worst_group_accuracy")
        }
        delta[f"{a}_vs_{b}"] = PairRobustness(**fields)

    distill = contribution = None
    if {"student", "baseline"} <= set(roles):
        i_s, i_b = roles.index("student"), roles.index("baseline")
        contribution = stats.estimate(
            point["gap"][0, i_s] - point["gap"][0, i_b],
            rep["gap"][:, i_s] - rep["gap"][:, i_b],
            confidence,
            gap_reason,
            paired=True,
        )
        if "teacher" in roles:
            distill = _distillability(
                point["gap"][0],
                rep["gap"],
                roles.index("teacher"),
                i_s,
                i_b,
                confidence,
                min_gap_reduction,
                gap_reason,
            )

    config = RobustnessConfig(
        attribute_name=attribute_name,
        n_samples=n,
        splits=tuple(str(s) for s in split_labels) if split is not None else (),
        reference_split=str(split_labels[ref_idx]) if split is not None else None,
        reference_split_rule=ref_rule,
        gap_definition=gap_definition,
        group_definition=group_definition,
        distillability_definition=(
            "(gap(baseline) - gap(student)) / (gap(baseline) - gap(teacher)); null when "
            f"|gap(baseline) - gap(teacher)| <= {min_gap_reduction:g}"
        ),
        contribution_definition="gap(student) - gap(baseline); negative = KD narrowed the gap",
        min_group_size=int(min_group_size),
        n_bootstrap=int(n_bootstrap),
        confidence=float(confidence),
        seed=int(seed),
    )
    return RobustnessResult(
        config=config, roles=results, delta=delta, distillability=distill, contribution=contribution
    )


# -------------------------------------------------------------------------- helpers
def _codes(values: Any, n: int, name: str) -> tuple[np.ndarray, np.ndarray]:
    shape = tuple(values.shape) if hasattr(values, "codes") else np.shape(values)
    if shape != (n,):
        raise InputDataError(f"Expected {name} of shape ({n},); got {shape}.")
    labels, code = stats.factorize_labels(values)  # codes + names: no fixed-width string per row
    return labels, code.reshape(-1).astype(np.int64)


def _reference(labels: np.ndarray | None, reference: str | None) -> tuple[int, str]:
    if labels is None:
        return 0, "no split"
    names = [str(v) for v in labels]
    if reference is not None:
        if str(reference) not in names:
            raise UsageError(f"reference_split {reference!r} is not a split value; found {names}.")
        return names.index(str(reference)), "given"
    for i, v in enumerate(names):
        if v.strip().lower() in REFERENCE_NAMES:
            return i, f"recognised in-distribution name {v!r}"
    return 0, "first split value in sorted order (no recognised in-distribution name)"


def _nanmin(x: np.ndarray, axis: int) -> np.ndarray:
    if x.shape[axis] == 0:
        return np.full(np.delete(np.array(x.shape), axis), np.nan)
    filled = np.where(np.isnan(x), np.inf, x)
    out = filled.min(axis=axis)
    return np.where(np.isinf(out), np.nan, out)


def _distillability(
    gap: np.ndarray,
    gap_reps: np.ndarray,
    i_t: int,
    i_s: int,
    i_b: int,
    confidence: float,
    min_reduction: float,
    gap_reason: str | None,
) -> Distillability:
    if gap_reason is not None:
        return Distillability(value=None, undefined_reason=gap_reason)
    den = gap[i_b] - gap[i_t]
    num = gap[i_b] - gap[i_s]
    if not np.isfinite(den) or abs(den) <= min_reduction:
        return Distillability(
            value=None,
            gap_reduction_teacher=float(den),
            gap_reduction_student=float(num),
            undefined_reason="the teacher's gap equals the baseline's: no gap reduction to keep",
        )
    low = high = None
    dropped = 0
    if gap_reps.shape[0]:
        d_rep = gap_reps[:, i_b] - gap_reps[:, i_t]
        n_rep = gap_reps[:, i_b] - gap_reps[:, i_s]
        ok = np.abs(d_rep) > min_reduction
        dropped = int((~ok).sum())
        ratio = np.where(ok, n_rep / np.where(ok, d_rep, 1.0), np.nan)
        lo, hi = stats.percentile_ci(ratio, confidence)
        low, high = float(lo), float(hi)
    return Distillability(
        value=float(num / den),
        ci_low=low,
        ci_high=high,
        gap_reduction_teacher=float(den),
        gap_reduction_student=float(num),
        n_dropped=dropped,
    )
