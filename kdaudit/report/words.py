"""The words every renderer shares: gate checks, the overall verdict and the findings.

One voice: report.html, summary.md, the JUnit file and the line ``kdaudit gate``
prints all take their sentences from here, and here every sentence is built from
the judged numbers of the report (the gate's checks) with :mod:`kdaudit.formatting`.

Gate shapes
-----------
New reports carry, per check, ``verdict`` ("pass" | "fail" | "inconclusive") and a
``sentence`` written by :mod:`kdaudit.gate`; those are used verbatim. Older reports
(``passed`` only) get both derived here by :func:`gate_view`, so every renderer works
on either shape. Nothing here computes a statistic: it chooses, orders and words
fields of the report.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Callable, Mapping
from typing import Any

from kdaudit.auditresult import (
    AttributeFairness,
    AuditResult,
    Estimate,
    GateCheck,
    GateRecord,
    as_result,
)
from kdaudit.formatting import count, num, number, pct, pp, pval, signed_num, with_ci

__all__ = [
    "CHECK_TITLES",
    "VERDICT_WORDS",
    "CheckView",
    "Finding",
    "GateView",
    "check_sentence",
    "findings",
    "gate_lines",
    "gate_view",
    "uncertain",
]

#: Per gate check: (what it judges, in words; unit of its numbers).
CHECK_TITLES: dict[str, tuple[str, str]] = {
    "max_accuracy_drop": ("Accuracy drop (teacher minus student)", "pp"),
    "max_dpd_increase": ("Demographic parity difference increase (student minus teacher)", "pp"),
    "max_eod_increase": ("Equalized odds difference increase (student minus teacher)", "pp"),
    "max_significant_classes": (
        "Classes whose accuracy changed significantly (teacher vs student)",
        "count",
    ),
    "max_lipschitz_increase": ("I(f) increase (student minus teacher)", "+"),
}
#: How a verdict reads in running text and on badges.
VERDICT_WORDS = {"pass": "pass", "fail": "fail", "inconclusive": "inconclusive"}
_METRIC_OF_CHECK = {
    "max_dpd_increase": "demographic_parity_difference",
    "max_eod_increase": "equalized_odds_difference",
}
_ATTR_IN_DETAIL = re.compile(r"worst attribute '((?:[^'\\]|\\.)*)'")


def _margin(threshold: Any, unit: str) -> str:
    t = number(threshold)
    if t is None:
        return "—"
    if unit == "pp":
        return f"{100.0 * t:.1f} pp"
    if unit == "count":
        return count(int(t))
    return num(t)


def _judged(x: Any, unit: str) -> str:
    if unit == "pp":
        return pp(x)
    if unit == "count":
        v = number(x)
        return "—" if v is None else count(int(v))
    return signed_num(x)


def _gate_record(gate: GateRecord | GateView | Mapping[str, Any]) -> GateRecord:
    if isinstance(gate, GateRecord):
        return gate
    if isinstance(gate, GateView):
        return gate.gate
    return GateRecord.from_dict(gate)


# --------------------------------------------------------------------------- gate
@dataclasses.dataclass(frozen=True, slots=True, kw_only=True)
class CheckView:
    """One gate check with every field a renderer shows (old and new report shapes)."""

    check: GateCheck
    name: str
    verdict: str
    evaluated: bool
    attribute: str | None
    title: str
    unit: str
    sentence: str
    shown_value: str
    shown_threshold: str
    release_ok: bool

    @property
    def detail(self) -> str | None:
        return self.check.detail

    @property
    def min_detectable(self) -> float | None:
        return self.check.min_detectable

    @property
    def rows_needed(self) -> int | None:
        return self.check.rows_needed

    @property
    def value(self) -> float | None:
        return self.check.value

    @property
    def threshold(self) -> float | None:
        return self.check.threshold


@dataclasses.dataclass(frozen=True, slots=True, kw_only=True)
class GateView:
    """The gate with what renderers need: verdict, counts, summary and check views."""

    gate: GateRecord
    checks: tuple[CheckView, ...]
    verdict: str
    on_inconclusive: str
    passed: bool
    counts: tuple[tuple[str, int], ...]
    summary: str

    @property
    def policy(self) -> str | None:
        return self.gate.policy

    @property
    def family(self) -> Any:
        return self.gate.family

    @property
    def judge(self) -> str | None:
        """How the checks were judged (``"upper_bound"`` when the report does not say)."""
        return self.gate.judge if self.gate.has("judge") else "upper_bound"

    def count_of(self, verdict: str) -> int:
        """How many checks have ``verdict``."""
        return dict(self.counts).get(verdict, 0)


def _check_verdict(check: GateCheck) -> str:
    return check.verdict or ("pass" if counts_as_pass(check) else "fail")


def check_sentence(check: GateCheck | Mapping[str, Any]) -> str:
    """One sentence saying what a check judged: estimate, interval, margin, verdict.

    The gate's own ``sentence`` (new reports) is returned verbatim; for older
    reports it is derived from ``value``/``estimate``/``threshold``/``judged_on``.
    """
    c = check if isinstance(check, GateCheck) else GateCheck.from_dict(check)
    if isinstance(c.sentence, str) and c.sentence:
        return c.sentence
    name = str(c.name)
    title, unit = CHECK_TITLES.get(name, (name, ""))
    verdict = _check_verdict(c)
    attr = c.attribute or _attribute_from_detail(c.detail)
    where = f" for attribute '{attr}'" if attr else ""
    margin = _margin(c.threshold, unit)
    if c.evaluated is False or c.value is None:
        detail = str(c.detail or "")
        reason = detail.removeprefix("not evaluated: ").split("; the check")[0] or "no data"
        rule = (
            "passes because allow_missing = true"
            if counts_as_pass(c)
            else "fails because missing data never passes (allow_missing = false)"
        )
        return f"{title}: not evaluated ({reason}); the check {rule}."
    value = c.value
    if unit == "count":
        cmp = "within" if counts_as_pass(c) else "above"
        return (
            f"{title}: {_judged(value, unit)}, {cmp} the limit of {margin}: "
            f"{VERDICT_WORDS.get(verdict, verdict)}."
        )
    est = c.estimate if c.has("estimate") else value
    shown = with_ci(est, c.ci_low, c.ci_high, unit=unit) if unit in ("pp", "+") else num(est)
    cmp = "within" if counts_as_pass(c) else "above"
    if c.judged_on == "upper_bound":
        judged = (
            f"the upper end of its 95% CI, {_judged(value, unit)}, is {cmp} the {margin} margin"
        )
    else:
        judged = f"judged on the estimate, which is {cmp} the {margin} margin"
    return f"{title}{where}: {shown}; {judged}: {VERDICT_WORDS.get(verdict, verdict)}."


def _attribute_from_detail(detail: Any) -> str | None:
    m = _ATTR_IN_DETAIL.search(str(detail or ""))
    return m.group(1) if m else None


def _check_view(c: GateCheck) -> CheckView:
    verdict = _check_verdict(c)
    evaluated = c.evaluated if c.has("evaluated") else c.value is not None
    name = str(c.name)
    title, unit = CHECK_TITLES.get(name, (name, ""))
    return CheckView(
        check=c,
        name=name,
        verdict=verdict,
        evaluated=bool(evaluated),
        attribute=c.attribute or _attribute_from_detail(c.detail),
        title=title,
        unit=unit,
        sentence=check_sentence(c),
        shown_value="not evaluated" if not evaluated else _judged(c.value, unit),
        shown_threshold=_margin(c.threshold, unit),
        release_ok=counts_as_pass(c),
    )


def gate_view(gate: GateRecord | Mapping[str, Any] | None) -> GateView | None:
    """The gate with every field a renderer needs, on old and new report shapes.

    Derives (when the report lacks them) the gate's ``verdict`` and ``on_inconclusive``
    and each check's ``verdict``, ``evaluated``, ``attribute``, ``title``, ``unit`` and
    ``sentence``; counts per verdict go to ``counts``. None without a gate.
    """
    if gate is None:
        return None
    record = _gate_record(gate)
    if not record.key_order and not record.extra:
        return None
    checks = tuple(_check_view(c) for c in record.checks)
    passed = counts_as_pass(record)
    verdict = record.verdict
    if verdict not in VERDICT_WORDS:
        verdict = "pass" if passed else "fail"
    counts = tuple((v, sum(1 for c in checks if c.verdict == v)) for v in VERDICT_WORDS)
    on_inconclusive = record.on_inconclusive or "fail"
    return GateView(
        gate=record,
        checks=checks,
        verdict=verdict,
        on_inconclusive=on_inconclusive,
        passed=passed,
        counts=counts,
        summary=_summary(len(checks), dict(counts), verdict, passed, on_inconclusive),
    )


def _summary(n: int, counts: dict[str, int], verdict: str, passed: bool, on_inc: str) -> str:
    parts = [f"{counts.get(v, 0)} {v}" for v in ("fail", "inconclusive", "pass") if counts.get(v)]
    text = f"{n} check{'' if n == 1 else 's'}: {', '.join(parts) if parts else 'none'}"
    if verdict == "inconclusive":
        outcome = "passes" if passed else "fails"
        text += (
            f"; the data cannot settle every check, and an inconclusive gate "
            f"{outcome} under this policy (on_inconclusive = "
            f'"{on_inc}")'
        )
    return text + "."


_CLI_MARK = {"pass": "pass        ", "fail": "FAIL        ", "inconclusive": "inconclusive"}


def counts_as_pass(d: GateCheck | GateRecord | Mapping[str, Any]) -> bool:
    """Whether a check (or gate) lets the release through: ``release_ok``, or ``passed``
    in reports written before the two were told apart."""
    if isinstance(d, Mapping):
        return bool(d.get("release_ok", d.get("passed")))
    return bool(d.release_ok if d.has("release_ok") else d.passed)


def gate_lines(gate: GateRecord | Mapping[str, Any]) -> list[str]:
    """The lines ``kdaudit gate`` prints: one per check (its sentence), then the verdict."""
    view = gate_view(gate)
    if view is None:
        return ["gate: PASSED - 0 checks: none."]
    lines = [f"{_CLI_MARK.get(c.verdict, c.verdict)} {c.name}: {c.sentence}" for c in view.checks]
    lines.append(verdict_line(view))
    return lines


def verdict_line(gate: GateView | GateRecord | Mapping[str, Any]) -> str:
    """``gate: PASSED``/``FAILED``/``INCONCLUSIVE (fails: ...)`` for a gate or its view."""
    view = gate if isinstance(gate, GateView) else gate_view(gate)
    if view is None:
        return "gate: INCONCLUSIVE"
    word = {"pass": "PASSED", "fail": "FAILED"}.get(view.verdict, "INCONCLUSIVE")
    if view.verdict == "inconclusive":
        word += " (counts as " + ("PASSED" if view.passed else "FAILED") + ")"
    return f"gate: {word} - {view.summary}".rstrip(" -")


# --------------------------------------------------------------------------- numbers
def _centre(est: Estimate) -> Any:
    return est.estimate if est.has("estimate") else est.value


def uncertain(est: Estimate | Mapping[str, Any] | None, unit: str = "pp") -> str:
    """``estimate [ci_low, ci_high]`` of a record (``value`` when ``estimate`` is absent)."""
    if isinstance(est, Mapping):
        est = Estimate.from_dict(est)
    if not isinstance(est, Estimate):
        return "—"
    return with_ci(_centre(est), est.ci_low, est.ci_high, unit=unit)


def _point(est: Estimate | None) -> float | None:
    if est is None:
        return None
    return number(_centre(est))


# --------------------------------------------------------------------------- findings
@dataclasses.dataclass(frozen=True, slots=True)
class Finding:
    """One plain-words finding.

    ``severity`` is "bad", "warn", "good" or "info" (the colour); ``label`` the badge
    ("Gate: fail", "Regression", "Not significant", ...); ``significant`` whether the
    change it reports is statistically significant (None for notes).
    """

    severity: str
    text: str
    label: str = ""
    significant: bool | None = None
    check: str | None = None


_LABEL = {"bad": "Regression", "warn": "Caution", "good": "OK", "info": "Note"}


def _change_words(est: Estimate) -> str:
    """``+0.5 pp (95% CI [-1.5, +5.5] pp, p = 0.40)``."""
    lo, hi = number(est.ci_low), number(est.ci_high)
    bits = []
    if lo is not None and hi is not None:
        bits.append(f"95% CI [{100 * lo:+.1f}, {100 * hi:+.1f}] pp")
    if number(est.p_value) is not None:
        bits.append(pval(est.p_value))
    return pp(_centre(est)) + (f" ({', '.join(bits)})" if bits else "")


def _verdict_tail(sig: bool | None) -> str:
    if sig:
        return "."
    return "; not significant." if sig is False else "; the change has no test in this report."


def _is_sig(est: Estimate, alpha: float) -> bool | None:
    p = number(est.p_value)
    return None if p is None else p < alpha


def _with_check(sev: str, label: str, check: CheckView | None) -> tuple[str, str, str]:
    """The gate's verdict overrides a finding's colour: never 'OK' on a failed check."""
    if check is None:
        return sev, label, ""
    v = check.verdict
    tail = f" Gate: {VERDICT_WORDS.get(v, v)} ({check.name})."
    if v == "fail":
        return "bad", "Gate: fail", tail
    if v == "inconclusive":
        return "warn", "Gate: inconclusive", tail
    if sev in ("good", "info"):
        return "good", "Gate: pass", tail
    return sev, label, tail


def _rank(f: Finding, size: float) -> tuple[int, bool, float]:
    # significant results first: a non-significant change never tops the list while a
    # significant one exists (a check the gate failed on its interval alone comes right
    # after the significant regressions); then by size
    if f.significant is None:
        tier = {"warn": 7}.get(f.severity, 8)
    elif f.significant:
        tier = {"bad": 0, "warn": 1}.get(f.severity, 3)
    else:
        tier = {"bad": 2, "warn": 4, "good": 5}.get(f.severity, 6)
    return tier, f.label != "Gate: fail", -size


def findings(
    report: AuditResult | Mapping[str, Any],
    *,
    quote: Callable[[str], str] = str,
    limit: int = 5,
    class_names: Callable[[Any], str] | None = None,
) -> list[Finding]:
    """The findings that matter most, in plain words, from the report's judged numbers.

    Parameters
    ----------
    report : AuditResult or dict
        The audit result (a report dict is read into one).
    quote : callable
        Applied to every string that comes from data (attribute, class and group
        names), e.g. a Markdown escaper; the HTML page relies on autoescaping.
    limit : int
        At most this many findings, most important first: significant results
        before non-significant ones, then by severity and size.
    class_names : callable, optional
        Maps a class index to its display name.

    Returns
    -------
    list of Finding
    """
    r = as_result(report)
    name_of = class_names or str
    alpha = (None if r.config is None else number(r.config.alpha)) or 0.05
    gate = gate_view(r.gate)
    checks = {c.name: c for c in (gate.checks if gate is not None else ())}
    out: list[tuple[tuple[int, bool, float], Finding]] = []

    def add(f: Finding, size: float) -> None:
        out.append((_rank(f, size), f))

    # accuracy
    d = r.accuracy_delta.of("teacher_vs_student")
    if d is not None and _point(d) is not None:
        change = _point(d) or 0.0
        sig = _is_sig(d, alpha)
        if sig:
            sev = "bad" if change < -0.01 else ("warn" if change < 0 else "good")
            label = "Regression" if change < 0 else "Improvement"
        else:
            sev, label = "info", "Not significant" if sig is False else "Not tested"
        sev, label, gtext = _with_check(sev, label, checks.get("max_accuracy_drop"))
        add(
            Finding(
                sev,
                (
                    f"Accuracy: student {pct(r.accuracy_of('student'))}, "
                    f"teacher {pct(r.accuracy_of('teacher'))}; "
                    f"change {_change_words(d)}" + _verdict_tail(sig) + gtext
                ),
                label,
                bool(sig),
                "max_accuracy_drop",
            ),
            abs(change),
        )

    # group fairness: per metric, the attribute the gate judged (else the largest rise)
    gf = r.group_fairness
    for check_name, metric, short in (
        ("max_dpd_increase", "demographic_parity_difference", "demographic parity difference"),
        ("max_eod_increase", "equalized_odds_difference", "equalized odds difference"),
    ):
        cands: list[tuple[AttributeFairness, Estimate]] = []
        for entry in gf:
            delta = entry.delta.of("teacher_vs_student")
            est = None if delta is None else delta.metric(metric)
            if est is not None and _point(est) is not None:
                cands.append((entry, est))
        if not cands:
            continue
        check = checks.get(check_name)
        chosen = [c for c in cands if check and check.attribute == c[0].attribute]
        entry, est = chosen[0] if chosen else max(cands, key=lambda c: _point(c[1]) or 0.0)
        v = _point(est) or 0.0
        teacher, student = entry.role("teacher"), entry.role("student")
        before = _point(None if teacher is None else teacher.metric(metric))
        student_est = None if student is None else student.metric(metric)
        after = _point(student_est)
        sig = _is_sig(est, alpha)
        # noise-corrected levels are clipped at 0, their change is not: say which is which
        corrected = (
            " (noise-corrected levels, floored at 0)"
            if student_est is not None and student_est.has("estimate")
            else ""
        )
        if sig:
            sev, label = ("bad", "Regression") if v > 0 else ("good", "Improvement")
        else:
            sev, label = "info", "Not significant" if sig is False else "Not tested"
        sev, label, gtext = _with_check(sev, label, check)
        add(
            Finding(
                sev,
                (
                    f"Group fairness ({quote(entry.attribute)}): {short} {pct(before)} for the "
                    f"teacher, {pct(after)} for the student{corrected}; change "
                    f"{_change_words(est)}" + _verdict_tail(sig) + gtext
                ),
                label,
                bool(sig),
                check_name,
            ),
            abs(v),
        )

    # class shift
    cs = r.class_shift.of("teacher_vs_student")
    if cs is not None:
        n_cls = len(cs.per_class)
        n_sig = int(cs.n_significant or 0)
        corr = {"fdr_bh": "Benjamini-Hochberg FDR", "holm": "Holm", "none": "no correction"}.get(
            str(cs.correction), str(cs.correction)
        )
        text = (
            f"Class shift: {n_sig} of {n_cls} classes changed accuracy significantly "
            f"between teacher and student ({corr}, α = {cs.alpha}; "
            f"{cs.n_significant_uncorrected} before correction)"
        )
        rows = [
            (row, row.newly_wrong)
            for row in cs.per_class
            if isinstance(row.newly_wrong, int) and not isinstance(row.newly_wrong, bool)
        ]  # (row, count): ints, so the max is well defined
        if rows:
            top, top_n = max(rows, key=lambda t: int(t[1] or 0))
            if int(top_n or 0) > 0:
                text += (
                    f"; most newly wrong samples in class {quote(name_of(top.class_))} "
                    f"({count(int(top_n or 0))})"
                )
        sev, label = ("bad", "Regression") if n_sig else ("info", "No shift")
        sev, label, gtext = _with_check(sev, label, checks.get("max_significant_classes"))
        add(
            Finding(sev, text + "." + gtext, label, bool(n_sig), "max_significant_classes"),
            n_sig / max(n_cls, 1),
        )
        sc = r.class_shift.of("baseline_vs_student")
        if sc is not None:
            add(
                Finding(
                    "info",
                    (
                        f"Against the non-distilled baseline, {sc.n_significant} classes "
                        f"shifted (#SC); against the teacher, {n_sig} (#TC)."
                    ),
                    "Note",
                ),
                0.0,
            )

    # individual fairness: the unit-free I(f) when the report has it
    ind = r.individual_fairness
    t_ind = None if ind is None else ind.role("teacher")
    s_ind = None if ind is None else ind.role("student")
    if ind is not None and t_ind is not None and s_ind is not None:
        key = "lipschitz_normalized" if s_ind.lipschitz_normalized is not None else "lipschitz"
        t = _point(getattr(t_ind, key))
        s = _point(getattr(s_ind, key))
        ind_delta = ind.delta.of("teacher_vs_student")
        lip_change: Estimate | None = None if ind_delta is None else getattr(ind_delta, key)
        if t is not None and s is not None:
            sig = _is_sig(lip_change, alpha) if lip_change is not None else None
            worse = s > t
            if sig:
                sev, label = ("warn", "Regression") if worse else ("good", "Improvement")
            else:
                sev, label = "info", "Not significant" if sig is False else "Not tested"
            sev, label, gtext = _with_check(sev, label, checks.get("max_lipschitz_increase"))
            change_text = ""
            if lip_change is not None and _point(lip_change) is not None:
                change_text = "; change " + with_ci(
                    _point(lip_change), lip_change.ci_low, lip_change.ci_high, unit="+"
                )
                if number(lip_change.p_value) is not None:
                    change_text += f", {pval(lip_change.p_value)}"
            scale = " (normalized, unit-free)" if key == "lipschitz_normalized" else ""
            if sig:
                tail = (
                    f": similar inputs get {'less' if worse else 'more'} similar "
                    "predictions from the student"
                )
            elif sig is False:
                tail = "; not significant"
            else:
                tail = "; the change has no test in this report"
            add(
                Finding(
                    sev,
                    (
                        f"Individual fairness: I(f){scale} {num(s)} for the student, {num(t)} "
                        f"for the teacher (lower is fairer){change_text}{tail}." + gtext
                    ),
                    label,
                    bool(sig),
                    "max_lipschitz_increase",
                ),
                abs(s - t) / max(abs(t), 1e-12),
            )

    flagged = sorted({str(g) for e in gf for g in e.groups_flagged or ()})
    if flagged:
        names = ", ".join(quote(g) for g in flagged[:3]) + (" ..." if len(flagged) > 3 else "")
        min_n: Any = 30
        if r.config is not None and r.config.has("min_group_size"):
            min_n = r.config.min_group_size
        add(
            Finding(
                "warn",
                (
                    f"{len(flagged)} group(s) have fewer than {min_n} samples ({names}): "
                    f"their rates are unreliable."
                ),
                "Caution",
            ),
            0.0,
        )
    if r.skipped:
        add(
            Finding(
                "info",
                "Not analysed: "
                + "; ".join(f"{quote(k.analysis)} ({quote(str(k.reason))})" for k in r.skipped)
                + ".",
                "Note",
            ),
            0.0,
        )
    out.sort(key=lambda t: t[0])
    return [f for _, f in out[:limit]]
