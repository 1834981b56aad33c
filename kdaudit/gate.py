"""The release gate: a policy (TOML) judged against a finished report dict.

Semantics (docs/ci.md "The policy"; docs/methods.md explains the intervals):

* Each threshold key present in the policy becomes exactly **one** check in
  ``gate.checks``, in the policy-key order below. For ``max_dpd_increase`` and
  ``max_eod_increase`` the check reports the **worst sensitive attribute** (a
  failing one first, then an inconclusive one, then the largest upper end);
  ``detail`` holds every attribute's sentence.
* Three-way verdict (``judge = "upper_bound"``, the default): a change with an
  interval **passes** when the interval's upper end is at most the margin,
  **fails** when its lower end is above the margin, and is **inconclusive**
  otherwise (the interval straddles the margin). The interval is the report's
  calibrated ``ci_low``/``ci_high`` around ``estimate`` (``value`` for reports
  written before ``estimate`` existed).
* One family: all interval-judged numbers (every metric on every attribute) share
  a family-wise one-sided false-fail level ``FAMILY_ALPHA`` (0.025, the 95%
  interval's lower tail): with ``m`` numbers, the lower end used for "fail" is
  taken at level 0.025 / m (Bonferroni; the report's interval is rescaled with
  the normal approximation ``estimate - z * (estimate - ci_low) / 1.96``). With
  one number that is exactly ``ci_low``. Passing needs every upper end below
  its margin, an intersection-union rule that needs no adjustment.
* ``on_inconclusive = "fail"`` (default) or ``"pass"`` decides whether an
  inconclusive check (and gate) lets the release through (``release_ok``); the
  wording says which.
* ``judge = "point"`` compares the estimate with the margin (pass or fail, never
  inconclusive, no error-rate control). A number without an interval (a count of
  significant classes; a Lipschitz change without a paired CI) is always judged
  by its value.
* ``max_accuracy_drop`` judges teacher minus student accuracy. The report holds
  ``accuracy_delta.teacher_vs_student`` = student minus teacher, so the drop is
  ``-value`` and the drop's interval is ``[-ci_high, -ci_low]``.
* Each check states ``min_detectable`` (the regression this evaluation set would
  flag as a fail with about 80% probability: margin + (z + 0.84) x SE, SE = the
  interval's mean half-width / 1.96, or the other half when one end was widened
  to reach 0) and, when inconclusive, ``rows_needed`` (rows at which that
  half-width would shrink, as 1/sqrt(n), to the distance between estimate and margin).
* Missing data (no group fairness, individual fairness skipped, an undefined
  value) makes the check **not evaluated** (``evaluated = false``,
  ``judged_on = "not_evaluated"``, ``value = null``, the reason in ``detail``).
  It then **fails** unless the policy sets ``allow_missing = true``: a gate
  never passes silently on data it could not see.
* ``passed`` is true only for verdict "pass" (INTERFACE.md); ``release_ok`` is
  also true for "inconclusive" under ``on_inconclusive = "pass"``. The CLI exits 1
  when ``release_ok`` is false.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping
from importlib import resources
from pathlib import Path
from typing import Any, Literal

from kdaudit import formatting
from kdaudit.auditresult import AuditResult, Estimate
from kdaudit.errors import InputDataError, UsageError
from kdaudit.formatting import number
from kdaudit.results import Record
from kdaudit.safety import read_text_regular
from kdaudit.validation import parse_text
from kdaudit.vocab import OnInconclusive, Verdict

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
JudgedOn = Literal["upper_bound", "lower_bound", "point", "not_evaluated"]

#: Threshold keys, in the order their checks appear.
POLICY_KEYS: tuple[str, ...] = (
    "max_accuracy_drop",
    "max_dpd_increase",
    "max_eod_increase",
    "max_significant_classes",
    "max_lipschitz_increase",
)
_OTHER_KEYS = ("judge", "allow_missing", "on_inconclusive", "description")
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
    on_inconclusive: OnInconclusive = "fail"
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
                tip="check the spelling against docs/ci.md's policy keys",
            )
        kwargs: dict[str, Any] = {}
        for key in POLICY_KEYS:
            if key not in data:
                continue
            v = data[key]
            if key == "max_significant_classes":
                if isinstance(v, bool) or not isinstance(v, int) or v < 0:
                    raise UsageError(
                        f"{where}: {key} must be a non-negative integer (a class count); got {v!r}"
                    )
            else:
                if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v):
                    raise UsageError(
                        f"{where}: {key} must be a finite number (a fraction such as 0.02); "
                        f"got {v!r}"
                    )
                if not -1.0 <= float(v) <= 1.0:
                    raise UsageError(
                        f"{where}: {key} = {v!r} is outside [-1, 1]; thresholds are fractions "
                        f"(0.02 means 2 percentage points)"
                    )
                v = float(v)
            kwargs[key] = v
        judge = data.get("judge", "upper_bound")
        if judge not in ("upper_bound", "point"):
            raise UsageError(f'{where}: judge must be "upper_bound" or "point"; got {judge!r}')
        allow_missing = data.get("allow_missing", False)
        if not isinstance(allow_missing, bool):
            raise UsageError(f"{where}: allow_missing must be true or false; got {allow_missing!r}")
        on_inconclusive = data.get("on_inconclusive", "fail")
        if on_inconclusive not in ("fail", "pass"):
            raise UsageError(
                f'{where}: on_inconclusive must be "fail" or "pass"; got {on_inconclusive!r}'
            )
        description = data.get("description")
        if description is not None and not isinstance(description, str):
            raise UsageError(f"{where}: description must be a string; got {description!r}")
        return cls(
            judge=judge,
            allow_missing=allow_missing,
            on_inconclusive=on_inconclusive,
            description=description,
            source=source or data.get("source"),
            **kwargs,
        )

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
                f"{', '.join(SHIPPED_POLICIES)}",
            )
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
    """One judged threshold (CONTRACT: ``gate.checks[i]``).

    ``value`` is the number compared with ``threshold``: the interval's upper end
    (pass / inconclusive), its family-adjusted lower end (fail), or the estimate
    (``judge = "point"``, or no interval); ``None`` when the check was not evaluated.
    ``sentence`` is the one human sentence every renderer shows verbatim.
    ``passed`` is true only for verdict "pass" (INTERFACE.md); ``release_ok`` says whether
    the check lets the release through (also true for "inconclusive" under
    ``on_inconclusive = "pass"``, and for a check not evaluated under ``allow_missing``).
    """

    name: str
    value: float | None
    threshold: float
    passed: bool
    release_ok: bool = False
    judged_on: JudgedOn
    detail: str
    evaluated: bool = True
    estimate: float | None = None
    verdict: Verdict = "fail"
    ci_low: float | None = None
    ci_high: float | None = None
    attribute: str | None = dataclasses.field(default=None, metadata={"omit_none": True})
    metric: str | None = dataclasses.field(default=None, metadata={"omit_none": True})
    min_detectable: float | None = None
    rows_needed: int | None = None
    sentence: str = ""


@dataclasses.dataclass(frozen=True, slots=True, kw_only=True)
class GateFamily(Record):
    """How the false-fail rate of the checks is controlled as one family."""

    method: str
    alpha: float
    n_checks: int
    note: str


@dataclasses.dataclass(frozen=True, slots=True, kw_only=True)
class GateResult(Record):
    """The gate's verdict.

    ``verdict`` is "fail" when any check fails, else "inconclusive" when any check
    is inconclusive, else "pass". ``passed`` is true only for "pass" (INTERFACE.md);
    ``release_ok`` decides the exit code: true for "pass", and for "inconclusive" under
    ``on_inconclusive = "pass"``.
    """

    passed: bool
    release_ok: bool = False
    judge: Judge
    checks: tuple[GateCheck, ...] = ()
    allow_missing: bool = False
    policy: str | None = None
    verdict: Verdict = "pass"
    on_inconclusive: OnInconclusive = "fail"
    family: GateFamily | None = dataclasses.field(
        default=None, metadata={"omit_none": True, "record": GateFamily}
    )

    def to_dict(self) -> dict[str, Any]:
        out = Record.to_dict(self)
        out["checks"] = [c.to_dict() for c in self.checks]
        return out


#: Family-wise one-sided false-fail level: with one interval-judged number the fail
#: rule is exactly "the 95% interval's lower end is above the margin".
FAMILY_ALPHA = 0.025
_Z_975 = 1.959963984540054
_Z_POWER_80 = 0.8416212335729143


def _fmt(x: float | None) -> str:
    return "undefined" if x is None else f"{x:.4g}"


def _tidy(x: float | None) -> float | None:
    """Drop binary float noise (0.022763999999999996 -> 0.022764) for readable JSON."""
    if x is None:
        return None
    return x if isinstance(x, int) else float(f"{x:.12g}")


class _Missing(Exception):
    """Internal: the data a check needs is absent; the message says why."""


@dataclasses.dataclass
class _Number:
    """One judged number: a change with (maybe) an interval, in the check's orientation."""

    what: str  # e.g. "DPD change (student minus teacher)"
    unit: str  # "pp" | "count" | "plain"
    estimate: float
    value: float  # the plug-in value (may differ from the corrected estimate)
    ci_low: float | None = None
    ci_high: float | None = None
    p_value: float | None = None
    attribute: str | None = None
    metric: str | None = None

    @property
    def has_ci(self) -> bool:
        return self.ci_low is not None and self.ci_high is not None


def _number(
    est: Estimate | None,
    what: str,
    *,
    negate: bool = False,
    unit: str = "pp",
    attribute: str | None = None,
    metric: str | None = None,
) -> _Number:
    """Read a report estimate; old reports without ``estimate`` fall back to ``value``."""
    if est is None:
        raise _Missing(f"{what} is absent from the report")
    value = number(est.value)
    if value is None:
        reason = est.undefined_reason or "no reason given"
        raise _Missing(f"{what} is undefined ({reason})")
    estimate = number(est.estimate)
    estimate = value if estimate is None else estimate
    lo, hi = number(est.ci_low), number(est.ci_high)
    if lo is not None and hi is not None:
        lo, hi = min(lo, estimate), max(hi, estimate)  # an old percentile CI may exclude it
    else:
        lo = hi = None
    if negate:
        value, estimate = -value, -estimate
        lo, hi = (None if hi is None else -hi), (None if lo is None else -lo)
    return _Number(
        what=what,
        unit=unit,
        estimate=estimate,
        value=value,
        ci_low=lo,
        ci_high=hi,
        p_value=number(est.p_value),
        attribute=attribute,
        metric=metric,
    )


def _numbers_accuracy(report: AuditResult) -> list[_Number]:
    est = report.accuracy_delta.of(_PAIR)
    if est is None:
        raise _Missing("accuracy_delta.teacher_vs_student is absent from the report")
    return [_number(est, "Accuracy drop (teacher minus student)", negate=True, metric="accuracy")]


def _numbers_fairness(report: AuditResult, key: str) -> list[_Number]:
    metric, short = _FAIRNESS_METRIC[key]
    if not report.group_fairness:
        reason = report.skip_reason("group_fairness")
        raise _Missing(
            "group fairness was not computed"
            + (f" ({reason})" if reason else " (no sensitive attribute)")
        )
    out: list[_Number] = []
    missing: list[str] = []
    for entry in report.group_fairness:
        delta = entry.delta.of(_PAIR)
        try:
            out.append(
                _number(
                    None if delta is None else delta.metric(metric),
                    f"{short} change (student minus teacher) on {entry.attribute!r}",
                    attribute=entry.attribute,
                    metric=metric,
                )
            )
        except _Missing as exc:
            missing.append(str(exc))
    if missing:
        # one attribute we cannot see could hide the worst regression
        raise _Missing("; ".join(missing))
    return out


def _numbers_classes(report: AuditResult) -> tuple[list[_Number], str]:
    entry = report.class_shift.of(_PAIR)
    if entry is None:
        reason = report.skip_reason("class_shift")
        raise _Missing(
            "class shift teacher_vs_student was not computed" + (f" ({reason})" if reason else "")
        )
    n = entry.n_significant
    if not isinstance(n, int) or isinstance(n, bool):
        raise _Missing("class_shift.teacher_vs_student.n_significant is absent")
    text = (
        f"{n} class(es) significant teacher vs student "
        f"({entry.test}, correction {entry.correction}, "
        f"alpha {entry.alpha}); a count has no CI, judged on its value"
    )
    return [
        _Number(
            what="Classes significantly shifted (teacher vs student)",
            unit="count",
            estimate=n,
            value=n,
            metric="n_significant",
        )
    ], text


def _numbers_lipschitz(report: AuditResult) -> list[_Number]:
    ind = report.individual_fairness
    if ind is None or not ind.key_order:
        reason = report.skip_reason("individual_fairness")
        raise _Missing("individual fairness was not computed" + (f" ({reason})" if reason else ""))
    delta = ind.delta.of(_PAIR)
    for key in ("lipschitz_normalized", "lipschitz"):  # a paired CI of the change, if any
        est = None if delta is None else getattr(delta, key)
        if est is not None:
            return [
                _number(
                    est, f"I(f) change (student minus teacher, {key})", unit="plain", metric=key
                )
            ]
    vals = []
    for role in ("teacher", "student"):
        numbers = ind.role(role)
        lip = None if numbers is None else numbers.lipschitz
        v = None if lip is None else number(lip.value)
        if v is None:
            raise _Missing(f"individual_fairness.{role}.lipschitz is undefined or absent")
        vals.append(v)
    change = vals[1] - vals[0]
    return [
        _Number(
            what="I(f) change (student minus teacher, no paired CI)",
            unit="plain",
            estimate=change,
            value=change,
            metric="lipschitz",
        )
    ]


def _show(x: float | None, unit: str) -> str:
    if unit == "pp":
        return formatting.pp(x)
    if unit == "count":
        return formatting.num(None if x is None else int(x))
    return formatting.signed_num(x)


def _show_margin(x: float, unit: str) -> str:
    if unit == "pp":
        return formatting.pp(x).lstrip("+")
    if unit == "count":
        return formatting.num(int(x))
    return formatting.num(x)


def _show_ci(lo: float | None, hi: float | None, unit: str) -> str:
    return formatting.ci(lo, hi, unit="pp" if unit == "pp" else "")


@dataclasses.dataclass
class _Judgement:
    verdict: Verdict
    judged: float
    judged_on: JudgedOn
    min_detectable: float | None
    rows_needed: int | None
    lower: float | None = None  # the family-adjusted lower end, when an interval was judged


def _judge(
    x: _Number, margin: float, judge: Judge, z_fail: float, n_rows: int | None
) -> _Judgement:
    """Three-way verdict of one number against its margin (see the module notes)."""
    if judge == "point" or not x.has_ci:
        ok = round(x.estimate, 12) <= margin
        return _Judgement("pass" if ok else "fail", x.estimate, "point", None, None)
    assert x.ci_low is not None and x.ci_high is not None
    se_lo = max(x.estimate - x.ci_low, 0.0) / _Z_975
    se_hi = max(x.ci_high - x.estimate, 0.0) / _Z_975
    # an interval widened to reach 0 (the test did not reject) says little about the SE on
    # that side: use the other half then
    if x.ci_low == 0.0 and se_hi > 0:
        se = se_hi
    elif x.ci_high == 0.0 and se_lo > 0:
        se = se_lo
    else:
        se = (se_lo + se_hi) / 2
    lower = x.estimate - z_fail * se_lo  # == ci_low with one number in the family
    min_detectable = margin + (z_fail + _Z_POWER_80) * se
    if round(x.ci_high, 12) <= margin:
        return _Judgement("pass", x.ci_high, "upper_bound", min_detectable, None, lower)
    if round(lower, 12) > margin:
        return _Judgement("fail", lower, "lower_bound", min_detectable, None, lower)
    rows = None
    gap = abs(x.estimate - margin)
    # settling takes the interval that decides: the family-adjusted lower end above the
    # margin (estimate above it), or the 95% upper end below it (estimate below it)
    half = (z_fail if x.estimate > margin else _Z_975) * se
    if n_rows and gap > 1e-12 and half > 0:
        rows = max(math.ceil(n_rows * (half / gap) ** 2), n_rows + 1)
    return _Judgement("inconclusive", x.ci_high, "upper_bound", min_detectable, rows, lower)


def _sentence(
    x: _Number, margin: float, j: _Judgement, on_inconclusive: OnInconclusive, n_family: int
) -> str:
    head = f"{x.what}: {_show(x.estimate, x.unit)}"
    if x.has_ci:
        head += f" {_show_ci(x.ci_low, x.ci_high, x.unit)}"
    if x.p_value is not None:
        head += f" ({formatting.pval(x.p_value)} for no change)"
    head += f", margin {_show_margin(margin, x.unit)}"
    if j.judged_on == "point":
        why = (
            "the estimate is within the margin"
            if j.verdict == "pass"
            else ("the estimate exceeds the margin")
        )
        no_ci = "" if not x.has_ci else " (judge = point)"
        return f"{head}: {j.verdict}: {why}{no_ci}."
    if j.verdict == "pass":
        return f"{head}: pass: the interval lies below the margin."
    if j.verdict == "fail":
        adj = (
            ""
            if n_family <= 1
            else (
                f" (family-adjusted lower end {_show(j.judged, x.unit)}, "
                f"{n_family} numbers judged as one family)"
            )
        )
        return f"{head}: fail: the interval lies above the margin{adj}."
    rows = (
        ""
        if j.rows_needed is None
        else (f"; about {formatting.num(j.rows_needed)} rows would settle it")
    )
    then = (
        'counts as a failure (on_inconclusive = "fail")'
        if on_inconclusive == "fail"
        else 'let through (on_inconclusive = "pass")'
    )
    if x.ci_low is not None and round(x.ci_low, 12) > margin and j.lower is not None:
        why = (
            f"the 95% interval lies above the margin, but its family-adjusted lower end "
            f"({_show(j.lower, x.unit)}, {n_family} numbers judged as one family) does not"
        )
    else:
        why = "the interval straddles the margin"
    return f"{head}: inconclusive: {why}{rows}; {then}."


def _n_rows(report: AuditResult) -> int | None:
    n = None if report.data is None else report.data.n_samples
    return n if isinstance(n, int) and not isinstance(n, bool) and n > 0 else None


def evaluate_gate(report: AuditResult | Mapping[str, Any], policy: Policy) -> GateResult:
    """Judge a report against a policy.

    Parameters
    ----------
    report : AuditResult or dict
        The audit result (or a JSON-native report.json dict); any ``gate`` already in
        it is ignored. Reports written before the three-way gate (no ``estimate``)
        are judged on ``value`` and their intervals.
    policy : Policy

    Returns
    -------
    GateResult
        One check per threshold key set in the policy; see the module notes.
    """
    if not isinstance(report, AuditResult):
        report = AuditResult.from_dict(report)
    gathered: list[tuple[str, float, list[_Number] | None, str]] = []
    nums: list[_Number] | None
    for key, threshold in policy.thresholds.items():
        try:
            extra = ""
            if key == "max_accuracy_drop":
                nums = _numbers_accuracy(report)
            elif key in _FAIRNESS_METRIC:
                nums = _numbers_fairness(report, key)
            elif key == "max_significant_classes":
                nums, extra = _numbers_classes(report)
            else:
                nums = _numbers_lipschitz(report)
            gathered.append((key, threshold, nums, extra))
        except _Missing as exc:
            gathered.append((key, threshold, None, str(exc)))
    interval_judged = policy.judge == "upper_bound"
    n_family = sum(
        1 for _, _, nums, _ in gathered if nums for x in nums if x.has_ci and interval_judged
    )
    from scipy.special import ndtri  # scipy.stats costs ~0.3 s of import

    z_fail = float(-ndtri(FAMILY_ALPHA / max(n_family, 1)))
    n_rows = _n_rows(report)
    checks: list[GateCheck] = []
    for key, threshold, nums, extra in gathered:
        if nums is None:
            verdict: Verdict = "pass" if policy.allow_missing else "fail"
            how = (
                "passes (allow_missing = true)"
                if policy.allow_missing
                else ("fails (set allow_missing = true to let missing data pass)")
            )
            checks.append(
                GateCheck(
                    name=key,
                    value=None,
                    threshold=threshold,
                    passed=policy.allow_missing and verdict == "pass",
                    release_ok=policy.allow_missing,
                    judged_on="not_evaluated",
                    evaluated=False,
                    verdict=verdict,
                    detail=f"not evaluated: {extra}; the check {how}",
                    sentence=f"{key} was not evaluated ({extra}); the check {how}.",
                )
            )
            continue
        judged = [(x, _judge(x, threshold, policy.judge, z_fail, n_rows)) for x in nums]
        rank = {"fail": 2, "inconclusive": 1, "pass": 0}
        x, j = max(judged, key=lambda t: (rank[t[1].verdict], t[1].judged))
        sentence = _sentence(x, threshold, j, policy.on_inconclusive, n_family)
        if len(judged) > 1:
            detail = f"worst attribute {x.attribute!r}. " + " ".join(
                _sentence(y, threshold, k, policy.on_inconclusive, n_family) for y, k in judged
            )
        else:
            detail = extra or sentence
        release_ok = j.verdict == "pass" or (
            j.verdict == "inconclusive" and policy.on_inconclusive == "pass"
        )
        checks.append(
            GateCheck(
                name=key,
                value=_tidy(j.judged),
                threshold=threshold,
                passed=j.verdict == "pass",
                release_ok=release_ok,
                judged_on=j.judged_on,
                detail=detail,
                estimate=_tidy(x.estimate),
                verdict=j.verdict,
                ci_low=_tidy(x.ci_low),
                ci_high=_tidy(x.ci_high),
                attribute=x.attribute,
                metric=x.metric,
                min_detectable=_tidy(j.min_detectable),
                rows_needed=j.rows_needed,
                sentence=sentence,
            )
        )
    verdicts = {c.verdict for c in checks}
    overall: Verdict = (
        "fail" if "fail" in verdicts else "inconclusive" if "inconclusive" in verdicts else "pass"
    )
    release_ok = all(c.release_ok for c in checks) and overall != "fail"
    family = GateFamily(
        method="bonferroni" if interval_judged else "none (judge = point)",
        alpha=FAMILY_ALPHA,
        n_checks=n_family,
        note=(
            f"A check fails only when the lower end of its interval, taken at one-sided level "
            f"{FAMILY_ALPHA}/{max(n_family, 1)} (Bonferroni over the {n_family} interval-judged "
            f"numbers: every metric on every attribute), lies above its margin, so a student "
            f"with no real regression fails with probability at most about {FAMILY_ALPHA} in "
            f"total however many attributes are audited. Passing needs every interval below "
            f"its margin (an intersection-union rule, which needs no adjustment)."
            if interval_judged
            else "judge = point compares the estimates with the margins; there is no error-rate "
            "control and no inconclusive verdict."
        ),
    )
    return GateResult(
        passed=overall == "pass",
        release_ok=release_ok,
        judge=policy.judge,
        checks=tuple(checks),
        allow_missing=policy.allow_missing,
        policy=policy.source,
        verdict=overall,
        on_inconclusive=policy.on_inconclusive,
        family=family,
    )
