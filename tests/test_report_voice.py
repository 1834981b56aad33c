"""One voice and one number style across report.html, summary.md, JUnit and `kdaudit gate`.

Every report here comes from the real analyzers (tests/report_real.py); gates come from
the real gate (old shape: ``passed`` only) and in CONTRACT.md's three-way shape
(``verdict``, ``sentence``, ``on_inconclusive``).
"""

from __future__ import annotations

import re
import warnings
import xml.etree.ElementTree as ET
from html.parser import HTMLParser

import matplotlib.pyplot as plt
import pytest
from markupsafe import escape
from report_real import new_shape_gate, real_report

from kdaudit.report import figures
from kdaudit.report.html import render_html, undefined_groups
from kdaudit.report.junit import junit_xml
from kdaudit.report.markdown import md_escape, render_summary
from kdaudit.report.words import check_sentence, findings, gate_lines, gate_view

pytestmark = pytest.mark.filterwarnings("ignore::UserWarning")


def _report(scenario: str, shape: str, on_inconclusive: str = "fail", **kw) -> dict:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        r = real_report(scenario, **kw)
    if shape == "new":
        r["gate"] = new_shape_gate(r["gate"], r, on_inconclusive=on_inconclusive)
    return r


class _Text(HTMLParser):
    """Visible text of a page (no style, no svg)."""

    def __init__(self) -> None:
        super().__init__()
        self.parts: list[str] = []
        self._skip = 0

    def handle_starttag(self, tag, attrs):
        if tag in ("style", "svg"):
            self._skip += 1

    def handle_endtag(self, tag):
        if tag in ("style", "svg"):
            self._skip -= 1

    def handle_data(self, data):
        if not self._skip:
            self.parts.append(data)


def _visible(html: str) -> str:
    p = _Text()
    p.feed(html)
    return " ".join(" ".join(p.parts).split())


CASES = [
    ("pass", "old", "fail"),
    ("fail", "old", "fail"),
    ("inconclusive", "old", "fail"),
    ("pass", "new", "fail"),
    ("fail", "new", "fail"),
    ("inconclusive", "new", "fail"),
    ("inconclusive", "new", "pass"),
]


_FIGURES = (
    "accuracy_figure",
    "class_accuracy_figure",
    "disagreement_heatmap",
    "fairness_figure",
    "group_rates_figure",
    "lipschitz_figure",
    "sweep_figure",
)


@pytest.fixture
def no_figures(monkeypatch):
    """Tests of words and tables only: skip matplotlib (the browser test draws figures)."""
    for name in _FIGURES:
        monkeypatch.setattr(figures, name, lambda *a, **k: None)


@pytest.fixture(scope="module")
def rendered():
    # the words are under test here, not the figures (test_report_browser draws those):
    # skip matplotlib to keep the table fast
    out = {}
    with pytest.MonkeyPatch.context() as mp:
        for name in _FIGURES:
            mp.setattr(figures, name, lambda *a, **k: None)
        for case in CASES:
            r = _report(*case)
            out[case] = (r, render_html(r), render_summary(r))
    return out


def test_table_covers_every_verdict(rendered):
    verdicts = {gate_view(r["gate"]).verdict for r, _, _ in rendered.values()}
    assert verdicts == {"pass", "fail", "inconclusive"}
    checks = {c.verdict for r, _, _ in rendered.values() for c in gate_view(r["gate"]).checks}
    assert checks == {"pass", "fail", "inconclusive"}


@pytest.mark.parametrize("case", CASES, ids=["-".join(c) for c in CASES])
def test_html_summary_cli_junit_agree_with_gate(rendered, case):
    report, html, md = rendered[case]
    gate = report["gate"]
    view = gate_view(gate)
    # overall verdict: one word everywhere
    word = {"pass": "PASSED", "fail": "FAILED", "inconclusive": "INCONCLUSIVE"}[view.verdict]
    assert f"kdaudit gate {word}" in md.splitlines()[0]
    badge = {"pass": "PASS", "fail": "FAIL", "inconclusive": "INCONCLUSIVE"}[view.verdict]
    assert f'<div class="verdict-badge">{badge}</div>' in html
    lines = gate_lines(gate)
    assert lines[-1].startswith(f"gate: {word}")
    if view.verdict == "inconclusive":
        counted = "PASSED" if gate.get("release_ok", gate["passed"]) else "FAILED"
        assert f"counts as {counted}" in lines[-1]
        assert f'on_inconclusive = "{view.on_inconclusive}"' in md.splitlines()[0] + html
    # every check: same verdict, same sentence, in every output
    rows = {
        name: verdict
        for verdict, name in re.findall(r'<tr class="row-(\w+)">\s*<td><code>([^<]+)</code>', html)
    }
    suite = ET.fromstring(junit_xml(gate).split("\n", 1)[1])
    cases = {c.get("name"): c for c in suite.iter("testcase")}
    for c in view.checks:
        sentence = c.sentence
        if case[1] == "new":
            assert sentence.startswith("GATE-SENTENCE")  # the gate's words, verbatim
        assert rows[c.name] == c.verdict
        assert str(escape(sentence)) in html
        md_row = next(line for line in md.splitlines() if f"`{c.name}`" in line)
        assert c.verdict in md_row and md_escape(sentence, 400) in md_row
        cli = next(line for line in lines if f" {c.name}: " in line)
        assert cli.endswith(sentence)
        assert cli.startswith(
            {"pass": "pass", "fail": "FAIL", "inconclusive": "inconclusive"}[c.verdict]
        )
        tc = cases[c.name]
        failure = tc.find("failure")
        assert (failure is not None) == (not c.release_ok)
        if failure is not None:
            assert failure.get("message") == sentence
    assert int(suite.find("testsuite").get("failures")) == sum(
        1 for c in view.checks if not c.release_ok
    )
    # findings never call OK (or a pass) what the gate did not pass
    for f in findings(report):
        if f.check in {c.name for c in view.checks}:
            verdict = next(c.verdict for c in view.checks if c.name == f.check)
            assert f.label == f"Gate: {verdict}" or (
                verdict == "pass" and f.severity != "good" and "Gate" not in f.label
            )
            if verdict != "pass":
                assert f.severity in ("bad", "warn") and "OK" not in f.label
            assert f"Gate: {verdict} ({f.check})" in f.text


@pytest.mark.parametrize("case", CASES[:3], ids=["-".join(c) for c in CASES[:3]])
def test_one_number_style(rendered, case):
    report, html, md = rendered[case]
    for text in (_visible(html), md):
        assert "+0.0 pp" not in text and "-0.0 pp" not in text
        assert "None" not in text
        assert not re.search(r"\d\.\d{7,}", text), re.search(r".{30}\d\.\d{7,}.{10}", text)
        assert not re.search(r"\bp [<=] ?0\.0{3,}", text)
        for m in re.finditer(r"\bp (?:=|<) ([0-9.]+)", text):
            assert len(m.group(1).replace("0.", "", 1)) <= 3, m.group(0)
    for line in gate_lines(report["gate"]):
        assert not re.search(r"\d\.\d{5,}", line), line


def test_old_gate_sentence_derived_from_judged_numbers():
    check = {
        "name": "max_dpd_increase",
        "value": 0.0552826156636,
        "threshold": 0.05,
        "passed": False,
        "judged_on": "upper_bound",
        "estimate": 2.776e-17,
        "detail": "worst attribute 'color' (student minus teacher DPD). ...",
    }
    s = check_sentence(check)
    assert s == (
        "Demographic parity difference increase (student minus teacher) for "
        "attribute 'color': ±0.0 pp; the upper end of its 95% CI, +5.5 pp, is above "
        "the 5.0 pp margin: fail."
    )
    missing = {
        "name": "max_lipschitz_increase",
        "value": None,
        "threshold": 0.005,
        "passed": False,
        "evaluated": False,
        "judged_on": "not_evaluated",
        "detail": "not evaluated: individual fairness was not computed; the check fails",
    }
    assert "not evaluated (individual fairness was not computed)" in check_sentence(missing)
    view = gate_view({"passed": False, "checks": [check, missing]})
    assert view.verdict == "fail" and view.on_inconclusive == "fail"
    assert [c.verdict for c in view.checks] == ["fail", "fail"]


def test_non_significant_change_never_tops_findings():
    for scenario in ("pass", "fail", "inconclusive"):
        r = _report(scenario, "old")
        r.pop("gate")
        found = findings(r, limit=10)
        sig = [f.significant for f in found]
        tested = [s for s in sig if s is not None]
        # significant results all come before non-significant ones
        assert tested == sorted(tested, reverse=True), [(f.label, f.text[:60]) for f in found]
        if any(tested):
            assert found[0].significant
        for f in found:
            if f.significant is False and f.label == "Not significant":
                assert "not significant" in f.text


def test_individual_fairness_uses_normalized_scale(no_figures):
    r = _report("fail", "old")
    ind = r["individual_fairness"]
    for role in ("teacher", "student", "baseline"):
        raw = ind[role]["lipschitz"]
        ind[role]["lipschitz_normalized"] = {
            k: raw[k] * 2.0 for k in ("value", "ci_low", "ci_high")
        }
    d = ind["delta"]["teacher_vs_student"]["lipschitz"]
    ind["delta"]["teacher_vs_student"]["lipschitz_normalized"] = {
        k: d[k] * 2.0 for k in ("value", "ci_low", "ci_high")
    } | {"p_value": d["p_value"]}
    html = render_html(r)
    assert "I(f) (normalized) [95% CI]" in html and "in input-distance units" in html
    assert "unit-free" in html
    f = next(f for f in findings(r, limit=10) if f.check == "max_lipschitz_increase")
    assert "normalized, unit-free" in f.text


def test_group_metrics_show_estimate_plugin_and_noise_floor(no_figures):
    r = _report("fail", "old")
    m = r["group_fairness"]["sex"]["student"]["demographic_parity_difference"]
    m["estimate"] = (m["ci_low"] + m["ci_high"]) / 2 + 1e-3
    m["noise_floor"] = {"value": 0.011, "ci_high": 0.0234}
    html = _visible(render_html(r))
    assert "plug-in (fairlearn)" in html
    assert "by chance alone: up to 2.3%" in html


def test_group_rate_intervals_rendered():
    r = _report("fail", "old")
    row = r["group_fairness"]["sex"]["student"]["by_group"][0]
    assert {"selection_rate_ci", "tpr_ci", "fpr_ci", "accuracy_ci"} <= set(row)
    html = render_html(r)
    lo, hi = row["tpr_ci"]
    assert f"[{100 * lo:.1f}%, {100 * hi:.1f}%]" in html
    assert 'aria-label="rates-0"' in html


def test_class_names_and_undefined_fold(no_figures):
    r = _report("fail", "old", n_classes=10)
    names = [f"digit-{i}" for i in range(10)]
    r["data"]["class_names"] = names
    html = render_html(r)
    assert "digit-3" in _visible(html)
    groups = undefined_groups(r)
    total = sum(len(g["items"]) for g in groups)
    assert total >= 6 and len(groups) < total  # near-identical rows are folded by kind
    assert "places</summary>" in html
    md = render_summary(r)
    assert len(md.splitlines()) < 40


def test_sweep_series_and_axis():
    r = _report("fail", "old", sweep=5)
    rows = r["temperature_sweep"]
    # five swept students plus the audited (main) student, flagged once by the sweep analysis
    assert len([x for x in rows if not x.get("main")]) == 5
    assert sum(bool(x.get("main")) for x in rows) == 1
    # contract fields from the sweep analysis (added by another change) are rendered when present
    for row in rows:
        row["accuracy_ci"] = [row["accuracy"] - 0.01, row["accuracy"] + 0.01]
        row["attribute"] = "sex"
        if row.get("main") and row.get("temperature") is None:
            row["temperature"] = 3.0  # the audited student's T (unknown in this generated report)
    r["temperature_sweep_reference"] = {
        "teacher": {"accuracy": r["accuracy"]["teacher"]},
        "baseline": {"accuracy": r["accuracy"]["baseline"]},
    }
    series = figures.sweep_series(r)
    assert series["attribute"] == "sex"
    assert [bool(x.main) for x in series["rows"]].count(True) == 1
    html = render_html(r)
    assert "DPD (attribute sex)" in html and ">main</span>" in html
    fig, ax = plt.subplots()
    figures._temperature_axis(ax, [1.0, 2.0, 4.0, 8.0, 16.0])
    assert ax.get_xscale() == "log" and list(ax.get_xticks()) == [1, 2, 4, 8, 16]
    figures._temperature_axis(ax2 := fig.add_subplot(2, 1, 2), [2.0, 4.0])
    assert ax2.get_xscale() == "linear"
    plt.close(fig)
    one = _report("fail", "old", sweep=1)
    assert figures.sweep_figure(one) is not None
    fig, ax = plt.subplots()
    figures._temperature_axis(ax, [4.0])
    lo, hi = ax.get_xlim()
    assert lo < 4.0 < hi
    plt.close(fig)


@pytest.mark.parametrize("scenario", ["fail"])
def test_kdaudit_gate_prints_the_same_sentences_as_the_pages(tmp_path, capsys, scenario):
    """End to end: `kdaudit gate --write` prints each check's sentence, and the rewritten
    summary.md and report.html carry the same sentences and verdict."""
    import json

    from report_real import POLICY

    from kdaudit.cli import main
    from kdaudit.report import write_report

    r = _report(scenario, "old")
    out = write_report(r, tmp_path / "rep", formats=("json", "html", "md"))
    policy = tmp_path / "policy.toml"
    policy.write_text("".join(f"{k} = {v}\n" for k, v in POLICY.items()))
    capsys.readouterr()
    code = main(["gate", str(out["json"]), "--policy", str(policy), "--write"])
    printed = capsys.readouterr().out.strip().splitlines()
    gate = json.loads(out["json"].read_text())["gate"]
    assert code == (0 if gate["passed"] else 1)
    assert printed == gate_lines(gate)
    md = (tmp_path / "rep" / "summary.md").read_text()
    html = (tmp_path / "rep" / "report.html").read_text()
    for c in gate_view(gate).checks:
        assert c.sentence in " ".join(printed)
        assert md_escape(c.sentence, 400) in md
        assert str(escape(c.sentence)) in html


def test_summary_md_shows_counterfactual_text_results():
    """A text audit's identity-term swaps reach summary.md: each model's flip rate with its
    interval, and the student's change against the teacher (issue 10's summary gap)."""
    import json
    from pathlib import Path

    from kdaudit.report.markdown import MAX_LINES, render_summary
    from kdaudit.report.words import uncertain

    path = Path(__file__).resolve().parents[1] / "sample_reports" / "text" / "report.json"
    if not path.exists():
        pytest.skip("sample_reports/text/report.json is made by `make demo`")
    report = json.loads(path.read_text(encoding="utf-8"))
    cft = report["counterfactual_text"]
    md = render_summary(report)
    row = next(line for line in md.splitlines() if line.startswith("| counterfactual flip rate"))
    for role in ("teacher", "student"):
        assert uncertain(cft[role]["flip_rate"], "%") in row
    delta = cft["delta"]["teacher_vs_student"]["flip_rate"]
    assert "counterfactual flip rate" in md and f"{delta['value'] * 100:+.1f} pp" in md
    assert len(md.splitlines()) <= MAX_LINES
    # an audit without counterfactual texts has no such lines
    del report["counterfactual_text"]
    assert "counterfactual" not in render_summary(report)
