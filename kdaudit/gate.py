"""The release gate: a policy (TOML) judged against a finished report dict.

Semantics (INTERFACE.md, "Gate policy"):

* Each threshold key present in the policy becomes exactly **one** check in
  ``gate.checks``, in the policy-key order below. For ``max_dpd_increase`` and
  ``max_eod_increase`` the check judges the **worst sensitive attribute** (the one
  whose judged number is largest); ``detail`` lists every attribute's number, so
  a reviewer sees them all.
* ``judge = "upper_bound"`` (default) compares the upper end of the paired-bootstrap
  CI of the change with the threshold; a number without a CI (``n_significant``,
  a Lipschitz change built from two per-model estimates) is judged by its point
  value. ``judge = "point"`` judges the estimates. ``judged_on`` says which was used.
* A check passes when the judged number is ``<= threshold``.
* ``max_accuracy_drop`` judges teacher minus student accuracy. The report holds
  ``accuracy_delta.teacher_vs_student`` = student minus teacher, so the drop is
  ``-value`` and the drop's upper CI bound is ``-ci_low``.
* Missing data (no group fairness, individual fairness skipped, an undefined
  value) makes the check **not evaluated** (``evaluated = false``,
  ``judged_on = "not_evaluated"``, ``value = null``, the reason in ``detail``).
  It then **fails** unless the policy sets ``allow_missing = true``: a gate
  never passes silently on data it could not see.
"""

from __future__ import annotations

import dataclasses
import math
from importlib import resources
from pathlib import Path
from typing import Any, Literal

from kdaudit.errors import InputDataError, UsageError
from kdaudit.results import Record
from kdaudit.safety import read_text_regular
from kdaudit.validation import parse_text

__all__ = [
    "POLICY_KEYS",
    "SHIPPED_POLICIES",
    "GateCheck",
    "GateResult",
    "Policy",
    "evaluate_gate",
    "load_policy",
]

Judge = Literal["upper_bound", "point"]
JudgedOn = Literal["upper_bound", "point", "not_evaluated"]

#: Threshold keys, in the order their checks appear.
POLICY_KEYS: tuple[str, ...] = (
    "max_accuracy_drop",
    "max_dpd_increase",
    "max_eod_increase",
    "max_significant_classes",
    "max_lipschitz_increase",
)
_OTHER_KEYS = ("judge", "allow_missing", "description")
#: Names accepted by :func:`load_policy` besides file paths.
SHIPPED_POLICIES: tuple[str, ...] = ("default", "strict")

_PAIR = "teacher_vs_student"
_FAIRNESS_METRIC = {
    "max_dpd_increase": ("demographic_parity_difference", "DPD"),
    "max_eod_increase": ("equalized_odds_difference", "EOD"),
}


@dataclasses.dataclass(frozen=True, slots=True, kw_only=True)
class Policy(Record):
    """A gate policy: thresholds (``None`` = no check) and how to judge them.

    Build one with :func:`load_policy` (a TOML file or a shipped name) or
    :meth:`from_dict` (a ``[gate]`` table of an audit config).
    """

    max_accuracy_drop: float | None = None
    max_dpd_increase: float | None = None
    max_eod_increase: float | None = None
    max_significant_classes: int | None = None
    max_lipschitz_increase: float | None = None
    judge: Judge = "upper_bound"
    allow_missing: bool = False
    description: str | None = None
    source: str | None = dataclasses.field(default=None, metadata={"omit_none": True})

    @classmethod
    def from_dict(cls, data: dict[str, Any], *, source: str | None = None) -> Policy:
        """Validate a policy mapping (a TOML table) and build a :class:`Policy`.

        Parameters
        ----------
        data : dict
            Keys from :data:`POLICY_KEYS` plus ``judge``, ``allow_missing``,
            ``description``. A file holding a single ``[gate]`` table is accepted too.
        source : str, optional
            Where the policy came from (a path or shipped name), for messages.

        Raises
        ------
        UsageError
            On unknown keys (all are named) or bad values.
        """
        where = f"policy {source}" if source else "policy"
        if not isinstance(data, dict):
            raise UsageError(f"{where}: expected a table of settings, got {type(data).__name__}")
        if set(data) == {"gate"} and isinstance(data["gate"], dict):
            data = data["gate"]
        unknown = sorted(set(data) - set(POLICY_KEYS) - set(_OTHER_KEYS) - {"source"})
        if unknown:
            raise UsageError(
                f"{where}: unknown key(s) {', '.join(unknown)}; "
                f"known keys: {', '.join(POLICY_KEYS + _OTHER_KEYS)}",
                tip="check the spelling against INTERFACE.md's 'Gate policy' section",
            )
        kwargs: dict[str, Any] = {}
        for key in POLICY_KEYS:
            if key not in data:
                continue
            v = data[key]
            if key == "max_significant_classes":
                if isinstance(v, bool) or not isinstance(v, int) or v < 0:
                    raise UsageError(
                        f"{where}: {key} must be a non-negative integer (a class count); got {v!r}")
            else:
                if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v):
                    raise UsageError(
                        f"{where}: {key} must be a finite number (a fraction such as 0.02); "
                        f"got {v!r}")
                if not -1.0 <= float(v) <= 1.0:
                    raise UsageError(
                        f"{where}: {key} = {v!r} is outside [-1, 1]; thresholds are fractions "
                        f"(0.02 means 2 percentage points)")
                v = float(v)
            kwargs[key] = v
        judge = data.get("judge", "upper_bound")
        if judge not in ("upper_bound", "point"):
            raise UsageError(f"{where}: judge must be \"upper_bound\" or \"point\"; got {judge!r}")
        allow_missing = data.get("allow_missing", False)
        if not isinstance(allow_missing, bool):
            raise UsageError(f"{where}: allow_missing must be true or false; got {allow_missing!r}")
        description = data.get("description")
        if description is not None and not isinstance(description, str):
            raise UsageError(f"{where}: description must be a string; got {description!r}")
        return cls(judge=judge, allow_missing=allow_missing, description=description,
                   source=source or data.get("source"), **kwargs)

    @property
    def thresholds(self) -> dict[str, float | int]:
        """The threshold keys that are set, in check order."""
        return {k: getattr(self, k) for k in POLICY_KEYS if getattr(self, k) is not None}


def load_policy(path_or_name: str | Path) -> Policy:
    """Load a gate policy from a TOML file or a shipped name.

    Parameters
    ----------
    path_or_name : str or Path
        ``"default"`` or ``"strict"`` (files shipped in ``kdaudit/policies``),
        or the path of a TOML file.

    Returns
    -------
    Policy

    Raises
    ------
    UsageError
        The file is missing, not TOML, or holds unknown keys or bad values.
    """
    text: str
    name = str(path_or_name)
    path = Path(path_or_name)
    if name in SHIPPED_POLICIES and not path.is_file():
        text = resources.files("kdaudit.policies").joinpath(f"{name}.toml").read_text("utf-8")
        source = name
    else:
        if not path.exists():
            raise UsageError(
                f"policy file {name!r} does not exist",
                tip=f"give a TOML file or one of the shipped policies: "
                    f"{', '.join(SHIPPED_POLICIES)}")
        if path.is_dir():
            raise UsageError(f"policy {name!r} is a directory; expected a TOML file")
        try:
            text = read_text_regular(path, "policy file")
        except InputDataError as exc:
            raise UsageError(f"could not read policy file {name!r}: {exc}") from exc
        source = name
    data = parse_text(text, "toml", "policy", repr(source))  # typed: kdaudit/schemas
    return Policy.from_dict(data, source=source)


@dataclasses.dataclass(frozen=True, slots=True, kw_only=True)
class GateCheck(Record):
    """One judged threshold.

    ``value`` is the number compared with ``threshold`` (the CI's upper bound or the
    estimate, as ``judged_on`` says); ``None`` when the check was not evaluated.
    """

    name: str
    value: float | None
    threshold: float
    passed: bool
    judged_on: JudgedOn
    detail: str
    evaluated: bool = True
    estimate: float | None = None


@dataclasses.dataclass(frozen=True, slots=True, kw_only=True)
class GateResult(Record):
    """The gate's verdict: ``passed`` is true when every check passed."""

    passed: bool
    judge: Judge
    checks: tuple[GateCheck, ...] = ()
    allow_missing: bool = False
    policy: str | None = None

    def to_dict(self) -> dict[str, Any]:
        out = Record.to_dict(self)
        out["checks"] = [c.to_dict() for c in self.checks]
        return out


def _num(x: Any) -> float | None:
    if isinstance(x, bool) or not isinstance(x, (int, float)):
        return None
    return float(x) if math.isfinite(x) else None


def _fmt(x: float | None) -> str:
    return "undefined" if x is None else f"{x:.4g}"


def _tidy(x: float) -> float:
    """Drop binary float noise (0.022763999999999996 -> 0.022764) for readable JSON."""
    return x if isinstance(x, int) else float(f"{x:.12g}")


class _Missing(Exception):
    """Internal: the data a check needs is absent; the message says why."""


def _judge_change(est: Any, judge: Judge, *, negate: bool = False,
                  what: str) -> tuple[float, float, JudgedOn, str]:
    """Return (judged number, point estimate, judged_on, text) for a change with a CI."""
    if not isinstance(est, dict):
        raise _Missing(f"{what} is absent from the report")
    value = _num(est.get("value"))
    if value is None:
        reason = est.get("undefined_reason") or "no reason given"
        raise _Missing(f"{what} is undefined ({reason})")
    lo, hi = _num(est.get("ci_low")), _num(est.get("ci_high"))
    if negate:
        value, lo, hi = -value, (None if hi is None else -hi), (None if lo is None else -lo)
    if judge == "upper_bound" and hi is not None:
        return hi, value, "upper_bound", f"{what}: {_fmt(value)}, CI upper bound {_fmt(hi)}"
    note = " (no CI: judged on the estimate)" if judge == "upper_bound" else ""
    return value, value, "point", f"{what}: {_fmt(value)}{note}"


def _check_accuracy(report: dict[str, Any], judge: Judge) -> tuple[float, float, JudgedOn, str]:
    est = (report.get("accuracy_delta") or {}).get(_PAIR)
    if est is None:
        raise _Missing("accuracy_delta.teacher_vs_student is absent from the report")
    return _judge_change(est, judge, negate=True, what="teacher minus student accuracy")


def _check_fairness(report: dict[str, Any], judge: Judge,
                    key: str) -> tuple[float, float, JudgedOn, str]:
    metric, short = _FAIRNESS_METRIC[key]
    gf = report.get("group_fairness")
    if not gf:
        reason = (report.get("skipped") or {}).get("group_fairness")
        raise _Missing("group fairness was not computed" + (f" ({reason})" if reason else
                                                            " (no sensitive attribute)"))
    judged: list[tuple[float, float, JudgedOn, str, str]] = []
    missing: list[str] = []
    for attr, entry in gf.items():
        est = ((entry or {}).get("delta") or {}).get(_PAIR, {}).get(metric)
        try:
            j, v, on, text = _judge_change(est, judge, what=f"{short} change for {attr!r}")
        except _Missing as exc:
            missing.append(str(exc))
            continue
        judged.append((j, v, on, attr, text))
    if missing:
        # one attribute we cannot see could hide the worst regression
        raise _Missing("; ".join(missing))
    j, v, on, attr, _ = max(judged, key=lambda t: t[0])
    others = "; ".join(t[4] for t in judged)
    return j, v, on, f"worst attribute {attr!r} (student minus teacher {short}). {others}"


def _check_classes(report: dict[str, Any], judge: Judge) -> tuple[float, float, JudgedOn, str]:
    cs = report.get("class_shift")
    if not cs or _PAIR not in cs:
        reason = (report.get("skipped") or {}).get("class_shift")
        raise _Missing("class shift teacher_vs_student was not computed"
                       + (f" ({reason})" if reason else ""))
    entry = cs[_PAIR]
    n = entry.get("n_significant")
    if not isinstance(n, int) or isinstance(n, bool):
        raise _Missing("class_shift.teacher_vs_student.n_significant is absent")
    text = (f"{n} class(es) significant teacher vs student "
            f"({entry.get('test')}, correction {entry.get('correction')}, "
            f"alpha {entry.get('alpha')}); a count has no CI, judged on its value")
    return n, n, "point", text


def _check_lipschitz(report: dict[str, Any], judge: Judge) -> tuple[float, float, JudgedOn, str]:
    ind = report.get("individual_fairness")
    if not ind:
        reason = (report.get("skipped") or {}).get("individual_fairness")
        raise _Missing("individual fairness was not computed" + (f" ({reason})" if reason else ""))
    delta = ((ind.get("delta") or {}).get(_PAIR) or {}).get("lipschitz")
    if delta is not None:  # a paired CI of the change, when the analyzer provides one
        return _judge_change(delta, judge, what="student minus teacher I(f)")
    vals = []
    for role in ("teacher", "student"):
        v = _num(((ind.get(role) or {}).get("lipschitz") or {}).get("value"))
        if v is None:
            raise _Missing(f"individual_fairness.{role}.lipschitz is undefined or absent")
        vals.append(v)
    change = vals[1] - vals[0]
    note = " (no paired CI of the change: judged on the estimate)" if judge == "upper_bound" else ""
    return change, change, "point", (
        f"student minus teacher I(f): {_fmt(vals[1])} - {_fmt(vals[0])} = {_fmt(change)}{note}")


def evaluate_gate(report: dict[str, Any], policy: Policy) -> GateResult:
    """Judge a report against a policy.

    Parameters
    ----------
    report : dict
        A JSON-native report dict (report.json); any ``gate`` already in it is ignored.
    policy : Policy

    Returns
    -------
    GateResult
        One check per threshold key set in the policy; ``passed`` when all passed.
        See the module docstring for the exact semantics.
    """
    checks: list[GateCheck] = []
    for key, threshold in policy.thresholds.items():
        try:
            if key == "max_accuracy_drop":
                judged, est, on, text = _check_accuracy(report, policy.judge)
            elif key in _FAIRNESS_METRIC:
                judged, est, on, text = _check_fairness(report, policy.judge, key)
            elif key == "max_significant_classes":
                judged, est, on, text = _check_classes(report, policy.judge)
            else:
                judged, est, on, text = _check_lipschitz(report, policy.judge)
        except _Missing as exc:
            verdict = "passes (allow_missing = true)" if policy.allow_missing else (
                "fails (set allow_missing = true to let missing data pass)")
            checks.append(GateCheck(
                name=key, value=None, threshold=threshold, passed=policy.allow_missing,
                judged_on="not_evaluated", evaluated=False,
                detail=f"not evaluated: {exc}; the check {verdict}"))
            continue
        # round away float noise so 0.02 <= 0.02 holds however it was computed
        passed = round(judged, 12) <= threshold
        checks.append(GateCheck(name=key, value=_tidy(judged), threshold=threshold,
                                passed=passed, judged_on=on, detail=text, estimate=_tidy(est)))
    return GateResult(passed=all(c.passed for c in checks), judge=policy.judge,
                      checks=tuple(checks), allow_missing=policy.allow_missing,
                      policy=policy.source)
