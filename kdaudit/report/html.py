"""report.html: one self-contained page (inline CSS and SVG, no JavaScript).

The page is rendered by jinja2 with autoescaping on, from templates shipped as
``kdaudit.templates``. Every number shown is a field of the report dict; this
module only chooses, orders and formats them (the renderer never computes a
statistic). Strings that come from data, file names or configs reach the page
only through autoescaping (or :func:`markupsafe.escape` in :func:`tree_html`), and
figures are SVG produced by matplotlib, which escapes text as XML.
"""

from __future__ import annotations

import dataclasses
import functools
import math
from collections.abc import Callable, Iterable
from importlib import resources
from typing import Any

import jinja2
from markupsafe import Markup

from kdaudit.report import figures

__all__ = [
    "Finding",
    "findings",
    "fmt_num",
    "fmt_p",
    "fmt_pct",
    "fmt_pp",
    "render_html",
    "tree_html",
    "undefined_values",
]

PAIR_LABELS = {
    "teacher_vs_student": "teacher → student (#TC)",
    "baseline_vs_student": "baseline → student (#SC)",
    "teacher_vs_baseline": "teacher → baseline",
}
ROLES = ("teacher", "student", "baseline")
FULL_TABLE_MAX_CLASSES = 60
SIGNIFICANT_ROWS_MAX = 150
SHIFTED_ROWS = 25
GROUP_ROWS_MAX = 100
HEATMAP_MAX_CLASSES = 25
UNDEFINED_MAX = 200
DASH = "—"


# --------------------------------------------------------------------------- formatting
def _num(x: Any) -> float | None:
    if isinstance(x, bool) or not isinstance(x, (int, float)):
        return None
    return float(x) if math.isfinite(x) else None


def fmt_pct(x: Any, digits: int = 1) -> str:
    """Format a fraction as a percentage (``0.912`` -> ``"91.2%"``); undefined -> dash."""
    v = _num(x)
    return DASH if v is None else f"{v * 100:.{digits}f}%"


def fmt_pp(x: Any, digits: int = 1, *, sign: bool = True) -> str:
    """Format a change in fractions as signed percentage points (``-0.018`` -> ``"−1.8 pp"``)."""
    v = _num(x)
    if v is None:
        return DASH
    s = f"{v * 100:+.{digits}f}" if sign else f"{v * 100:.{digits}f}"
    return s.replace("-", "−") + " pp"


def fmt_num(x: Any, digits: int = 4) -> str:
    """Format a plain number with ``digits`` significant digits; integers as integers."""
    if isinstance(x, bool):
        return "yes" if x else "no"
    if isinstance(x, int):
        return f"{x:,}"
    v = _num(x)
    return DASH if v is None else f"{v:.{digits}g}".replace("-", "−")


def fmt_p(x: Any) -> str:
    """Format a p-value: ``"< 0.001"`` or three decimals; undefined -> dash."""
    v = _num(x)
    if v is None:
        return DASH
    return "< 0.001" if v < 0.001 else f"{v:.3f}"


def _ci(est: Any, fmt: Callable[[Any], str]) -> str:
    if not isinstance(est, dict) or _num(est.get("ci_low")) is None or \
            _num(est.get("ci_high")) is None:
        return ""
    return f"[{fmt(est['ci_low'])}, {fmt(est['ci_high'])}]"


# --------------------------------------------------------------------------- findings
@dataclasses.dataclass(frozen=True, slots=True)
class Finding:
    """One plain-words finding: ``severity`` is "bad", "warn", "good" or "info"."""

    severity: str
    text: str


def _pct_plain(x: Any) -> str:
    return fmt_pct(x).replace("−", "-")


def _pp_plain(x: Any) -> str:
    return fmt_pp(x).replace("−", "-")


def _change_words(est: dict[str, Any]) -> str:
    lo, hi = _num(est.get("ci_low")), _num(est.get("ci_high"))
    ci = f", 95% CI {_pp_plain(lo)} to {_pp_plain(hi)}" if lo is not None and hi is not None \
        else ""
    p = f", p {fmt_p(est.get('p_value'))}" if _num(est.get("p_value")) is not None else ""
    if p and not p.startswith(", p <"):
        p = p.replace(", p ", ", p = ")
    return f"{_pp_plain(est.get('value'))}{ci}{p}"


def _significant(est: dict[str, Any], alpha: float) -> bool:
    p = _num(est.get("p_value"))
    return p is not None and p < alpha


def findings(report: dict[str, Any], *, quote: Callable[[str], str] = str,
             limit: int = 5) -> list[Finding]:
    """The findings that matter most, in plain words, from the report's fields.

    Parameters
    ----------
    report : dict
        A report dict.
    quote : callable
        Applied to every string that comes from data (attribute, class and group
        names), e.g. a Markdown escaper; the HTML page relies on autoescaping.
    limit : int
        At most this many findings (3-5 in practice), most important first.

    Returns
    -------
    list of Finding
    """
    out: list[tuple[int, Finding]] = []  # (priority: lower first, finding)
    alpha = _num((report.get("config") or {}).get("alpha")) or 0.05
    acc = report.get("accuracy") or {}
    d = (report.get("accuracy_delta") or {}).get("teacher_vs_student")
    if d and _num(d.get("value")) is not None:
        drop = -float(d["value"])
        sig = _significant(d, alpha)
        sev = "bad" if sig and drop > 0.01 else ("warn" if sig and drop > 0 else "good")
        verb = "lower" if drop > 0 else "higher"
        out.append((1 if sev == "bad" else 5, Finding(sev, (
            f"Accuracy: the student reaches {_pct_plain(acc.get('student'))} against the "
            f"teacher's {_pct_plain(acc.get('teacher'))}, {abs(drop) * 100:.1f} pp {verb} "
            f"(change {_change_words(d)})"
            + ("." if sig else "; not statistically significant.")))))

    gf = report.get("group_fairness") or {}
    for metric, short in (("demographic_parity_difference", "demographic parity difference"),
                          ("equalized_odds_difference", "equalized odds difference")):
        worst: tuple[float, str, dict[str, Any]] | None = None
        for attr, entry in gf.items():
            est = ((entry.get("delta") or {}).get("teacher_vs_student") or {}).get(metric)
            v = _num((est or {}).get("value"))
            if est and v is not None and (worst is None or v > worst[0]):
                worst = (v, attr, est)
        if worst is None:
            continue
        v, attr, est = worst
        entry = gf[attr]
        before = (entry.get("teacher") or {}).get(metric, {}).get("value")
        after = (entry.get("student") or {}).get(metric, {}).get("value")
        sig = _significant(est, alpha)
        sev = "bad" if v > 0 and sig else ("warn" if v > 0.01 else "good")
        moved = "rose" if v > 0 else "fell"
        out.append((2 if sev == "bad" else 6, Finding(sev, (
            f"Group fairness ({quote(attr)}): the {short} {moved} from {_pct_plain(before)} "
            f"(teacher) to {_pct_plain(after)} (student), {_change_words(est)}"
            + ("." if sig else "; not statistically significant.")))))

    cs = (report.get("class_shift") or {}).get("teacher_vs_student")
    if cs:
        n_cls = len(cs.get("per_class") or [])
        n_sig = cs.get("n_significant", 0)
        corr = {"fdr_bh": "Benjamini-Hochberg FDR", "holm": "Holm", "none": "no correction"}.get(
            str(cs.get("correction")), str(cs.get("correction")))
        text = (f"Class shift: {n_sig} of {n_cls} classes changed accuracy significantly "
                f"between teacher and student ({corr}, alpha {cs.get('alpha')}; "
                f"{cs.get('n_significant_uncorrected')} before correction)")
        rows = [r for r in cs.get("per_class") or [] if isinstance(r.get("newly_wrong"), int)]
        if rows:
            top = max(rows, key=lambda r: r["newly_wrong"])
            if top["newly_wrong"] > 0:
                text += (f"; most newly wrong samples in class {quote(str(top['class']))} "
                         f"({top['newly_wrong']})")
        sev = "bad" if n_sig else "good"
        out.append((3 if n_sig else 7, Finding(sev, text + ".")))
        sc = (report.get("class_shift") or {}).get("baseline_vs_student")
        if sc:
            out.append((8, Finding("info", (
                f"Against the non-distilled baseline, {sc.get('n_significant')} classes shifted "
                f"(#SC) and {n_sig} against the teacher (#TC)."))))

    ind = report.get("individual_fairness") or {}
    if isinstance(ind.get("teacher"), dict) and isinstance(ind.get("student"), dict):
        t = _num((ind["teacher"].get("lipschitz") or {}).get("value"))
        s = _num((ind["student"].get("lipschitz") or {}).get("value"))
        if t is not None and s is not None:
            worse = s > t
            out.append((4 if worse else 9, Finding("warn" if worse else "good", (
                f"Individual fairness: I(f) is {s:.4g} for the student and {t:.4g} for the "
                f"teacher (lower is fairer); similar inputs get "
                f"{'less' if worse else 'at least as'} similar predictions"
                f"{' than from the teacher' if worse else ' as from the teacher'}."))))

    flagged = sorted({str(g) for e in gf.values() for g in e.get("groups_flagged") or []})
    if flagged:
        names = ", ".join(quote(g) for g in flagged[:3]) + (" ..." if len(flagged) > 3 else "")
        min_n = (report.get("config") or {}).get("min_group_size", 30)
        out.append((10, Finding("warn", (
            f"{len(flagged)} group(s) have fewer than {min_n} samples ({names}): "
            f"their rates are unreliable."))))
    skipped = report.get("skipped") or {}
    if skipped:
        out.append((11, Finding("info", "Not analysed: " + "; ".join(
            f"{quote(k)} ({quote(str(v))})" for k, v in skipped.items()) + ".")))
    out.sort(key=lambda t: t[0])
    return [f for _, f in out[:limit]]


# --------------------------------------------------------------------------- undefined values
def undefined_values(report: dict[str, Any], limit: int = UNDEFINED_MAX
                     ) -> tuple[list[tuple[str, str]], int]:
    """(JSON path, reason) for every value with an ``undefined_reason``; and the total."""
    found: list[tuple[str, str]] = []
    total = 0

    def walk(node: Any, path: str) -> None:
        nonlocal total
        if isinstance(node, dict):
            reason = node.get("undefined_reason")
            if isinstance(reason, str):
                total += 1
                if len(found) < limit:
                    nulls = [k for k, v in node.items() if v is None]
                    where = f"{path} ({', '.join(nulls)})" if nulls else path
                    found.append((where, reason))
            for k, v in node.items():
                if k not in ("disagreement_matrix",):
                    walk(v, f"{path}.{k}")
        elif isinstance(node, list):
            for i, v in enumerate(node):
                walk(v, f"{path}[{i}]")

    for key, value in report.items():
        if key != "gate":
            walk(value, key)
    return found, total


# --------------------------------------------------------------------------- generic tree
def _is_estimate(v: Any) -> bool:
    return isinstance(v, dict) and "value" in v and set(v) <= {
        "value", "ci_low", "ci_high", "p_value", "undefined_reason"}


def _fmt_estimate(v: dict[str, Any]) -> Markup:
    if v.get("value") is None:
        return Markup('<span class="undef" title="{}">{}</span>').format(
            v.get("undefined_reason") or "undefined", DASH)
    out = Markup("{}").format(fmt_num(v["value"]))
    ci = _ci(v, fmt_num)
    if ci:
        out += Markup(' <span class="ci">{}</span>').format(ci)
    if "p_value" in v:
        out += Markup(' <span class="p">p {}</span>').format(fmt_p(v.get("p_value")))
    return out


def tree_html(value: Any, depth: int = 0) -> Markup:
    """Render any JSON value as escaped HTML (used for free-form sections)."""
    if _is_estimate(value):
        return _fmt_estimate(value)
    if isinstance(value, dict):
        if not value:
            return Markup(DASH)
        rows = Markup("").join(
            Markup("<tr><th>{}</th><td>{}</td></tr>").format(str(k), tree_html(v, depth + 1))
            for k, v in value.items())
        return Markup('<table class="kv depth-{}">{}</table>').format(depth, rows)
    if isinstance(value, list):
        if value and all(isinstance(x, dict) for x in value):
            keys: list[str] = []
            for x in value:
                keys += [k for k in x if k not in keys]
            head = Markup("").join(Markup("<th>{}</th>").format(k) for k in keys)
            body = Markup("").join(
                Markup("<tr>{}</tr>").format(Markup("").join(
                    Markup("<td>{}</td>").format(tree_html(x.get(k), depth + 1)) for k in keys))
                for x in value[:GROUP_ROWS_MAX])
            more = len(value) - GROUP_ROWS_MAX
            note = Markup('<p class="note">{} more rows in report.json</p>').format(more) \
                if more > 0 else Markup("")
            return Markup('<table class="data compact"><thead><tr>{}</tr></thead>'
                          '<tbody>{}</tbody></table>{}').format(head, body, note)
        return Markup(", ").join(tree_html(x, depth + 1) for x in value) if value \
            else Markup(DASH)
    if value is None:
        return Markup('<span class="undef">{}</span>').format(DASH)
    if isinstance(value, (bool, int, float)):
        return Markup("{}").format(fmt_num(value))
    return Markup("{}").format(str(value))


# --------------------------------------------------------------------------- view model
def _abs_change(row: dict[str, Any]) -> float:
    a, b = _num(row.get("acc_a")), _num(row.get("acc_b"))
    return abs(b - a) if a is not None and b is not None else -1.0


def _class_shift_view(report: dict[str, Any]) -> list[dict[str, Any]]:
    views = []
    for index, (pair, entry) in enumerate((report.get("class_shift") or {}).items()):
        per_class = list(entry.get("per_class") or [])
        n = len(per_class)
        n_sig = sum(1 for r in per_class if r.get("significant"))
        if n <= FULL_TABLE_MAX_CLASSES:
            rows, selection = per_class, f"all {n} classes"
        else:
            sig = sorted((r for r in per_class if r.get("significant")),
                         key=lambda r: (_num(r.get("p_adjusted")) or 1.0, -_abs_change(r)))
            shown = sig[:SIGNIFICANT_ROWS_MAX]
            ids = {id(r) for r in shown}
            extra = [r for r in sorted(per_class, key=_abs_change, reverse=True)
                     if id(r) not in ids][:SHIFTED_ROWS]
            rows = shown + extra
            selection = (f"{len(shown)} of {n_sig} significant classes and the "
                         f"{len(extra)} other most-shifted classes; {n} classes in all "
                         f"(every class is in report.json)")
        newly = sorted((r for r in per_class if isinstance(r.get("newly_wrong"), int)
                        and r["newly_wrong"] > 0),
                       key=lambda r: -r["newly_wrong"])[:10]
        names = [r.get("class") for r in per_class]
        a, b = pair.split("_vs_")
        views.append({
            "pair": pair, "label": PAIR_LABELS.get(pair, pair), "a": a, "b": b,
            "entry": entry, "rows": rows, "selection": selection, "n_classes": n,
            "n_sig_rows": n_sig, "newly_wrong": newly,
            "multi_run": entry.get("mode") == "multi_run",
            "heatmap": figures.disagreement_heatmap(report, pair, class_names=names,
                                                    max_classes=HEATMAP_MAX_CLASSES,
                                                    index=index),
            "heatmap_partial": len(entry.get("disagreement_matrix") or []) > HEATMAP_MAX_CLASSES,
        })
    return views


def _fairness_view(report: dict[str, Any]) -> list[dict[str, Any]]:
    views = []
    for index, (attr, entry) in enumerate((report.get("group_fairness") or {}).items()):
        roles = [r for r in ROLES if isinstance(entry.get(r), dict)]
        # an ordered set: a membership test in a list is quadratic in the number of groups
        groups = list(dict.fromkeys(g.get("group") for r in roles
                                    for g in entry[r].get("by_group") or []))
        by_group = {r: {g.get("group"): g for g in entry[r].get("by_group") or []} for r in roles}
        per_class = None
        student = entry.get("student") or {}
        if student.get("per_class"):
            per_class = sorted(
                student["per_class"],
                key=lambda c: -(_num((c.get("equalized_odds_difference") or {}).get("value"))
                                or -1.0))[:10]
        views.append({
            "attr": attr, "index": index, "entry": entry, "roles": roles,
            "groups": groups[:GROUP_ROWS_MAX], "n_groups": len(groups), "by_group": by_group,
            "delta": entry.get("delta") or {}, "flagged": entry.get("groups_flagged") or [],
            "per_class_top": per_class,
            "n_per_class": len(student.get("per_class") or []),
            "figure": figures.fairness_figure(report, attr, index),
        })
    return views


_METRICS = (
    ("demographic_parity_difference", "Demographic parity difference (DPD)", "pp"),
    ("equalized_odds_difference", "Equalized odds difference (EOD)", "pp"),
    ("equal_opportunity_difference", "Equal opportunity difference", "pp"),
    ("demographic_parity_ratio", "Demographic parity ratio (80% rule)", "num"),
    ("worst_group_accuracy", "Worst-group accuracy", "pct"),
)


class _TemplateLoader(jinja2.BaseLoader):
    """Load templates from the ``kdaudit.templates`` package (works from a wheel or zip)."""

    def get_source(self, environment: jinja2.Environment,
                   template: str) -> tuple[str, str | None, Callable[[], bool] | None]:
        node = resources.files("kdaudit.templates").joinpath(template)
        if "/" in template or "\\" in template or not node.is_file():
            raise jinja2.TemplateNotFound(template)
        return node.read_text(encoding="utf-8"), None, lambda: False


@functools.cache
def _environment() -> jinja2.Environment:
    env = jinja2.Environment(
        loader=_TemplateLoader(),
        autoescape=True,  # every template, including partials: data never becomes markup
        # lenient: a report may lack an optional extension field; show a dash, not a crash
        undefined=jinja2.Undefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
    )
    env.filters.update(pct=fmt_pct, pp=fmt_pp, num=fmt_num, pval=fmt_p, tree=tree_html,
                       est=_fmt_estimate)
    env.globals.update(ci_pp=lambda e: _ci(e, lambda x: fmt_pp(x).replace(" pp", "")),
                       ci_pct=lambda e: _ci(e, fmt_pct), ci_num=lambda e: _ci(e, fmt_num),
                       PAIR_LABELS=PAIR_LABELS, METRICS=_METRICS, num_or_none=_num)
    return env


def _context(report: dict[str, Any]) -> dict[str, Any]:
    gate = report.get("gate")
    roles = [r for r in ROLES if r in (report.get("models") or {})]
    undefined, n_undefined = undefined_values(report)
    return {
        "r": report,
        "roles": roles,
        "gate": gate,
        "findings": findings(report),
        "accuracy_figure": figures.accuracy_figure(report),
        "class_shift": _class_shift_view(report),
        "fairness": _fairness_view(report),
        "individual": report.get("individual_fairness"),
        "lipschitz_figure": figures.lipschitz_figure(report),
        "robustness": report.get("robustness"),
        "sweep": report.get("temperature_sweep"),
        "sweep_figure": figures.sweep_figure(report),
        "undefined": undefined,
        "n_undefined": n_undefined,
        "skipped": report.get("skipped") or {},
        "warnings": report.get("warnings") or [],
        "provenance": report.get("provenance") or {},
        "config": report.get("config") or {},
    }


def _mark_svgs(ctx: dict[str, Any]) -> None:
    """Figures are SVG written by matplotlib (text escaped as XML): mark them safe."""
    for key in ("accuracy_figure", "lipschitz_figure", "sweep_figure"):
        if ctx[key]:
            ctx[key] = Markup(ctx[key])
    for view in ctx["class_shift"]:
        if view["heatmap"]:
            view["heatmap"] = Markup(view["heatmap"])
    for view in ctx["fairness"]:
        if view["figure"]:
            view["figure"] = Markup(view["figure"])


def render_html(report: dict[str, Any], *, validate: bool = True) -> str:
    """Render report.html for a report dict.

    Parameters
    ----------
    report : dict
        A JSON-native report dict (schema_version "1").
    validate : bool
        Check the dict against the schema first (``write_report`` already does).

    Returns
    -------
    str
        One self-contained HTML document.
    """
    if validate:
        from kdaudit.report.schema import validate_report

        validate_report(report)
    ctx = _context(report)
    _mark_svgs(ctx)
    return _environment().get_template("report.html.j2").render(**ctx)


def iter_sections() -> Iterable[tuple[str, str]]:
    """(anchor id, title) of every section the page can show, in order."""
    return SECTIONS


SECTIONS: tuple[tuple[str, str], ...] = (
    ("verdict", "Verdict"),
    ("models-data", "Models and data"),
    ("accuracy", "Accuracy"),
    ("class-shift", "Class shift"),
    ("group-fairness", "Group fairness"),
    ("individual-fairness", "Individual fairness"),
    ("robustness", "Robustness"),
    ("temperature-sweep", "Temperature sweep"),
    ("methods", "Methods and configuration"),
    ("provenance", "Provenance"),
    ("undefined", "Undefined values and notes"),
)
