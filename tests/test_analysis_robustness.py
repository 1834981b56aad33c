"""Robustness of debiasing (METHODS.md 4): closed forms on small arrays, bootstrap sanity."""

from __future__ import annotations

import json

import numpy as np
import pytest

from kdaudit.analysis.robustness import RobustnessResult, robustness
from kdaudit.errors import UsageError

# 12 rows: 8 in-distribution, 4 out-of-distribution; attribute a/b; labels 0/1
Y = np.array([0, 0, 1, 1, 0, 1, 0, 1, 0, 1, 0, 1])
SPLIT = np.array(["id"] * 8 + ["ood"] * 4)
ATTR = np.array(["a", "b"] * 6)
RIGHT = {  # which rows each model gets right
    "teacher": np.array([1, 1, 1, 1, 1, 1, 1, 0, 1, 1, 1, 0], dtype=bool),  # id 7/8, ood 3/4
    "student": np.array([1, 1, 1, 1, 1, 1, 0, 0, 1, 0, 1, 0], dtype=bool),  # id 6/8, ood 2/4
    "baseline": np.array([1, 1, 1, 1, 1, 1, 1, 1, 0, 0, 1, 0], dtype=bool),  # id 8/8, ood 1/4
}


def _preds() -> dict[str, np.ndarray]:
    return {role: np.where(right, Y, 1 - Y) for role, right in RIGHT.items()}


def test_closed_forms() -> None:
    res = robustness(
        Y,
        _preds(),
        split=SPLIT,
        bias_attribute=ATTR,
        attribute_name="attr",
        pairs=[("teacher", "student"), ("baseline", "student")],
        n_bootstrap=0,
    )
    t, s, b = (res.roles[r] for r in ("teacher", "student", "baseline"))
    assert t.accuracy.value == pytest.approx(10 / 12, abs=1e-15)
    assert [(x.split, x.n, x.accuracy) for x in t.by_split] == [("id", 8, 7 / 8), ("ood", 4, 3 / 4)]
    assert t.gap.value == pytest.approx(7 / 8 - 3 / 4, abs=1e-15)
    assert s.gap.value == pytest.approx(6 / 8 - 2 / 4, abs=1e-15)
    assert b.gap.value == pytest.approx(8 / 8 - 1 / 4, abs=1e-15)
    assert res.config.reference_split == "id"
    # groups (label x attr), checked against boolean masks
    groups = {(g.label, g.group): (g.n, g.accuracy) for g in s.by_group}
    s_right = RIGHT["student"]
    for (lab, grp), (n, acc) in groups.items():
        mask = (Y == lab) & (ATTR == grp)
        assert n == mask.sum()
        assert acc == pytest.approx(s_right[mask].mean(), abs=1e-15)
    assert s.worst_group_accuracy.value == pytest.approx(min(a for _, a in groups.values()))
    assert s.worst_group is not None and s.worst_group.accuracy == s.worst_group_accuracy.value
    assert all(g.small for g in s.by_group)  # n < 30
    # distillability = (gap_b - gap_s) / (gap_b - gap_t) = (0.75 - 0.25) / (0.75 - 0.125)
    assert res.distillability is not None
    assert res.distillability.value == pytest.approx(0.5 / 0.625, abs=1e-12)
    assert res.contribution is not None
    assert res.contribution.value == pytest.approx(0.25 - 0.75, abs=1e-12)
    d = res.delta["teacher_vs_student"]
    assert d.accuracy.value == pytest.approx(8 / 12 - 10 / 12, abs=1e-15)
    assert d.gap.value == pytest.approx(0.25 - 0.125, abs=1e-15)


def test_gap_definitions_with_three_splits() -> None:
    split = np.array(["id"] * 6 + ["ood1"] * 3 + ["ood2"] * 3)
    right = np.array([1, 1, 1, 1, 1, 0, 1, 1, 0, 1, 0, 0], dtype=bool)
    preds = {"student": np.where(right, Y, 1 - Y)}
    worst = robustness(Y, preds, split=split, n_bootstrap=0)
    assert worst.config.gap_definition == "reference_minus_worst"
    assert worst.config.group_definition == "label x split"
    assert worst.roles["student"].gap.value == pytest.approx(5 / 6 - 1 / 3)
    rest = robustness(Y, preds, split=split, n_bootstrap=0, gap_definition="reference_minus_rest")
    assert rest.roles["student"].gap.value == pytest.approx(5 / 6 - 3 / 6)
    avg = robustness(
        Y, preds, split=split, n_bootstrap=0, gap_definition="average_minus_worst_group"
    )
    r = avg.roles["student"]
    assert r.gap.value == pytest.approx(r.accuracy.value - r.worst_group_accuracy.value)


def test_reference_split_rules() -> None:
    split = np.where(SPLIT == "id", "conflicting", "zz_aligned")
    res = robustness(Y, _preds(), split=split, n_bootstrap=0)
    assert res.config.reference_split == "conflicting"
    assert "first split value" in res.config.reference_split_rule
    res = robustness(Y, _preds(), split=split, n_bootstrap=0, reference_split="zz_aligned")
    assert res.config.reference_split == "zz_aligned"
    # the gap flips sign with the reference
    assert res.roles["teacher"].gap.value == pytest.approx(3 / 4 - 7 / 8)
    with pytest.raises(UsageError):
        robustness(Y, _preds(), split=split, reference_split="nope")
    assert (
        robustness(
            Y, _preds(), split=np.where(SPLIT == "id", "0", "1"), n_bootstrap=0
        ).config.reference_split
        == "0"
    )


def test_attribute_only_and_undefined_cases() -> None:
    res = robustness(Y, _preds(), bias_attribute=ATTR, n_bootstrap=0)
    assert res.config.gap_definition == "average_minus_worst_group"
    assert res.roles["student"].by_split == ()
    single = np.full(12, "id")
    fallback = robustness(Y, _preds(), split=single, bias_attribute=ATTR, n_bootstrap=0)
    assert fallback.config.gap_definition == "average_minus_worst_group"
    one = robustness(
        Y,
        _preds(),
        split=single,
        bias_attribute=ATTR,
        n_bootstrap=10,
        gap_definition="reference_minus_worst",
    )
    assert one.roles["student"].gap.value is None
    assert "one split value" in one.roles["student"].gap.undefined_reason
    assert one.distillability is not None and one.distillability.value is None
    same = {
        "teacher": _preds()["baseline"],
        "student": _preds()["student"],
        "baseline": _preds()["baseline"],
    }
    flat = robustness(Y, same, split=SPLIT, n_bootstrap=50)
    assert flat.distillability is not None and flat.distillability.value is None
    assert "no gap reduction" in flat.distillability.undefined_reason
    with pytest.raises(UsageError):
        robustness(Y, _preds())


def test_bootstrap_sanity(rng: np.random.Generator) -> None:
    n = 3000
    y = rng.integers(0, 2, n)
    split = np.where(rng.random(n) < 0.6, "id", "ood")
    attr = rng.integers(0, 3, n)

    def model(p_id: float, p_ood: float) -> np.ndarray:
        p = np.where(split == "id", p_id, p_ood)
        return np.where(rng.random(n) < p, y, 1 - y)

    preds = {"teacher": model(0.9, 0.88), "student": model(0.9, 0.8), "baseline": model(0.9, 0.7)}
    kw = {
        "split": split,
        "bias_attribute": attr,
        "pairs": [("baseline", "student")],
        "n_bootstrap": 400,
        "seed": 1,
    }
    res = robustness(y, preds, **kw)
    assert robustness(y, preds, **kw).to_dict() == res.to_dict()
    for role in preds:
        for est in (
            res.roles[role].accuracy,
            res.roles[role].gap,
            res.roles[role].worst_group_accuracy,
        ):
            assert est.ci_low <= est.value <= est.ci_high
    acc = res.roles["student"].accuracy
    se = np.sqrt(acc.value * (1 - acc.value) / n)
    assert acc.ci_high - acc.ci_low == pytest.approx(2 * 1.96 * se, rel=0.2)
    d = res.delta["baseline_vs_student"].gap
    assert d.value < 0 and d.ci_high < 0 and d.p_value < 0.05
    assert res.contribution is not None and res.contribution.value == pytest.approx(d.value)
    assert res.distillability is not None
    assert res.distillability.ci_low < res.distillability.value < res.distillability.ci_high


def test_identical_models_and_shuffling(rng: np.random.Generator) -> None:
    preds = _preds()
    res = robustness(
        Y,
        {"teacher": preds["student"], "student": preds["student"].copy()},
        split=SPLIT,
        bias_attribute=ATTR,
        pairs=["teacher_vs_student"],
        n_bootstrap=100,
    )
    d = res.delta["teacher_vs_student"]
    for est in (d.accuracy, d.gap, d.worst_group_accuracy):
        assert est.value == 0 and est.p_value == 1.0
    perm = rng.permutation(12)
    a = robustness(Y, preds, split=SPLIT, bias_attribute=ATTR, n_bootstrap=0).to_dict()
    b = robustness(
        Y[perm],
        {k: v[perm] for k, v in preds.items()},
        split=SPLIT[perm],
        bias_attribute=ATTR[perm],
        n_bootstrap=0,
    ).to_dict()
    assert a == b


def test_to_dict_round_trip() -> None:
    res = robustness(
        Y,
        _preds(),
        split=SPLIT,
        bias_attribute=ATTR,
        attribute_name="attr",
        pairs=[("teacher", "student")],
        n_bootstrap=30,
    )
    d = res.to_dict()
    json.dumps(d, allow_nan=False)
    assert {
        "config",
        "teacher",
        "student",
        "baseline",
        "delta",
        "distillability",
        "contribution",
    } == set(d)
    assert {
        "accuracy",
        "gap",
        "worst_group_accuracy",
        "worst_group",
        "by_split",
        "by_group",
    } == set(d["student"])
    assert RobustnessResult.from_dict(d).to_dict() == d
