"""report.html: one self-contained page (inline CSS and SVG, no JavaScript).

The page is rendered by jinja2 with autoescaping on, from templates shipped as
``kdaudit.templates``. Every number shown is a field of the report dict; this
module only chooses, orders and formats them (the renderer never computes a
statistic). Strings that come from data, file names or configs reach the page
only through autoescaping (or :func:`markupsafe.escape` in :func:`tree_html`), and
figures are SVG produced by matplotlib, which escapes text as XML.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Callable, Iterable, Mapping
from importlib import resources
from typing import Any

import jinja2
from markupsafe import Markup

from kdaudit import formatting as fmt
from kdaudit.auditresult import (
    AuditResult,
    ClassFairness,
    ClassShiftRow,
    Estimate,
    JsonMap,
    Node,
    Provenance,
    as_result,
    thaw,
)
from kdaudit.formatting import number
from kdaudit.report.precompile import PrecompiledLoader
from kdaudit.report.words import Finding, findings, gate_view, uncertain
from kdaudit.vocab import ROLES


class _LazyFigures:
    """:mod:`kdaudit.report.figures` (and matplotlib, ~0.25 s) loads with the first figure
    drawn, not with this module: summary.md imports the formatters here and draws none."""

    def __getattr__(self, name: str) -> Any:
        from kdaudit.report import figures as module

        return getattr(module, name)


figures = _LazyFigures()

__all__ = [
    "Finding",
    "class_namer",
    "findings",
    "fmt_num",
    "fmt_p",
    "fmt_pct",
    "fmt_pp",
    "render_html",
    "tree_html",
    "undefined_groups",
    "undefined_values",
]

PAIR_LABELS = {
    "teacher_vs_student": "teacher → student (#TC)",
    "baseline_vs_student": "baseline → student (#SC)",
    "teacher_vs_baseline": "teacher → baseline",
}
FULL_TABLE_MAX_CLASSES = 60
SIGNIFICANT_ROWS_MAX = 150
SHIFTED_ROWS = 25
GROUP_ROWS_MAX = 100
HEATMAP_MAX_CLASSES = 25
UNDEFINED_MAX = 200
DASH = "—"


# --------------------------------------------------------------------------- formatting
# One number style (kdaudit.formatting); these names stay for templates and callers.
def fmt_pct(x: Any, digits: int = 1) -> str:
    """A fraction as a percentage (``0.912`` -> ``"91.2%"``); undefined -> dash."""
    return fmt.pct(number(x), digits)


def fmt_pp(x: Any, digits: int = 1, *, sign: bool = True) -> str:
    """A change as signed percentage points (``-0.018`` -> ``"-1.8 pp"``); a margin unsigned."""
    v = number(x)
    if v is None or sign:
        return fmt.pp(v, digits)
    return f"{100.0 * v:.{digits}f} pp"


def fmt_num(x: Any, digits: int = 3) -> str:
    """A plain number with ``digits`` significant digits; integers as integers."""
    if isinstance(x, bool):
        return "yes" if x else "no"
    if isinstance(x, int):
        return fmt.count(x)
    return fmt.num(number(x), digits)


def fmt_p(x: Any) -> str:
    """A p-value: ``"p = 0.012"``, ``"p < 0.001"``; undefined -> dash."""
    return fmt.pval(number(x))


def _ci(est: Any, fmt_one: Callable[[Any], str]) -> str:
    if isinstance(est, Estimate):
        if number(est.ci_low) is None or number(est.ci_high) is None:
            return ""
        return f"[{fmt_one(est.ci_low)}, {fmt_one(est.ci_high)}]"
    if (
        not isinstance(est, dict)
        or number(est.get("ci_low")) is None
        or number(est.get("ci_high")) is None
    ):
        return ""
    return f"[{fmt_one(est['ci_low'])}, {fmt_one(est['ci_high'])}]"


def _ci_pp(est: Any) -> str:
    return _ci(est, lambda x: f"{100.0 * float(x):+.1f}")


def _pair_ci(x: Any, unit: str = "%") -> str:
    """A ``[low, high]`` list field (per-group rates, sweep points) as ``[a, b]``."""
    if not isinstance(x, (list, tuple)) or len(x) != 2:
        return ""
    lo, hi = number(x[0]), number(x[1])
    if lo is None or hi is None:
        return ""
    return fmt.ci(lo, hi, unit=unit)


def class_namer(report: AuditResult | Mapping[str, Any]) -> Callable[[Any], str]:
    """Map a class index to its name (``data.class_names`` when the report has them)."""
    result = as_result(report)
    names = None if result.data is None else result.data.class_names
    if not isinstance(names, tuple) or not names:
        return str

    def name(c: Any) -> str:
        if isinstance(c, int) and not isinstance(c, bool) and 0 <= c < len(names):
            return str(names[c])
        return str(c)

    return name


# --------------------------------------------------------------------------- undefined values
def undefined_values(
    report: dict[str, Any], limit: int = UNDEFINED_MAX
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


def undefined_groups(
    report: dict[str, Any], found: list[tuple[str, str]] | None = None
) -> list[dict[str, Any]]:
    """Undefined values folded by kind: one row per (path pattern, reason).

    ``pattern`` is the JSON path with list indices replaced by ``[*]`` and model roles by
    ``<model>`` (sensitive attributes by ``<attribute>``); ``items`` are
    the (path, reason) pairs of that kind (shown in a fold when there are several).
    ``found``: :func:`undefined_values`' list when the caller has it already.
    """
    if found is None:
        found, _ = undefined_values(report)
    groups: dict[tuple[str, str], dict[str, Any]] = {}
    for path, reason in found:
        pattern = re.sub(r"\[\d+\]", "[*]", path)
        pattern = re.sub(r"\.(teacher|student|baseline)(?=[.\[ ]|$)", ".<model>", pattern)
        for attr in report.get("group_fairness") or {}:
            prefix = f"group_fairness.{attr}."
            if pattern.startswith(prefix):
                pattern = "group_fairness.<attribute>." + pattern[len(prefix) :]
                break
        key = (pattern, reason)
        g = groups.setdefault(key, {"pattern": pattern, "reason": reason, "items": []})
        g["items"].append(path)
    return sorted(groups.values(), key=lambda g: -len(g["items"]))


# --------------------------------------------------------------------------- generic tree
_ESTIMATE_KEYS = {"value", "estimate", "ci_low", "ci_high", "p_value", "undefined_reason", "method"}


def _is_estimate(v: Any) -> bool:
    return isinstance(v, dict) and "value" in v and set(v) <= _ESTIMATE_KEYS


def _fmt_estimate(v: Estimate | dict[str, Any]) -> Markup:
    if isinstance(v, Estimate):
        v = v.to_dict()  # the same few keys, whether typed or from a free-form section
    if v.get("value") is None:
        return Markup('<span class="undef" title="{}">{}</span>').format(
            v.get("undefined_reason") or "undefined", DASH
        )
    out = Markup("{}").format(uncertain(v, ""))
    if "p_value" in v:
        out += Markup(' <span class="p">{}</span>').format(fmt_p(v.get("p_value")))
    return out


def tree_html(value: Any, depth: int = 0) -> Markup:
    """Render any JSON value as escaped HTML (used for free-form sections)."""
    if isinstance(value, (Node, JsonMap)):
        value = thaw(value)
    if _is_estimate(value):
        return _fmt_estimate(value)
    if isinstance(value, dict):
        if not value:
            return Markup(DASH)
        rows = Markup("").join(
            Markup("<tr><th>{}</th><td>{}</td></tr>").format(str(k), tree_html(v, depth + 1))
            for k, v in value.items()
        )
        return Markup('<table class="kv depth-{}">{}</table>').format(depth, rows)
    if isinstance(value, list):
        if value and all(isinstance(x, dict) for x in value):
            keys: list[str] = []
            for x in value:
                keys += [k for k in x if k not in keys]
            head = Markup("").join(Markup("<th>{}</th>").format(k) for k in keys)
            body = Markup("").join(
                Markup("<tr>{}</tr>").format(
                    Markup("").join(
                        Markup("<td>{}</td>").format(tree_html(x.get(k), depth + 1)) for k in keys
                    )
                )
                for x in value[:GROUP_ROWS_MAX]
            )
            more = len(value) - GROUP_ROWS_MAX
            note = (
                Markup('<p class="note">{} more rows in report.json</p>').format(more)
                if more > 0
                else Markup("")
            )
            return Markup(
                '<table class="data compact"><thead><tr>{}</tr></thead><tbody>{}</tbody></table>{}'
            ).format(head, body, note)
        return Markup(", ").join(tree_html(x, depth + 1) for x in value) if value else Markup(DASH)
    if value is None:
        return Markup('<span class="undef">{}</span>').format(DASH)
    if isinstance(value, (bool, int)):
        return Markup("{}").format(fmt_num(value))
    if isinstance(value, float):  # settings, not measurements: shown as given
        return Markup("{}").format(f"{value:.6g}")
    return Markup("{}").format(str(value))


# --------------------------------------------------------------------------- view model
def _abs_change(row: ClassShiftRow) -> float:
    a, b = number(row.acc_a), number(row.acc_b)
    return abs(b - a) if a is not None and b is not None else -1.0


def _newly_wrong(row: ClassShiftRow) -> int:
    n = row.newly_wrong
    return n if isinstance(n, int) else 0


def _class_shift_view(result: AuditResult, namer: Callable[[Any], str]) -> list[dict[str, Any]]:
    views = []
    for index, entry in enumerate(result.class_shift):
        pair = entry.pair
        per_class = list(entry.per_class)
        n = len(per_class)
        n_sig = sum(1 for r in per_class if r.significant)
        if n <= FULL_TABLE_MAX_CLASSES:
            rows, selection = per_class, f"all {n} classes"
        else:
            sig = sorted(
                (r for r in per_class if r.significant),
                key=lambda r: (number(r.p_adjusted) or 1.0, -_abs_change(r)),
            )
            shown = sig[:SIGNIFICANT_ROWS_MAX]
            ids = {id(r) for r in shown}
            extra = [
                r for r in sorted(per_class, key=_abs_change, reverse=True) if id(r) not in ids
            ][:SHIFTED_ROWS]
            rows = shown + extra
            selection = (
                f"{len(shown)} of {n_sig} significant classes and the "
                f"{len(extra)} other most-shifted classes; {n} classes in all "
                f"(every class is in report.json)"
            )
        newly = sorted(
            (r for r in per_class if isinstance(r.newly_wrong, int) and _newly_wrong(r) > 0),
            key=lambda r: -_newly_wrong(r),
        )[:10]
        names = [namer(r.class_) for r in per_class]
        a, b = pair.split("_vs_")
        views.append(
            {
                "pair": pair,
                "label": PAIR_LABELS.get(pair, pair),
                "a": a,
                "b": b,
                "entry": entry,
                "rows": rows,
                "selection": selection,
                "n_classes": n,
                "n_sig_rows": n_sig,
                "newly_wrong": newly,
                "multi_run": entry.mode == "multi_run",
                "heatmap": figures.disagreement_heatmap(
                    result, pair, class_names=names, max_classes=HEATMAP_MAX_CLASSES, index=index
                )
                if n > 1
                else None,
                "heatmap_partial": len(entry.disagreement_matrix or ()) > HEATMAP_MAX_CLASSES,
            }
        )
    return views


def _eod_value(c: ClassFairness) -> float:
    eod = c.equalized_odds_difference
    return number(None if eod is None else eod.value) or -1.0


def _fairness_view(result: AuditResult) -> list[dict[str, Any]]:
    views = []
    for index, entry in enumerate(result.group_fairness):
        attr = entry.attribute
        by_role = [(r, m) for r in ROLES if (m := entry.role(r)) is not None]
        roles = [r for r, _ in by_role]
        # an ordered set: a membership test in a list is quadratic in the number of groups
        groups = list(dict.fromkeys(g.group for _, m in by_role for g in m.by_group))
        by_group = {r: {g.group: g for g in m.by_group} for r, m in by_role}
        student = entry.role("student")
        per_class = None
        if student is not None and student.per_class:
            per_class = sorted(student.per_class, key=lambda c: -_eod_value(c))[:10]
        views.append(
            {
                "attr": attr,
                "index": index,
                "entry": entry,
                "roles": roles,
                "groups": groups[:GROUP_ROWS_MAX],
                "n_groups": len(groups),
                "by_group": by_group,
                "delta": entry.delta,
                "flagged": entry.groups_flagged or (),
                "per_class_top": per_class,
                "n_per_class": len(student.per_class) if student is not None else 0,
                "figure": figures.fairness_figure(result, attr, index),
                "rates_figure": figures.group_rates_figure(result, attr, index),
                "has_noise_floor": any(
                    (est := m.metric(k)) is not None and est.noise_floor is not None
                    for _, m in by_role
                    for k, _, _ in _METRICS
                ),
            }
        )
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

    def get_source(
        self, environment: jinja2.Environment, template: str
    ) -> tuple[str, str | None, Callable[[], bool] | None]:
        node = resources.files("kdaudit.templates").joinpath(template)
        if "/" in template or "\\" in template or not node.is_file():
            raise jinja2.TemplateNotFound(template)
        return node.read_text(encoding="utf-8"), None, lambda: False


@functools.cache
def _environment() -> jinja2.Environment:
    env = jinja2.Environment(
        # templates compiled ahead of time when current (~0.06 s a process; precompile.py)
        loader=PrecompiledLoader(_TemplateLoader()),
        autoescape=True,  # every template, including partials: data never becomes markup
        # lenient: a report may lack an optional extension field; show a dash, not a crash
        undefined=jinja2.Undefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
    )
    env.filters.update(
        pct=fmt_pct,
        pp=fmt_pp,
        num=fmt_num,
        pval=fmt_p,
        tree=tree_html,
        est=_fmt_estimate,
        signed=lambda x: fmt.signed_num(number(x)),
    )
    env.globals.update(
        ci_pp=_ci_pp,
        ci_pct=lambda e: _ci(e, fmt_pct),
        ci_num=lambda e: _ci(e, fmt_num),
        uncertain=uncertain,
        with_ci=fmt.with_ci,
        pair_ci=_pair_ci,
        PAIR_LABELS=PAIR_LABELS,
        METRICS=_METRICS,
        num_or_none=number,
    )
    return env


def _context(result: AuditResult, report: dict[str, Any]) -> dict[str, Any]:
    """What the templates read: ``r`` is the typed result; ``report`` (its JSON) feeds the
    figures, the generic tree of free-form sections and the list of undefined values."""
    roles = [r for r in ROLES if r in result.models]
    rob = result.robustness
    undefined, n_undefined = undefined_values(report)
    namer = class_namer(result)
    ind = result.individual_fairness
    ind_roles = [m for r in ROLES if ind is not None and (m := ind.role(r)) is not None]
    lip_key = (
        "lipschitz_normalized"
        if ind is not None
        and ind.key_order
        and all(m.lipschitz_normalized is not None for m in ind_roles)
        else "lipschitz"
    )
    return {
        "r": result,
        "roles": roles,
        "gate": gate_view(result.gate),
        "findings": findings(result, class_names=namer),
        "cname": namer,
        "accuracy_figure": figures.accuracy_figure(result),
        "class_accuracy_figure": figures.class_accuracy_figure(result, class_names=namer),
        "class_shift": _class_shift_view(result, namer),
        "fairness": _fairness_view(result),
        "individual": ind if ind is not None and ind.key_order else None,
        "lip_key": lip_key,
        "lipschitz_figure": figures.lipschitz_figure(result),
        "robustness": rob if rob is not None and rob.key_order else None,
        # free-form settings and sections, shown as given (the tree filter walks their JSON)
        "rob_config": (report.get("robustness") or {}).get("config") or {},
        "cft": report.get("counterfactual_text"),
        "sweep": result.temperature_sweep,
        "sweep_view": figures.sweep_series(result) if result.temperature_sweep else None,
        "sweep_figure": figures.sweep_figure(result),
        "undefined": undefined,
        "undefined_groups": undefined_groups(report, undefined),
        "n_undefined": n_undefined,
        "provenance": result.provenance or Provenance(),
        "config": report.get("config") or {},
    }


def _mark_svgs(ctx: dict[str, Any]) -> None:
    """Figures are SVG written by matplotlib (text escaped as XML): mark them safe."""
    for key in ("accuracy_figure", "class_accuracy_figure", "lipschitz_figure", "sweep_figure"):
        if ctx[key]:
            ctx[key] = Markup(ctx[key])
    for view in ctx["class_shift"]:
        if view["heatmap"]:
            view["heatmap"] = Markup(view["heatmap"])
    for view in ctx["fairness"]:
        for key in ("figure", "rates_figure"):
            if view[key]:
                view[key] = Markup(view[key])


def render_html(report: AuditResult | Mapping[str, Any], *, validate: bool = True) -> str:
    """Render report.html for an audit result.

    Parameters
    ----------
    report : AuditResult or dict
        The audit result, or a JSON-native report dict (schema_version "1").
    validate : bool
        Check the dict against the schema first (``write_report`` already does).

    Returns
    -------
    str
        One self-contained HTML document.
    """
    result = as_result(report)
    data = result.to_dict()  # the sections the page still walks by key (see _context)
    if validate:
        from kdaudit.report.schema import validate_report

        validate_report(data)
    ctx = _context(result, data)
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
