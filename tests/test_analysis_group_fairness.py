"""Oracle and edge-case tests for kdaudit.analysis.group_fairness (fairlearn as the oracle)."""

from __future__ import annotations

import json
import warnings

import numpy as np
import pytest
from fairlearn.metrics import (
    MetricFrame,
    demographic_parity_difference,
    demographic_parity_ratio,
    equalized_odds_difference,
    false_positive_rate,
    selection_rate,
    true_positive_rate,
)
from sklearn.metrics import accuracy_score

from kdaudit.analysis import group_fairness as gf_module
from kdaudit.analysis.group_fairness import (
    GroupFairnessResult,
    group_fairness,
    intersectional_groups,
)
from kdaudit.errors import InputDataError, KDAuditWarning, UsageError

PAIR = [("teacher", "student")]
ROLE_KEYS = {
    "demographic_parity_difference",
    "equalized_odds_difference",
    "equal_opportunity_difference",
    "demographic_parity_ratio",
    "worst_group_accuracy",
    "by_group",
}
GROUP_KEYS = {"group", "n", "selection_rate", "tpr", "fpr", "accuracy", "small"}
RATE_CI_KEYS = {"selection_rate_ci", "tpr_ci", "fpr_ci", "accuracy_ci"}


def _binary_data(rng: np.random.Generator, n: int = 3000, groups=("a", "b", "c", "d")):
    s = rng.choice(
        np.array(groups),
        size=n,
        p=np.linspace(1, 2, len(groups)) / np.linspace(1, 2, len(groups)).sum(),
    )
    bias = {g: i * 0.05 for i, g in enumerate(groups)}
    shift = np.vectorize(bias.get)(s)
    y = (rng.random(n) < 0.4 + shift).astype(np.int64)
    teacher = np.where(rng.random(n) < 0.85, y, 1 - y)
    student = np.where(rng.random(n) < 0.75 - shift, y, 1 - y)
    return y, {"teacher": teacher, "student": student}, s


def _gf(y, preds, s, **kw):
    kw.setdefault("n_classes", 2)
    kw.setdefault("pairs", PAIR)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", KDAuditWarning)
        return group_fairness(y, preds, s, **kw)


def test_binary_point_values_match_fairlearn(rng: np.random.Generator) -> None:
    y, preds, s = _binary_data(rng)
    res = _gf(y, preds, s, n_bootstrap=0)
    d = res.to_dict()
    assert set(d) == {
        "teacher",
        "student",
        "delta",
        "groups_flagged",
        "n_groups",
        "positive_label",
        "task",
        "min_group_size",
        "n_bootstrap",
        "bootstrap_method",
    }
    assert d["positive_label"] == 1 and d["n_groups"] == 4 and d["task"] == "binary"
    for role, pred in preds.items():
        r = d[role]
        assert set(r) == ROLE_KEYS
        dpd = demographic_parity_difference(y, pred, sensitive_features=s)
        eod = equalized_odds_difference(y, pred, sensitive_features=s)
        assert abs(r["demographic_parity_difference"]["value"] - dpd) <= 1e-12
        assert abs(r["equalized_odds_difference"]["value"] - eod) <= 1e-12
        assert (
            abs(
                r["demographic_parity_ratio"]["value"]
                - demographic_parity_ratio(y, pred, sensitive_features=s)
            )
            <= 1e-12
        )
        mf = MetricFrame(
            metrics={
                "selection_rate": selection_rate,
                "tpr": true_positive_rate,
                "fpr": false_positive_rate,
                "accuracy": accuracy_score,
            },
            y_true=y,
            y_pred=pred,
            sensitive_features=s,
        )
        eopp = mf.difference(method="between_groups")["tpr"]
        assert abs(r["equal_opportunity_difference"]["value"] - eopp) <= 1e-12
        assert abs(r["worst_group_accuracy"]["value"] - mf.group_min()["accuracy"]) <= 1e-12
        assert [g["group"] for g in r["by_group"]] == sorted(mf.by_group.index)
        for g in r["by_group"]:
            assert set(g) - RATE_CI_KEYS == GROUP_KEYS
            for key in ("selection_rate", "tpr", "fpr", "accuracy"):
                assert abs(g[key] - mf.by_group.loc[g["group"], key]) <= 1e-12
            assert g["n"] == np.sum(s == g["group"])
        assert r["demographic_parity_difference"]["ci_low"] is None
    dd = d["delta"]["teacher_vs_student"]
    assert set(dd) >= {"demographic_parity_difference", "equalized_odds_difference"}
    assert dd["equalized_odds_difference"]["value"] == pytest.approx(
        equalized_odds_difference(y, preds["student"], sensitive_features=s)
        - equalized_odds_difference(y, preds["teacher"], sensitive_features=s),
        abs=1e-12,
    )
    assert dd["demographic_parity_difference"]["p_value"] is None


def test_positive_label_zero_matches_fairlearn_on_binarized(rng: np.random.Generator) -> None:
    y, preds, s = _binary_data(rng, n=1500)
    res = _gf(y, preds, s, positive_label=0, n_bootstrap=0)
    assert res.positive_label == 0
    p = preds["student"]
    got = res.roles["student"]
    assert got.demographic_parity_difference.value == pytest.approx(
        demographic_parity_difference(y == 0, p == 0, sensitive_features=s), abs=1e-12
    )
    assert got.equalized_odds_difference.value == pytest.approx(
        equalized_odds_difference(y == 0, p == 0, sensitive_features=s), abs=1e-12
    )


def _multiclass_data(rng: np.random.Generator, n: int = 2000, n_classes: int = 5):
    s = rng.choice(np.array(["x", "y", "z"]), size=n)
    y = rng.integers(0, n_classes, size=n)
    noise = rng.integers(0, n_classes, size=n)
    teacher = np.where(rng.random(n) < 0.8, y, noise)
    student = np.where(rng.random(n) < np.where(s == "z", 0.55, 0.75), y, noise)
    return y, {"teacher": teacher, "student": student}, s


def test_multiclass_one_vs_rest_matches_fairlearn_per_class(rng: np.random.Generator) -> None:
    n_classes = 5
    y, preds, s = _multiclass_data(rng, n_classes=n_classes)
    res = _gf(y, preds, s, n_classes=n_classes, n_bootstrap=100)
    d = res.to_dict()
    assert d["task"] == "multiclass_ovr" and d["positive_label"] is None
    for role, pred in preds.items():
        r = d[role]
        assert set(r) == ROLE_KEYS | {"per_class", "mean_over_classes"}
        dpds, eods = [], []
        for k, row in enumerate(r["per_class"]):
            assert row["class"] == k
            dpd = demographic_parity_difference(y == k, pred == k, sensitive_features=s)
            eod = equalized_odds_difference(y == k, pred == k, sensitive_features=s)
            assert abs(row["demographic_parity_difference"]["value"] - dpd) <= 1e-12
            assert abs(row["equalized_odds_difference"]["value"] - eod) <= 1e-12
            assert row["demographic_parity_difference"]["ci_low"] is not None
            dpds.append(dpd)
            eods.append(eod)
        assert r["demographic_parity_difference"]["value"] == pytest.approx(max(dpds), abs=1e-12)
        assert r["equalized_odds_difference"]["value"] == pytest.approx(max(eods), abs=1e-12)
        mean = r["mean_over_classes"]
        assert mean["demographic_parity_difference"]["value"] == pytest.approx(np.mean(dpds))
        assert mean["equalized_odds_difference"]["value"] == pytest.approx(np.mean(eods))
        acc = [np.mean(pred[s == g] == y[s == g]) for g in ("x", "y", "z")]
        assert r["worst_group_accuracy"]["value"] == pytest.approx(min(acc), abs=1e-12)
        assert all(g["tpr"] is None and "per class" in g["undefined_reason"] for g in r["by_group"])
    assert GroupFairnessResult.from_dict(json.loads(json.dumps(d))) == res


def test_multiclass_with_named_positive_class(rng: np.random.Generator) -> None:
    y, preds, s = _multiclass_data(rng, n=1200)
    res = _gf(y, preds, s, n_classes=5, positive_label=3, n_bootstrap=0)
    t = preds["teacher"]
    assert res.task == "binary" and res.roles["teacher"].per_class is None
    assert res.roles["teacher"].equalized_odds_difference.value == pytest.approx(
        equalized_odds_difference(y == 3, t == 3, sensitive_features=s), abs=1e-12
    )
    # accuracy stays the multi-class accuracy, not the binarized one
    acc = min(np.mean(t[s == g] == y[s == g]) for g in ("x", "y", "z"))
    assert res.roles["teacher"].worst_group_accuracy.value == pytest.approx(acc, abs=1e-12)


def test_multiclass_empty_class_is_handled(rng: np.random.Generator) -> None:
    y, preds, s = _multiclass_data(rng, n=600, n_classes=4)
    with pytest.warns(KDAuditWarning, match="undefined"):
        res = group_fairness(y, preds, s, n_classes=5, pairs=PAIR, n_bootstrap=50)
    row = res.roles["teacher"].per_class[4]  # class 4 never occurs nor is predicted
    assert row.demographic_parity_difference.value == 0.0
    assert row.equalized_odds_difference.value is None
    assert row.equalized_odds_difference.undefined_reason
    assert res.roles["teacher"].equalized_odds_difference.value is not None


# ---------------------------------------------------------------- bootstrap
def _loop_reference(y, preds, s, n_boot, seed):
    """Plain per-replicate row bootstrap of DPD/EOD and the student-teacher DPD delta."""
    rng = np.random.default_rng(seed)
    groups = np.unique(s)
    n = y.shape[0]

    def metrics(yy, pp, ss):
        sel, tpr, fpr = [], [], []
        for g in groups:
            m = ss == g
            sel.append(pp[m].mean())
            tpr.append(pp[m & (yy == 1)].mean())
            fpr.append(pp[m & (yy == 0)].mean())
        return max(sel) - min(sel), max(max(tpr) - min(tpr), max(fpr) - min(fpr))

    out = []
    for _ in range(n_boot):
        idx = rng.integers(0, n, size=n)
        t = metrics(y[idx], preds["teacher"][idx], s[idx])
        st = metrics(y[idx], preds["student"][idx], s[idx])
        out.append([t[0], t[1], st[0] - t[0]])
    return np.array(out)


def test_bootstrap_matches_python_loop_reference() -> None:
    rng = np.random.default_rng(11)
    y, preds, s = _binary_data(rng, n=1200, groups=("a", "b", "c"))
    res = _gf(y, preds, s, n_bootstrap=1500, seed=5)
    ref = _loop_reference(y, preds, s, 800, seed=6)
    lo, hi = np.percentile(ref, [2.5, 97.5], axis=0)
    got = [
        res.roles["teacher"].demographic_parity_difference,
        res.roles["teacher"].equalized_odds_difference,
        res.delta["teacher_vs_student"].demographic_parity_difference,
    ]
    for est, l_ref, h_ref in zip(got, lo, hi, strict=True):
        # the plain percentile interval of the plug-in value is kept as percentile_ci
        p_low, p_high = est.percentile_ci
        width = h_ref - l_ref
        assert p_high - p_low == pytest.approx(width, rel=0.2)
        assert (p_low + p_high) / 2 == pytest.approx((l_ref + h_ref) / 2, abs=0.15 * width)


def test_multiclass_bootstrap_index_path_matches_reference() -> None:
    """Many classes -> many cells -> the row-index draw path; same distribution."""
    rng = np.random.default_rng(3)
    n, n_classes = 600, 40
    s = rng.choice(np.array(["u", "v"]), size=n)
    y = rng.integers(0, n_classes, size=n)
    preds = {
        "teacher": np.where(rng.random(n) < 0.7, y, rng.integers(0, n_classes, n)),
        "student": np.where(rng.random(n) < 0.6, y, rng.integers(0, n_classes, n)),
    }
    res = _gf(y, preds, s, n_classes=n_classes, n_bootstrap=600, seed=0)
    ref_rng = np.random.default_rng(1)
    wga = []
    for _ in range(600):
        idx = ref_rng.integers(0, n, size=n)
        yy, pp, ss = y[idx], preds["student"][idx], s[idx]
        wga.append(min(np.mean(pp[ss == g] == yy[ss == g]) for g in ("u", "v")))
    lo, hi = np.percentile(wga, [2.5, 97.5])
    p_low, p_high = res.roles["student"].worst_group_accuracy.percentile_ci
    assert p_high - p_low == pytest.approx(hi - lo, rel=0.2)
    assert p_low == pytest.approx(lo, abs=0.2 * (hi - lo))


def test_chunked_bootstrap_is_identical(monkeypatch, rng: np.random.Generator) -> None:
    y, preds, s = _multiclass_data(rng, n=500)
    full = _gf(y, preds, s, n_classes=5, n_bootstrap=60, seed=2)
    monkeypatch.setattr(gf_module, "_CHUNK_ELEMENTS", 1)  # one replicate per chunk
    chunked = _gf(y, preds, s, n_classes=5, n_bootstrap=60, seed=2)
    # the same draws; summing replicates in other chunk shapes may differ in the last bit
    a, b = _flat(chunked.to_dict()), _flat(full.to_dict())
    assert a.keys() == b.keys()
    for k, v in a.items():
        assert v == (pytest.approx(b[k], rel=1e-12, abs=1e-15) if isinstance(v, float) else b[k])


def _flat(d, prefix=""):
    out = {}
    if isinstance(d, dict):
        for k, v in d.items():
            out.update(_flat(v, f"{prefix}.{k}"))
    elif isinstance(d, list):
        for i, v in enumerate(d):
            out.update(_flat(v, f"{prefix}[{i}]"))
    elif isinstance(d, (int, float)) and not isinstance(d, bool):
        out[prefix] = float(d)
    else:
        out[prefix] = d
    return out


def test_identical_models_zero_delta_p_one(rng: np.random.Generator) -> None:
    y, preds, s = _binary_data(rng, n=800)
    same = {"teacher": preds["teacher"], "student": preds["teacher"].copy()}
    d = _gf(y, same, s, n_bootstrap=200).to_dict()["delta"]["teacher_vs_student"]
    for est in d.values():
        assert {k: est[k] for k in ("value", "ci_low", "ci_high", "p_value", "estimate")} == {
            "value": 0.0,
            "ci_low": 0.0,
            "ci_high": 0.0,
            "p_value": 1.0,
            "estimate": 0.0,
        }
        assert est["percentile_ci"] == [0.0, 0.0]


def test_shuffling_rows_changes_nothing_not_even_the_bootstrap(rng: np.random.Generator) -> None:
    y, preds, s = _binary_data(rng, n=900)
    perm = rng.permutation(900)
    a = _gf(y, preds, s, n_bootstrap=100, seed=4)
    b = _gf(y[perm], {k: v[perm] for k, v in preds.items()}, s[perm], n_bootstrap=100, seed=4)
    assert a == b


def test_renaming_groups_changes_no_point_value(rng: np.random.Generator) -> None:
    y, preds, s = _binary_data(rng, n=900)
    rename = {"a": "zeta", "b": "alpha", "c": "mu", "d": "beta"}
    s2 = np.array([rename[x] for x in s])
    a = _gf(y, preds, s, n_bootstrap=0)
    b = _gf(y, preds, s2, n_bootstrap=0)
    for role in preds:
        ra, rb = a.roles[role], b.roles[role]
        for name in gf_module.METRICS:
            assert getattr(ra, name).value == pytest.approx(getattr(rb, name).value, abs=1e-15)
        rows_a = {rename[g.group]: g.selection_rate for g in ra.by_group}
        assert rows_a == {g.group: g.selection_rate for g in rb.by_group}
    assert [g.group for g in b.roles["teacher"].by_group] == ["alpha", "beta", "mu", "zeta"]


# ------------------------------------------------------------------ edge cases
def test_one_group_warns_and_gives_null_spreads(rng: np.random.Generator) -> None:
    y, preds, _ = _binary_data(rng, n=200)
    s = np.full(200, "all")
    with pytest.warns(KDAuditWarning, match="only one group"):
        res = group_fairness(y, preds, s, n_classes=2, pairs=PAIR, n_bootstrap=50)
    d = res.to_dict()
    dpd = d["teacher"]["demographic_parity_difference"]
    assert dpd["value"] is None and "one group" in dpd["undefined_reason"]
    assert d["teacher"]["worst_group_accuracy"]["value"] == pytest.approx(
        np.mean(preds["teacher"] == y)
    )
    delta = d["delta"]["teacher_vs_student"]["equalized_odds_difference"]
    assert delta["value"] is None and delta["p_value"] is None and delta["undefined_reason"]
    assert d["n_groups"] == 1
    json.dumps(d)


def test_group_without_positives_is_left_out_of_tpr_spread(rng: np.random.Generator) -> None:
    y, preds, s = _binary_data(rng, n=2000)
    y = y.copy()
    y[s == "b"] = 0  # group b has no positives
    with pytest.warns(KDAuditWarning, match="no positives"):
        res = group_fairness(y, preds, s, n_classes=2, pairs=PAIR, n_bootstrap=100)
    r = res.roles["student"]
    row_b = next(g for g in r.by_group if g.group == "b")
    assert row_b.tpr is None and "no positives" in row_b.undefined_reason
    keep = s != "b"
    p = preds["student"]
    mf = MetricFrame(
        metrics={"tpr": true_positive_rate, "fpr": false_positive_rate},
        y_true=y[keep],
        y_pred=p[keep],
        sensitive_features=s[keep],
    )
    tpr_spread = mf.difference()["tpr"]
    assert r.equal_opportunity_difference.value == pytest.approx(tpr_spread, abs=1e-12)
    # the FPR spread still uses every group
    mf_all = MetricFrame(metrics=false_positive_rate, y_true=y, y_pred=p, sensitive_features=s)
    assert r.equalized_odds_difference.value == pytest.approx(
        max(tpr_spread, mf_all.difference()), abs=1e-12
    )
    assert r.equalized_odds_difference.ci_low is not None


def test_small_groups_flagged(rng: np.random.Generator) -> None:
    y, preds, s = _binary_data(rng, n=1000)
    s = s.astype("<U8")  # room for the longer label
    s[:10] = "tiny"
    with pytest.warns(KDAuditWarning, match="fewer than 30"):
        res = group_fairness(y, preds, s, n_classes=2, pairs=PAIR, n_bootstrap=20)
    assert res.groups_flagged == ("tiny",)
    flags = {g.group: g.small for g in res.roles["teacher"].by_group}
    assert flags["tiny"] is True and flags["a"] is False


def test_input_errors(rng: np.random.Generator) -> None:
    y, preds, s = _binary_data(rng, n=100)
    with pytest.raises(InputDataError, match="sensitive_features"):
        group_fairness(y, preds, s[:50], n_classes=2, pairs=PAIR)
    with pytest.raises(UsageError, match="positive_label"):
        group_fairness(y, preds, s, n_classes=2, pairs=PAIR, positive_label=2)
    with pytest.raises(UsageError, match="baseline"):
        group_fairness(y, preds, s, n_classes=2, pairs=[("baseline", "student")])


# ------------------------------------------------------------- intersectional
def test_intersectional_groups() -> None:
    race = np.array(["Black", "White", "Black", "Asian", "White"])
    sex = np.array(["Female", "Male", "Male", "Female", "Male"])
    got = intersectional_groups({"race": race, "sex": sex})
    want = [f"race={r}|sex={x}" for r, x in zip(race, sex, strict=True)]
    assert got.tolist() == want
    assert intersectional_groups({"sex": sex, "race": race})[0] == "sex=Female|race=Black"
    with pytest.raises(InputDataError):
        intersectional_groups({"race": race, "sex": sex[:3]})
    with pytest.raises(UsageError):
        intersectional_groups({})


@pytest.mark.slow
def test_dpd_ci_coverage_by_simulation() -> None:
    """95% CIs of DPD and of the paired DPD delta cover the truth about 95% of the time."""
    rng = np.random.default_rng(77)
    n, trials = 1000, 300
    # two equal-size groups; P(yhat = 1 | group) known for both models
    sel = {"teacher": (0.30, 0.55), "student": (0.35, 0.50)}
    true_dpd = 0.25
    true_delta = 0.15 - 0.25
    hit_dpd = hit_delta = 0
    for t in range(trials):
        s = rng.choice(np.array(["a", "b"]), size=n)
        u = rng.random(n)  # shared uniform: the two models' predictions are correlated
        preds = {
            role: (u < np.where(s == "a", lo, hi)).astype(np.int64)
            for role, (lo, hi) in sel.items()
        }
        y = rng.integers(0, 2, size=n)
        res = _gf(y, preds, s, n_bootstrap=400, seed=t)
        est = res.roles["teacher"].demographic_parity_difference
        hit_dpd += est.ci_low <= true_dpd <= est.ci_high
        d = res.delta["teacher_vs_student"].demographic_parity_difference
        hit_delta += d.ci_low <= true_delta <= d.ci_high
    assert 0.91 <= hit_dpd / trials <= 0.985
    assert 0.91 <= hit_delta / trials <= 0.985


def test_dpd_ci_loosely_matches_fairlearns_own_bootstrap() -> None:
    """A distributional check: fairlearn's MetricFrame bootstrap (n_boot) of the DPD gives a
    95% interval close to kdaudit's multinomial-cell bootstrap (different resampling code, same law)."""
    from fairlearn.metrics import MetricFrame, selection_rate

    from kdaudit.analysis.group_fairness import group_fairness

    rng = np.random.default_rng(11)
    n = 2000
    groups = rng.choice(["a", "b", "c"], n, p=[0.5, 0.3, 0.2])
    y = rng.integers(0, 2, n)
    pred = (
        rng.random(n) < np.where(groups == "a", 0.55, np.where(groups == "b", 0.45, 0.35))
    ).astype(int)
    mine = group_fairness(
        y, {"student": pred}, groups, n_classes=2, pairs=[], n_bootstrap=2000, seed=0
    ).to_dict()["student"]["demographic_parity_difference"]
    mf = MetricFrame(
        metrics=selection_rate,
        y_true=y,
        y_pred=pred,
        sensitive_features=groups,
        n_boot=200,
        ci_quantiles=[0.025, 0.975],
        random_state=0,
    )
    fl_low, fl_high = mf.difference_ci()
    assert mine["value"] == pytest.approx(mf.difference(), abs=1e-12)
    width = fl_high - fl_low
    p_low, p_high = mine["percentile_ci"]  # the plain percentile interval, like fairlearn's
    assert abs(p_low - fl_low) < 0.25 * width
    assert abs(p_high - fl_high) < 0.25 * width


# ------------------------------------------------------------ per-group rate intervals
def test_wilson_interval_matches_statsmodels():
    from statsmodels.stats.proportion import proportion_confint

    from kdaudit.analysis.group_fairness import wilson_interval

    rng = np.random.default_rng(3)
    n = rng.integers(1, 400, size=200)
    k = rng.binomial(n, rng.random(200))
    lo, hi = wilson_interval(k, n, 0.95)
    ref_lo, ref_hi = proportion_confint(k, n, alpha=0.05, method="wilson")
    assert np.allclose(lo, ref_lo, atol=1e-12) and np.allclose(hi, ref_hi, atol=1e-12)
    lo0, hi0 = wilson_interval(np.array([0]), np.array([0]))
    assert np.isnan(lo0[0]) and np.isnan(hi0[0])


@pytest.mark.parametrize(("p", "n"), [(0.1, 40), (0.5, 25), (0.8, 120)])
def test_wilson_interval_coverage(p, n):
    """Simulated coverage of the 95% interval stays near nominal for small groups."""
    from kdaudit.analysis.group_fairness import wilson_interval

    rng = np.random.default_rng(11)
    k = rng.binomial(n, p, size=4000)
    lo, hi = wilson_interval(k, np.full(k.shape, n), 0.95)
    coverage = np.mean((lo <= p) & (p <= hi))
    assert 0.92 <= coverage <= 0.985, coverage


def test_group_rate_intervals_in_records():
    """Each defined per-group rate carries its Wilson interval, built from that group's counts."""
    from kdaudit.analysis.group_fairness import wilson_interval

    rng = np.random.default_rng(5)
    n = 500
    y = rng.integers(0, 2, n)
    pred = np.where(rng.random(n) < 0.8, y, 1 - y)
    groups = rng.choice(np.array(["a", "b", "c"]), n)
    res = group_fairness(
        y, {"student": pred}, groups, n_classes=2, pairs=[], n_bootstrap=0
    ).to_dict()
    for row in res["student"]["by_group"]:
        m = groups == row["group"]
        for key, k, total in (
            ("selection_rate", (pred[m] == 1).sum(), m.sum()),
            ("tpr", ((pred == 1) & (y == 1) & m).sum(), ((y == 1) & m).sum()),
            ("fpr", ((pred == 1) & (y == 0) & m).sum(), ((y == 0) & m).sum()),
            ("accuracy", (pred[m] == y[m]).sum(), m.sum()),
        ):
            lo, hi = wilson_interval(np.array([k]), np.array([total]))
            assert row[f"{key}_ci"] == pytest.approx([lo[0], hi[0]], abs=1e-12)
            assert row[f"{key}_ci"][0] <= row[key] <= row[f"{key}_ci"][1]
