"""kdaudit.metrics: fairlearn-style functions against fairlearn, statsmodels, brute force
and the audit's own report numbers on the same data."""

from __future__ import annotations

import numpy as np
import pytest
from fairlearn import metrics as fl
from sklearn.metrics import accuracy_score
from sklearn.neighbors import NearestNeighbors
from statsmodels.stats.contingency_tables import mcnemar
from statsmodels.stats.multitest import multipletests

import kdaudit
from kdaudit import metrics
from kdaudit.api import AuditOptions
from kdaudit.errors import InputDataError, UsageError

VALUE_FUNCS = [
    "demographic_parity_difference",
    "demographic_parity_ratio",
    "equalized_odds_difference",
    "equal_opportunity_difference",
]


def binary_case(seed: int, n: int = 600, n_groups: int = 3):
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 2, n)
    groups = rng.choice([f"g{i}" for i in range(n_groups)], n)
    flip = rng.random(n) < rng.uniform(0.1, 0.4)
    pred = np.where(flip, 1 - y, y)
    return y, pred, groups


@pytest.mark.parametrize("seed", range(6))
@pytest.mark.parametrize("name", VALUE_FUNCS)
def test_binary_values_equal_fairlearn(seed, name):
    y, pred, groups = binary_case(seed, n_groups=2 + seed % 4)
    ours = getattr(metrics, name)(y, pred, sensitive_features=groups)
    theirs = getattr(fl, name)(y, pred, sensitive_features=groups, method="between_groups")
    assert ours == pytest.approx(theirs, abs=1e-12)


@pytest.mark.parametrize("seed", range(4))
def test_worst_group_accuracy_equals_metricframe_group_min(seed):
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 4, 500)
    pred = np.where(rng.random(500) < 0.7, y, rng.integers(0, 4, 500))
    groups = rng.choice(list("abc"), 500)
    frame = fl.MetricFrame(metrics=accuracy_score, y_true=y, y_pred=pred, sensitive_features=groups)
    ours = metrics.worst_group_accuracy(y, pred, sensitive_features=groups)
    assert ours == pytest.approx(frame.group_min(), abs=1e-12)


def test_multiclass_is_the_worst_class_one_vs_rest():
    rng = np.random.default_rng(3)
    y = rng.integers(0, 4, 800)
    pred = np.where(rng.random(800) < 0.6, y, rng.integers(0, 4, 800))
    groups = rng.choice(list("ab"), 800)
    for name in ("demographic_parity_difference", "equalized_odds_difference"):
        per_class = [
            getattr(fl, name)(y == k, pred == k, sensitive_features=groups) for k in range(4)
        ]
        ours = getattr(metrics, name)(y, pred, sensitive_features=groups)
        assert ours == pytest.approx(max(per_class), abs=1e-12)
    # a named positive class is that class's binary task
    ours = metrics.demographic_parity_difference(y, pred, sensitive_features=groups, pos_label=2)
    theirs = fl.demographic_parity_difference(y == 2, pred == 2, sensitive_features=groups)
    assert ours == pytest.approx(theirs, abs=1e-12)
    ratio = metrics.demographic_parity_ratio(y, pred, sensitive_features=groups)
    per_class = [
        fl.demographic_parity_ratio(y == k, pred == k, sensitive_features=groups) for k in range(4)
    ]
    assert ratio == pytest.approx(min(per_class), abs=1e-12)


def test_logits_give_the_argmax_labels():
    rng = np.random.default_rng(0)
    logits = rng.normal(size=(300, 2))
    y = rng.integers(0, 2, 300)
    groups = rng.choice(list("ab"), 300)
    a = metrics.equalized_odds_difference(y, logits, sensitive_features=groups)
    b = metrics.equalized_odds_difference(y, logits.argmax(1), sensitive_features=groups)
    assert a == b


@pytest.mark.parametrize(
    ("call", "error", "fragment"),
    [
        (
            lambda: metrics.demographic_parity_difference(
                [0, 1], [0, 1], sensitive_features=["a", "b"], method="to_overall"
            ),
            UsageError,
            "between_groups",
        ),
        (
            lambda: metrics.fairness_difference(
                [0, 1], [0, 1], [0, 1], sensitive_features=["a", "b"], metric="auc"
            ),
            UsageError,
            "metric",
        ),
        (
            lambda: metrics.demographic_parity_difference(
                [0.5, 1.0], [0, 1], sensitive_features=["a", "b"]
            ),
            InputDataError,
            "integer labels",
        ),
    ],
)
def test_bad_input_names_the_problem(call, error, fragment):
    with pytest.raises(error, match=fragment):
        call()


def test_undefined_spread_is_nan_with_a_warning():
    from kdaudit.errors import KDAuditWarning

    with pytest.warns(KDAuditWarning, match="only one group"):
        v = metrics.demographic_parity_difference(
            [0, 1, 1], [0, 1, 0], sensitive_features=list("aaa")
        )
    assert np.isnan(v)


# ------------------------------------------------------------- teacher vs student
@pytest.mark.parametrize("seed", range(5))
def test_paired_accuracy_difference_matches_statsmodels_mcnemar(seed):
    rng = np.random.default_rng(seed)
    n = 200
    y = rng.integers(0, 3, n)
    t = np.where(rng.random(n) < 0.85, y, (y + 1) % 3)
    s = np.where(rng.random(n) < 0.75, y, (y + 2) % 3)
    d = metrics.paired_accuracy_difference(y, t, s)
    rt, rs = t == y, s == y
    table = [[np.sum(rt & rs), np.sum(rt & ~rs)], [np.sum(~rt & rs), np.sum(~rt & ~rs)]]
    assert d.value == pytest.approx(rs.mean() - rt.mean(), abs=1e-12)
    assert d.p_value == pytest.approx(mcnemar(table, exact=True).pvalue, abs=1e-12)
    assert d.ci_low <= d.value <= d.ci_high


def test_paired_accuracy_difference_false_alarm_rate():
    """Teacher and student equally accurate (exchangeable errors): p <= 0.05 in <= ~5%."""
    rng = np.random.default_rng(11)
    y = np.zeros(150, dtype=int)
    hits = 0
    sims = 400
    for _ in range(sims):
        t = (rng.random(150) < 0.2).astype(int)
        s = (rng.random(150) < 0.2).astype(int)
        hits += metrics.paired_accuracy_difference(y, t, s).p_value <= 0.05
    # exact McNemar is conservative: at most alpha plus 3 binomial SEs
    assert hits / sims <= 0.05 + 3 * np.sqrt(0.05 * 0.95 / sims)


def test_class_accuracy_shift_matches_statsmodels():
    rng = np.random.default_rng(5)
    n, c = 900, 4
    y = rng.integers(0, c, n)
    t = np.where(rng.random(n) < 0.9, y, rng.integers(0, c, n))
    s = np.where(rng.random(n) < np.where(y == 3, 0.6, 0.88), y, rng.integers(0, c, n))
    res = metrics.class_accuracy_shift(y, t, s)
    raw = []
    for k in range(c):
        m = y == k
        rt, rs = t[m] == k, s[m] == k
        table = [[np.sum(rt & rs), np.sum(rt & ~rs)], [np.sum(~rt & rs), np.sum(~rt & ~rs)]]
        raw.append(mcnemar(table, exact=True).pvalue)
    adjusted = multipletests(raw, method="fdr_bh")[1]
    assert [r.p_value for r in res.per_class] == pytest.approx(raw, abs=1e-12)
    assert [r.p_adjusted for r in res.per_class] == pytest.approx(adjusted, abs=1e-12)
    assert res.per_class[3].significant


def test_fairness_difference_value_is_the_change_of_fairlearn_values():
    y, t, groups = binary_case(1)
    _, s, _ = binary_case(2)
    d = metrics.fairness_difference(y, t, s, sensitive_features=groups, n_bootstrap=0)
    expected = fl.demographic_parity_difference(
        y, s, sensitive_features=groups
    ) - fl.demographic_parity_difference(y, t, sensitive_features=groups)
    assert d.value == pytest.approx(expected, abs=1e-12)
    assert d.ci_low is None


# ------------------------------------------------- the audit's numbers, same data
def test_functions_equal_the_audit_report(tmp_path):
    rng = np.random.default_rng(7)
    n = 500
    y = rng.integers(0, 2, n)
    sex = np.where(rng.random(n) < 0.35, "F", "M")
    teacher = rng.normal(size=(n, 2)) + 2.5 * np.eye(2)[y]
    student = rng.normal(size=(n, 2)) + np.eye(2)[y] * np.where(sex == "F", 0.5, 1.5)[:, None]
    np.savez(tmp_path / "eval.npz", y=y, sensitive_sex=sex)
    np.save(tmp_path / "t.npy", teacher.astype(np.float32))
    np.save(tmp_path / "s.npy", student.astype(np.float32))
    opts = AuditOptions(bootstrap=120, seed=3, cache_dir=str(tmp_path / "cache"))
    report = kdaudit.compare(
        tmp_path / "t.npy",
        tmp_path / "s.npy",
        data=tmp_path / "eval.npz",
        sensitive=["sex"],
        options=opts,
    ).data
    gf = report["group_fairness"]["sex"]
    t_pred = teacher.astype(np.float32).argmax(1)
    for name in (*VALUE_FUNCS, "worst_group_accuracy"):
        ours = getattr(metrics, name)(y, student.astype(np.float32), sensitive_features=sex)
        assert ours == gf["student"][name]["value"], name
        delta = metrics.fairness_difference(
            y,
            t_pred,
            student.astype(np.float32),
            sensitive_features=sex,
            metric=name,
            n_bootstrap=120,
            seed=3,
        )
        assert delta.to_dict() == gf["delta"]["teacher_vs_student"][name], name
    acc = metrics.paired_accuracy_difference(y, t_pred, student.astype(np.float32))
    assert acc.to_dict() == report["accuracy_delta"]["teacher_vs_student"]
    shift = metrics.class_accuracy_shift(y, t_pred, student.astype(np.float32))
    assert shift.to_dict() == report["class_shift"]["teacher_vs_student"]


# ----------------------------------------------------------------- individual
def test_individual_fairness_equals_brute_force():
    rng = np.random.default_rng(4)
    x = rng.normal(size=(80, 3)) * [1.0, 5.0, 0.2]
    logits = np.c_[x[:, 0], -x[:, 1], x[:, 2] ** 2]
    z = (x - x.mean(0)) / x.std(0)
    nn = NearestNeighbors(n_neighbors=5).fit(z)
    dist, idx = nn.kneighbors(z)  # first column: the point itself
    p = np.exp(logits - logits.max(1, keepdims=True))
    p /= p.sum(1, keepdims=True)
    tv = 0.5 * np.abs(p[:, None, :] - p[idx[:, 1:]]).sum(-1)
    expected = np.mean(tv / dist[:, 1:])
    ours = metrics.individual_fairness(x, logits, n_neighbors=4)
    assert ours == pytest.approx(expected, rel=1e-5)


def test_consistency_score_equals_aif360_formula():
    rng = np.random.default_rng(9)
    x = rng.normal(size=(120, 4))
    pred = (x[:, 0] + 0.5 * rng.normal(size=120) > 0).astype(int)
    nn = NearestNeighbors(n_neighbors=5).fit(x)
    _, idx = nn.kneighbors(x)  # AIF360: the 5 neighbours include the point itself
    expected = 1 - np.mean(np.abs(pred - pred[idx].mean(axis=1)))
    ours = metrics.consistency_score(x, pred, n_neighbors=5, space="flat")
    assert ours == pytest.approx(expected, abs=1e-12)


def test_top_level_lazy_exports():
    import kdaudit

    assert kdaudit.demographic_parity_difference is metrics.demographic_parity_difference
    assert "fairness_difference" in dir(kdaudit)


def test_metric_names_are_the_analyzer_s():
    from kdaudit.analysis.group_fairness import METRICS

    assert metrics.FAIRNESS_METRICS == METRICS


def test_string_labels_are_refused_by_name():
    """Not numpy's ufunc error (exit 4 in a script's eyes): the usual one-line input error."""
    y = np.array(["a", "b"] * 50)
    with pytest.raises(InputDataError, match="y_true"):
        kdaudit.demographic_parity_difference(
            y, np.array([0, 1] * 50), sensitive_features=np.array(["x", "y"] * 50)
        )
