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
from kdaudit.analysis.pairs import check_pairs, pair_name
from kdaudit.errors import InputDataError, UsageError
from kdaudit.results import Estimate, Record, to_native

__all__ = [
    "GAP_DEFINITIONS",
    "REFERENCE_NAMES",
    "Distillability",
    "GroupAccuracy",
    "PairRobustness",
    "RobustnessConfig",
    "RobustnessResult",
    "RoleRobustness",
    "SplitAccuracy",
    "robustness",
]

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

    Examples
    --------
    >>> import numpy as np
    >>> y = np.array([0, 1] * 50)
    >>> split = np.array(["id"] * 60 + ["ood"] * 40)
    >>> teacher = y.copy()
    >>> student = np.where(np.arange(100) >= 90, 1 - y, y)  # wrong on 10 ood rows
    >>> res = robustness(y, {"teacher": teacher, "student": student}, split=split,
    ...                  n_bootstrap=0)
    >>> res.roles["student"].gap.value  # acc(id) - acc(ood) = 1.0 - 0.75
    0.25
    """
    inp = _validate(
        y_true,
        predictions,
        split=split,
        bias_attribute=bias_attribute,
        attribute_name=attribute_name,
        n_bootstrap=n_bootstrap,
        reference_split=reference_split,
        gap_definition=gap_definition,
    )
    table = _cell_table(inp)
    point = table.metrics(table.counts[None, :])
    rep = _replicates(table, n_bootstrap, seed)
    roles = inp.roles
    results = {
        role: _role_record(inp, table, point, rep, r, confidence, min_group_size)
        for r, role in enumerate(roles)
    }
    delta: dict[str, PairRobustness] = {}
    for a, b in check_pairs(pairs, roles, absent="skip"):
        delta[pair_name(a, b)] = _pair_record(
            point, rep, roles.index(a), roles.index(b), confidence, inp.gap_reason
        )
    contribution, distill = _kd_records(inp, point, rep, confidence, min_gap_reduction)
    config = _config(
        inp, attribute_name, min_gap_reduction, min_group_size, n_bootstrap, confidence, seed
    )
    return RobustnessResult(
        config=config, roles=results, delta=delta, distillability=distill, contribution=contribution
    )


# ------------------------------------------------------------------- stage 1: validate
@dataclasses.dataclass(frozen=True, slots=True, kw_only=True)
class _Inputs:
    """Checked inputs as small integer codes, and the gap rule resolved."""

    n: int
    roles: list[str]
    correct: np.ndarray  # (roles, n) int64: 1 where the role is right
    has_split: bool
    split_labels: np.ndarray
    split_code: np.ndarray
    attr_labels: np.ndarray
    attr_code: np.ndarray
    group_definition: str
    y_labels: np.ndarray
    y_code: np.ndarray
    gap_definition: str
    gap_reason: str | None
    ref_idx: int
    ref_rule: str


def _validate(
    y_true: np.ndarray,
    predictions: Mapping[str, np.ndarray],
    *,
    split: np.ndarray | None,
    bias_attribute: np.ndarray | None,
    attribute_name: str,
    n_bootstrap: int,
    reference_split: str | None,
    gap_definition: str | None,
) -> _Inputs:
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

    if split is not None:
        split_labels, split_code = _codes(split, n, "split")
    else:
        split_labels, split_code = np.array(["all"]), np.zeros(n, dtype=np.int64)
    if bias_attribute is not None:
        attr_labels, attr_code = _codes(bias_attribute, n, attribute_name or "bias attribute")
        group_definition = f"label x {attribute_name or 'attribute'}"
    else:
        attr_labels, attr_code = split_labels, split_code
        group_definition = "label x split"
    y_labels, y_code = np.unique(y, return_inverse=True)

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
    return _Inputs(
        n=n,
        roles=roles,
        correct=correct,
        has_split=split is not None,
        split_labels=split_labels,
        split_code=split_code,
        attr_labels=attr_labels,
        attr_code=attr_code,
        group_definition=group_definition,
        y_labels=y_labels,
        y_code=y_code.reshape(-1).astype(np.int64),
        gap_definition=gap_definition,
        gap_reason=gap_reason,
        ref_idx=ref_idx,
        ref_rule=ref_rule,
    )


# ---------------------------------------------------------------- stage 2: cell table
@dataclasses.dataclass(frozen=True, slots=True, kw_only=True)
class _CellTable:
    """Distinct (split, label, group, correct per role) cells and their counts.

    Cells are summed per split / per group with ``reduceat`` over the cells ordered
    by split / group (``perm_*``, ``starts_*``).
    """

    inp: _Inputs
    counts: np.ndarray
    cell_of_row: np.ndarray
    cell_correct: np.ndarray  # (roles, cells) float64
    perm_s: np.ndarray
    starts_s: np.ndarray
    split_present: np.ndarray
    perm_g: np.ndarray
    starts_g: np.ndarray
    group_present: np.ndarray

    def metrics(self, k: np.ndarray) -> dict[str, np.ndarray]:
        """k: (B, cells) counts -> metrics, each (B, roles[, splits | groups])."""
        inp = self.inp
        k = k.astype(np.float64)
        kc = k[:, None, :] * self.cell_correct[None, :, :]  # (B, roles, cells)
        total = k.sum(axis=1, keepdims=True)
        right = kc.sum(axis=2)  # (B, roles)
        n_split = np.add.reduceat(k[:, self.perm_s], self.starts_s, axis=1)  # (B, S)
        n_group = np.add.reduceat(k[:, self.perm_g], self.starts_g, axis=1)  # (B, G)
        with np.errstate(divide="ignore", invalid="ignore"):
            acc = right / total
            acc_split = (
                np.add.reduceat(kc[:, :, self.perm_s], self.starts_s, axis=2) / n_split[:, None, :]
            )
            acc_group = (
                np.add.reduceat(kc[:, :, self.perm_g], self.starts_g, axis=2) / n_group[:, None, :]
            )
        wga = _nanmin(acc_group, axis=2)
        ref = inp.ref_idx
        if inp.gap_reason is not None:
            gap = np.full_like(acc, np.nan)
        elif inp.gap_definition == "average_minus_worst_group":
            gap = acc - wga
        elif inp.gap_definition == "reference_minus_worst":
            others = np.delete(acc_split, ref, axis=2)
            gap = acc_split[:, :, ref] - _nanmin(others, axis=2)
        else:
            ref_n = n_split[:, ref][:, None]
            ref_right = acc_split[:, :, ref] * ref_n
            with np.errstate(divide="ignore", invalid="ignore"):
                rest = (right - np.nan_to_num(ref_right)) / (total - ref_n)
            gap = acc_split[:, :, ref] - rest
        return {
            "accuracy": acc,
            "gap": gap,
            "worst_group_accuracy": wga,
            "acc_split": acc_split,
            "acc_group": acc_group,
            "n_split": n_split,
            "n_group": n_group,
        }


def _cell_table(inp: _Inputs) -> _CellTable:
    columns = [inp.split_code, inp.y_code, inp.attr_code, *inp.correct]
    sizes = [inp.split_labels.size, inp.y_labels.size, inp.attr_labels.size]
    sizes += [2] * len(inp.roles)
    cells, counts, cell_of_row = stats.encode_cells(columns, sizes)
    cell_split = cells[:, 0]
    cell_group = cells[:, 1] * inp.attr_labels.size + cells[:, 2]
    perm_s = np.argsort(cell_split, kind="stable")
    split_present, starts_s = np.unique(cell_split[perm_s], return_index=True)
    perm_g = np.argsort(cell_group, kind="stable")
    group_present, starts_g = np.unique(cell_group[perm_g], return_index=True)
    return _CellTable(
        inp=inp,
        counts=counts,
        cell_of_row=cell_of_row,
        cell_correct=cells[:, 3:].T.astype(np.float64),
        perm_s=perm_s,
        starts_s=starts_s,
        split_present=split_present,
        perm_g=perm_g,
        starts_g=starts_g,
        group_present=group_present,
    )


# ------------------------------------------------------------------ stage 3: estimate
def _replicates(table: _CellTable, n_bootstrap: int, seed: int) -> dict[str, np.ndarray]:
    """Bootstrap replicates of accuracy, gap and worst-group accuracy, each (B, roles)."""
    reps: dict[str, list[np.ndarray]] = {"accuracy": [], "gap": [], "worst_group_accuracy": []}
    if n_bootstrap:
        rng = np.random.default_rng(seed)
        for kk in stats.bootstrap_cell_counts(
            table.counts, n_bootstrap, rng, chunk_size=_CHUNK, cell_of_row=table.cell_of_row
        ):
            m = table.metrics(kk)
            for key in reps:
                reps[key].append(m[key])
    n_roles = len(table.inp.roles)
    return {
        key: (np.concatenate(v, axis=0) if v else np.empty((0, n_roles))) for key, v in reps.items()
    }


# ------------------------------------------------------------------- stage 4: records
def _role_record(
    inp: _Inputs,
    table: _CellTable,
    point: dict[str, np.ndarray],
    rep: dict[str, np.ndarray],
    r: int,
    confidence: float,
    min_group_size: int,
) -> RoleRobustness:
    n_split0 = point["n_split"][0]
    n_group0 = point["n_group"][0]
    n_attr = inp.attr_labels.size
    by_split = (
        tuple(
            SplitAccuracy(
                split=str(inp.split_labels[lab]),
                n=int(n_split0[s]),
                accuracy=float(point["acc_split"][0, r, s]),
            )
            for s, lab in enumerate(table.split_present)
        )
        if inp.has_split
        else ()
    )
    by_group = tuple(
        GroupAccuracy(
            label=to_native(inp.y_labels[g // n_attr]),
            group=str(inp.attr_labels[g % n_attr]),
            n=int(n_group0[g_i]),
            accuracy=float(point["acc_group"][0, r, g_i]),
            small=bool(n_group0[g_i] < min_group_size),
        )
        for g_i, g in enumerate(table.group_present)
    )
    worst = min(by_group, key=lambda rec: (rec.accuracy, rec.label, rec.group), default=None)
    return RoleRobustness(
        accuracy=stats.estimate(point["accuracy"][0, r], rep["accuracy"][:, r], confidence),
        gap=stats.estimate(point["gap"][0, r], rep["gap"][:, r], confidence, inp.gap_reason),
        worst_group_accuracy=stats.estimate(
            point["worst_group_accuracy"][0, r], rep["worst_group_accuracy"][:, r], confidence
        ),
        worst_group=worst,
        by_split=by_split,
        by_group=by_group,
    )


def _pair_record(
    point: dict[str, np.ndarray],
    rep: dict[str, np.ndarray],
    ia: int,
    ib: int,
    confidence: float,
    gap_reason: str | None,
) -> PairRobustness:
    return PairRobustness(
        **{
            key: stats.estimate(
                point[key][0, ib] - point[key][0, ia],
                rep[key][:, ib] - rep[key][:, ia],
                confidence,
                gap_reason if key == "gap" else None,
                paired=True,
            )
            for key in ("accuracy", "gap", "worst_group_accuracy")
        }
    )


def _kd_records(
    inp: _Inputs,
    point: dict[str, np.ndarray],
    rep: dict[str, np.ndarray],
    confidence: float,
    min_gap_reduction: float,
) -> tuple[Estimate | None, Distillability | None]:
    """Contribution (student vs baseline) and distillability (needs the teacher too)."""
    roles = inp.roles
    if not {"student", "baseline"} <= set(roles):
        return None, None
    i_s, i_b = roles.index("student"), roles.index("baseline")
    contribution = stats.estimate(
        point["gap"][0, i_s] - point["gap"][0, i_b],
        rep["gap"][:, i_s] - rep["gap"][:, i_b],
        confidence,
        inp.gap_reason,
        paired=True,
    )
    distill = None
    if "teacher" in roles:
        distill = _distillability(
            point["gap"][0],
            rep["gap"],
            roles.index("teacher"),
            i_s,
            i_b,
            confidence,
            min_gap_reduction,
            inp.gap_reason,
        )
    return contribution, distill


def _config(
    inp: _Inputs,
    attribute_name: str,
    min_gap_reduction: float,
    min_group_size: int,
    n_bootstrap: int,
    confidence: float,
    seed: int,
) -> RobustnessConfig:
    return RobustnessConfig(
        attribute_name=attribute_name,
        n_samples=inp.n,
        splits=tuple(str(s) for s in inp.split_labels) if inp.has_split else (),
        reference_split=str(inp.split_labels[inp.ref_idx]) if inp.has_split else None,
        reference_split_rule=inp.ref_rule,
        gap_definition=inp.gap_definition,
        group_definition=inp.group_definition,
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
