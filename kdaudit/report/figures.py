"""Report figures as inline SVG strings (matplotlib's object API and SVG backend, no pyplot).

Every figure plots fields of the report dict and nothing else: no statistic is
computed here. Output is deterministic (``svg.hashsalt``, no date metadata) and
self-contained (text kept as text with ``svg.fonttype = "none"``, no external
references); element ids are prefixed per figure so several SVGs can share one
HTML page. Strings from the data are drawn with mathtext off, and matplotlib
escapes them as XML text.
"""

from __future__ import annotations

import dataclasses
import io
import re
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from typing import Any

from kdaudit.auditresult import AuditResult, ByKey, Estimate, SweepPoint, as_result
from kdaudit.formatting import number
from kdaudit.safety import isolate_matplotlib
from kdaudit.vocab import ROLES

isolate_matplotlib()  # no font cache under $HOME: kdaudit writes only --out, --junit, the cache

import matplotlib  # noqa: E402
import numpy as np  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402
from matplotlib.ticker import MaxNLocator, NullLocator  # noqa: E402

__all__ = [
    "ROLE_COLORS",
    "accuracy_figure",
    "class_accuracy_figure",
    "disagreement_heatmap",
    "fairness_figure",
    "group_rates_figure",
    "heatmap_classes",
    "lipschitz_figure",
    "sweep_figure",
    "sweep_series",
]

ROLE_COLORS = {"teacher": "#3b6fb6", "student": "#e07b39", "baseline": "#4f9d69"}
ROLE_ORDER = ROLES
_RC: dict[str, Any] = {
    "svg.fonttype": "none",
    "text.parse_math": False,
    "font.family": ["DejaVu Sans", "sans-serif"],
    "font.size": 9,
    "axes.titlesize": 9.5,
    "axes.labelsize": 9,
    "axes.spines.top": False,
    "axes.spines.right": False,
    "axes.grid": True,
    "grid.color": "#e3e6ea",
    "grid.linewidth": 0.6,
    "axes.axisbelow": True,
    "axes.edgecolor": "#8a929c",
    "xtick.color": "#444b55",
    "ytick.color": "#444b55",
    "legend.frameon": False,
    "figure.dpi": 100,
    # each figure calls tight_layout() itself; no layout engine may run again at savefig
    "figure.autolayout": False,
    "figure.constrained_layout.use": False,
}
_ID = re.compile(r'\bid="([^"]+)"')


def _label(value: Any, width: int = 22) -> str:
    text = " ".join(str(value).split())
    return text if len(text) <= width else text[: width - 1] + "…"


@contextmanager
def _style(salt: str) -> Iterator[None]:
    rc: Any = {**_RC, "svg.hashsalt": f"kdaudit-{salt}"}
    with matplotlib.rc_context(rc):
        yield


def _subplots(
    nrows: int = 1, ncols: int = 1, *, figsize: tuple[float, float], **kwargs: Any
) -> Any:
    """``pyplot.subplots`` without pyplot: no global figure registry to import (~40 ms) or
    to close, and the SVG canvas is attached by ``savefig(format="svg")``."""
    fig = Figure(figsize=figsize)
    return fig, fig.subplots(nrows, ncols, **kwargs)


def _to_svg(fig: Any, name: str) -> str:
    # ``fig.tight_layout()`` has placed the axes already; the placeholder layout engine it
    # leaves behind would make savefig draw the whole figure once more, discarded
    # (~20% of drawing time). Without an engine, savefig draws once; same bytes.
    fig.set_layout_engine(None)
    buf = io.StringIO()
    fig.savefig(buf, format="svg", metadata={"Date": None, "Creator": "kdaudit", "Title": name})
    svg = buf.getvalue()
    svg = svg[svg.index("<svg") :]  # drop the XML prolog and DOCTYPE: inline SVG in HTML5
    prefix = re.sub(r"[^A-Za-z0-9_-]", "-", name) + "-"
    ids = set(_ID.findall(svg))

    def rename(m: re.Match[str]) -> str:
        return (
            m.group(0).replace(m.group(1), prefix + m.group(1)) if m.group(1) in ids else m.group(0)
        )

    svg = _ID.sub(rename, svg)
    svg = re.sub(
        r"url\(#([^)]+)\)",
        lambda m: f"url(#{prefix}{m.group(1)})" if m.group(1) in ids else m.group(0),
        svg,
    )
    svg = re.sub(
        r'href="#([^"]+)"',
        lambda m: f'href="#{prefix}{m.group(1)}"' if m.group(1) in ids else m.group(0),
        svg,
    )
    return svg.replace("<svg ", f'<svg role="img" aria-label="{name}" class="figure" ', 1)


def _errorbar_panel(
    ax: Any,
    labels: Sequence[str],
    colors: Sequence[str],
    ests: Sequence[Estimate | None],
    *,
    title: str,
    scale: float = 100.0,
    zero_line: bool = False,
    unit: str = "%",
) -> None:
    """Points with CI error bars, one row per label (estimates plotted as given)."""
    ys = np.arange(len(labels))[::-1]
    for y, color, est in zip(ys, colors, ests, strict=True):
        v = None if est is None else number(est.estimate if est.has("estimate") else est.value)
        if v is None:
            ax.text(
                0.02,
                y,
                "undefined",
                transform=ax.get_yaxis_transform(),
                va="center",
                color="#8a929c",
                fontsize=8,
            )
            continue
        assert est is not None
        lo, hi = number(est.ci_low), number(est.ci_high)
        if lo is not None and hi is not None:
            ax.errorbar(
                [v * scale],
                [y],
                xerr=[[max(0.0, v - lo) * scale], [max(0.0, hi - v) * scale]],
                fmt="o",
                color=color,
                ecolor=color,
                elinewidth=2,
                capsize=4,
                ms=6,
            )
        else:
            ax.plot([v * scale], [y], "o", color=color, ms=6)
    if zero_line:
        ax.axvline(0, color="#444b55", lw=0.9, ls="--")
    ax.set_yticks(ys, [_label(s) for s in labels])
    ax.set_ylim(-0.7, len(labels) - 0.3)
    ax.set_title(title, loc="left")
    ax.set_xlabel(unit)
    ax.grid(axis="y", visible=False)


def accuracy_figure(report: AuditResult | Mapping[str, Any]) -> str | None:
    """Accuracy per model (bars) and each pair's accuracy change with its CI."""
    r = as_result(report)
    roles = [role for role in ROLE_ORDER if number(r.accuracy_of(role)) is not None]
    if not roles:
        return None
    deltas = r.accuracy_delta
    with _style("accuracy"):
        fig, (ax1, ax2) = _subplots(
            1,
            2,
            figsize=(7.6, 1.2 + 0.42 * max(len(roles), len(deltas))),
            gridspec_kw={"width_ratios": [1, 1.25]},
        )
        ys = np.arange(len(roles))[::-1]
        vals = [float(r.accuracy_of(role) or 0.0) * 100 for role in roles]
        ax1.barh(ys, vals, color=[ROLE_COLORS[role] for role in roles], height=0.6)
        for y, v in zip(ys, vals, strict=True):
            ax1.text(v, y, f" {v:.1f}%", va="center", fontsize=8)
        ax1.set_yticks(ys, roles)
        ax1.set_xlim(0, 112)
        ax1.set_title("Accuracy", loc="left")
        ax1.set_xlabel("%")
        ax1.grid(axis="y", visible=False)
        if deltas:
            names = list(deltas.keys())
            _errorbar_panel(
                ax2,
                [n.replace("_vs_", " → ") for n in names],
                [ROLE_COLORS[n.split("_vs_")[1]] for n in names],
                list(deltas),
                title="Accuracy change (B − A), 95% CI",
                zero_line=True,
                unit="percentage points",
            )
        else:
            ax2.set_axis_off()
        fig.tight_layout()
        return _to_svg(fig, "accuracy")


def fairness_figure(
    report: AuditResult | Mapping[str, Any], attribute: str, index: int = 0
) -> str | None:
    """DPD and EOD per model for one sensitive attribute, with CI error bars."""
    entry = as_result(report).group_fairness.of(attribute)
    if entry is None or not (entry.key_order or entry.extra):
        return None
    by_role = {r: m for r in ROLE_ORDER if (m := entry.role(r)) is not None}
    roles = list(by_role)
    if not roles:
        return None
    with _style(f"fairness-{index}"):
        fig, axes = _subplots(1, 2, figsize=(7.6, 0.9 + 0.42 * len(roles)), sharey=True)
        for ax, (metric, title) in zip(
            axes,
            (
                ("demographic_parity_difference", "Demographic parity difference"),
                ("equalized_odds_difference", "Equalized odds difference"),
            ),
            strict=True,
        ):
            _errorbar_panel(
                ax,
                roles,
                [ROLE_COLORS[r] for r in roles],
                [by_role[r].metric(metric) for r in roles],
                title=title + " (%)",
                unit="%",
            )
            ys = np.arange(len(roles))[::-1]
            for y, r in zip(ys, roles, strict=True):
                est = by_role[r].metric(metric)
                noise = None if est is None else est.noise_floor
                floor = None if noise is None else number(noise.ci_high)
                if floor is not None:  # how large the metric gets under random groups
                    ax.plot(
                        [0, floor * 100],
                        [y - 0.28, y - 0.28],
                        color="#8a929c",
                        lw=3,
                        alpha=0.5,
                        solid_capstyle="butt",
                    )
            ax.set_xlim(left=0)
        fig.tight_layout()
        return _to_svg(fig, f"fairness-{index}")


def lipschitz_figure(report: AuditResult | Mapping[str, Any]) -> str | None:
    """Individual-fairness I(f) per model with CI error bars.

    Uses the unit-free ``lipschitz_normalized`` when every model has it (raw
    distance units otherwise). The axis spans the intervals, not 0..max, so that
    differences between models stay visible.
    """
    ind = as_result(report).individual_fairness
    by_role = {r: m for r in ROLE_ORDER if ind is not None and (m := ind.role(r)) is not None}
    roles = list(by_role)
    if not roles:
        return None
    key = (
        "lipschitz_normalized"
        if all(m.lipschitz_normalized is not None for m in by_role.values())
        else "lipschitz"
    )
    ests: list[Estimate | None] = [getattr(by_role[r], key) for r in roles]
    with _style("lipschitz"):
        fig, ax = _subplots(figsize=(5.6, 0.9 + 0.42 * len(roles)))
        unit = (
            "I(f), normalized (unit-free)"
            if key == "lipschitz_normalized"
            else "I(f), raw input-distance units"
        )
        _errorbar_panel(
            ax,
            roles,
            [ROLE_COLORS[r] for r in roles],
            ests,
            title="I(f): mean D(f(x), f(x')) / d(x, x'), lower is fairer",
            scale=1.0,
            unit=unit,
        )
        vals = [
            v
            for e in ests
            for k in ("ci_low", "ci_high", "estimate", "value")
            if e is not None and (v := number(getattr(e, k))) is not None
        ]
        if vals:
            lo, hi = min(vals), max(vals)
            pad = 0.15 * (hi - lo) if hi > lo else 0.05 * abs(hi) or 1e-9
            ax.set_xlim(lo - pad, hi + pad)
        ax.ticklabel_format(axis="x", style="sci", scilimits=(-3, 4), useMathText=False)
        fig.tight_layout()
        return _to_svg(fig, "lipschitz")


def heatmap_classes(matrix: Sequence[Sequence[int]], max_classes: int) -> list[int]:
    """Indices of the classes shown in a heatmap: all, or the most-disagreed-on.

    A display choice, not a statistic: classes are ranked by the report's own
    off-diagonal counts (row plus column totals) and the top ``max_classes`` kept in
    their original order.
    """
    n = len(matrix)
    if n <= max_classes:
        return list(range(n))
    m = np.asarray(matrix, dtype=np.int64)
    off = m - np.diag(np.diag(m))
    weight = off.sum(axis=0) + off.sum(axis=1)
    top = np.argsort(-weight, kind="stable")[:max_classes]
    return sorted(int(i) for i in top)


def disagreement_heatmap(
    report: AuditResult | Mapping[str, Any],
    pair: str,
    *,
    class_names: Sequence[Any],
    max_classes: int = 25,
    index: int = 0,
) -> str | None:
    """P1-style heatmap of (A's prediction, B's prediction) counts, diagonal excluded."""
    entry = as_result(report).class_shift.of(pair)
    matrix = None if entry is None else entry.disagreement_matrix
    if not matrix or len(matrix) < 2:
        return None
    keep = heatmap_classes(matrix, max_classes)
    sub = np.asarray(matrix, dtype=float)[np.ix_(keep, keep)]
    np.fill_diagonal(sub, np.nan)
    a, b = pair.split("_vs_")
    k = len(keep)
    size = min(7.0, 2.4 + 0.2 * k)
    with _style(f"heatmap-{index}"):
        fig, ax = _subplots(figsize=(size + 1.1, size))
        cmap = matplotlib.colormaps["Reds"].with_extremes(bad="#eef0f3")
        finite = sub[np.isfinite(sub)]
        vmax = float(finite.max()) if finite.size and finite.max() > 0 else 1.0
        im = ax.imshow(sub, cmap=cmap, vmin=0, vmax=vmax, interpolation="nearest")
        labels = [_label(class_names[i] if i < len(class_names) else i, 14) for i in keep]
        ax.set_xticks(range(k), labels, rotation=90 if k > 6 else 0, fontsize=7 if k > 12 else 8)
        ax.set_yticks(range(k), labels, fontsize=7 if k > 12 else 8)
        ax.set_xlabel(f"{b} predicts")
        ax.set_ylabel(f"{a} predicts")
        ax.grid(False)
        for spine in ax.spines.values():
            spine.set_visible(False)
        if k <= 12:
            for i in range(k):
                for j in range(k):
                    if i != j:
                        v = sub[i, j]
                        ax.text(
                            j,
                            i,
                            f"{int(v)}",
                            ha="center",
                            va="center",
                            fontsize=7,
                            color="white" if v > 0.6 * vmax else "#222",
                        )
        cb = fig.colorbar(im, ax=ax, fraction=0.045, pad=0.03)
        cb.set_label("samples (diagonal excluded)")
        cb.locator = MaxNLocator(integer=True)  # counts: no fractional ticks
        cb.update_ticks()
        cb.outline.set_visible(False)
        fig.tight_layout()
        return _to_svg(fig, f"heatmap-{index}")


_SWEEP_PANELS = (
    ("accuracy", "Accuracy (%)", 100.0, False),
    ("n_sc", "#SC (shifted vs baseline)", 1.0, True),
    ("n_tc", "#TC (shifted vs teacher)", 1.0, True),
    ("demographic_parity_difference", "DPD (%)", 100.0, False),
    ("equalized_odds_difference", "EOD (%)", 100.0, False),
    ("lipschitz", "I(f)", 1.0, False),
)


def _pair(x: Any) -> tuple[float, float] | None:
    if isinstance(x, (list, tuple)) and len(x) == 2:
        lo, hi = number(x[0]), number(x[1])
        if lo is not None and hi is not None:
            return lo, hi
    return None


def _worst(r: AuditResult, role: str, metric: str) -> float | None:
    vals = []
    for entry in r.group_fairness:
        numbers = entry.role(role)
        est = None if numbers is None else numbers.metric(metric)
        if est is not None and (v := number(est.value)) is not None:
            vals.append(v)
    return max(vals) if vals else None


def _lipschitz_value(r: AuditResult, role: str) -> Any:
    ind = r.individual_fairness
    numbers = None if ind is None else ind.role(role)
    lip = None if numbers is None else numbers.lipschitz
    return None if lip is None else lip.value


def sweep_series(report: AuditResult | Mapping[str, Any]) -> dict[str, Any]:
    """What the sweep figure and table show, read from the report (nothing computed).

    Returns ``rows`` (sweep points sorted by T; the main student included, flagged
    ``main``), ``reference`` (teacher and baseline values per metric, as keyed sweep
    points), ``attribute`` (the sensitive attribute the DPD/EOD columns refer to, or
    None) and ``lipschitz_key`` ("lipschitz_normalized" when every row has it). Reports
    from before the sweep carried its main student and references get them from the
    report's own fields (the student's temperature, accuracy, #TC/#SC, worst-attribute
    DPD/EOD and I(f)).
    """
    r = as_result(report)
    rows = [p for p in r.temperature_sweep if number(p.temperature) is not None]
    student = r.models.of("student")
    t_main = None if student is None else number(student.temperature)
    if rows and not any(p.main for p in rows):
        path = None if student is None else student.path
        rows = [  # the audited student was one of the swept files
            dataclasses.replace(p, main=True) if path and path in (p.paths or ()) else p
            for p in rows
        ]
    if (
        rows
        and not any(p.main for p in rows)
        and t_main is not None
        and not any(number(p.temperature) == t_main for p in rows)
    ):
        tvs, bvs = r.class_shift.of("teacher_vs_student"), r.class_shift.of("baseline_vs_student")
        rows.append(
            SweepPoint.from_dict(
                {
                    "temperature": t_main,
                    "main": True,
                    "accuracy": r.accuracy_of("student"),
                    "n_tc": None if tvs is None else tvs.n_significant,
                    "n_sc": None if bvs is None else bvs.n_significant,
                    "demographic_parity_difference": _worst(
                        r, "student", "demographic_parity_difference"
                    ),
                    "equalized_odds_difference": _worst(r, "student", "equalized_odds_difference"),
                    "lipschitz": _lipschitz_value(r, "student"),
                }
            )
        )
    rows.sort(key=lambda p: float(p.temperature or 0.0))
    reference: ByKey[SweepPoint] = r.temperature_sweep_reference
    malformed = any(k == "temperature_sweep_reference" for k, _ in r.extra)
    if malformed or not r.has("temperature_sweep_reference"):
        reference = ByKey(
            SweepPoint.from_keyed(
                role,
                {
                    "accuracy": r.accuracy_of(role),
                    "demographic_parity_difference": _worst(
                        r, role, "demographic_parity_difference"
                    ),
                    "equalized_odds_difference": _worst(r, role, "equalized_odds_difference"),
                    "lipschitz": _lipschitz_value(r, role),
                },
            )
            for role in ("teacher", "baseline")
            if role in r.models
        )
    attrs = {p.attribute for p in rows if p.attribute}
    gf = r.group_fairness.keys()
    attribute = attrs.pop() if len(attrs) == 1 else (gf[0] if len(gf) == 1 else None)
    lip = (
        "lipschitz_normalized"
        if rows and all(number(p.lipschitz_normalized) is not None for p in rows)
        else "lipschitz"
    )
    return {"rows": rows, "reference": reference, "attribute": attribute, "lipschitz_key": lip}


def _temperature_axis(ax: Any, t: Sequence[float]) -> None:
    """Ticks at the swept temperatures; log scale when T spans an order of magnitude."""
    lo, hi = min(t), max(t)
    if lo > 0 and hi / lo >= 10:
        ax.set_xscale("log", base=2 if all(float(np.log2(x)).is_integer() for x in t) else 10)
    ax.set_xticks(t, [f"{x:g}" for x in t])
    ax.xaxis.set_minor_locator(NullLocator())
    if lo == hi:  # one temperature: centre it with room on both sides
        if ax.get_xscale() == "log" or lo > 0:
            ax.set_xlim(lo / 2, lo * 2) if ax.get_xscale() == "log" else ax.set_xlim(0, 2 * lo)
        else:
            ax.set_xlim(lo - 1, lo + 1)
    elif ax.get_xscale() == "log":
        ax.set_xlim(lo / 1.25, hi * 1.25)
    else:
        pad = 0.06 * (hi - lo)
        ax.set_xlim(lo - pad, hi + pad)


def sweep_figure(report: AuditResult | Mapping[str, Any]) -> str | None:
    """Accuracy, #SC, #TC, DPD, EOD and I(f) against the distillation temperature.

    The main student is drawn as a larger marker on the curve; teacher and baseline as
    horizontal reference lines; each point carries its 95% interval (``<metric>_ci``)
    when the report has one.
    """
    series = sweep_series(report)
    rows = series["rows"]
    if not rows:
        return None
    t = [float(p.temperature) for p in rows]
    attr = series["attribute"]
    lip = series["lipschitz_key"]
    panels: list[tuple[str, str, float, bool]] = []
    for key, title, scale, integer in _SWEEP_PANELS:
        if key in ("demographic_parity_difference", "equalized_odds_difference"):
            short = "DPD" if key.startswith("demographic") else "EOD"
            title = f"{short} (%), " + (
                f"attribute {_label(attr, 18)}" if attr else "worst attribute"
            )
        if key == "lipschitz":
            key = lip
            title = "I(f), normalized" if lip == "lipschitz_normalized" else "I(f) (raw units)"
        panels.append((key, title, scale, integer))
    with _style("sweep"):
        fig, axes = _subplots(2, 3, figsize=(8.2, 5.0))
        handles: dict[str, Any] = {}
        for ax, (key, title, scale, integer) in zip(axes.flat, panels, strict=True):
            ax.set_title(title, loc="left")
            pts = [
                (ti, v, _pair(p.column(f"{key}_ci")), bool(p.main))
                for ti, p in zip(t, rows, strict=True)
                if (v := number(p.column(key))) is not None
            ]
            if not pts:
                ax.text(
                    0.5,
                    0.5,
                    "not available",
                    ha="center",
                    va="center",
                    transform=ax.transAxes,
                    color="#8a929c",
                )
                ax.set_xticks([])
                ax.set_yticks([])
                continue
            xs = [p[0] for p in pts]
            ys = [p[1] * scale for p in pts]
            color = ROLE_COLORS["student"]
            h = ax.plot(xs, ys, "-", color=color, lw=1.4, zorder=2)[0]
            handles.setdefault("student (sweep)", h)
            for x, y, ci, main in ((p[0], p[1] * scale, p[2], p[3]) for p in pts):
                if ci is not None:
                    ax.errorbar(
                        [x],
                        [y],
                        yerr=[[max(0.0, y - ci[0] * scale)], [max(0.0, ci[1] * scale - y)]],
                        fmt="none",
                        ecolor=color,
                        elinewidth=1.2,
                        capsize=3,
                        zorder=2,
                    )
                hm = ax.plot(
                    [x],
                    [y],
                    "*" if main else "o",
                    color=color,
                    ms=11 if main else 4.5,
                    mec="white" if main else color,
                    zorder=3,
                )[0]
                if main:
                    handles.setdefault("main student", hm)
            for ref in series["reference"]:
                role = ref.role
                v = number(ref.column(key))
                if v is None or role not in ROLE_COLORS:
                    continue
                hr = ax.axhline(v * scale, color=ROLE_COLORS[role], lw=1.1, ls="--", zorder=1)
                handles.setdefault(role, hr)
                ci = _pair(ref.column(f"{key}_ci"))
                if ci is not None:
                    ax.axhspan(
                        ci[0] * scale,
                        ci[1] * scale,
                        color=ROLE_COLORS[role],
                        alpha=0.10,
                        lw=0,
                        zorder=0,
                    )
            _temperature_axis(ax, t)
            if integer:
                ax.yaxis.set_major_locator(MaxNLocator(integer=True, nbins=5))
                lo, hi = ax.get_ylim()
                ax.set_ylim(min(lo, -0.5), max(hi, 1.5))
            else:
                ax.yaxis.set_major_locator(MaxNLocator(nbins=5))
                if scale == 1.0:
                    ax.ticklabel_format(axis="y", style="sci", scilimits=(-3, 4))
            ax.set_xlabel("temperature T")
        if handles:
            fig.legend(
                list(handles.values()),
                list(handles),
                loc="lower center",
                ncol=len(handles),
                fontsize=8,
                bbox_to_anchor=(0.5, 0.0),
            )
        fig.tight_layout(rect=(0, 0.06, 1, 1))
        return _to_svg(fig, "sweep")


def group_rates_figure(
    report: AuditResult | Mapping[str, Any], attribute: str, index: int = 0, max_groups: int = 12
) -> str | None:
    """Per-group selection rate, TPR and FPR (binary) or accuracy (multi-class) per model.

    Each point carries its interval (``<rate>_ci`` of the group record) when the report
    has one. At most ``max_groups`` groups, in the report's order.
    """
    entry = as_result(report).group_fairness.of(attribute)
    if entry is None or not (entry.key_order or entry.extra):
        return None
    rows = {r: m.by_group for r in ROLE_ORDER if (m := entry.role(r)) is not None}
    roles = list(rows)
    if not roles:
        return None
    groups: list[str] = []
    for r in roles:
        for g in rows[r]:
            if g.group not in groups:
                groups.append(str(g.group))
    groups = groups[:max_groups]
    if not groups:
        return None
    binary = any(number(g.selection_rate) is not None for r in roles for g in rows[r])
    keys = (
        (
            ("selection_rate", "Selection rate"),
            ("tpr", "True positive rate"),
            ("fpr", "False positive rate"),
        )
        if binary
        else (("accuracy", "Accuracy"),)
    )
    by = {r: {str(g.group): g for g in rows[r]} for r in roles}
    n = len(groups)
    with _style(f"rates-{index}"):
        fig, axes = _subplots(
            1,
            len(keys),
            figsize=(7.6 if binary else 5.0, 1.2 + 0.3 * n),
            sharey=True,
            squeeze=False,
        )
        offsets = np.linspace(0.22, -0.22, len(roles)) if len(roles) > 1 else np.zeros(1)
        ys = np.arange(n)[::-1]
        for ax, (key, title) in zip(axes[0], keys, strict=True):
            for off, role in zip(offsets, roles, strict=True):
                # one errorbar call (points with an interval) and one plot call (without)
                # per panel and model: the same picture as one call per point, drawn faster
                with_ci: list[tuple[float, float, float, float]] = []
                bare: list[tuple[float, float]] = []
                for y, grp in zip(ys, groups, strict=True):
                    rates = by[role].get(grp)
                    v = None if rates is None else number(getattr(rates, key))
                    if rates is None or v is None:
                        continue
                    ci = _pair(getattr(rates, f"{key}_ci"))
                    if ci is not None:
                        lo, hi = max(0.0, v - ci[0]) * 100, max(0.0, ci[1] - v) * 100
                        with_ci.append((v * 100, y + off, lo, hi))
                    else:
                        bare.append((v * 100, y + off))
                color = ROLE_COLORS[role]
                if with_ci:
                    xs, yv, lo_err, hi_err = (list(c) for c in zip(*with_ci, strict=True))
                    ax.errorbar(
                        xs,
                        yv,
                        xerr=[lo_err, hi_err],
                        fmt="o",
                        color=color,
                        ecolor=color,
                        elinewidth=1.4,
                        capsize=2.5,
                        ms=4,
                        label=role,
                    )
                if bare:
                    ax.plot(
                        [b[0] for b in bare],
                        [b[1] for b in bare],
                        "o",
                        color=color,
                        ms=4,
                        label=None if with_ci else role,
                    )
            ax.set_title(title + " (%)", loc="left")
            ax.set_yticks(ys, [_label(gname, 16) for gname in groups])
            ax.set_ylim(-0.6, n - 0.4)
            ax.grid(axis="y", visible=False)
        handles, labels = axes[0][0].get_legend_handles_labels()
        if handles:
            fig.legend(handles, labels, loc="lower center", ncol=len(labels), fontsize=8)
        fig.tight_layout(rect=(0, 0.09 if n < 4 else 0.05, 1, 1))
        return _to_svg(fig, f"rates-{index}")


def class_accuracy_figure(
    report: AuditResult | Mapping[str, Any], *, class_names: Any = str, max_classes: int = 25
) -> str | None:
    """Per-class accuracy of teacher, student and baseline (the study's view).

    Read from ``class_shift``: teacher and student from ``teacher_vs_student``
    (``acc_a``, ``acc_b``), the baseline from ``baseline_vs_student`` (``acc_a``). With
    more than ``max_classes`` classes, those with the largest teacher-student gap (a
    display choice) are shown, in class order.
    """
    cs = as_result(report).class_shift
    tvs, bvs = cs.of("teacher_vs_student"), cs.of("baseline_vs_student")
    ts = tvs.per_class if tvs is not None else ()
    if not ts:
        return None
    bs = {r.class_: r for r in (bvs.per_class if bvs is not None else ())}
    series: dict[str, list[float | None]] = {
        "teacher": [number(r.acc_a) for r in ts],
        "student": [number(r.acc_b) for r in ts],
    }
    if bs:
        series["baseline"] = [
            None if (b := bs.get(r.class_)) is None else number(b.acc_a) for r in ts
        ]
    idx = list(range(len(ts)))
    if len(ts) > max_classes:
        gap = [
            abs((a or 0.0) - (b or 0.0))
            for a, b in zip(series["teacher"], series["student"], strict=True)
        ]
        idx = sorted(sorted(idx, key=lambda i: -gap[i])[:max_classes])
    labels = [_label(class_names(ts[i].class_), 14) for i in idx]
    k = len(idx)
    with _style("class-accuracy"):
        fig, ax = _subplots(figsize=(7.6, 2.4 + 0.06 * k))
        x = np.arange(k)
        width = 0.8 / len(series)
        for j, (role, vals) in enumerate(series.items()):
            v = [vals[i] for i in idx]
            ax.plot(
                x + (j - (len(series) - 1) / 2) * width,
                [np.nan if u is None else u * 100 for u in v],
                "o",
                ms=5,
                color=ROLE_COLORS[role],
                label=role,
            )
        finite = [u for vals in series.values() for i in idx if (u := vals[i]) is not None]
        low = min(finite) * 100 if finite else 0.0
        ax.set_ylim(max(0.0, low - max(5.0, 0.15 * (100 - low))), 100.5)
        ax.set_xticks(
            x,
            labels,
            rotation=90 if k > 16 or max(map(len, labels)) > 6 else 0,
            fontsize=7 if k > 12 else 8,
        )
        ax.set_ylabel("accuracy (%)")
        ax.set_title(
            "Per-class accuracy"
            + (f" ({k} most-changed of {len(ts)} classes)" if k < len(ts) else ""),
            loc="right",
        )
        ax.set_xlim(-0.6, k - 0.4)
        ax.legend(
            ncol=len(series),
            fontsize=8,
            loc="lower left",
            bbox_to_anchor=(0.0, 1.06),
            borderaxespad=0,
        )
        fig.tight_layout()
        return _to_svg(fig, "class-accuracy")
