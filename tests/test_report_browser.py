"""report.html in a real headless Chromium (Debian's chromium, driven by Playwright).

Never downloads a browser: uses /usr/bin/chromium (or $KDAUDIT_CHROMIUM) and skips
with a reason when it or Playwright is missing. Reports come from the real analyzers
(tests/report_real.py). Screenshots land in test-artifacts/ for a human to look at.
"""

from __future__ import annotations

import os
import shutil
import warnings
from pathlib import Path

import pytest
from report_real import SCRIPT, new_shape_gate, real_report

from kdaudit.report import write_report
from kdaudit.report.html import SECTIONS

pytestmark = pytest.mark.browser

CHROMIUM = os.environ.get("KDAUDIT_CHROMIUM") or shutil.which("chromium") or "/usr/bin/chromium"
ARTIFACTS = Path(__file__).resolve().parents[1] / "test-artifacts"
ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


@pytest.fixture(scope="module")
def browser():
    sync_api = pytest.importorskip(
        "playwright.sync_api", reason="playwright is not installed (pip install playwright)"
    )
    if not Path(CHROMIUM).exists():
        pytest.skip(f"chromium not found at {CHROMIUM} (apt-get install chromium)")
    with sync_api.sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        yield b
        b.close()


def _variant(name: str) -> dict:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        if name == "full":
            r = real_report("inconclusive", n_classes=10, sweep=5, hostile=True)
            r["gate"] = new_shape_gate(r["gate"], r)
            r["data"]["class_names"] = [
                f"{SCRIPT} name {i}" if i == 0 else f"class {i}" for i in range(10)
            ]
            return r
        r = real_report("fail", hostile=True, sweep=1)
        r.pop("robustness", None)
        return r


@pytest.mark.parametrize("variant", ["full", "binary"])
def test_report_in_chromium(browser, tmp_path, variant):
    report = _variant(variant)
    html_path = write_report(report, tmp_path / "out", formats=("html",))["html"]
    for width in (800, 1280):
        _check_page(browser, report, html_path, variant, width)


def _check_page(browser, report, html_path, variant, width):
    page = browser.new_page(viewport={"width": width, "height": 900})
    console, requests, dialogs = [], [], []
    page.on("console", lambda m: console.append((m.type, m.text)))
    page.on("pageerror", lambda e: console.append(("pageerror", str(e))))
    page.on("dialog", lambda d: (dialogs.append(d.message), d.dismiss()))
    page.on("request", lambda r: requests.append(r.url))
    page.goto(html_path.resolve().as_uri())
    page.wait_for_load_state("load")

    assert [c for c in console if c[0] in ("error", "pageerror")] == []
    assert dialogs == []  # no injected alert() ran
    assert [u for u in requests if not u.startswith(("file:", "data:"))] == []
    assert page.evaluate("document.querySelectorAll('script, img').length") == 0

    expected = [
        sid for sid, _ in SECTIONS if sid != "temperature-sweep" or "temperature_sweep" in report
    ]
    for sid in expected:
        assert page.locator(f"section#{sid}").count() == 1, sid
        assert page.locator(f"section#{sid} h2").is_visible(), sid
    # readable at this width: the page never scrolls sideways (wide tables scroll in their box)
    assert page.evaluate("document.documentElement.scrollWidth") <= width
    sticking_out = page.evaluate(
        "Array.from(document.querySelectorAll('main *, header *')).filter(e => "
        "!e.closest('.scroll') && e.getBoundingClientRect().right > window.innerWidth + 1)"
        ".map(e => e.tagName + '.' + e.className).slice(0, 5)"
    )
    assert sticking_out == []
    sizes = page.evaluate(
        "Array.from(document.querySelectorAll('svg.figure')).map(s => {"
        "const r = s.getBoundingClientRect(); return [s.getAttribute('aria-label'), "
        "r.width, r.height]; })"
    )
    assert len(sizes) >= 6, sizes
    assert all(w > 50 and h > 50 for _, w, h in sizes), sizes
    assert all(w <= width for _, w, _ in sizes), sizes
    # the verdict badge shows its whole word (not clipped by the flex row)
    assert page.evaluate(
        "(() => { const b = document.querySelector('.verdict-badge'); "
        "return b.scrollWidth <= b.clientWidth; })()"
    )
    hostile = page.evaluate("document.body.innerText")
    assert SCRIPT in hostile  # shown as text

    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / f"report-{variant}-{width}.png"), full_page=True)
    page.emulate_media(media="print")
    assert page.locator("nav.toc").is_hidden()
    assert page.evaluate("document.documentElement.scrollWidth") <= width
    page.close()
