"""Noise-aware group-fairness statistics (issue 8): estimators checked against closed forms,
exact enumeration and independent row-level code; calibration checked by simulation
(a small smoke run by default, the reduced harness as a slow test)."""

from __future__ import annotations

import sys
import warnings
from pathlib import Path

import numpy as np
import pytest
from fairlearn.metrics import demographic_parity_difference, equalized_odds_difference
from scipy import stats

from kdaudit.analysis.group_fairness import group_fairness
from kdaudit.analysis.stats import (
    abs_interval,
    basic_interval,
    basic_p_value,
    max_t_p_value,
    permuted_group_tables,
    signed_root,
    simultaneous_intervals,
    unbiased_squared_gaps,
)
from kdaudit.errors import KDAuditWarning

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "bench"))
import calibration

PAIR = [("teacher", "student")]


def _gf(y, preds, s, **kw):
    kw.setdefault("n_classes", 2)
    kw.setdefault("pairs", PAIR)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", KDAuditWarning)
        return group_fairness(y, preds, s, **kw)


# ------------------------------------------------------------ estimators vs closed forms
@pytest.mark.parametrize(
    ("na", "pa", "nb", "pb"), [(7, 0.3, 5, 0.3), (12, 0.1, 4, 0.6), (3, 0.5, 9, 0.9)]
)
def test_unbiased_squared_gap_is_exactly_unbiased_by_enumeration(na, pa, nb, pb) -> None:
    """E[U] = (pa - pb)^2 exactly: enumerate every (xa, xb) with its binomial probability."""
    xa, xb = np.meshgrid(np.arange(na + 1), np.arange(nb + 1), indexing="ij")
    prob = stats.binom.pmf(xa, na, pa) * stats.binom.pmf(xb, nb, pb)
    rates = np.stack([xa.ravel() / na, xb.ravel() / nb], axis=1)[:, :, None]  # (b, G=2, K=1)
    den = np.array([na, nb], dtype=float)[None, :, None]
    u = unbiased_squared_gaps(rates, den, np.array([[0]]), np.array([[1]]))[:, 0, 0]
    assert float((prob.ravel() * u).sum()) == pytest.approx((pa - pb) ** 2, abs=1e-12)
    # the plain squared gap is biased by exactly Var(pa_hat) + Var(pb_hat)
    plain = float((prob.ravel() * (rates[:, 0, 0] - rates[:, 1, 0]) ** 2).sum())
    assert plain - (pa - pb) ** 2 == pytest.approx(
        pa * (1 - pa) / na + pb * (1 - pb) / nb, abs=1e-12
    )


def test_signed_root_and_abs_interval() -> None:
    assert signed_root(np.array([4.0, -9.0, 0.0])).tolist() == [2.0, -3.0, 0.0]
    lo, hi = abs_interval(np.array([-1.0, 0.5, -3.0]), np.array([2.0, 1.5, -1.0]))
    assert lo.tolist() == [0.0, 0.5, 1.0] and hi.tolist() == [2.0, 1.5, 3.0]


def test_basic_interval_and_p_value_by_hand() -> None:
    rep = np.arange(1, 101, dtype=float)  # errors around truth 50: -49..50
    lo, hi = basic_interval(np.float64(10.0), rep, np.float64(50.0), 0.9)
    q = np.percentile(rep - 50.0, [5, 95])
    assert (float(lo), float(hi)) == pytest.approx((10.0 - q[1], 10.0 - q[0]))
    e = rep - 50.0
    p = float(basic_p_value(np.float64(10.0), e))
    assert p == pytest.approx(2 * min(np.mean(e >= 10), np.mean(e <= 10)))


def test_max_t_is_calibrated_for_correlated_normal_components() -> None:
    """The centred-bootstrap max-|T| test holds 5% for 6 correlated components (simulated)."""
    rng = np.random.default_rng(0)
    cov = 0.5 * np.ones((6, 6)) + 0.5 * np.eye(6)
    chol = np.linalg.cholesky(cov)
    rejections = 0
    runs = 300
    for _ in range(runs):
        obs = chol @ rng.normal(size=6)
        rep = obs + rng.normal(size=(400, 6)) @ chol.T  # the bootstrap world around obs
        p, _ = max_t_p_value(obs, rep)
        rejections += p <= 0.05
    assert rejections / runs <= 0.05 + 0.04
    assert max_t_p_value(np.zeros(3), np.zeros((50, 3))) == (1.0, 0.0)


def test_simultaneous_intervals_cover_all_components_jointly() -> None:
    rng = np.random.default_rng(1)
    hits = 0
    runs = 300
    for _ in range(runs):
        obs = rng.normal(size=8)
        rep = obs + rng.normal(size=(400, 8))
        lo, hi = simultaneous_intervals(obs, rep, 0.95)
        hits += bool(np.all((lo <= 0) & (hi >= 0)))
    assert 0.91 <= hits / runs <= 0.99


def test_permuted_tables_keep_margins_and_have_the_hypergeometric_mean() -> None:
    rng = np.random.default_rng(2)
    sizes = np.array([30, 50, 20])
    rest = np.array([10, 60, 25, 5])
    t = permuted_group_tables(sizes, rest, 4000, rng)
    assert (t.sum(axis=2) == sizes).all() and (t.sum(axis=1) == rest).all()
    expected = np.outer(sizes, rest) / sizes.sum()
    assert t.mean(axis=0) == pytest.approx(expected, abs=0.1)
    # one cell's marginal is hypergeometric: compare the variance with the closed form
    var = stats.hypergeom(100, 60, 30).var()
    assert t[:, 0, 1].var() == pytest.approx(var, rel=0.1)


# --------------------------------------------------------------- records and invariants
def _coin_flip_data(rng, n=3000, n_classes=2):
    s = rng.choice(np.array(["x", "y", "z"]), size=n)
    y = rng.integers(0, n_classes, n)
    t = np.where(rng.random(n) < 0.95, y, (y + 1) % n_classes)
    st = np.where(rng.random(n) < 0.8, y, (y + 1) % n_classes)
    return y, {"teacher": t, "student": st}, s


@pytest.mark.parametrize("n_classes", [2, 5])
def test_value_stays_fairlearn_and_every_interval_holds_its_estimate(n_classes) -> None:
    rng = np.random.default_rng(3)
    y, preds, s = _coin_flip_data(rng, n_classes=n_classes)
    d = _gf(y, preds, s, n_classes=n_classes, n_bootstrap=200).to_dict()
    if n_classes == 2:
        for role, pred in preds.items():
            assert d[role]["demographic_parity_difference"]["value"] == pytest.approx(
                demographic_parity_difference(y, pred, sensitive_features=s), abs=1e-12
            )
            assert d[role]["equalized_odds_difference"]["value"] == pytest.approx(
                equalized_odds_difference(y, pred, sensitive_features=s), abs=1e-12
            )
    records = [d[r][m] for r in preds for m in (*calibration.METRICS, "worst_group_accuracy")]
    records += list(d["delta"]["teacher_vs_student"].values())
    for per_class in d["teacher"].get("per_class", []):
        records += [per_class["demographic_parity_difference"]]
    for rec in records:
        assert rec["ci_low"] <= rec["estimate"] <= rec["ci_high"], rec
        assert len(rec["percentile_ci"]) == 2 and rec["method"]
    floor = d["student"]["demographic_parity_difference"]["noise_floor"]
    assert 0 <= floor["value"] <= floor["ci_high"]


def test_noise_floor_matches_a_row_level_permutation() -> None:
    """The cell-count permutation gives the same DPD noise floor as shuffling rows (fairlearn)."""
    rng = np.random.default_rng(4)
    n = 1200
    s = rng.choice(np.array(["a", "b", "c", "d"]), size=n, p=[0.4, 0.3, 0.2, 0.1])
    y = rng.integers(0, 2, n)
    pred = (rng.random(n) < 0.3 + 0.2 * y).astype(int)
    d = _gf(y, {"teacher": pred, "student": pred}, s, n_bootstrap=200).to_dict()
    floor = d["teacher"]["demographic_parity_difference"]["noise_floor"]
    assert floor["value"] > 0
    _, codes = np.unique(s, return_inverse=True)
    size = np.bincount(codes)

    def dpd(c):  # row-level, independent of kdaudit's cell machinery
        sel = np.bincount(c, weights=pred, minlength=4) / size
        return sel.max() - sel.min()

    ref = [dpd(rng.permutation(codes)) for _ in range(4000)]
    assert dpd(codes) == pytest.approx(
        demographic_parity_difference(y, pred, sensitive_features=s), abs=1e-12
    )
    assert floor["value"] == pytest.approx(np.mean(ref), rel=0.08)
    assert floor["ci_high"] == pytest.approx(np.percentile(ref, 95), rel=0.15)


def test_corrected_estimate_removes_the_noise_bias_at_no_group_effect() -> None:
    """Coin-flip groups: the plug-in DPD sits ~0.8 SE above 0, the corrected estimate near 0."""
    rng = np.random.default_rng(5)
    plug, corr = [], []
    for _r in range(40):
        s = rng.choice(np.array(["a", "b"]), size=2000)
        pred = (rng.random(2000) < 0.5).astype(int)
        y = rng.integers(0, 2, 2000)
        d = _gf(y, {"teacher": pred, "student": pred}, s, n_bootstrap=0).to_dict()
        plug.append(d["teacher"]["demographic_parity_difference"]["value"])
        corr.append(d["teacher"]["demographic_parity_difference"]["estimate"])
    se = np.sqrt(2 * 0.25 / 1000)
    assert np.mean(plug) == pytest.approx(np.sqrt(2 / np.pi) * se, rel=0.25)
    assert np.mean(corr) < 0.5 * np.mean(plug)


# ------------------------------------------------------------------------ simulations
def test_calibration_smoke() -> None:
    """A few runs of the harness: loose bounds, real machinery (the full check is slow)."""
    null = calibration.run_scenario(
        calibration.SCENARIOS["null_binary_95_80_n4000"](), runs=20, n_bootstrap=200, seed=1
    )
    for m in calibration.METRICS:
        assert null[m]["new_reject"] <= 0.2
        assert null[m]["gate_fail"] <= 0.1
        assert null[m]["ci_holds_estimate"] == 1.0
    alt = calibration.run_scenario(calibration.planted(0.10), runs=10, n_bootstrap=200, seed=2)
    assert alt["demographic_parity_difference"]["new_reject"] >= 0.6


@pytest.mark.slow
@pytest.mark.parametrize(
    "name",
    [
        "null_binary_95_80_n4000",
        "null_10class_99_83_n10000",
        "null_10class_4groups_n2000",
        "equalgap_binary_n4000",
    ],
)
def test_false_alarm_rate_and_gate_hold_under_nulls(name) -> None:
    runs = 200
    mc = 1.96 * np.sqrt(0.05 * 0.95 / runs)
    out = calibration.run_scenario(
        calibration.SCENARIOS[name](), runs=runs, n_bootstrap=400, seed=11
    )
    for m in calibration.METRICS:
        assert out[m]["new_reject"] <= 0.05 + mc, (m, out[m])
        assert out[m]["gate_fail"] <= 0.05 + mc, (m, out[m])
        assert out[m]["new_cover"] >= 0.93 - mc, (m, out[m])
        assert out[m]["new_cover_student"] >= 0.90 - mc, (m, out[m])
        assert out[m]["ci_holds_estimate"] == 1.0


@pytest.mark.slow
def test_planted_8pp_dpd_increase_is_detected() -> None:
    runs = 200
    out = calibration.run_scenario(calibration.planted(0.08), runs=runs, n_bootstrap=1000, seed=12)
    mc = 1.96 * np.sqrt(0.8 * 0.2 / runs)
    assert out["demographic_parity_difference"]["new_reject"] >= 0.80 - mc
    assert out["equalized_odds_difference"]["new_reject"] >= 0.80 - mc
    for m in calibration.METRICS:
        assert 0.93 - 0.03 <= out[m]["new_cover"] <= 0.99
