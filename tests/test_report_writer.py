"""write_report (atomic, validated), summary.md, model card."""

from __future__ import annotations

import json
import os

import pytest
from report_fixtures import all_variants, make_report

from kdaudit.errors import InputDataError, UsageError
from kdaudit.gate import evaluate_gate, load_policy
from kdaudit.report import ReportSchemaError, read_report, write_report
from kdaudit.report.markdown import MAX_LINES, md_escape, render_summary
from kdaudit.report.modelcard import model_card

VARIANTS = all_variants()


def test_write_all_formats(tmp_path):
    report = make_report(n_classes=10)
    report["gate"] = evaluate_gate(report, load_policy("default")).to_dict()
    out = tmp_path / "a" / "out"
    paths = write_report(report, out, formats=("json", "html", "md", "modelcard"))
    assert {p.name for p in paths.values()} == {
        "report.json",
        "report.html",
        "summary.md",
        "model_card.json",
    }
    assert json.loads(paths["json"].read_text()) == report
    assert read_report(paths["json"]) == report
    assert sorted(os.listdir(tmp_path / "a")) == ["out"]  # no staging folder left


def test_default_formats(tmp_path):
    paths = write_report(make_report(), tmp_path)
    assert sorted(paths) == ["html", "json", "md"]


def test_out_dir_is_a_file(tmp_path):
    f = tmp_path / "report"
    f.write_text("x")
    with pytest.raises(UsageError, match="existing file"):
        write_report(make_report(), f)


def test_invalid_report_writes_nothing(tmp_path):
    report = make_report()
    del report["accuracy"]
    with pytest.raises(ReportSchemaError):
        write_report(report, tmp_path / "out")
    assert not (tmp_path / "out").exists()
    assert os.listdir(tmp_path) == []


def test_failed_render_leaves_no_report_json(tmp_path, monkeypatch):
    import kdaudit.report.writer as writer

    def boom(fmt, report):
        if fmt == "md":
            raise RuntimeError("renderer failed")
        return "{}"

    monkeypatch.setattr(writer, "_render", boom)
    with pytest.raises(RuntimeError):
        write_report(make_report(), tmp_path / "out")
    assert not (tmp_path / "out" / "report.json").exists()
    assert [p for p in tmp_path.iterdir() if p.name.startswith(".")] == []


def test_unknown_format(tmp_path):
    with pytest.raises(UsageError, match="pdf"):
        write_report(make_report(), tmp_path, formats=("pdf",))


def test_read_report_errors(tmp_path):
    with pytest.raises(UsageError):
        read_report(tmp_path / "missing.json")
    bad = tmp_path / "bad.json"
    bad.write_text("{not json")
    with pytest.raises(InputDataError):
        read_report(bad)
    bad.write_text(json.dumps({"schema_version": "9"}))
    with pytest.raises(InputDataError, match="schema_version"):
        read_report(bad)


@pytest.mark.parametrize("name", sorted(VARIANTS))
def test_summary_short_and_escaped(name):
    text = render_summary(VARIANTS[name])
    assert len(text.splitlines()) <= MAX_LINES < 40
    assert "<script" not in text and "<img" not in text
    assert "kdaudit" in text


def test_summary_verdict_first():
    report = make_report(gate=True)
    assert render_summary(report).splitlines()[0].startswith("## ❌ kdaudit gate FAILED")
    report["gate"] = evaluate_gate(
        report,
        load_policy("default").__class__.from_dict({"max_accuracy_drop": 0.5, "judge": "point"}),
    ).to_dict()
    assert "PASSED" in render_summary(report).splitlines()[0]


def test_summary_truncates_many_attributes():
    attrs = tuple(f"attr{i}" for i in range(30))
    text = render_summary(make_report(attributes=attrs, n_classes=3, gate=True))
    assert len(text.splitlines()) <= MAX_LINES


def test_md_escape():
    s = md_escape("<b>*x*</b> [a](http://e) | `c` \n")
    assert "<" not in s and "\\*" in s and "\\|" in s and "\\[" in s and "\n" not in s


def test_model_card():
    report = make_report(n_classes=3)
    card = model_card(report)
    json.dumps(card, allow_nan=False)
    metrics = card["quantitative_analysis"]["performance_metrics"]
    assert all({"type", "value", "slice"} <= set(m) for m in metrics)
    acc = next(m for m in metrics if m["type"] == "teacher_vs_student/accuracy_delta")
    d = report["accuracy_delta"]["teacher_vs_student"]
    assert acc["value"] == d["value"]
    assert acc["confidence_interval"] == {"lower_bound": d["ci_low"], "upper_bound": d["ci_high"]}
    assert any(m["slice"].startswith("sex=") for m in metrics)
    undefined = [m for m in metrics if m["value"] is None]
    assert undefined and all(m.get("description") for m in undefined)


def test_md_code_keeps_paths_literal_and_safe():
    from kdaudit.report.markdown import md_code

    assert md_code("models/teacher_seed0.onnx") == "`models/teacher_seed0.onnx`"
    assert md_code("a|b") == "`a\\|b`"
    hostile = md_code("a`b|<script>alert(1)</script>\nx")
    assert "<script" not in hostile and "\n" not in hostile and "\\`" in hostile
    assert md_code("x" * 100, width=20).startswith("`…") and len(md_code("x" * 100, width=20)) == 22
