"""summary.md: the verdict and key numbers in under 40 lines (CI job summary, PR comment).

Strings from data (paths, attribute, group and class names) pass through
:func:`md_escape`, so they can neither format the Markdown nor inject HTML.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any, TypeVar

from kdaudit.auditresult import (
    AuditConfig,
    AuditResult,
    ByKey,
    DataInfo,
    ModelInfo,
    RoleAccuracy,
    as_result,
)
from kdaudit.formatting import pct, pval, with_ci
from kdaudit.report.html import PAIR_LABELS, class_namer
from kdaudit.report.words import findings, gate_view, uncertain
from kdaudit.vocab import ROLES

__all__ = ["MAX_LINES", "md_code", "md_escape", "render_summary"]

MAX_LINES = 39
# every use is mid-line (never at a line start), so '.', '-', '+', '#' and '!' are inert and
# stay readable; what could open emphasis, links, code or table cells is escaped
_MD_SPECIAL = re.compile(r"([\\`*_{}\[\]|~>])")
_MAX_ATTRS = 3


def md_escape(text: Any, width: int = 80) -> str:
    """Escape a data string for Markdown and HTML; one line, at most ``width`` characters."""
    s = " ".join(str(text).split())
    if len(s) > width:
        s = s[: width - 1] + "…"
    s = s.replace("&", "&amp;").replace("<", "&lt;").replace('"', "&quot;")
    return _MD_SPECIAL.sub(r"\\\1", s)


def md_code(text: Any, width: int = 60) -> str:
    """A data string (a path, a name) as an inline code span: shown literally, on one line.

    Strings with markup characters fall back to :func:`md_escape`, so that no raw tag
    reaches a consumer that renders Markdown to HTML loosely.
    """
    s = " ".join(str(text).split())
    if any(ch in s for ch in "<>&`"):
        return md_escape(s, width)
    if len(s) > width:
        s = "…" + s[-(width - 1) :]  # a path's end says most
    return "`" + s.replace("|", "\\|") + "`"


def render_summary(report: AuditResult | Mapping[str, Any]) -> str:
    """Render summary.md for an audit result (under 40 lines, GitHub-flavoured Markdown)."""
    r = as_result(report)
    lines: list[str] = []
    gate = gate_view(r.gate)
    if gate:
        icon, word = {
            "pass": ("✅", "PASSED"),
            "fail": ("❌", "FAILED"),
            "inconclusive": ("⚠️", "INCONCLUSIVE"),
        }[gate.verdict]
        if gate.verdict == "inconclusive":
            word += (
                " (counts as "
                + ("a pass" if gate.passed else "a failure")
                + f', on_inconclusive = "{gate.on_inconclusive}")'
            )
        lines.append(
            f"## {icon} kdaudit gate {word}: {gate.count_of('pass')} of "
            f"{len(gate.checks)} checks passed"
        )
    else:
        lines.append("## kdaudit audit (no gate policy given)")
    who = ", ".join(f"{m.role} {md_code(m.path)}" for m in _in_role_order(r.models))
    data = r.data if r.data is not None else DataInfo()
    lines.append("")
    lines.append(f"{who}; data {md_code(data.path)} ({data.n_samples} samples).")
    if gate and gate.checks:
        judge = (
            "each change's 95% interval against its margin (pass: wholly below, fail: "
            "wholly above, inconclusive: straddling)"
            if gate.judge == "upper_bound"
            else "each change's point estimate against its margin"
        )
        lines += [
            "",
            f"The gate judged {judge}.",
            "",
            "| check | verdict | what was judged |",
            "|---|---|---|",
        ]
        mark = {"pass": "✅ pass", "fail": "❌ fail", "inconclusive": "⚠️ inconclusive"}
        for c in gate.checks[:8]:
            lines.append(
                f"| {md_code(c.check.name)} | {mark.get(c.verdict, c.verdict)} "
                f"| {md_escape(c.sentence, 400)} |"
            )

    found = findings(r, quote=md_escape, limit=4, class_names=class_namer(r))
    if found:
        lines += ["", "**Findings**", ""]
        mark = {"bad": "🔴", "warn": "🟡", "good": "🟢", "info": "ℹ️"}
        lines += [f"- {mark.get(f.severity, '-')} **{f.label}**: {f.text}" for f in found]

    roles = [a.role for a in _in_role_order(r.accuracy)]
    lines += ["", "| | " + " | ".join(roles) + " |", "|---|" + "---:|" * len(roles)]
    lines.append("| accuracy | " + " | ".join(pct(r.accuracy_of(x)) for x in roles) + " |")
    gf = r.group_fairness
    for entry in gf[:_MAX_ATTRS]:
        for key, short in (
            ("demographic_parity_difference", "DPD"),
            ("equalized_odds_difference", "EOD"),
        ):
            cells = []
            for role in roles:
                numbers = entry.role(role)
                cells.append(uncertain(None if numbers is None else numbers.metric(key), "%"))
            lines.append(
                f"| {short} ({md_escape(entry.attribute, 30)}) | " + " | ".join(cells) + " |"
            )
    cft = r.counterfactual_text.to_dict() if r.counterfactual_text is not None else None
    if cft:  # identity-term swaps of text audits (--counterfactual-terms)
        cells = [uncertain((cft.get(role) or {}).get("flip_rate"), "%") for role in roles]
        lines.append("| counterfactual flip rate | " + " | ".join(cells) + " |")
    if len(gf) > _MAX_ATTRS:
        lines.append(
            f"| … {len(gf) - _MAX_ATTRS} more attributes in report.json | "
            + " | ".join("" for _ in roles)
            + " |"
        )

    if r.accuracy_delta or r.class_shift:
        lines.append("")
        for d in r.accuracy_delta:
            cs = r.class_shift.of(d.pair)
            sig = (
                f"; {cs.n_significant} classes shifted ({cs.correction}, α {cs.alpha})"
                if cs is not None and (cs.key_order or cs.extra)
                else ""
            )
            x = d.estimate if d.has("estimate") else d.value
            lines.append(
                f"- {PAIR_LABELS.get(d.pair, d.pair)}: accuracy "
                f"{with_ci(x, d.ci_low, d.ci_high)}, "
                f"{pval(d.p_value)}{sig}"
            )
    flip = ((cft or {}).get("delta") or {}).get("teacher_vs_student", {}).get("flip_rate")
    if isinstance(flip, Mapping) and flip.get("value") is not None:
        lines.append(
            f"- {PAIR_LABELS.get('teacher_vs_student', 'teacher_vs_student')}: counterfactual "
            f"flip rate {with_ci(flip['value'], flip.get('ci_low'), flip.get('ci_high'))}, "
            f"{pval(flip.get('p_value'))}"
        )
    host = None if r.provenance is None else r.provenance.host
    cfg = r.config if r.config is not None else AuditConfig()
    lines += [
        "",
        f"<sub>kdaudit {md_escape(r.kdaudit_version, 20)} · "
        f"seed {cfg.seed} · B = {cfg.bootstrap} · "
        f"{md_escape(r.created, 30)}"
        + (f" · {md_escape(host, 30)}" if host else "")
        + " · full report: report.html</sub>",
    ]
    if len(lines) > MAX_LINES:
        lines = [*lines[: MAX_LINES - 1], "*(truncated: see report.html)*"]
    return "\n".join(lines) + "\n"


_Keyed = TypeVar("_Keyed", ModelInfo, RoleAccuracy)


def _in_role_order(items: ByKey[_Keyed]) -> list[_Keyed]:
    """The records of the audited roles, teacher, student, baseline (others left out)."""
    return [item for role in ROLES if (item := items.of(role)) is not None]
