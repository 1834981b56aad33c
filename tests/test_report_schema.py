"""report.json schema: every fixture validates; broken reports fail with a clear message."""

from __future__ import annotations

import copy
import json

import numpy as np
import pytest
from report_fixtures import all_variants, make_report

from kdaudit.report.schema import ReportSchemaError, load_schema, schema_text, validate_report

VARIANTS = all_variants()


def test_schema_is_valid_draft_2020_12():
    import jsonschema

    schema = load_schema()
    assert schema["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    jsonschema.Draft202012Validator.check_schema(schema)
    assert json.loads(schema_text()) == schema


@pytest.mark.parametrize("name", sorted(VARIANTS))
def test_every_fixture_validates(name):
    validate_report(VARIANTS[name])


@pytest.mark.parametrize(
    ("mutate", "fragment"),
    [
        (lambda r: r.pop("accuracy"), "'accuracy' is a required property"),
        (lambda r: r.update(schema_version="2"), "schema_version"),
        (lambda r: r["accuracy"].update(teacher=1.5), "$.accuracy.teacher"),
        (lambda r: r.pop("class_shift"), "class_shift"),
        (
            lambda r: r["group_fairness"]["sex"]["student"]["demographic_parity_difference"].update(
                value=None
            ),
            "undefined_reason",
        ),
        (lambda r: r["models"]["teacher"].update(sha256="xyz"), "$.models.teacher.sha256"),
        (
            lambda r: r["class_shift"]["teacher_vs_student"]["per_class"][0].pop("p_value"),
            "p_value",
        ),
        (
            lambda r: r["class_shift"]["teacher_vs_student"].update(
                disagreement_matrix=[[0, 1], [2]]
            ),
            "square",
        ),
        (lambda r: r["accuracy"].update(teacher=float("nan")), "non-finite"),
        (lambda r: r["accuracy"].update(teacher=np.float32(0.5)), "not JSON-native"),
        (lambda r: r["accuracy"].update(mentor=0.5), "mentor"),
    ],
)
def test_broken_reports_are_rejected(mutate, fragment):
    report = make_report()
    mutate(report)
    with pytest.raises(ReportSchemaError) as info:
        validate_report(report)
    assert fragment in str(info.value)
    assert not isinstance(info.value, __import__("kdaudit.errors").errors.KDAuditError)


def test_pairs_absent_when_baseline_absent():
    report = make_report(baseline=False)
    validate_report(report)
    bad = copy.deepcopy(report)
    bad["class_shift"]["baseline_vs_student"] = bad["class_shift"]["teacher_vs_student"]
    with pytest.raises(ReportSchemaError):
        validate_report(bad)
    with_baseline = make_report(baseline=True)
    del with_baseline["accuracy_delta"]["teacher_vs_baseline"]
    with pytest.raises(ReportSchemaError):
        validate_report(with_baseline)


def test_skipped_sections_may_be_absent():
    report = make_report(skip=("class_shift", "group_fairness", "individual_fairness"))
    assert "class_shift" not in report and "group_fairness" not in report
    validate_report(report)
    del report["skipped"]["group_fairness"]
    with pytest.raises(ReportSchemaError, match="group_fairness"):
        validate_report(report)
