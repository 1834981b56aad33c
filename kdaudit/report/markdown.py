"""summary.md: the verdict and key numbers in under 40 lines (CI job summary, PR comment).

Strings from data (paths, attribute, group and class names) pass through
:func:`md_escape`, so they can neither format the Markdown nor inject HTML.
"""

from __future__ import annotations

import re
from typing import Any

from kdaudit.report.html import PAIR_LABELS, findings, fmt_p, fmt_pct, fmt_pp

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
        s = "…" + s[-(width - 1):]  # a path's end says most
    return "`" + s.replace("|", "\\|") + "`"


def _plain(s: str) -> str:
    return s.replace("−", "-")


def _ci(est: dict[str, Any]) -> str:
    lo, hi = est.get("ci_low"), est.get("ci_high")
    if lo is None or hi is None:
        return ""
    return f" [{_plain(fmt_pp(lo)).removesuffix(' pp')}, {_plain(fmt_pp(hi))}]"


def render_summary(report: dict[str, Any]) -> str:
    """Render summary.md for a report dict (under 40 lines, GitHub-flavoured Markdown)."""
    lines: list[str] = []
    gate = report.get("gate")
    if gate:
        checks = gate.get("checks") or []
        failed = [c for c in checks if not c.get("passed")]
        icon, word = ("✅", "PASSED") if gate.get("passed") else ("❌", "FAILED")
        lines.append(f"## {icon} kdaudit gate {word}: {len(checks) - len(failed)} of "
                     f"{len(checks)} checks passed")
    else:
        lines.append("## kdaudit audit (no gate policy given)")
    models = report.get("models") or {}
    who = ", ".join(f"{r} {md_code(models[r].get('path'))}" for r in _ROLES if r in models)
    data = report.get("data") or {}
    lines.append("")
    lines.append(f"{who}; data {md_code(data.get('path'))} "
                 f"({data.get('n_samples')} samples).")
    if gate and gate.get("checks"):
        lines += ["", "| check | judged value | threshold | result |", "|---|---:|---:|---|"]
        for c in gate["checks"][:8]:
            count = c.get("name") == "max_significant_classes"
            v = c.get("value")
            value = "not evaluated" if v is None else (str(v) if count else _plain(fmt_pp(v)))
            thr = str(c.get("threshold")) if count else _plain(fmt_pp(c.get("threshold"),
                                                                     sign=False))
            res = "✅ pass" if c.get("passed") else "❌ fail"
            lines.append(f"| {md_code(c.get('name'))} | {value} | {thr} | {res} |")

    found = findings(report, quote=md_escape, limit=4)
    if found:
        lines += ["", "**Findings**", ""]
        mark = {"bad": "🔴", "warn": "🟡", "good": "🟢", "info": "ℹ️"}
        lines += [f"- {mark.get(f.severity, '-')} {_plain(f.text)}" for f in found]

    acc = report.get("accuracy") or {}
    roles = [r for r in _ROLES if r in acc]
    lines += ["", "| | " + " | ".join(roles) + " |", "|---|" + "---:|" * len(roles)]
    lines.append("| accuracy | " + " | ".join(fmt_pct(acc.get(r)) for r in roles) + " |")
    gf = report.get("group_fairness") or {}
    for attr in list(gf)[:_MAX_ATTRS]:
        entry = gf[attr]
        for key, short in (("demographic_parity_difference", "DPD"),
                           ("equalized_odds_difference", "EOD")):
            cells = [_plain(fmt_pp(((entry.get(r) or {}).get(key) or {}).get("value"),
                                   sign=False)) for r in roles]
            lines.append(f"| {short} ({md_escape(attr, 30)}) | " + " | ".join(cells) + " |")
    if len(gf) > _MAX_ATTRS:
        lines.append(f"| … {len(gf) - _MAX_ATTRS} more attributes in report.json | "
                     + " | ".join("" for _ in roles) + " |")

    deltas = report.get("accuracy_delta") or {}
    shift = report.get("class_shift") or {}
    if deltas or shift:
        lines.append("")
        for pair, d in deltas.items():
            cs = shift.get(pair)
            sig = (f"; {cs.get('n_significant')} classes shifted "
                   f"({cs.get('correction')}, α {cs.get('alpha')})") if cs else ""
            lines.append(f"- {PAIR_LABELS.get(pair, pair)}: accuracy "
                         f"{_plain(fmt_pp(d.get('value')))}{_ci(d)}, "
                         f"p {fmt_p(d.get('p_value'))}{sig}")
    prov = report.get("provenance") or {}
    cfg = report.get("config") or {}
    lines += ["", f"<sub>kdaudit {md_escape(report.get('kdaudit_version'), 20)} · "
                  f"seed {cfg.get('seed')} · B = {cfg.get('bootstrap')} · "
                  f"{md_escape(report.get('created'), 30)}"
                  + (f" · {md_escape(prov.get('host'), 30)}" if prov.get("host") else "")
                  + " · full report: report.html</sub>"]
    if len(lines) > MAX_LINES:
        lines = [*lines[: MAX_LINES - 1], "*(truncated: see report.html)*"]
    return "\n".join(lines) + "\n"
