"""What the start-up work (bench/bench_startup.py) changed must not change any output.

* each figure is drawn once at savefig, and its SVG is the same bytes as with the second,
  discarded draw that matplotlib makes after ``tight_layout()``;
* the command line gives matplotlib only its bundled fonts, and the page is the same
  bytes as with matplotlib's full scan of system fonts and AFM metrics;
* report.html's templates, compiled ahead of time (kdaudit/report/_compiled), are
  current and render the same page as templates compiled from source; an edited
  template is compiled from its source, never served stale;
* the command line's garbage-collector thresholds keep a larger setting of the user's.

Which heavy modules a logits audit may import is tested in test_lean_install.py.
"""

from __future__ import annotations

import gc
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import jinja2
import pytest
from matplotlib.figure import Figure
from report_fixtures import make_report

from kdaudit._startup import GC_THRESHOLDS, configure_cli_process
from kdaudit.report import build_templates, figures, html, precompile
from kdaudit.report.html import render_html

REPO = Path(__file__).resolve().parents[1]


def test_each_figure_is_drawn_once_with_the_same_svg(monkeypatch) -> None:
    report = make_report(temperature_sweep=True, n_classes=3)
    draws: list[str] = []
    real_draw = Figure.draw

    def counting_draw(self: Figure, renderer: Any) -> None:
        draws.append(type(renderer).__name__)
        real_draw(self, renderer)

    monkeypatch.setattr(Figure, "draw", counting_draw)
    page = render_html(report)
    n_figures = page.count("<svg ")
    assert n_figures >= 5
    assert len(draws) == n_figures  # one draw each

    real_to_svg = figures._to_svg

    def with_placeholder_engine(fig: Figure, name: str) -> str:
        # what savefig met before: the placeholder engine tight_layout() leaves behind
        fig.set_layout_engine = lambda *args, **kwargs: None  # type: ignore[method-assign]
        return real_to_svg(fig, name)

    draws.clear()
    monkeypatch.setattr(figures, "_to_svg", with_placeholder_engine)
    assert render_html(report) == page
    assert len(draws) == 2 * n_figures  # the discarded draw is back, the bytes are the same


_FONTS_CHILD = r"""
import dataclasses, hashlib, json, os, sys
mode, tests = sys.argv[1], sys.argv[2]
if mode == "bundled":  # what the command line does
    os.environ.pop("MPLCONFIGDIR", None)
    from kdaudit._startup import configure_cli_process
    configure_cli_process()
else:  # a folder of the user's: matplotlib scans every font as usual
    os.environ["MPLCONFIGDIR"] = sys.argv[3]
from kdaudit.report.html import render_html
with open(tests, encoding="utf-8") as f:  # one report for both children (real audits stamp times)
    page = render_html(json.load(f))
import matplotlib
from matplotlib import font_manager
fm = font_manager.fontManager
ttf_dir = os.path.join(matplotlib.get_data_path(), "fonts", "ttf")
bundled = sorted(
    json.dumps(dataclasses.asdict(e), sort_keys=True, default=str)
    for e in fm.ttflist if os.path.dirname(e.fname) == ttf_dir
)
families = ["DejaVu Sans", "sans-serif", "serif", "monospace", "STIXGeneral", "cmr10"]
print(json.dumps({
    "page": hashlib.sha256(page.encode()).hexdigest(), "svgs": page.count("<svg "),
    "afm": len(fm.afmlist), "ttf": len(fm.ttflist), "bundled": bundled,
    "found": {f: fm.findfont(font_manager.FontProperties(family=[f])) for f in families},
}))
"""


def _fonts_child(*args: str) -> dict[str, Any]:
    env = {k: v for k, v in os.environ.items() if k != "MPLCONFIGDIR"}
    env["PYTHONPATH"] = str(REPO)
    res = subprocess.run(
        [sys.executable, "-c", _FONTS_CHILD, *args],
        capture_output=True,
        text=True,
        cwd=REPO,
        env=env,
        timeout=300,
    )
    assert res.returncode == 0, res.stderr
    return dict(json.loads(res.stdout.strip().splitlines()[-1]))


def test_bundled_fonts_draw_the_same_page_as_a_full_font_scan(tmp_path: Path) -> None:
    tests = str(tmp_path / "report.json")
    Path(tests).write_text(
        json.dumps(make_report(temperature_sweep=True, n_classes=3)), encoding="utf-8"
    )
    lean = _fonts_child("bundled", tests)
    full = _fonts_child("full", tests, str(tmp_path / "mplconfig"))
    assert lean["afm"] == 0 and full["afm"] > 0  # the two font lists really differ...
    assert lean["ttf"] == len(lean["bundled"]) <= full["ttf"]
    # ...but hold the same entries for matplotlib's own fonts (computed by its own scan)
    assert lean["bundled"] == full["bundled"]
    assert lean["found"] == full["found"]
    assert lean["svgs"] >= 5 and lean["page"] == full["page"]  # same bytes, every figure


def test_cli_gc_thresholds_keep_a_larger_setting() -> None:
    saved = gc.get_threshold()
    try:
        gc.set_threshold(700, 10, 10)
        configure_cli_process()
        assert gc.get_threshold() == GC_THRESHOLDS
        larger = (GC_THRESHOLDS[0] * 2, 5, 5)
        gc.set_threshold(*larger)
        configure_cli_process()
        assert gc.get_threshold() == larger
    finally:
        gc.set_threshold(*saved)


@pytest.fixture(autouse=True)
def _keep_font_flag() -> Any:
    """configure_cli_process() sets a process-wide flag; leave it as the test found it."""
    from kdaudit import safety

    saved = list(safety._BUNDLED_FONTS)
    yield
    safety._BUNDLED_FONTS[:] = saved


def test_compiled_templates_are_current() -> None:
    folder = Path(precompile.__file__).with_name("_compiled")
    have = {p.name: p.read_text(encoding="utf-8") for p in folder.glob("*.py")}
    stale = sorted(
        n for n, text in build_templates.compiled_sources().items() if have.get(n) != text
    )
    assert not stale, (
        f"{stale} are stale after a template edit (pages stay right, but each process "
        "compiles them again); refresh: python -m kdaudit.report.build_templates"
    )


def _page_and_compiles(monkeypatch, report: dict[str, Any]) -> tuple[str, int]:
    compiles: list[str] = []
    real_compile = jinja2.Environment.compile

    def counting_compile(
        self: jinja2.Environment, source: Any, name: Any = None, *a: Any, **k: Any
    ) -> Any:
        compiles.append(str(name))
        return real_compile(self, source, name, *a, **k)

    monkeypatch.setattr(jinja2.Environment, "compile", counting_compile)
    html._environment.cache_clear()
    try:
        return render_html(report), len(compiles)
    finally:
        html._environment.cache_clear()
        monkeypatch.setattr(jinja2.Environment, "compile", real_compile)


def test_precompiled_templates_render_the_same_page(monkeypatch) -> None:
    report = make_report(temperature_sweep=True, n_classes=3)
    fast, n_fast = _page_and_compiles(monkeypatch, report)
    monkeypatch.setattr(precompile.PrecompiledLoader, "_compiled", lambda *a: None)
    slow, n_slow = _page_and_compiles(monkeypatch, report)
    assert n_fast == 0  # every template came from kdaudit/report/_compiled
    assert n_slow >= 12  # ...or was compiled from source, as jinja2 does
    assert fast == slow


def test_an_edited_template_is_compiled_from_its_source() -> None:
    env = html._environment()
    real = env.loader
    assert isinstance(real, precompile.PrecompiledLoader)
    name = "_accuracy.j2"
    source = real.get_source(env, name)[0]
    edited = jinja2.DictLoader({name: "<p>edited {{ 6 * 7 }}</p>"})
    env2 = env.overlay(loader=precompile.PrecompiledLoader(edited))
    assert env2.get_template(name).render() == "<p>edited 42</p>"
    # and the shipped one is served precompiled: same settings, same source, same key
    assert real._compiled(env, name, source) is not None
    assert real._compiled(env, name, source + " ") is None
