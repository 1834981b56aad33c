"""report.html: sections, escaping of hostile strings, self-containment, size at 1,000 classes."""

from __future__ import annotations

import re
from html.parser import HTMLParser

import pytest
from report_fixtures import HOSTILE_STRINGS, all_variants, make_report

from kdaudit.report.html import SECTIONS, findings, render_html

VARIANTS = all_variants()


class _Collector(HTMLParser):
    """Every start tag with its attributes, and every section id."""

    def __init__(self) -> None:
        super().__init__()
        self.tags: list[tuple[str, dict[str, str | None]]] = []

    def handle_starttag(self, tag, attrs):
        self.tags.append((tag, dict(attrs)))


def _parse(html: str) -> _Collector:
    p = _Collector()
    p.feed(html)
    return p


@pytest.fixture(scope="module")
def rendered() -> dict[str, str]:
    return {name: render_html(report) for name, report in VARIANTS.items()}


@pytest.mark.parametrize("name", sorted(VARIANTS))
def test_no_markup_injection(rendered, name):
    html = rendered[name]
    tags = _parse(html).tags
    assert not [t for t, _ in tags if t in ("script", "img", "iframe", "object", "embed")]
    for _, attrs in tags:
        assert not any(k.startswith("on") for k in attrs), attrs
    assert "<script" not in html.lower() and "<img" not in html.lower()
    if VARIANTS[name]["data"]["path"].startswith("data/<"):
        assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html


@pytest.mark.parametrize("name", sorted(VARIANTS))
def test_self_contained(rendered, name):
    html = rendered[name]
    tags = _parse(html).tags
    for tag, attrs in tags:
        for key in ("src", "href", "xlink:href", "action"):
            value = attrs.get(key)
            if value is not None:
                assert value.startswith(("#", "data:image/png;base64,")), (tag, key)
    assert not re.search(r"url\((?!#)", html)
    assert "@import" not in html
    assert "<style>" in html


@pytest.mark.parametrize("name", sorted(VARIANTS))
def test_sections_present(rendered, name):
    html = rendered[name]
    ids = {a.get("id") for t, a in _parse(html).tags if t == "section"}
    expected = {sid for sid, _ in SECTIONS}
    if "temperature_sweep" not in VARIANTS[name]:
        expected.discard("temperature-sweep")
    assert ids == expected


def test_optional_sections_content(rendered):
    full = rendered["binary_full"]
    assert "Release gate failed" in full and "temperature T" in full
    assert "Robustness of debiasing" in full and "distillability" in full
    minimal = rendered["binary_minimal"]
    assert "No release gate" in minimal
    assert "the data has no inputs" in minimal  # individual fairness skipped: logits only
    assert 'id="temperature-sweep"' not in minimal
    skipped = rendered["skip_all"]
    assert "<strong>class_shift</strong>: skipped with --skip" in skipped
    assert "<strong>group_fairness</strong>: skipped with --skip" in skipped
    assert (
        "baseline" not in rendered["no_baseline"].split('id="models-data"')[1].split("</table>")[0]
    )


def test_figures_are_inline_svg_with_unique_ids(rendered):
    html = rendered["binary_full"]
    assert html.count("<svg") >= 6  # accuracy, 3 heatmaps, 2 fairness, I(f), sweep
    ids = [a["id"] for _, a in _parse(html).tags if a.get("id")]
    assert len(ids) == len(set(ids))
    assert "<?xml" not in html and "DOCTYPE svg" not in html


def test_rendering_is_deterministic():
    report = make_report(n_classes=3, baseline=False)
    assert render_html(report) == render_html(report)


def test_undefined_values_listed(rendered):
    html = rendered["binary_full"]
    assert "tpr undefined: no positives in this group" in html  # the fixture's tiny group


def test_findings_are_few_and_plain():
    for report in VARIANTS.values():
        out = findings(report)
        assert 1 <= len(out) <= 5
        assert all(f.severity in {"bad", "warn", "good", "info"} for f in out)
    quoted = findings(make_report(), quote=lambda s: f"[{s}]")
    assert any("[<script>alert(1)</script>]" in f.text or "[sex]" in f.text for f in quoted)


def test_multiclass_shows_significance_marks(rendered):
    html = rendered["multiclass_10"]
    assert 'class="sig"' in html and "●" in html
    assert "ratio" in rendered["multiclass_multi_run"]


@pytest.fixture(scope="module")
def big_report():
    return make_report(n_classes=1000, individual_fairness=False, robustness=False)


def test_thousand_classes_under_5mb(big_report):
    html = render_html(big_report)
    assert len(html.encode("utf-8")) < 5 * 1024 * 1024
    assert "every class is in report.json" in html
    assert "25 classes with the most disagreement" in html
    n_rows = html.count("<tr")
    assert n_rows < 2000
    for s in HOSTILE_STRINGS:
        assert s not in html
