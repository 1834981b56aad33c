"""One typed, immutable audit result: the content of report.json as frozen records.

The audit (:func:`kdaudit.auditing.run.assemble_report`) assembles the report as a
JSON-native dict; a :class:`~kdaudit.api.Report` turns it into an :class:`AuditResult` at once, and every
reader after that (the gate, the HTML and Markdown pages, the model card, JUnit,
the pandas frames) reads typed fields. ``to_dict()`` is called only where JSON is
written; ``kdaudit gate`` reads a finished report.json with :meth:`AuditResult.from_dict`.

Rules of the layer:

* every record is a frozen, slotted dataclass (hashable, assignment raises);
* a JSON object keyed by a label (a role, a pair, an attribute, a skipped analysis)
  becomes a :class:`ByKey` tuple of records, each carrying its key, in the report's
  order (roles teacher, student, baseline; pairs as in METHODS.md; attributes as the
  user named them); JSON lists become tuples;
* nothing mutable is held: a JSON object without a record type (a preprocessing spec,
  a manifest, the extra keys of a record) is held as a :class:`JsonMap`;
* ``AuditResult.from_dict(d).to_dict() == d`` for every report (tests check it on real
  audits and the shipped sample reports): each record remembers the order of its keys,
  and keys it does not type (or values of an unexpected shape, in a hand-edited
  report) are kept verbatim in ``extra``.

This module imports only the standard library and :mod:`kdaudit.results` /
:mod:`kdaudit.vocab`; it computes nothing.
"""

from __future__ import annotations

import dataclasses
import functools
import types
import typing
from collections.abc import Iterator, Mapping
from typing import Any, ClassVar, Generic, Self, TypeVar

from kdaudit.analysis.pairs import pair_name
from kdaudit.results import Record
from kdaudit.vocab import PAIRS, ROLES

__all__ = [
    "AccuracyDelta",
    "AttributeFairness",
    "AuditResult",
    "ByKey",
    "ClassFairness",
    "ClassShift",
    "ClassShiftRow",
    "DataInfo",
    "Estimate",
    "FairnessDelta",
    "GateCheck",
    "GateFamily",
    "GateRecord",
    "Governance",
    "GroupRates",
    "IndividualDelta",
    "IndividualFairness",
    "IndividualRole",
    "JsonMap",
    "ModelInfo",
    "Node",
    "RoleAccuracy",
    "RoleFairness",
    "Skip",
    "SweepPoint",
    "as_result",
    "freeze",
    "pair_name",
    "thaw",
]

T = TypeVar("T", bound="Node")


#: The pair names of report.json, in report order.
PAIR_NAMES: tuple[str, ...] = tuple(pair_name(a, b) for a, b in PAIRS)


# --------------------------------------------------------------------------- JSON values


@dataclasses.dataclass(frozen=True, slots=True)
class JsonMap:
    """A frozen JSON object (key order kept): values are JSON scalars, tuples or JsonMaps."""

    items_: tuple[tuple[str, Any], ...] = ()

    def __getitem__(self, key: str) -> Any:
        for k, v in self.items_:
            if k == key:
                return v
        raise KeyError(key)

    def __contains__(self, key: object) -> bool:
        return any(k == key for k, _ in self.items_)

    def __iter__(self) -> Iterator[str]:
        return (k for k, _ in self.items_)

    def __len__(self) -> int:
        return len(self.items_)

    def __bool__(self) -> bool:
        return bool(self.items_)

    def lookup(self, key: str, default: Any = None) -> Any:
        """The value under ``key``, or ``default``."""
        for k, v in self.items_:
            if k == key:
                return v
        return default

    def keys(self) -> tuple[str, ...]:
        return tuple(k for k, _ in self.items_)

    def items(self) -> tuple[tuple[str, Any], ...]:
        return self.items_

    def to_dict(self) -> dict[str, Any]:
        """A fresh JSON-native dict (lists, dicts)."""
        return {k: thaw(v) for k, v in self.items_}


def freeze(value: Any) -> Any:
    """A JSON-native value made immutable: lists become tuples, objects :class:`JsonMap`."""
    if isinstance(value, dict):
        return JsonMap(tuple((str(k), freeze(v)) for k, v in value.items()))
    if isinstance(value, (list, tuple)):
        if not any(isinstance(v, (dict, list, tuple)) for v in value):
            return tuple(value)  # a row of numbers (a disagreement matrix): no copy per item
        return tuple(freeze(v) for v in value)
    return value


def thaw(value: Any) -> Any:
    """The inverse of :func:`freeze`: JSON-native lists and dicts (records via ``to_dict``).

    A :class:`ByKey` becomes the JSON object it stands for (``{key: record}``).
    """
    if isinstance(value, ByKey):
        return {item.key: item.json_value() for item in value}
    if isinstance(value, Node):
        return value.to_dict()
    if isinstance(value, JsonMap):
        return value.to_dict()
    if isinstance(value, tuple):
        if not any(isinstance(v, (tuple, JsonMap, Node)) for v in value):
            return list(value)
        return [thaw(v) for v in value]
    return value


class ByKey(tuple[T, ...], Generic[T]):
    """A tuple of keyed records (a JSON object keyed by label), in report order."""

    __slots__ = ()

    def of(self, key: str) -> T | None:
        """The record whose key is ``key``, or None."""
        for item in self:
            if item.key == key:
                return item
        return None

    def keys(self) -> tuple[str, ...]:
        return tuple(item.key for item in self)

    def __contains__(self, key: object) -> bool:
        if isinstance(key, str):
            return any(item.key == key for item in self)
        return tuple.__contains__(self, key)


class _Shape(Exception):
    """Internal: a value does not have the shape its field expects (kept verbatim)."""


# --------------------------------------------------------------------------- records


@dataclasses.dataclass(frozen=True, slots=True)
class _Field:
    name: str  # attribute
    key: str  # JSON key
    kind: str  # "plain" | "node" | "many" | "bykey"
    node: type[Node] | None


def _unwrap_optional(tp: Any) -> Any:
    if typing.get_origin(tp) in (typing.Union, types.UnionType):
        args = [a for a in typing.get_args(tp) if a is not type(None)]
        if len(args) == 1:
            return args[0]
    return tp


@dataclasses.dataclass(frozen=True, slots=True, kw_only=True)
class Node(Record):
    """A frozen record of report.json that round-trips its JSON exactly.

    Subclasses declare typed fields (all with defaults: a hand-edited report may lack
    any key). ``extra`` holds the keys a subclass does not type, and values of an
    unexpected shape, verbatim (frozen); ``key_order`` the source's key order.
    Records kept in a :class:`ByKey` set ``KEY`` (the field holding the label) and,
    when the JSON value is a scalar rather than an object, ``VALUE``.
    """

    KEY: ClassVar[str | None] = None
    VALUE: ClassVar[str | None] = None

    extra: tuple[tuple[str, Any], ...] = dataclasses.field(default=(), compare=True)
    key_order: tuple[str, ...] = dataclasses.field(default=(), compare=False)

    # ------------------------------------------------------------------ spec
    @classmethod
    @functools.cache
    def _spec(cls) -> tuple[_Field, ...]:
        hints = typing.get_type_hints(cls)
        out = []
        for f in dataclasses.fields(cls):
            if f.name in ("extra", "key_order") or (cls.KEY is not None and f.name == cls.KEY):
                continue
            tp = _unwrap_optional(hints[f.name])
            origin = typing.get_origin(tp)
            kind, node = "plain", None
            if isinstance(tp, type) and issubclass(tp, Node):
                kind, node = "node", tp
            elif origin is ByKey:
                kind, node = "bykey", typing.get_args(tp)[0]
            elif origin is tuple:
                args = typing.get_args(tp)
                if len(args) == 2 and args[1] is Ellipsis and isinstance(args[0], type):
                    if issubclass(args[0], Node):
                        kind, node = "many", args[0]
            out.append(_Field(f.name, f.metadata.get("key", f.name), kind, node))
        return tuple(out)

    @property
    def key(self) -> str:
        """The label this record is filed under in its :class:`ByKey` (its ``KEY`` field)."""
        if self.KEY is None:
            raise AttributeError(f"{type(self).__name__} is not a keyed record")
        return str(getattr(self, self.KEY))

    # ------------------------------------------------------------------ reading
    @classmethod
    def from_dict(cls, data: Mapping[str, Any], **fixed: Any) -> Self:
        """Build the record from its JSON object (``fixed``: fields set by the caller)."""
        if not isinstance(data, Mapping):
            raise _Shape(type(data).__name__)
        by_key = {f.key: f for f in cls._spec()}
        kwargs: dict[str, Any] = dict(fixed)
        extra: list[tuple[str, Any]] = []
        for key, value in data.items():
            f = by_key.get(key)
            if f is None:
                extra.append((key, freeze(value)))
                continue
            try:
                kwargs[f.name] = _read(f, value)
            except _Shape:
                extra.append((key, freeze(value)))
        return cls(**kwargs, extra=tuple(extra), key_order=tuple(str(k) for k in data))

    @classmethod
    def from_keyed(cls, key: str, value: Any) -> Self:
        """Build a :class:`ByKey` member from one ``key: value`` of its JSON object."""
        assert cls.KEY is not None
        if cls.VALUE is not None:
            node = cls(**{cls.KEY: key, cls.VALUE: freeze(value)})
            return dataclasses.replace(node, key_order=(cls.VALUE,))
        return cls.from_dict(value, **{cls.KEY: key})

    # ------------------------------------------------------------------ writing
    def to_dict(self) -> dict[str, Any]:
        """The record's JSON object, keys in their original order."""
        by_key = {f.key: f for f in self._spec()}
        extra = dict(self.extra)
        order = self.key_order or tuple(
            [f.key for f in self._spec() if getattr(self, f.name) is not None] + list(extra)
        )
        out: dict[str, Any] = {}
        for key in order:
            if key in extra:
                out[key] = thaw(extra[key])
            elif key in by_key:
                out[key] = _write(by_key[key], getattr(self, by_key[key].name))
        return out

    def json_value(self) -> Any:
        """What this record is in its parent's JSON (the scalar of a ``VALUE`` record)."""
        if self.VALUE is not None and self.key_order == (self.VALUE,):
            return thaw(getattr(self, self.VALUE))
        return self.to_dict()

    def extra_value(self, key: str, default: Any = None) -> Any:
        """A key this record does not type (frozen), or ``default``."""
        for k, v in self.extra:
            if k == key:
                return v
        return default

    def fields_in_order(self) -> list[tuple[str, Any]]:
        """(JSON key, typed value or verbatim extra value), in the source's key order."""
        typed = {f.key: f.name for f in self._spec()}
        extra = dict(self.extra)
        return [
            (k, extra[k] if k in extra else getattr(self, typed[k]))
            for k in self.key_order
            if k in extra or k in typed
        ]

    def has(self, key: str) -> bool:
        """Whether the source JSON had ``key`` (typed or not)."""
        return key in self.key_order or any(k == key for k, _ in self.extra)


def _read(f: _Field, value: Any) -> Any:
    if f.kind == "plain" or value is None:
        return freeze(value)
    assert f.node is not None
    if f.kind == "node":
        return f.node.from_dict(value)
    if f.kind == "many":
        if not isinstance(value, list | tuple):
            raise _Shape("list")
        return tuple(f.node.from_dict(v) for v in value)
    if not isinstance(value, Mapping):
        raise _Shape("object")
    return ByKey(f.node.from_keyed(str(k), v) for k, v in value.items())


def _write(f: _Field, value: Any) -> Any:
    if f.kind == "bykey" and value is not None:
        return {item.key: item.json_value() for item in value}
    return thaw(value)


def _est(key: str | None = None) -> Any:
    return dataclasses.field(default=None, metadata={"key": key} if key else {})


# --------------------------------------------------------------------------- sections


@dataclasses.dataclass(frozen=True, slots=True, kw_only=True)
class NoiseFloor(Node):
    """The metric's value under no real disparity (a permutation null)."""

    value: float | None = None
    ci_high: float | None = None


@dataclasses.dataclass(frozen=True, slots=True, kw_only=True)
class Estimate(Node):
    """A number with its interval (``value`` None with ``undefined_reason`` when undefined).

    ``estimate`` is the bias-corrected centre of the interval when it differs from the
    plug-in ``value``; ``method`` names the interval.
    """

    value: float | None = None
    ci_low: float | None = None
    ci_high: float | None = None
    p_value: float | None = None
    undefined_reason: str | None = None
    estimate: float | None = None
    method: str | None = None
    percentile_ci: tuple[float | None, ...] | None = None
    noise_floor: NoiseFloor | None = None


@dataclasses.dataclass(frozen=True, slots=True, kw_only=True)
class ModelRun(Node):
    """One file of a role with several runs (seeds)."""

    path: str | None = None
    sha256: str | None = None


@dataclasses.dataclass(frozen=True, slots=True, kw_only=True)
class ModelInfo(Node):
    """``models.ROLE``: the file(s), hash, format and what was applied to inputs."""

    KEY: ClassVar[str | None] = "role"
    role: str = ""
    path: str | None = None
    sha256: str | None = None
    format: str | None = None
    n_classes: int | None = None
    outputs: str | None = None
    arch: str | None = None
    outputs_resolved: str | None = None
    temperature: float | None = None
    preprocess: JsonMap | None = None
    preprocess_source: str | None = None
    runs: tuple[ModelRun, ...] = ()
    manifest: JsonMap | None = None


@dataclasses.dataclass(frozen=True, slots=True, kw_only=True)
class DataInfo(Node):
    """``data``: the evaluation set."""

    path: str | None = None
    sha256: str | None = None
    fingerprint: str | None = None
    n_samples: int | None = None
    label: str | None = None
    sensitive: tuple[str, ...] = ()
    has_inputs: bool | None = None
    has_split: bool | None = None
    class_names: tuple[str, ...] | None = None


@dataclasses.dataclass(frozen=True, slots=True, kw_only=True)
class AuditConfig(Node):
    """``config``: every choice the audit made."""

    alpha: float | None = None
    correction: str | None = None
    bootstrap: int | None = None
    seed: int | None = None
    confidence: float | None = None
    min_group_size: int | None = None
    skip: tuple[str, ...] | None = None


@dataclasses.dataclass(frozen=True, slots=True, kw_only=True)
class Skip(Node):
    """``skipped.ANALYSIS``: why an analysis did not run."""

    KEY: ClassVar[str | None] = "analysis"
    VALUE: ClassVar[str | None] = "reason"
    analysis: str = ""
    reason: str | None = None


@dataclasses.dataclass(frozen=True, slots=True, kw_only=True)
class RoleAccuracy(Node):
    """``accuracy.ROLE``."""

    KEY: ClassVar[str | None] = "role"
    VALUE: ClassVar[str | None] = "value"
    role: str = ""
    value: float | None = None


@dataclasses.dataclass(frozen=True, slots=True, kw_only=True)
class AccuracyDelta(Estimate):
    """``accuracy_delta.PAIR``: B minus A, paired bootstrap."""

    KEY: ClassVar[str | None] = "pair"
    pair: str = ""


@dataclasses.dataclass(frozen=True, slots=True, kw_only=True)
class SanityCheck(Node):
    """One ``sanity`` warning."""

    check: str | None = None
    role: str | None = None
    message: str | None = None


@dataclasses.dataclass(frozen=True, slots=True, kw_only=True)
class ClassShiftRow(Node):
    """``class_shift.PAIR.per_class[i]``."""

    class_: int | str | None = dataclasses.field(default=None, metadata={"key": "class"})
    n: int | None = None
    acc_a: float | None = None
    acc_b: float | None = None
    p_value: float | None = None
    p_adjusted: float | None = None
    significant: bool | None = None
    newly_wrong: float | None = None
    newly_right: float | None = None
    disagreement_rate: float | None = None
    ratio_mean_a: float | None = None
    ratio_std_a: float | None = None
    ratio_mean_b: float | None = None
    ratio_std_b: float | None = None


@dataclasses.dataclass(frozen=True, slots=True, kw_only=True)
class ClassShift(Node):
    """``class_shift.PAIR``: per-class accuracy changes and their tests."""

    KEY: ClassVar[str | None] = "pair"
    pair: str = ""
    mode: str | None = None
    test: str | None = None
    alpha: float | None = None
    correction: str | None = None
    n_classes: int | None = None
    n_significant: int | None = None
    n_significant_uncorrected: int | None = None
    disagreement_rate: float | None = None
    n_runs_a: int | None = None
    n_runs_b: int | None = None
    per_class: tuple[ClassShiftRow, ...] = ()
    disagreement_matrix: tuple[tuple[int, ...], ...] | None = None


@dataclasses.dataclass(frozen=True, slots=True, kw_only=True)
class GroupRates(Node):
    """``group_fairness.ATTR.ROLE.by_group[i]``: one group's rates."""

    group: str | None = None
    n: int | None = None
    selection_rate: float | None = None
    tpr: float | None = None
    fpr: float | None = None
    accuracy: float | None = None
    small: bool | None = None
    undefined_reason: str | None = None
    selection_rate_ci: tuple[float, ...] | None = None
    tpr_ci: tuple[float, ...] | None = None
    fpr_ci: tuple[float, ...] | None = None
    accuracy_ci: tuple[float, ...] | None = None
    n_positive: int | None = None
    n_negative: int | None = None
    small_for: JsonMap | None = None


@dataclasses.dataclass(frozen=True, slots=True, kw_only=True)
class _FairnessMetrics(Node):
    demographic_parity_difference: Estimate | None = None
    equalized_odds_difference: Estimate | None = None
    equal_opportunity_difference: Estimate | None = None
    demographic_parity_ratio: Estimate | None = None
    worst_group_accuracy: Estimate | None = None

    def metric(self, name: str) -> Estimate | None:
        """The estimate of one fairness metric (by its report.json name), or None."""
        if name in _FAIRNESS_METRICS:
            value = getattr(self, name)
            return value if isinstance(value, Estimate) else None
        return None


_FAIRNESS_METRICS = (
    "demographic_parity_difference",
    "equalized_odds_difference",
    "equal_opportunity_difference",
    "demographic_parity_ratio",
    "worst_group_accuracy",
)


@dataclasses.dataclass(frozen=True, slots=True, kw_only=True)
class ClassFairness(_FairnessMetrics):
    """``per_class[i]`` of a multi-class task: one-vs-rest metrics of one class."""

    class_: int | str | None = dataclasses.field(default=None, metadata={"key": "class"})


@dataclasses.dataclass(frozen=True, slots=True, kw_only=True)
class MeanOverClasses(_FairnessMetrics):
    """``mean_over_classes``: the one-vs-rest metrics averaged over classes."""


@dataclasses.dataclass(frozen=True, slots=True, kw_only=True)
class RoleFairness(_FairnessMetrics):
    """``group_fairness.ATTR.ROLE``."""

    by_group: tuple[GroupRates, ...] = ()
    per_class: tuple[ClassFairness, ...] = ()
    mean_over_classes: MeanOverClasses | None = None


@dataclasses.dataclass(frozen=True, slots=True, kw_only=True)
class FairnessDelta(_FairnessMetrics):
    """``group_fairness.ATTR.delta.PAIR``: metric changes, B minus A."""

    KEY: ClassVar[str | None] = "pair"
    pair: str = ""


@dataclasses.dataclass(frozen=True, slots=True, kw_only=True)
class AttributeFairness(Node):
    """``group_fairness.ATTR``: each role's metrics and the changes between roles."""

    KEY: ClassVar[str | None] = "attribute"
    attribute: str = ""
    teacher: RoleFairness | None = None
    student: RoleFairness | None = None
    baseline: RoleFairness | None = None
    delta: ByKey[FairnessDelta] = dataclasses.field(default_factory=lambda: ByKey(()))
    groups_flagged: tuple[str, ...] = ()
    n_groups: int | None = None
    positive_label: int | str | None = None
    task: str | None = None
    min_group_size: int | None = None
    n_bootstrap: int | None = None
    bootstrap_method: str | None = None

    def role(self, role: str) -> RoleFairness | None:
        """The metrics of ``role`` (teacher, student, baseline), or None."""
        if role in ROLES:
            value = getattr(self, role)
            return value if isinstance(value, RoleFairness) else None
        return None


@dataclasses.dataclass(frozen=True, slots=True, kw_only=True)
class IndividualRole(Node):
    """``individual_fairness.ROLE``."""

    lipschitz: Estimate | None = None
    lipschitz_normalized: Estimate | None = None
    consistency: Estimate | None = None
    consistency_definition: str | None = None
    counterfactual: JsonMap | None = None


@dataclasses.dataclass(frozen=True, slots=True, kw_only=True)
class IndividualDelta(Node):
    """``individual_fairness.delta.PAIR``."""

    KEY: ClassVar[str | None] = "pair"
    pair: str = ""
    lipschitz: Estimate | None = None
    lipschitz_normalized: Estimate | None = None
    consistency: Estimate | None = None


@dataclasses.dataclass(frozen=True, slots=True, kw_only=True)
class IndividualFairness(Node):
    """``individual_fairness``."""

    config: JsonMap | None = None
    teacher: IndividualRole | None = None
    student: IndividualRole | None = None
    baseline: IndividualRole | None = None
    delta: ByKey[IndividualDelta] = dataclasses.field(default_factory=lambda: ByKey(()))

    def role(self, role: str) -> IndividualRole | None:
        """The numbers of ``role``, or None."""
        if role in ROLES:
            value = getattr(self, role)
            return value if isinstance(value, IndividualRole) else None
        return None


@dataclasses.dataclass(frozen=True, slots=True, kw_only=True)
class WorstGroup(Node):
    """``robustness.ROLE.worst_group``."""

    label: int | str | None = None
    group: str | None = None
    n: int | None = None
    accuracy: float | None = None
    small: bool | None = None


@dataclasses.dataclass(frozen=True, slots=True, kw_only=True)
class SplitAccuracy(Node):
    """``robustness.ROLE.by_split[i]``."""

    split: str | None = None
    n: int | None = None
    accuracy: float | None = None


@dataclasses.dataclass(frozen=True, slots=True, kw_only=True)
class RobustnessRole(Node):
    """``robustness.ROLE``."""

    accuracy: Estimate | None = None
    gap: Estimate | None = None
    worst_group_accuracy: Estimate | None = None
    worst_group: WorstGroup | None = None
    by_split: tuple[SplitAccuracy, ...] = ()
    by_group: tuple[WorstGroup, ...] = ()


@dataclasses.dataclass(frozen=True, slots=True, kw_only=True)
class RobustnessDelta(Node):
    """``robustness.delta.PAIR``."""

    KEY: ClassVar[str | None] = "pair"
    pair: str = ""
    accuracy: Estimate | None = None
    gap: Estimate | None = None
    worst_group_accuracy: Estimate | None = None


@dataclasses.dataclass(frozen=True, slots=True, kw_only=True)
class Robustness(Node):
    """``robustness``: in- vs out-of-distribution accuracy and worst-group accuracy."""

    config: JsonMap | None = None
    teacher: RobustnessRole | None = None
    student: RobustnessRole | None = None
    baseline: RobustnessRole | None = None
    delta: ByKey[RobustnessDelta] = dataclasses.field(default_factory=lambda: ByKey(()))
    distillability: Estimate | None = None
    contribution: Estimate | None = None

    def role(self, role: str) -> RobustnessRole | None:
        """The numbers of ``role``, or None."""
        if role in ROLES:
            value = getattr(self, role)
            return value if isinstance(value, RobustnessRole) else None
        return None


@dataclasses.dataclass(frozen=True, slots=True, kw_only=True)
class SweepPoint(Node):
    """``temperature_sweep[i]`` (one student), or a reference role's line.

    ``*_ci`` / ``*_std`` columns the record does not name are read with :meth:`column`.
    """

    KEY: ClassVar[str | None] = "role"
    role: str = ""
    temperature: float | None = None
    paths: tuple[str, ...] | None = None
    main: bool | None = None
    attribute: str | None = None
    n_tc: int | None = None
    n_tc_uncorrected: int | None = None
    n_sc: int | None = None
    n_sc_uncorrected: int | None = None
    n_runs: int | None = None
    accuracy: float | None = None
    accuracy_ci: tuple[float | None, ...] | None = None
    demographic_parity_difference: float | None = None
    demographic_parity_difference_ci: tuple[float | None, ...] | None = None
    demographic_parity_difference_estimate: float | None = None
    equalized_odds_difference: float | None = None
    equalized_odds_difference_ci: tuple[float | None, ...] | None = None
    equalized_odds_difference_estimate: float | None = None
    lipschitz: float | None = None
    lipschitz_ci: tuple[float | None, ...] | None = None
    lipschitz_normalized: float | None = None
    lipschitz_normalized_ci: tuple[float | None, ...] | None = None

    def column(self, name: str) -> Any:
        """A sweep column by name (typed or not); None when absent."""
        if name in {f.key for f in self._spec()}:
            return getattr(self, name)
        return self.extra_value(name)


@dataclasses.dataclass(frozen=True, slots=True, kw_only=True)
class GovernanceItem(Node):
    """One governance question with its answer and the report keys that back it."""

    question: str | None = None
    answer: str | None = None
    evidence: tuple[str, ...] = ()


@dataclasses.dataclass(frozen=True, slots=True, kw_only=True)
class Governance(Node):
    """``governance``: evidence mapped to common review questions."""

    disclaimer: str | None = None
    items: tuple[GovernanceItem, ...] = ()


@dataclasses.dataclass(frozen=True, slots=True, kw_only=True)
class Provenance(Node):
    """``provenance``: who ran the audit, where and with what."""

    command_line: str | None = None
    user: str | None = None
    host: str | None = None
    python: str | None = None
    platform: str | None = None
    packages: JsonMap | None = None
    started: str | None = None
    finished: str | None = None


@dataclasses.dataclass(frozen=True, slots=True, kw_only=True)
class GateCheck(Node):
    """``gate.checks[i]``: one judged threshold (see :mod:`kdaudit.gate`)."""

    name: str | None = None
    value: float | None = None
    threshold: float | None = None
    passed: bool | None = None
    release_ok: bool | None = None
    judged_on: str | None = None
    detail: str | None = None
    evaluated: bool | None = None
    estimate: float | None = None
    verdict: str | None = None
    ci_low: float | None = None
    ci_high: float | None = None
    attribute: str | None = None
    metric: str | None = None
    min_detectable: float | None = None
    rows_needed: int | None = None
    sentence: str | None = None

    @property
    def effective_verdict(self) -> str:
        """``verdict``, or pass/fail from ``passed`` for a gate written before verdicts."""
        return self.verdict or ("pass" if self.passed else "fail")


@dataclasses.dataclass(frozen=True, slots=True, kw_only=True)
class GateFamily(Node):
    """``gate.family``: how the checks' false-fail rate is controlled."""

    method: str | None = None
    alpha: float | None = None
    n_checks: int | None = None
    note: str | None = None


@dataclasses.dataclass(frozen=True, slots=True, kw_only=True)
class GateRecord(Node):
    """``gate``: the verdict, the checks and the policy that judged them."""

    passed: bool | None = None
    release_ok: bool | None = None
    judge: str | None = None
    checks: tuple[GateCheck, ...] = ()
    allow_missing: bool | None = None
    policy: str | None = None
    verdict: str | None = None
    on_inconclusive: str | None = None
    family: GateFamily | None = None
    policy_content: str | None = None
    policy_format: str | None = None
    policy_sha256: str | None = None

    @property
    def effective_verdict(self) -> str:
        """``verdict``, or pass/fail from ``passed`` for a gate written before verdicts."""
        return self.verdict or ("pass" if self.passed else "fail")

    @property
    def lets_release(self) -> bool:
        """Whether the gate lets the release through (``release_ok``, else ``passed``)."""
        return bool(self.passed if self.release_ok is None else self.release_ok)


@dataclasses.dataclass(frozen=True, slots=True, kw_only=True)
class AuditResult(Node):
    """The whole audit, typed: report.json as frozen records.

    Build it with :meth:`from_dict` (a report dict or a parsed report.json); write it with
    :meth:`to_dict`. Replace a section with :meth:`with_section` (a new result).
    """

    schema_version: str | None = None
    kdaudit_version: str | None = None
    created: str | None = None
    models: ByKey[ModelInfo] = dataclasses.field(default_factory=lambda: ByKey(()))
    data: DataInfo | None = None
    config: AuditConfig | None = None
    skipped: ByKey[Skip] = dataclasses.field(default_factory=lambda: ByKey(()))
    warnings: tuple[str, ...] = ()
    sanity: tuple[SanityCheck, ...] = ()
    accuracy: ByKey[RoleAccuracy] = dataclasses.field(default_factory=lambda: ByKey(()))
    accuracy_delta: ByKey[AccuracyDelta] = dataclasses.field(default_factory=lambda: ByKey(()))
    class_shift: ByKey[ClassShift] = dataclasses.field(default_factory=lambda: ByKey(()))
    group_fairness: ByKey[AttributeFairness] = dataclasses.field(default_factory=lambda: ByKey(()))
    individual_fairness: IndividualFairness | None = None
    robustness: Robustness | None = None
    counterfactual_text: JsonMap | None = None
    temperature_sweep: tuple[SweepPoint, ...] = ()
    temperature_sweep_reference: ByKey[SweepPoint] = dataclasses.field(
        default_factory=lambda: ByKey(())
    )
    governance: Governance | None = None
    provenance: Provenance | None = None
    gate: GateRecord | None = None

    # ------------------------------------------------------------------ reading helpers
    @property
    def roles(self) -> tuple[str, ...]:
        """The roles audited, in report order (from ``models``, else ``accuracy``)."""
        keys = self.models.keys() or self.accuracy.keys()
        return tuple(r for r in ROLES if r in keys)

    def accuracy_of(self, role: str) -> float | None:
        """``accuracy.ROLE`` (None when absent)."""
        item = self.accuracy.of(role)
        return None if item is None else item.value

    def skip_reason(self, analysis: str) -> str | None:
        """Why ``analysis`` was skipped, or None when it was not."""
        item = self.skipped.of(analysis)
        return None if item is None else item.reason

    @property
    def pairs(self) -> tuple[str, ...]:
        """The pairs present in ``accuracy_delta``, in report order."""
        return tuple(p for p in PAIR_NAMES if p in self.accuracy_delta)

    # ------------------------------------------------------------------ new results
    def with_section(self, key: str, value: Any) -> AuditResult:
        """A new result with report.json's ``key`` set to ``value`` (a JSON-native value or
        a record); the section is appended when new, replaced in place otherwise."""
        data = self.to_dict()
        data[key] = thaw(value)
        return AuditResult.from_dict(data)


def as_result(report: AuditResult | Mapping[str, Any]) -> AuditResult:
    """``report`` as an :class:`AuditResult` (a report dict is read with ``from_dict``)."""
    return report if isinstance(report, AuditResult) else AuditResult.from_dict(report)
