"""The release gate: policies, upper_bound vs point judging, missing data, JUnit."""

from __future__ import annotations

import math
import xml.etree.ElementTree as ET

import numpy as np
import pytest
from report_fixtures import make_report
from scipy.special import ndtri

from kdaudit.errors import UsageError
from kdaudit.gate import POLICY_KEYS, Policy, evaluate_gate, load_policy
from kdaudit.report.junit import write_junit
from kdaudit.report.schema import validate_report


def _report(**kw):
    r = make_report(n_classes=10, **kw)
    r["accuracy_delta"]["teacher_vs_student"] = {
        "value": -0.010,
        "ci_low": -0.025,
        "ci_high": 0.005,
        "p_value": 0.2,
    }
    for attr in r["group_fairness"].values():
        attr["delta"]["teacher_vs_student"]["demographic_parity_difference"] = {
            "value": 0.004,
            "ci_low": -0.01,
            "ci_high": 0.018,
            "p_value": 0.5,
        }
        attr["delta"]["teacher_vs_student"]["equalized_odds_difference"] = {
            "value": 0.001,
            "ci_low": -0.02,
            "ci_high": 0.022,
            "p_value": 0.9,
        }
    return r


def _check(result, name):
    return next(c for c in result.checks if c.name == name)


def test_shipped_policies_load():
    for name in ("default", "strict"):
        policy = load_policy(name)
        assert policy.judge == "upper_bound"
        assert policy.max_accuracy_drop is not None
        assert policy.source == name
    assert set(load_policy("strict").thresholds) == set(POLICY_KEYS)


def test_upper_bound_vs_point():
    report = _report()
    policy = dict(max_accuracy_drop=0.02, max_dpd_increase=0.01)
    ub = evaluate_gate(report, Policy.from_dict(policy))
    # drop = teacher - student: point 0.010, upper bound = -ci_low = 0.025
    acc = _check(ub, "max_accuracy_drop")
    assert acc.value == pytest.approx(0.025) and acc.judged_on == "upper_bound"
    assert acc.estimate == pytest.approx(0.010)
    assert not acc.passed
    assert not _check(ub, "max_dpd_increase").passed  # upper bound 0.018 > 0.01
    assert not ub.passed
    pt = evaluate_gate(report, Policy.from_dict({**policy, "judge": "point"}))
    assert _check(pt, "max_accuracy_drop").value == pytest.approx(0.010)
    assert _check(pt, "max_accuracy_drop").judged_on == "point"
    assert pt.passed
    assert [c.name for c in pt.checks] == ["max_accuracy_drop", "max_dpd_increase"]


def test_passing_policy_and_report_round_trip():
    report = _report()
    result = evaluate_gate(
        report,
        Policy.from_dict(
            {"max_accuracy_drop": 0.03, "max_dpd_increase": 0.02, "max_eod_increase": 0.03}
        ),
    )
    assert result.passed
    d = result.to_dict()
    assert set(d) >= {"passed", "judge", "checks"}
    assert set(d["checks"][0]) >= {"name", "value", "threshold", "passed", "judged_on", "detail"}
    report["gate"] = d
    validate_report(report)


def test_worst_attribute_is_judged_and_all_named():
    report = _report()
    attrs = list(report["group_fairness"])
    report["group_fairness"][attrs[1]]["delta"]["teacher_vs_student"][
        "demographic_parity_difference"
    ].update(value=0.03, ci_low=0.02, ci_high=0.04)
    c = _check(
        evaluate_gate(report, Policy.from_dict({"max_dpd_increase": 0.05})), "max_dpd_increase"
    )
    assert c.value == pytest.approx(0.04) and c.passed
    assert repr(attrs[1]) in c.detail and repr(attrs[0]) in c.detail


def test_value_without_ci_judged_on_point():
    report = _report()
    report["accuracy_delta"]["teacher_vs_student"].update(ci_low=None, ci_high=None)
    c = _check(
        evaluate_gate(report, Policy.from_dict({"max_accuracy_drop": 0.02})), "max_accuracy_drop"
    )
    assert c.judged_on == "point" and c.value == pytest.approx(0.010) and c.passed


def test_significant_classes_and_lipschitz():
    report = _report()
    report["class_shift"]["teacher_vs_student"]["n_significant"] = 2
    result = evaluate_gate(
        report, Policy.from_dict({"max_significant_classes": 2, "max_lipschitz_increase": 0.05})
    )
    assert _check(result, "max_significant_classes").passed
    ind = report["individual_fairness"]
    # the real audit gives the change a paired CI: judged on its upper end
    paired = ind["delta"]["teacher_vs_student"]["lipschitz_normalized"]
    lip = _check(result, "max_lipschitz_increase")
    assert lip.metric == "lipschitz_normalized"
    assert lip.ci_high == pytest.approx(paired["ci_high"], abs=1e-9)
    # a report without the paired CI (older kdaudit): the change of the two levels
    del ind["delta"]
    result = evaluate_gate(
        report, Policy.from_dict({"max_significant_classes": 2, "max_lipschitz_increase": 0.05})
    )
    lip = _check(result, "max_lipschitz_increase")
    assert lip.value == pytest.approx(
        ind["student"]["lipschitz"]["value"] - ind["teacher"]["lipschitz"]["value"]
    )
    assert lip.judged_on == "point"
    assert not evaluate_gate(report, Policy.from_dict({"max_significant_classes": 1})).passed


@pytest.mark.parametrize("allow", [False, True])
def test_missing_data_is_not_a_silent_pass(allow):
    report = make_report(individual_fairness=False, skip=("group_fairness",))
    result = evaluate_gate(
        report,
        Policy.from_dict(
            {"max_lipschitz_increase": 0.1, "max_dpd_increase": 0.1, "allow_missing": allow}
        ),
    )
    for c in result.checks:
        assert c.evaluated is False and c.value is None and c.judged_on == "not_evaluated"
        assert "not evaluated" in c.detail
        assert c.passed is allow
    assert result.passed is allow


def test_undefined_delta_is_not_evaluated():
    report = _report()
    attr = next(iter(report["group_fairness"].values()))
    attr["delta"]["teacher_vs_student"]["equalized_odds_difference"] = {
        "value": None,
        "ci_low": None,
        "ci_high": None,
        "p_value": None,
        "undefined_reason": "one group only",
    }
    c = _check(
        evaluate_gate(report, Policy.from_dict({"max_eod_increase": 0.5})), "max_eod_increase"
    )
    assert not c.evaluated and not c.passed and "one group only" in c.detail


def test_threshold_equal_passes():
    report = _report()
    c = _check(
        evaluate_gate(report, Policy.from_dict({"max_accuracy_drop": 0.025})), "max_accuracy_drop"
    )
    assert c.passed


@pytest.mark.parametrize(
    ("text", "fragment"),
    [
        ("max_acuracy_drop = 0.02\nmax_dpd = 1\n", "max_acuracy_drop, max_dpd"),
        ('judge = "median"\n', "judge"),
        ('max_accuracy_drop = "0.02"\n', "max_accuracy_drop"),
        ("max_accuracy_drop = 2.0\n", "fractions"),
        ("max_significant_classes = 1.5\n", "non-negative integer"),
        ("max_significant_classes = -1\n", "non-negative integer"),
        ("allow_missing = 1\n", "allow_missing"),
        ("max_accuracy_drop = true\n", "finite number"),
        ("this is = not toml [\n", "not valid TOML"),
    ],
)
def test_bad_policies(tmp_path, text, fragment):
    path = tmp_path / "p.toml"
    path.write_text(text)
    with pytest.raises(UsageError) as info:
        load_policy(path)
    assert fragment in str(info.value)


def test_policy_file_and_gate_table(tmp_path):
    path = tmp_path / "p.toml"
    path.write_text('[gate]\nmax_accuracy_drop = 0.02\njudge = "point"\n')
    policy = load_policy(str(path))
    assert policy.max_accuracy_drop == 0.02 and policy.judge == "point"
    with pytest.raises(UsageError, match="does not exist"):
        load_policy(tmp_path / "missing.toml")
    with pytest.raises(UsageError, match="does not exist"):
        load_policy("lenient")


def test_junit_round_trip(tmp_path):
    report = _report()
    gate = evaluate_gate(report, load_policy("strict")).to_dict()
    gate["checks"][0]["detail"] = "<script>alert(1)</script> \x00 & done"
    path = write_junit(gate, tmp_path / "sub" / "gate.xml")
    root = ET.parse(path).getroot()
    suite = root.find("testsuite")
    cases = suite.findall("testcase")
    assert [c.get("name") for c in cases] == [c["name"] for c in gate["checks"]]
    failed = [c.get("name") for c in cases if c.find("failure") is not None]
    assert failed == [c["name"] for c in gate["checks"] if not c["passed"]]
    assert int(suite.get("failures")) == len(failed) and int(suite.get("tests")) == len(cases)
    assert "<script>" in cases[0].find("failure").text  # escaped in the file, text on parse
    assert "<script>" not in path.read_text()
    assert not list(tmp_path.glob("sub/.*tmp"))


# ------------------------------------------------------------- three-way verdicts (issue 8)
def _one_attr_report(est, lo, hi, *, n_attrs=1, value=None, n_samples=4000):
    report = make_report(n_classes=2)
    report["data"]["n_samples"] = n_samples
    first = next(iter(report["group_fairness"].values()))
    report["group_fairness"] = {}
    for i in range(n_attrs):
        delta = {k: dict(v) for k, v in first["delta"]["teacher_vs_student"].items()}
        delta["demographic_parity_difference"] = {
            "value": est if value is None else value,
            "estimate": est,
            "ci_low": lo,
            "ci_high": hi,
            "p_value": 0.5,
        }
        entry = {**first, "delta": {**first["delta"], "teacher_vs_student": delta}}
        report["group_fairness"][f"attr{i}"] = entry
    return report


@pytest.mark.parametrize(
    ("lo", "hi", "verdict"),
    [
        (-0.01, 0.04, "pass"),
        (0.06, 0.10, "fail"),
        (0.02, 0.07, "inconclusive"),
        (-0.01, 0.05, "pass"),  # the upper end at the margin passes
    ],
)
def test_three_way_verdicts(lo, hi, verdict):
    est = (lo + hi) / 2
    report = _one_attr_report(est, lo, hi)
    g = evaluate_gate(report, Policy.from_dict({"max_dpd_increase": 0.05}))
    c = g.checks[0]
    assert c.verdict == verdict == g.verdict
    assert c.passed is (verdict == "pass") and g.passed is (verdict == "pass")
    assert c.attribute == "attr0" and c.metric == "demographic_parity_difference"
    assert (c.ci_low, c.ci_high, c.estimate) == pytest.approx((lo, hi, est))
    assert f"{verdict}" in c.sentence and "margin 5.0 pp" in c.sentence
    assert (
        c.judged_on
        == {"pass": "upper_bound", "fail": "lower_bound", "inconclusive": "upper_bound"}[verdict]
    )
    d = g.to_dict()
    assert d["family"]["n_checks"] == 1 and d["family"]["method"] == "bonferroni"
    report["gate"] = d
    validate_report(report)


def test_inconclusive_wording_rows_needed_and_on_inconclusive():
    report = _one_attr_report(0.04, 0.02, 0.06, n_samples=4000)
    strict = evaluate_gate(report, Policy.from_dict({"max_dpd_increase": 0.05}))
    c = strict.checks[0]
    assert c.verdict == "inconclusive" and not c.passed and not strict.passed
    assert "inconclusive: the interval straddles the margin" in c.sentence
    assert 'on_inconclusive = "fail"' in c.sentence
    # half-width 0.02, distance to the margin 0.01: (0.02 / 0.01)^2 x 4000 rows
    assert c.rows_needed == 16000
    se = 0.04 / (2 * 1.959963984540054)
    assert c.min_detectable == pytest.approx(0.05 + (1.959963984540054 + 0.8416212335729143) * se)
    lenient = evaluate_gate(
        report, Policy.from_dict({"max_dpd_increase": 0.05, "on_inconclusive": "pass"})
    )
    # INTERFACE: passed only for verdict "pass"; the policy lets the release through anyway
    assert not lenient.passed and lenient.release_ok and lenient.verdict == "inconclusive"
    assert not lenient.checks[0].passed and lenient.checks[0].release_ok
    assert 'on_inconclusive = "pass"' in lenient.checks[0].sentence
    with pytest.raises(UsageError, match="on_inconclusive"):
        Policy.from_dict({"on_inconclusive": "maybe"})


def test_inconclusive_after_family_adjustment_says_so_and_needs_more_rows():
    """A 95% interval above the margin is not yet a fail when many numbers are judged."""
    # estimate 7.5 pp, 95% interval [+5.5, +9.5] pp, margin 5 pp; 4 attributes x DPD = 4 numbers
    report = _one_attr_report(0.075, 0.055, 0.095, n_attrs=4, n_samples=4000)
    g = evaluate_gate(report, Policy.from_dict({"max_dpd_increase": 0.05}))
    c = g.checks[0]
    z = float(-ndtri(0.025 / 4))  # one-sided Bonferroni level over the family
    se = 0.02 / 1.959963984540054
    assert 0.075 - z * se < 0.05 < 0.055  # adjusted lower end below the margin, 95% one above
    assert c.verdict == "inconclusive"
    assert "the 95% interval lies above the margin, but its family-adjusted lower end" in c.sentence
    # settling needs the adjusted half-width below the 2.5 pp gap: more rows than were used
    assert c.rows_needed == max(math.ceil(4000 * (z * se / 0.025) ** 2), 4001)
    assert c.rows_needed > 4000


def test_point_judge_has_no_inconclusive_and_uses_the_estimate():
    report = _one_attr_report(0.04, 0.02, 0.07, value=0.06)
    g = evaluate_gate(report, Policy.from_dict({"max_dpd_increase": 0.05, "judge": "point"}))
    c = g.checks[0]
    assert c.verdict == "pass" and c.judged_on == "point" and c.value == pytest.approx(0.04)


def test_old_report_without_estimate_falls_back_to_value():
    report = _one_attr_report(0.0, 0.0, 0.0)
    delta = report["group_fairness"]["attr0"]["delta"]["teacher_vs_student"][
        "demographic_parity_difference"
    ]
    delta.pop("estimate")
    delta.update(value=0.03, ci_low=0.035, ci_high=0.06)  # an old percentile CI excluding value
    c = evaluate_gate(report, Policy.from_dict({"max_dpd_increase": 0.05})).checks[0]
    assert c.estimate == pytest.approx(0.03) and c.ci_low == pytest.approx(0.03)
    assert c.verdict == "inconclusive"


def test_family_adjustment_more_attributes_need_stronger_evidence_to_fail():
    one = evaluate_gate(
        _one_attr_report(0.08, 0.055, 0.105), Policy.from_dict({"max_dpd_increase": 0.05})
    )
    assert one.verdict == "fail"
    many = evaluate_gate(
        _one_attr_report(0.08, 0.055, 0.105, n_attrs=8),
        Policy.from_dict({"max_dpd_increase": 0.05}),
    )
    assert many.to_dict()["family"]["n_checks"] == 8
    assert many.verdict == "inconclusive"  # lower end at level 0.025/8 is below the margin


@pytest.mark.parametrize("n_attrs", [1, 4, 16])
def test_family_false_fail_rate_by_simulation(n_attrs):
    """Clean model (true change exactly at the margin, the worst clean case), normal estimates
    with a correct 95% interval: the gate fails in at most ~2.5% of runs for any number of
    attributes (without the family adjustment it would be 1 - 0.975^m)."""
    rng = np.random.default_rng(n_attrs)
    runs, se, margin = 2000, 0.01, 0.05
    fails = 0
    policy = Policy.from_dict({"max_dpd_increase": margin})
    report = _one_attr_report(0.0, 0.0, 0.0, n_attrs=n_attrs)
    for _ in range(runs):
        for entry in report["group_fairness"].values():
            est = margin + se * rng.normal()
            entry["delta"]["teacher_vs_student"]["demographic_parity_difference"].update(
                value=est, estimate=est, ci_low=est - 1.96 * se, ci_high=est + 1.96 * se
            )
        fails += evaluate_gate(report, policy).verdict == "fail"
    assert fails / runs <= 0.025 + 1.96 * np.sqrt(0.025 * 0.975 / runs)
