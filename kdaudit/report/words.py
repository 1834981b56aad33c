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
import math
import re
from collections.abc import Callable
from typing import Any

from kdaudit.formatting import count, num, pct, pp, pval, signed_num, with_ci

__all__ = [
    "CHECK_TITLES",
    "VERDICT_WORDS",
    "Finding",
    "check_sentence",
    "findings",
    "gate_lines",
    "gate_summary",
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


def _f(x: Any) -> float | None:
    if isinstance(x, bool) or not isinstance(x, (int, float)):
        return None
    return float(x) if math.isfinite(x) else None


def _margin(threshold: Any, unit: str) -> str:
    t = _f(threshold)
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
        v = _f(x)
        return "—" if v is None else count(int(v))
    return signed_num(x)


# --------------------------------------------------------------------------- gate
def check_sentence(check: dict[str, Any]) -> str:
    """One sentence saying what a check judged: estimate, interval, margin, verdict.

    The gate's own ``sentence`` (new reports) is returned verbatim; for older
    reports it is derived from ``value``/``estimate``/``threshold``/``judged_on``.
    """
    if isinstance(check.get("sentence"), str) and check["sentence"]:
        return str(check["sentence"])
    name = str(check.get("name"))
    title, unit = CHECK_TITLES.get(name, (name, ""))
    verdict = check.get("verdict") or ("pass" if counts_as_pass(check) else "fail")
    attr = check.get("attribute") or _attribute_from_detail(check.get("detail"))
    where = f" for attribute '{attr}'" if attr else ""
    margin = _margin(check.get("threshold"), unit)
    if check.get("evaluated") is False or check.get("value") is None:
        detail = str(check.get("detail") or "")
        reason = detail.removeprefix("not evaluated: ").split("; the check")[0] or "no data"
        rule = (
            "passes because allow_missing = true"
            if counts_as_pass(check)
            else "fails because missing data never passes (allow_missing = false)"
        )
        return f"{title}: not evaluated ({reason}); the check {rule}."
    value = check.get("value")
    if unit == "count":
        cmp = "within" if counts_as_pass(check) else "above"
        return (
            f"{title}: {_judged(value, unit)}, {cmp} the limit of {margin}: "
            f"{VERDICT_WORDS.get(verdict, verdict)}."
        )
    est = check.get("estimate", value)
    lo, hi = check.get("ci_low"), check.get("ci_high")
    shown = with_ci(est, lo, hi, unit=unit) if unit in ("pp", "+") else num(est)
    cmp = "within" if counts_as_pass(check) else "above"
    if check.get("judged_on") == "upper_bound":
        judged = (
            f"the upper end of its 95% CI, {_judged(value, unit)}, is {cmp} the {margin} margin"
        )
    else:
        judged = f"judged on the estimate, which is {cmp} the {margin} margin"
    return f"{title}{where}: {shown}; {judged}: {VERDICT_WORDS.get(verdict, verdict)}."


def _attribute_from_detail(detail: Any) -> str | None:
    m = _ATTR_IN_DETAIL.search(str(detail or ""))
    return m.group(1) if m else None


def gate_view(gate: dict[str, Any] | None) -> dict[str, Any] | None:
    """The gate dict with every field a renderer needs, on old and new report shapes.

    Adds (when absent) ``verdict`` and ``on_inconclusive`` to the gate, and
    ``verdict``, ``evaluated``, ``attribute``, ``title``, ``unit`` and ``sentence`` to
    each check; counts per verdict go to ``counts``. The input is not modified.
    """
    if not gate:
        return None
    out = dict(gate)
    checks = []
    for c in gate.get("checks") or []:
        cv = dict(c)
        cv["verdict"] = c.get("verdict") or ("pass" if counts_as_pass(c) else "fail")
        cv["evaluated"] = c.get("evaluated", c.get("value") is not None)
        cv["attribute"] = c.get("attribute") or _attribute_from_detail(c.get("detail"))
        cv["title"], cv["unit"] = CHECK_TITLES.get(str(c.get("name")), (str(c.get("name")), ""))
        cv["sentence"] = check_sentence(cv)
        cv["shown_value"] = (
            "not evaluated" if not cv["evaluated"] else _judged(c.get("value"), cv["unit"])
        )
        cv["shown_threshold"] = _margin(c.get("threshold"), cv["unit"])
        checks.append(cv)
    out["checks"] = checks
    passed = counts_as_pass(gate)
    verdict = gate.get("verdict")
    if verdict not in VERDICT_WORDS:
        verdict = "pass" if passed else "fail"
    out["verdict"] = verdict
    out["on_inconclusive"] = gate.get("on_inconclusive") or "fail"
    out["passed"] = passed
    out["counts"] = {v: sum(1 for c in checks if c["verdict"] == v) for v in VERDICT_WORDS}
    out["summary"] = gate_summary(out)
    return out


def gate_summary(view: dict[str, Any]) -> str:
    """The overall verdict in one sentence (from :func:`gate_view`'s output)."""
    checks = view.get("checks") or []
    counts = view.get("counts") or {}
    parts = [f"{counts.get(v, 0)} {v}" for v in ("fail", "inconclusive", "pass") if counts.get(v)]
    n = len(checks)
    text = f"{n} check{'' if n == 1 else 's'}: {', '.join(parts) if parts else 'none'}"
    if view.get("verdict") == "inconclusive":
        outcome = "passes" if view.get("passed") else "fails"
        text += (
            f"; the data cannot settle every check, and an inconclusive gate "
            f"{outcome} under this policy (on_inconclusive = "
            f'"{view.get("on_inconclusive")}")'
        )
    return text + "."


_CLI_MARK = {"pass": "pass        ", "fail": "FAIL        ", "inconclusive": "inconclusive"}


def counts_as_pass(d: dict[str, Any]) -> bool:
    """Whether a check (or gate) lets the release through: ``release_ok``, or ``passed``
    in reports written before the two were told apart."""
    return bool(d.get("release_ok", d.get("passed")))


def gate_lines(gate: dict[str, Any]) -> list[str]:
    """The lines ``kdaudit gate`` prints: one per check (its sentence), then the verdict."""
    view = gate_view(gate) or {"checks": [], "verdict": "pass", "passed": True}
    lines = [
        f"{_CLI_MARK.get(c['verdict'], c['verdict'])} {c['name']}: {c['sentence']}"
        for c in view["checks"]
    ]
    lines.append(verdict_line(view))
    return lines


def verdict_line(gate: dict[str, Any]) -> str:
    """``gate: PASSED``/``FAILED``/``INCONCLUSIVE (fails: ...)`` for a gate or its view."""
    view = gate if "counts" in gate else (gate_view(gate) or {})
    word = {"pass": "PASSED", "fail": "FAILED"}.get(str(view.get("verdict")), "INCONCLUSIVE")
    if view.get("verdict") == "inconclusive":
        word += " (counts as " + ("PASSED" if view.get("passed") else "FAILED") + ")"
    return f"gate: {word} - {view.get('summary', '')}".rstrip(" -")


# --------------------------------------------------------------------------- numbers
def uncertain(est: dict[str, Any] | None, unit: str = "pp") -> str:
    """``estimate [ci_low, ci_high]`` of a record (``value`` when ``estimate`` is absent)."""
    if not isinstance(est, dict):
        return "—"
    x = est.get("estimate", est.get("value"))
    return with_ci(x, est.get("ci_low"), est.get("ci_high"), unit=unit)


def _point(est: dict[str, Any] | None) -> float | None:
    if not isinstance(est, dict):
        return None
    return _f(est.get("estimate", est.get("value")))


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


def _change_words(est: dict[str, Any]) -> str:
    """``+0.5 pp (95% CI [-1.5, +5.5] pp, p = 0.40)``."""
    x = est.get("estimate", est.get("value"))
    lo, hi = _f(est.get("ci_low")), _f(est.get("ci_high"))
    bits = []
    if lo is not None and hi is not None:
        bits.append(f"95% CI [{100 * lo:+.1f}, {100 * hi:+.1f}] pp")
    if _f(est.get("p_value")) is not None:
        bits.append(pval(est.get("p_value")))
    return pp(x) + (f" ({', '.join(bits)})" if bits else "")


def _verdict_tail(sig: bool | None) -> str:
    if sig:
        return "."
    return "; not significant." if sig is False else "; the change has no test in this report."


def _is_sig(est: dict[str, Any], alpha: float) -> bool | None:
    p = _f(est.get("p_value"))
    return None if p is None else p < alpha


def _with_check(sev: str, label: str, check: dict[str, Any] | None) -> tuple[str, str, str]:
    """The gate's verdict overrides a finding's colour: never 'OK' on a failed check."""
    if check is None:
        return sev, label, ""
    v = check["verdict"]
    tail = f" Gate: {VERDICT_WORDS.get(v, v)} ({check['name']})."
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
    report: dict[str, Any],
    *,
    quote: Callable[[str], str] = str,
    limit: int = 5,
    class_names: Callable[[Any], str] | None = None,
) -> list[Finding]:
    """The findings that matter most, in plain words, from the report's judged numbers.

    Parameters
    ----------
    report : dict
        A report dict.
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
    name_of = class_names or str
    cfg = report.get("config") or {}
    alpha = _f(cfg.get("alpha")) or 0.05
    gate = gate_view(report.get("gate"))
    checks = {c["name"]: c for c in (gate or {}).get("checks", [])}
    out: list[tuple[tuple[int, bool, float], Finding]] = []

    def add(f: Finding, size: float) -> None:
        out.append((_rank(f, size), f))

    # accuracy
    acc = report.get("accuracy") or {}
    d = (report.get("accuracy_delta") or {}).get("teacher_vs_student")
    if isinstance(d, dict) and _point(d) is not None:
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
                    f"Accuracy: student {pct(acc.get('student'))}, teacher {pct(acc.get('teacher'))}; "
                    f"change {_change_words(d)}" + _verdict_tail(sig) + gtext
                ),
                label,
                bool(sig),
                "max_accuracy_drop",
            ),
            abs(change),
        )

    # group fairness: per metric, the attribute the gate judged (else the largest rise)
    gf = report.get("group_fairness") or {}
    for check_name, metric, short in (
        ("max_dpd_increase", "demographic_parity_difference", "demographic parity difference"),
        ("max_eod_increase", "equalized_odds_difference", "equalized odds difference"),
    ):
        cands = []
        for attr, entry in gf.items():
            est = ((entry.get("delta") or {}).get("teacher_vs_student") or {}).get(metric)
            if isinstance(est, dict) and _point(est) is not None:
                cands.append((attr, est))
        if not cands:
            continue
        check = checks.get(check_name)
        chosen = [c for c in cands if check and check.get("attribute") == c[0]]
        attr, est = chosen[0] if chosen else max(cands, key=lambda c: _point(c[1]) or 0.0)
        entry = gf[attr]
        v = _point(est) or 0.0
        before = _point((entry.get("teacher") or {}).get(metric))
        after = _point((entry.get("student") or {}).get(metric))
        sig = _is_sig(est, alpha)
        # noise-corrected levels are clipped at 0, their change is not: say which is which
        corrected = (
            " (noise-corrected levels, floored at 0)"
            if "estimate" in ((entry.get("student") or {}).get(metric) or {})
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
                    f"Group fairness ({quote(str(attr))}): {short} {pct(before)} for the teacher, "
                    f"{pct(after)} for the student{corrected}; change {_change_words(est)}"
                    + _verdict_tail(sig)
                    + gtext
                ),
                label,
                bool(sig),
                check_name,
            ),
            abs(v),
        )

    # class shift
    cs = (report.get("class_shift") or {}).get("teacher_vs_student")
    if isinstance(cs, dict):
        n_cls = len(cs.get("per_class") or [])
        n_sig = int(cs.get("n_significant") or 0)
        corr = {"fdr_bh": "Benjamini-Hochberg FDR", "holm": "Holm", "none": "no correction"}.get(
            str(cs.get("correction")), str(cs.get("correction"))
        )
        text = (
            f"Class shift: {n_sig} of {n_cls} classes changed accuracy significantly "
            f"between teacher and student ({corr}, α = {cs.get('alpha')}; "
            f"{cs.get('n_significant_uncorrected')} before correction)"
        )
        rows = [r for r in cs.get("per_class") or [] if isinstance(r.get("newly_wrong"), int)]
        if rows:
            top = max(rows, key=lambda r: r["newly_wrong"])
            if top["newly_wrong"] > 0:
                text += (
                    f"; most newly wrong samples in class {quote(name_of(top['class']))} "
                    f"({count(top['newly_wrong'])})"
                )
        sev, label = ("bad", "Regression") if n_sig else ("info", "No shift")
        sev, label, gtext = _with_check(sev, label, checks.get("max_significant_classes"))
        add(
            Finding(sev, text + "." + gtext, label, bool(n_sig), "max_significant_classes"),
            n_sig / max(n_cls, 1),
        )
        sc = (report.get("class_shift") or {}).get("baseline_vs_student")
        if isinstance(sc, dict):
            add(
                Finding(
                    "info",
                    (
                        f"Against the non-distilled baseline, {sc.get('n_significant')} classes shifted "
                        f"(#SC); against the teacher, {n_sig} (#TC)."
                    ),
                    "Note",
                ),
                0.0,
            )

    # individual fairness: the unit-free I(f) when the report has it
    ind = report.get("individual_fairness") or {}
    if isinstance(ind.get("teacher"), dict) and isinstance(ind.get("student"), dict):
        key = (
            "lipschitz_normalized"
            if isinstance(ind["student"].get("lipschitz_normalized"), dict)
            else "lipschitz"
        )
        t = _point(ind["teacher"].get(key))
        s = _point(ind["student"].get(key))
        delta = ((ind.get("delta") or {}).get("teacher_vs_student") or {}).get(key)
        if t is not None and s is not None:
            sig = _is_sig(delta, alpha) if isinstance(delta, dict) else None
            worse = s > t
            if sig:
                sev, label = ("warn", "Regression") if worse else ("good", "Improvement")
            else:
                sev, label = "info", "Not significant" if sig is False else "Not tested"
            sev, label, gtext = _with_check(sev, label, checks.get("max_lipschitz_increase"))
            change_text = ""
            if isinstance(delta, dict) and _point(delta) is not None:
                change_text = "; change " + with_ci(
                    _point(delta), delta.get("ci_low"), delta.get("ci_high"), unit="+"
                )
                if _f(delta.get("p_value")) is not None:
                    change_text += f", {pval(delta.get('p_value'))}"
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
                        f"Individual fairness: I(f){scale} {num(s)} for the student, {num(t)} for the "
                        f"teacher (lower is fairer){change_text}{tail}." + gtext
                    ),
                    label,
                    bool(sig),
                    "max_lipschitz_increase",
                ),
                abs(s - t) / max(abs(t), 1e-12),
            )

    flagged = sorted({str(g) for e in gf.values() for g in e.get("groups_flagged") or []})
    if flagged:
        names = ", ".join(quote(g) for g in flagged[:3]) + (" ..." if len(flagged) > 3 else "")
        min_n = cfg.get("min_group_size", 30)
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
    skipped = report.get("skipped") or {}
    if skipped:
        add(
            Finding(
                "info",
                "Not analysed: "
                + "; ".join(f"{quote(k)} ({quote(str(v))})" for k, v in skipped.items())
                + ".",
                "Note",
            ),
            0.0,
        )
    out.sort(key=lambda t: t[0])
    return [f for _, f in out[:limit]]
