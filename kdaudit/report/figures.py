"""Report figures as inline SVG strings (matplotlib, Agg backend).

Every figure plots fields of the report dict and nothing else: no statistic is
computed here. Output is deterministic (``svg.hashsalt``, no date metadata) and
self-contained (text kept as text with ``svg.fonttype = "none"``, no external
references); element ids are prefixed per figure so several SVGs can share one
HTML page. Strings from the data are drawn with mathtext off, and matplotlib
escapes them as XML text.
"""

from __future__ import annotations

import io
import re
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any

from kdaudit.safety import isolate_matplotlib

isolate_matplotlib()  # no font cache under $HOME: kdaudit writes only --out, --junit, the cache

import matplotlib  # noqa: E402

matplotlib.use("Agg", force=False)

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

__all__ = [
    "ROLE_COLORS",
    "accuracy_figure",
    "disagreement_heatmap",
    "fairness_figure",
    "heatmap_classes",
    "lipschitz_figure",
    "sweep_figure",
]

ROLE_COLORS = {"teacher": "#3b6fb6", "student": "#e07b39", "baseline": "#4f9d69"}
ROLE_ORDER = ("teacher", "student", "baseline")
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


def _to_svg(fig: Any, name: str) -> str:
    buf = io.StringIO()
    fig.savefig(buf, format="svg",
                metadata={"Date": None, "Creator": "kdaudit", "Title": name})
    plt.close(fig)
    svg = buf.getvalue()
    svg = svg[svg.index("<svg"):]  # drop the XML prolog and DOCTYPE: inline SVG in HTML5
    prefix = re.sub(r"[^A-Za-z0-9_-]", "-", name) + "-"
    ids = set(_ID.findall(svg))

    def rename(m: re.Match[str]) -> str:
        return m.group(0).replace(m.group(1), prefix + m.group(1)) if m.group(1) in ids \
            else m.group(0)

    svg = _ID.sub(rename, svg)
    svg = re.sub(r'url\(#([^)]+)\)', lambda m: f"url(#{prefix}{m.group(1)})"
                 if m.group(1) in ids else m.group(0), svg)
    svg = re.sub(r'href="#([^"]+)"', lambda m: f'href="#{prefix}{m.group(1)}"'
                 if m.group(1) in ids else m.group(0), svg)
    return svg.replace("<svg ", f'<svg role="img" aria-label="{name}" class="figure" ', 1)


def _num(x: Any) -> float | None:
    if isinstance(x, bool) or not isinstance(x, (int, float)):
        return None
    return float(x)


def _errorbar_panel(ax: Any, labels: Sequence[str], colors: Sequence[str],
                    ests: Sequence[dict[str, Any] | None], *, title: str, scale: float = 100.0,
                    zero_line: bool = False, unit: str = "%") -> None:
    """Points with CI error bars, one row per label (estimates plotted as given)."""
    ys = np.arange(len(labels))[::-1]
    for y, color, est in zip(ys, colors, ests, strict=True):
        v = _num((est or {}).get("value"))
        if v is None:
            ax.text(0.02, y, "undefined", transform=ax.get_yaxis_transform(), va="center",
                    color="#8a929c", fontsize=8)
            continue
        lo, hi = _num((est or {}).get("ci_low")), _num((est or {}).get("ci_high"))
        if lo is not None and hi is not None:
            ax.errorbar([v * scale], [y], xerr=[[max(0.0, v - lo) * scale],
                                                 [max(0.0, hi - v) * scale]],
                        fmt="o", color=color, ecolor=color, elinewidth=2, capsize=4, ms=6)
        else:
            ax.plot([v * scale], [y], "o", color=color, ms=6)
    if zero_line:
        ax.axvline(0, color="#444b55", lw=0.9, ls="--")
    ax.set_yticks(ys, [_label(s) for s in labels])
    ax.set_ylim(-0.7, len(labels) - 0.3)
    ax.set_title(title, loc="left")
    ax.set_xlabel(unit)
    ax.grid(axis="y", visible=False)


def accuracy_figure(report: dict[str, Any]) -> str | None:
    """Accuracy per model (bars) and each pair's accuracy change with its CI."""
    acc = report.get("accuracy") or {}
    roles = [r for r in ROLE_ORDER if _num(acc.get(r)) is not None]
    if not roles:
        return None
    deltas = report.get("accuracy_delta") or {}
    with _style("accuracy"):
        fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(7.6, 1.2 + 0.42 * max(len(roles),
                                                                            len(deltas))),
                                       gridspec_kw={"width_ratios": [1, 1.25]})
        ys = np.arange(len(roles))[::-1]
        vals = [float(acc[r]) * 100 for r in roles]
        ax1.barh(ys, vals, color=[ROLE_COLORS[r] for r in roles], height=0.6)
        for y, v in zip(ys, vals, strict=True):
            ax1.text(v, y, f" {v:.1f}%", va="center", fontsize=8)
        ax1.set_yticks(ys, roles)
        ax1.set_xlim(0, 112)
        ax1.set_title("Accuracy", loc="left")
        ax1.set_xlabel("%")
        ax1.grid(axis="y", visible=False)
        if deltas:
            names = list(deltas)
            _errorbar_panel(ax2, [n.replace("_vs_", " → ") for n in names],
                            [ROLE_COLORS[n.split("_vs_")[1]] for n in names],
                            [deltas[n] for n in names], title="Accuracy change (B − A), 95% CI",
                            zero_line=True, unit="percentage points")
        else:
            ax2.set_axis_off()
        fig.tight_layout()
        return _to_svg(fig, "accuracy")


def fairness_figure(report: dict[str, Any], attribute: str, index: int = 0) -> str | None:
    """DPD and EOD per model for one sensitive attribute, with CI error bars."""
    entry = (report.get("group_fairness") or {}).get(attribute)
    if not entry:
        return None
    roles = [r for r in ROLE_ORDER if isinstance(entry.get(r), dict)]
    if not roles:
        return None
    with _style(f"fairness-{index}"):
        fig, axes = plt.subplots(1, 2, figsize=(7.6, 0.9 + 0.42 * len(roles)), sharey=True)
        for ax, (metric, title) in zip(axes, (
                ("demographic_parity_difference", "Demographic parity difference"),
                ("equalized_odds_difference", "Equalized odds difference")), strict=True):
            _errorbar_panel(ax, roles, [ROLE_COLORS[r] for r in roles],
                            [entry[r].get(metric) for r in roles], title=title,
                            unit="percentage points")
            ax.set_xlim(left=0)
        fig.tight_layout()
        return _to_svg(fig, f"fairness-{index}")


def lipschitz_figure(report: dict[str, Any]) -> str | None:
    """Individual-fairness I(f) per model with CI error bars."""
    ind = report.get("individual_fairness") or {}
    roles = [r for r in ROLE_ORDER if isinstance(ind.get(r), dict)]
    if not roles:
        return None
    with _style("lipschitz"):
        fig, ax = plt.subplots(figsize=(5.2, 0.9 + 0.42 * len(roles)))
        _errorbar_panel(ax, roles, [ROLE_COLORS[r] for r in roles],
                        [ind[r].get("lipschitz") for r in roles],
                        title="I(f): mean D(f(x), f(x')) / d(x, x'), lower is fairer",
                        scale=1.0, unit="I(f)")
        ax.set_xlim(left=0)
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


def disagreement_heatmap(report: dict[str, Any], pair: str, *, class_names: Sequence[Any],
                         max_classes: int = 25, index: int = 0) -> str | None:
    """P1-style heatmap of (A's prediction, B's prediction) counts, diagonal excluded."""
    entry = (report.get("class_shift") or {}).get(pair) or {}
    matrix = entry.get("disagreement_matrix")
    if not matrix or len(matrix) < 2:
        return None
    keep = heatmap_classes(matrix, max_classes)
    sub = np.asarray(matrix, dtype=float)[np.ix_(keep, keep)]
    np.fill_diagonal(sub, np.nan)
    a, b = pair.split("_vs_")
    k = len(keep)
    size = min(7.0, 2.4 + 0.2 * k)
    with _style(f"heatmap-{index}"):
        fig, ax = plt.subplots(figsize=(size + 1.1, size))
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
                        ax.text(j, i, f"{int(v)}", ha="center", va="center", fontsize=7,
                                color="white" if v > 0.6 * vmax else "#222")
        cb = fig.colorbar(im, ax=ax, fraction=0.045, pad=0.03)
        cb.set_label("samples (diagonal excluded)")
        cb.outline.set_visible(False)
        fig.tight_layout()
        return _to_svg(fig, f"heatmap-{index}")


def sweep_figure(report: dict[str, Any]) -> str | None:
    """Accuracy, #SC, #TC, DPD, EOD and I(f) against the distillation temperature."""
    rows = [r for r in report.get("temperature_sweep") or [] if _num(r.get("temperature"))]
    if not rows:
        return None
    rows = sorted(rows, key=lambda r: float(r["temperature"]))
    t = [float(r["temperature"]) for r in rows]
    panels = (("accuracy", "Accuracy (%)", 100.0), ("n_sc", "#SC (vs baseline)", 1.0),
              ("n_tc", "#TC (vs teacher)", 1.0), ("demographic_parity_difference", "DPD (pp)", 100.0),
              ("equalized_odds_difference", "EOD (pp)", 100.0), ("lipschitz", "I(f)", 1.0))
    with _style("sweep"):
        fig, axes = plt.subplots(2, 3, figsize=(8.2, 4.4))
        for ax, (key, title, scale) in zip(axes.flat, panels, strict=True):
            pts = [(ti, _num(r.get(key))) for ti, r in zip(t, rows, strict=True)]
            pts = [(ti, v * scale) for ti, v in pts if v is not None]
            ax.set_title(title, loc="left")
            if not pts:
                ax.text(0.5, 0.5, "not available", ha="center", va="center",
                        transform=ax.transAxes, color="#8a929c")
                ax.set_xticks([])
                ax.set_yticks([])
                continue
            ax.plot([p[0] for p in pts], [p[1] for p in pts], "o-", color=ROLE_COLORS["student"],
                    ms=4, lw=1.5)
            if max(t) / max(min(t), 1e-9) > 15:
                ax.set_xscale("log")
                ax.set_xticks(t, [f"{x:g}" for x in t], fontsize=7)
                ax.minorticks_off()
            ax.set_xlabel("temperature T")
        fig.tight_layout()
        return _to_svg(fig, "sweep")
