"""One pair rule for every analyzer (kdaudit.analysis.pairs)."""

from __future__ import annotations

import numpy as np
import pytest

from kdaudit.analysis.group_fairness import group_fairness
from kdaudit.analysis.pairs import check_pairs, pair_name, present_pairs
from kdaudit.analysis.robustness import robustness
from kdaudit.errors import UsageError
from kdaudit.vocab import PAIRS

ROLES = ["teacher", "student"]


def test_tuples_and_names_are_the_same_pairs():
    assert check_pairs([("teacher", "student"), "student_vs_teacher"], ROLES) == [
        ("teacher", "student"),
        ("student", "teacher"),
    ]
    for a, b in PAIRS:
        assert check_pairs([pair_name(a, b)], [a, b]) == [(a, b)]


@pytest.mark.parametrize(
    ("pair", "fragment"),
    [
        ("teacher-student", "A_vs_B"),
        (("teacher", "student", "baseline"), "reference, other"),
        (("teacher", "baseline"), "'baseline', which has no predictions"),
    ],
)
def test_bad_pairs_name_the_problem(pair, fragment):
    with pytest.raises(UsageError, match=fragment):
        check_pairs([pair], ROLES)


def test_absent_roles_can_be_skipped():
    assert check_pairs(list(PAIRS), ROLES, absent="skip") == [("teacher", "student")]


def test_present_pairs_follow_the_vocabulary_order():
    assert present_pairs(["student", "baseline", "teacher"]) == list(PAIRS)
    assert present_pairs({"student": 1, "baseline": 2}) == [("baseline", "student")]


def test_analyzers_accept_both_spellings_and_agree():
    rng = np.random.default_rng(0)
    y = rng.integers(0, 2, 200)
    preds = {r: np.where(rng.random(200) < 0.8, y, 1 - y) for r in ROLES}
    groups = rng.choice(list("ab"), 200)
    by_tuple = group_fairness(
        y, preds, groups, n_classes=2, pairs=[("teacher", "student")], n_bootstrap=20
    )
    by_name = group_fairness(
        y, preds, groups, n_classes=2, pairs=["teacher_vs_student"], n_bootstrap=20
    )
    assert by_tuple.to_dict() == by_name.to_dict()
    with pytest.raises(UsageError, match="no predictions"):
        group_fairness(y, preds, groups, n_classes=2, pairs=["baseline_vs_student"])
    # robustness documents "absent roles are ignored"
    res = robustness(y, preds, bias_attribute=groups, pairs=list(PAIRS), n_bootstrap=0)
    assert list(res.delta) == ["teacher_vs_student"]
