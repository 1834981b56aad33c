"""report.html in a real headless Chromium (Debian's chromium, driven by Playwright).

Never downloads a browser: uses /usr/bin/chromium (or $KDAUDIT_CHROMIUM) and skips
with a reason when it or Playwright is missing.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest
from report_fixtures import make_report

from kdaudit.report import write_report
from kdaudit.report.html import SECTIONS

pytestmark = pytest.mark.browser

CHROMIUM = os.environ.get("KDAUDIT_CHROMIUM") or shutil.which("chromium") or "/usr/bin/chromium"
ARTIFACTS = Path(__file__).resolve().parents[1] / "test-artifacts"
ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking",
        "--disable-component-update", "--disable-sync"]


@pytest.fixture(scope="module")
def browser():
    sync_api = pytest.importorskip("playwright.sync_api",
                                   reason="playwright is not installed (pip install playwright)")
    if not Path(CHROMIUM).exists():
        pytest.skip(f"chromium not found at {CHROMIUM} (apt-get install chromium)")
    with sync_api.sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        yield b
        b.close()


@pytest.mark.parametrize("variant", ["full", "minimal"])
def test_report_in_chromium(browser, tmp_path, variant):
    if variant == "full":
        report = make_report(n_classes=10, temperature_sweep=True, gate=True)
    else:
        report = make_report(baseline=False, individual_fairness=False, robustness=False)
    html_path = write_report(report, tmp_path / "out", formats=("html",))["html"]

    page = browser.new_page(viewport={"width": 1200, "height": 900})
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

    expected = [sid for sid, _ in SECTIONS
                if sid != "temperature-sweep" or "temperature_sweep" in report]
    for sid in expected:
        assert page.locator(f"section#{sid}").count() == 1, sid
        assert page.locator(f"section#{sid} h2").is_visible(), sid
    sizes = page.evaluate(
        "Array.from(document.querySelectorAll('svg.figure')).map(s => {"
        "const r = s.getBoundingClientRect(); return [r.width, r.height]; })")
    assert sizes and all(w > 50 and h > 50 for w, h in sizes), sizes
    hostile = page.evaluate("document.body.innerText")
    assert "<script>alert(1)</script>" in hostile  # shown as text

    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / f"report-{variant}.png"), full_page=True)
    page.emulate_media(media="print")
    assert page.locator("nav.toc").is_hidden()
    page.close()
