"""kdaudit.auditresult: report.json as typed, immutable records that round-trip exactly."""

from __future__ import annotations

import copy
import dataclasses
import json
from pathlib import Path

import pytest
from report_fixtures import all_variants, make_report

import kdaudit
from kdaudit.auditresult import (
    AuditResult,
    ByKey,
    Estimate,
    JsonMap,
    Node,
    RoleFairness,
)
from kdaudit.gate import Policy, evaluate_gate

ROOT = Path(__file__).resolve().parents[1]
SAMPLES = sorted(ROOT.glob("sample_reports/**/report.json"))
VARIANTS = all_variants()


def _reports() -> dict[str, dict]:
    out = {name: json.loads(json.dumps(r)) for name, r in VARIANTS.items()}
    for path in SAMPLES:
        out[str(path.relative_to(ROOT))] = json.loads(path.read_text(encoding="utf-8"))
    return out


REPORTS = _reports()


@pytest.mark.parametrize("name", sorted(REPORTS))
def test_round_trip_is_exact(name):
    """from_dict then to_dict gives the same JSON text, key order included."""
    data = REPORTS[name]
    result = AuditResult.from_dict(data)
    assert result.to_dict() == data
    assert json.dumps(result.to_dict(), indent=2) == json.dumps(data, indent=2)
    # and again from the result's own output
    assert AuditResult.from_dict(result.to_dict()) == result


def _walk(value, seen_types: set[type]) -> None:
    seen_types.add(type(value))
    if isinstance(value, Node):
        for f in dataclasses.fields(value):
            _walk(getattr(value, f.name), seen_types)
    elif isinstance(value, JsonMap):
        for _, v in value.items():
            _walk(v, seen_types)
    elif isinstance(value, tuple):
        for v in value:
            _walk(v, seen_types)


@pytest.mark.parametrize("name", sorted(REPORTS))
def test_records_are_frozen_hashable_and_hold_no_mutable_value(name):
    result = AuditResult.from_dict(REPORTS[name])
    hash(result)  # every value inside is hashable
    types: set[type] = set()
    _walk(result, types)
    assert not types & {dict, list, set}, types & {dict, list, set}
    with pytest.raises(dataclasses.FrozenInstanceError):
        result.created = "2000-01-01T00:00:00Z"  # type: ignore[misc]
    if result.group_fairness:
        with pytest.raises(TypeError):
            result.group_fairness[0] = result.group_fairness[0]  # type: ignore[index]
        student = result.group_fairness[0].student
        assert isinstance(student, RoleFairness)
        with pytest.raises(dataclasses.FrozenInstanceError):
            student.by_group = ()  # type: ignore[misc]


def test_typed_fields_read_what_the_json_holds():
    data = make_report(n_classes=3, gate=True)
    r = AuditResult.from_dict(data)
    assert r.roles == ("teacher", "student", "baseline")
    assert r.models.keys() == tuple(data["models"])
    assert r.accuracy_of("student") == data["accuracy"]["student"]
    d = r.accuracy_delta.of("teacher_vs_student")
    assert isinstance(d, Estimate)
    assert (d.value, d.ci_low, d.ci_high, d.p_value) == tuple(
        data["accuracy_delta"]["teacher_vs_student"][k]
        for k in ("value", "ci_low", "ci_high", "p_value")
    )
    assert r.pairs == tuple(data["accuracy_delta"])
    attr = r.group_fairness[0]
    raw = data["group_fairness"][attr.attribute]
    assert isinstance(r.group_fairness, ByKey)
    assert r.group_fairness.keys() == tuple(data["group_fairness"])
    student = attr.role("student")
    assert student is not None
    assert [g.group for g in student.by_group] == [g["group"] for g in raw["student"]["by_group"]]
    eod = attr.delta.of("teacher_vs_student").metric("equalized_odds_difference")
    assert eod.to_dict() == raw["delta"]["teacher_vs_student"]["equalized_odds_difference"]
    cs = r.class_shift.of("teacher_vs_student")
    assert [row.class_ for row in cs.per_class] == [
        row["class"] for row in data["class_shift"]["teacher_vs_student"]["per_class"]
    ]
    assert cs.disagreement_matrix == tuple(
        tuple(row) for row in data["class_shift"]["teacher_vs_student"]["disagreement_matrix"]
    )
    assert r.gate is not None and r.gate.verdict == data["gate"]["verdict"]
    assert [c.name for c in r.gate.checks] == [c["name"] for c in data["gate"]["checks"]]


def test_gate_reads_the_same_from_a_result_and_a_dict():
    data = make_report(gate=False)
    policy = Policy.from_dict(
        {"max_accuracy_drop": 0.02, "max_eod_increase": 0.05, "max_lipschitz_increase": 0.01}
    )
    assert evaluate_gate(data, policy) == evaluate_gate(AuditResult.from_dict(data), policy)


def test_odd_values_are_kept_verbatim():
    """A hand-edited report with values of the wrong shape still round-trips exactly."""
    data = make_report(gate=False)
    data["accuracy_delta"] = "oops"
    data["group_fairness"]["sex"]["student"]["by_group"] = {"not": "a list"}
    data["class_shift"]["teacher_vs_student"]["per_class"][0]["made_up"] = [1, {"a": None}]
    data["x_custom"] = {"nested": [1, 2.5, None, True]}
    r = AuditResult.from_dict(data)
    assert r.to_dict() == data
    assert not r.accuracy_delta and r.extra_value("accuracy_delta") == "oops"
    assert r.extra_value("x_custom") == JsonMap((("nested", (1, 2.5, None, True)),))
    hash(r)


def test_with_section_returns_a_new_result():
    data = make_report(gate=False)
    r = AuditResult.from_dict(data)
    r2 = r.with_section("warnings", ["one more"])
    assert r.warnings == tuple(data["warnings"]) and r2.warnings == ("one more",)
    assert list(r2.to_dict()) == list(data)  # replaced in place: key order unchanged


def test_with_section_takes_typed_sections_back():
    """A keyed section handed back as records (ByKey) is the same section, not lost."""
    data = make_report(gate=False)
    r = AuditResult.from_dict(data)
    for name in ("accuracy", "accuracy_delta", "group_fairness", "class_shift"):
        r2 = r.with_section(name, getattr(r, name))
        assert getattr(r2, name) == getattr(r, name), name
        assert r2.to_dict() == data, name


def test_report_is_immutable_and_apply_policy_returns_a_new_one():
    data = make_report(gate=False)
    before = copy.deepcopy(data)
    report = kdaudit.Report(data)
    data["accuracy"]["student"] = 0.0  # the Report took a copy
    assert report.data == before
    report.data["accuracy"]["student"] = 0.0  # .data is a fresh copy each time
    assert report.data == before
    judged = report.apply_policy(Policy.from_dict({"max_accuracy_drop": 0.5}, source="t"))
    assert report.gate is None and report.passed is None and report.data == before
    assert judged is not report and judged.gate is not None
    assert judged.passed is True and judged.result.gate == judged.gate
    assert judged.data["governance"] != before["governance"]  # cites the verdict
    rest = {k: v for k, v in before.items() if k != "governance"}
    assert {k: v for k, v in judged.data.items() if k not in ("gate", "governance")} == rest


def test_written_report_json_reads_back_as_the_same_result(tmp_path):
    from kdaudit.report.writer import dumps_report, read_report

    report = kdaudit.Report(make_report(gate=True))
    paths = report.write(tmp_path, formats=("json",))
    assert paths["json"].read_text(encoding="utf-8") == dumps_report(report.data)
    again = AuditResult.from_dict(read_report(paths["json"]))
    assert again == report.result
    assert kdaudit.Report(again).data == report.data  # a Report from a result, no copy lost


@pytest.mark.parametrize("name", sorted(REPORTS))
def test_keyed_records_come_in_the_canonical_order(name):
    """Roles in ROLES order, pairs in PAIRS order, attributes as the data named them."""
    from kdaudit.auditresult import PAIR_NAMES
    from kdaudit.vocab import ROLES

    r = AuditResult.from_dict(REPORTS[name])

    def ordered(keys: tuple[str, ...], canon: tuple[str, ...]) -> bool:
        return list(keys) == [k for k in canon if k in keys]

    assert ordered(r.models.keys(), ROLES) and ordered(r.accuracy.keys(), ROLES)
    assert ordered(r.accuracy_delta.keys(), PAIR_NAMES)
    assert ordered(r.class_shift.keys(), PAIR_NAMES)
    for entry in r.group_fairness:
        assert ordered(entry.delta.keys(), PAIR_NAMES)
    named = tuple(k for k in r.group_fairness.keys() if k in r.data.sensitive)
    assert ordered(named, tuple(r.data.sensitive))
