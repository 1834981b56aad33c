"""summary.md: the verdict and key numbers in under 40 lines (CI job summary, PR comment).

Strings from data (paths, attribute, group and class names) pass through
:func:`md_escape`, so they can neither format the Markdown nor inject HTML.
"""

from __future__ import annotations

import re
from typing import Any

from kdaudit.formatting import pct, pval, with_ci
from kdaudit.report.html import PAIR_LABELS, class_namer
from kdaudit.report.words import findings, gate_view, uncertain

__all__ = ["MAX_LINES", "md_code", "md_escape", "render_summary"]

MAX_LINES = 39
# every use is mid-line (never at a line start), so '.', '-', '+', '#' and '!' are inert and
# stay readable; what could open emphasis, links, code or table cells is escaped
_MD_SPECIAL = re.compile(r"([\\`*_{}\[\]|~>])")
_MAX_ATTRS = 3
_ROLES = ("teacher", "student", "baseline")


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


def render_summary(report: dict[str, Any]) -> str:
    """Render summary.md for a report dict (under 40 lines, GitHub-flavoured Markdown)."""
    lines: list[str] = []
    gate = gate_view(report.get("gate"))
    if gate:
        counts = gate["counts"]
        icon, word = {
            "pass": ("✅", "PASSED"),
            "fail": ("❌", "FAILED"),
            "inconclusive": ("⚠️", "INCONCLUSIVE"),
        }[gate["verdict"]]
        if gate["verdict"] == "inconclusive":
            word += (
                " (counts as "
                + ("a pass" if gate["passed"] else "a failure")
                + f', on_inconclusive = "{gate["on_inconclusive"]}")'
            )
        lines.append(
            f"## {icon} kdaudit gate {word}: {counts['pass']} of "
            f"{len(gate['checks'])} checks passed"
        )
    else:
        lines.append("## kdaudit audit (no gate policy given)")
    models = report.get("models") or {}
    who = ", ".join(f"{r} {md_code(models[r].get('path'))}" for r in _ROLES if r in models)
    data = report.get("data") or {}
    lines.append("")
    lines.append(f"{who}; data {md_code(data.get('path'))} ({data.get('n_samples')} samples).")
    if gate and gate.get("checks"):
        judge = (
            "each change's 95% interval against its margin (pass: wholly below, fail: "
            "wholly above, inconclusive: straddling)"
            if gate.get("judge", "upper_bound") == "upper_bound"
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
        for c in gate["checks"][:8]:
            lines.append(
                f"| {md_code(c.get('name'))} | {mark.get(c['verdict'], c['verdict'])} "
                f"| {md_escape(c['sentence'], 400)} |"
            )

    found = findings(report, quote=md_escape, limit=4, class_names=class_namer(report))
    if found:
        lines += ["", "**Findings**", ""]
        mark = {"bad": "🔴", "warn": "🟡", "good": "🟢", "info": "ℹ️"}
        lines += [f"- {mark.get(f.severity, '-')} **{f.label}**: {f.text}" for f in found]

    acc = report.get("accuracy") or {}
    roles = [r for r in _ROLES if r in acc]
    lines += ["", "| | " + " | ".join(roles) + " |", "|---|" + "---:|" * len(roles)]
    lines.append("| accuracy | " + " | ".join(pct(acc.get(r)) for r in roles) + " |")
    gf = report.get("group_fairness") or {}
    for attr in list(gf)[:_MAX_ATTRS]:
        entry = gf[attr]
        for key, short in (
            ("demographic_parity_difference", "DPD"),
            ("equalized_odds_difference", "EOD"),
        ):
            cells = [uncertain((entry.get(r) or {}).get(key), "%") for r in roles]
            lines.append(f"| {short} ({md_escape(attr, 30)}) | " + " | ".join(cells) + " |")
    if len(gf) > _MAX_ATTRS:
        lines.append(
            f"| … {len(gf) - _MAX_ATTRS} more attributes in report.json | "
            + " | ".join("" for _ in roles)
            + " |"
        )

    deltas = report.get("accuracy_delta") or {}
    shift = report.get("class_shift") or {}
    if deltas or shift:
        lines.append("")
        for pair, d in deltas.items():
            cs = shift.get(pair)
            sig = (
                (
                    f"; {cs.get('n_significant')} classes shifted "
                    f"({cs.get('correction')}, α {cs.get('alpha')})"
                )
                if cs
                else ""
            )
            x = d.get("estimate", d.get("value"))
            lines.append(
                f"- {PAIR_LABELS.get(pair, pair)}: accuracy "
                f"{with_ci(x, d.get('ci_low'), d.get('ci_high'))}, "
                f"{pval(d.get('p_value'))}{sig}"
            )
    prov = report.get("provenance") or {}
    cfg = report.get("config") or {}
    lines += [
        "",
        f"<sub>kdaudit {md_escape(report.get('kdaudit_version'), 20)} · "
        f"seed {cfg.get('seed')} · B = {cfg.get('bootstrap')} · "
        f"{md_escape(report.get('created'), 30)}"
        + (f" · {md_escape(prov.get('host'), 30)}" if prov.get("host") else "")
        + " · full report: report.html</sub>",
    ]
    if len(lines) > MAX_LINES:
        lines = [*lines[: MAX_LINES - 1], "*(truncated: see report.html)*"]
    return "\n".join(lines) + "\n"
