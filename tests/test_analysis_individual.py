"""kNN graph, Lipschitz estimate, consistency and counterfactuals (METHODS.md 3)."""

from __future__ import annotations

import json
import warnings

import numpy as np
import pytest
from sklearn.neighbors import NearestNeighbors

from kdaudit.analysis.individual_fairness import (
    IndividualFairnessResult,
    individual_fairness,
    total_variation,
)
from kdaudit.analysis.neighbors import knn_graph, representation
from kdaudit.arrays import LogitArray, softmax
from kdaudit.errors import InputDataError, KDAuditWarning, UsageError


def _sk_knn(x: np.ndarray, k: int, metric: str) -> tuple[np.ndarray, np.ndarray]:
    nn = NearestNeighbors(n_neighbors=k + 1, algorithm="brute", metric=metric)
    nn.fit(x.astype(np.float64))
    d, i = nn.kneighbors(x.astype(np.float64))
    return d[:, 1:], i[:, 1:]


# ----------------------------------------------------------------------- kNN graph
@pytest.mark.parametrize("metric", ["euclidean", "cosine"])
@pytest.mark.parametrize("n", [300, 2500])  # 2500 exercises the grouped threshold path
def test_knn_matches_sklearn_brute(metric: str, n: int, rng: np.random.Generator) -> None:
    x = rng.normal(size=(n, 7)).astype(np.float32)
    g = knn_graph(x, k=5, metric=metric)
    d_ref, i_ref = _sk_knn(x, 5, metric)
    assert g.indices.dtype == np.int64 and g.distances.dtype == np.float32
    assert g.indices.shape == (n, 5)
    np.testing.assert_array_equal(g.indices, i_ref)
    np.testing.assert_allclose(g.distances, d_ref, rtol=1e-6, atol=1e-6)
    blocked = knn_graph(x, k=5, metric=metric, block_rows=37)
    np.testing.assert_array_equal(blocked.indices, g.indices)
    np.testing.assert_array_equal(blocked.distances, g.distances)


def test_knn_duplicates_exclude_self_by_index(rng: np.random.Generator) -> None:
    base = rng.normal(size=(50, 3)).astype(np.float32)
    x = np.concatenate([base, base[:10], base[:10]])  # rows 0..9 appear three times
    g = knn_graph(x, k=4)
    n = x.shape[0]
    assert not (g.indices == np.arange(n)[:, None]).any()
    # row 0's copies are 50 and 60: distance 0, smaller index first
    np.testing.assert_array_equal(g.indices[0, :2], [50, 60])
    np.testing.assert_array_equal(g.indices[50, :2], [0, 60])
    np.testing.assert_array_equal(g.indices[60, :2], [0, 50])
    assert (g.distances[:10, :2] == 0).all()
    # distances do not depend on how ties are broken: equal to sklearn's everywhere
    d_ref, _ = _sk_knn(x, 4, "euclidean")
    np.testing.assert_allclose(g.distances, d_ref, rtol=1e-6, atol=1e-6)


def test_knn_ties_are_deterministic_by_index() -> None:
    # points on a line at equal spacing: each inner point has two neighbours at distance 1
    x = np.arange(10, dtype=np.float32)[:, None]
    g = knn_graph(x, k=2)
    np.testing.assert_array_equal(g.indices[5], [4, 6])
    np.testing.assert_array_equal(g.indices[0], [1, 2])
    all_same = knn_graph(np.zeros((6, 2), dtype=np.float32), k=3)
    np.testing.assert_array_equal(all_same.indices[0], [1, 2, 3])
    np.testing.assert_array_equal(all_same.indices[4], [0, 1, 2])


def test_knn_cosine_zero_vector(rng: np.random.Generator) -> None:
    x = rng.normal(size=(20, 3)).astype(np.float32)
    x[3] = 0
    g = knn_graph(x, k=3, metric="cosine")
    d_ref, _ = _sk_knn(x, 3, "cosine")
    np.testing.assert_allclose(g.distances, d_ref, atol=1e-6)


def test_knn_rejects_bad_arguments(rng: np.random.Generator) -> None:
    x = rng.normal(size=(5, 2))
    with pytest.raises(InputDataError):
        knn_graph(x, k=5)
    with pytest.raises(UsageError):
        knn_graph(x, k=2, metric="manhattan")
    with pytest.raises(InputDataError):
        knn_graph(np.array([[0.0, np.nan]] * 4), k=1)


# ------------------------------------------------------------------ representation
def test_representation_spaces(rng: np.random.Generator) -> None:
    x = np.column_stack([rng.normal(3, 2, 100), np.full(100, 7.0), rng.integers(0, 5, 100)])
    rep = representation(x)
    assert rep.dtype == np.float32 and rep.shape == (100, 3)
    np.testing.assert_allclose(rep.mean(axis=0), 0, atol=1e-6)
    np.testing.assert_allclose(rep[:, [0, 2]].std(axis=0), 1, atol=1e-5)
    assert (rep[:, 1] == 0).all()
    np.testing.assert_array_equal(representation(x, space="flat"), x.astype(np.float32))
    img = rng.integers(0, 255, size=(10, 3, 4, 4)).astype(np.uint8)
    np.testing.assert_array_equal(representation(img), img.reshape(10, -1).astype(np.float32))
    emb = rng.normal(size=(10, 8))
    np.testing.assert_array_equal(representation(img, embedding=emb), emb.astype(np.float32))
    with pytest.raises(UsageError):
        representation(x, space="embedding")
    with pytest.raises(InputDataError):
        representation(None)
    with pytest.raises(InputDataError):
        representation({"a": x, "b": x})


# ---------------------------------------------------------------------- metrics
def _aif360_consistency(x: np.ndarray, yhat: np.ndarray, n_neighbors: int = 5) -> float:
    """AIF360's BinaryLabelDatasetMetric.consistency, written out independently."""
    nbrs = NearestNeighbors(n_neighbors=n_neighbors).fit(x)
    _, indices = nbrs.kneighbors(x)
    total = 0.0
    for i in range(x.shape[0]):
        total += abs(yhat[i] - np.mean(yhat[indices[i]]))
    return 1.0 - total / x.shape[0]


def test_consistency_matches_aif360(rng: np.random.Generator) -> None:
    x = rng.normal(size=(400, 5))
    rep = representation(x, space="flat")
    g = knn_graph(rep, k=5)
    logits = rng.normal(size=(400, 2))
    yhat = logits.argmax(axis=1)
    res = individual_fairness(g, {"student": logits}, n_bootstrap=0)
    expected = _aif360_consistency(rep.astype(np.float64), yhat.astype(np.float64))
    assert abs(res.roles["student"].consistency.value - expected) < 1e-12
    assert res.roles["student"].consistency_definition.startswith("aif360")
    # explicit predictions give the same; a smaller neighbourhood matches too
    res3 = individual_fairness(
        g, {"student": logits}, predictions={"student": yhat}, n_bootstrap=0, consistency_k=3
    )
    expected3 = _aif360_consistency(rep.astype(np.float64), yhat.astype(np.float64), 3)
    assert abs(res3.roles["student"].consistency.value - expected3) < 1e-12


def test_consistency_multiclass_is_agreement(rng: np.random.Generator) -> None:
    x = rng.normal(size=(200, 3))
    g = knn_graph(representation(x), k=5)
    logits = rng.normal(size=(200, 4))
    yhat = logits.argmax(axis=1)
    res = individual_fairness(g, {"teacher": logits}, n_bootstrap=0)
    share = [(1 + np.sum(yhat[g.indices[i, :4]] == yhat[i])) / 5 for i in range(200)]
    assert abs(res.roles["teacher"].consistency.value - np.mean(share)) < 1e-12
    assert res.roles["teacher"].consistency_definition.startswith("agreement")


def test_total_variation_closed_form() -> None:
    assert total_variation(np.array([1.0, 0.0]), np.array([0.0, 1.0])) == 1.0
    assert total_variation(np.array([0.5, 0.5]), np.array([0.25, 0.75])) == 0.25
    assert total_variation(np.array([0.2, 0.3, 0.5]), np.array([0.2, 0.3, 0.5])) == 0.0


def _naive_lipschitz(g, logits: np.ndarray) -> tuple[float, int]:
    p = softmax(logits)
    total, used = 0.0, 0
    for i in range(g.indices.shape[0]):
        for j, d in zip(g.indices[i], g.distances[i], strict=True):
            if d == 0:
                continue
            total += 0.5 * np.abs(p[i] - p[j]).sum() / float(d)
            used += 1
    return total / used, used


def test_lipschitz_matches_naive_loop_and_skips_zero_distances(rng: np.random.Generator) -> None:
    x = rng.normal(size=(60, 3))
    x = np.concatenate([x, x[:5]])  # 5 duplicate pairs -> zero distances
    g = knn_graph(representation(x, space="flat"), k=4)
    logits = rng.normal(size=(65, 4)).astype(np.float32)  # LogitArray's dtype
    expected, used = _naive_lipschitz(g, logits)
    with pytest.warns(KDAuditWarning, match="distance 0"):
        res = individual_fairness(g, {"student": logits}, n_bootstrap=0)
    assert res.config.n_zero_distance_pairs == 10
    assert res.config.n_pairs == used == 65 * 4 - 10
    assert abs(res.roles["student"].lipschitz.value - expected) < 1e-12
    # many small shards and memmap-like chunked reads give the same number
    sharded = LogitArray([logits[:7], logits[7:40], logits[40:]])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", KDAuditWarning)
        res2 = individual_fairness(g, {"student": sharded}, n_bootstrap=0)
    assert abs(res2.roles["student"].lipschitz.value - expected) < 1e-12


def test_all_zero_distances_is_undefined() -> None:
    g = knn_graph(np.zeros((6, 2)), k=4)
    with pytest.warns(KDAuditWarning):
        res = individual_fairness(g, {"student": np.eye(6)}, n_bootstrap=10)
    est = res.roles["student"].lipschitz
    assert est.value is None and est.undefined_reason


def test_row_shuffling_changes_nothing(rng: np.random.Generator) -> None:
    n = 150
    x = rng.normal(size=(n, 4))
    lt, ls = rng.normal(size=(n, 3)), rng.normal(size=(n, 3))
    perm = rng.permutation(n)
    a = individual_fairness(
        knn_graph(representation(x), k=5), {"teacher": lt, "student": ls}, n_bootstrap=0
    )
    b = individual_fairness(
        knn_graph(representation(x[perm]), k=5),
        {"teacher": lt[perm], "student": ls[perm]},
        n_bootstrap=0,
    )
    for role in ("teacher", "student"):
        assert abs(a.roles[role].lipschitz.value - b.roles[role].lipschitz.value) < 1e-12
        assert abs(a.roles[role].consistency.value - b.roles[role].consistency.value) < 1e-12


def test_identical_models_give_zero_delta_with_p_one(rng: np.random.Generator) -> None:
    x = rng.normal(size=(120, 3))
    g = knn_graph(representation(x), k=5)
    logits = rng.normal(size=(120, 3))
    res = individual_fairness(
        g,
        {"teacher": logits, "student": logits.copy()},
        pairs=[("teacher", "student")],
        n_bootstrap=200,
    )
    d = res.delta["teacher_vs_student"]
    assert d.lipschitz.value == 0 and d.lipschitz.p_value == 1.0
    assert d.lipschitz.ci_low == 0 and d.lipschitz.ci_high == 0
    assert d.consistency.value == 0 and d.consistency.p_value == 1.0


def test_bootstrap_ci_is_seeded_and_brackets_the_estimate(rng: np.random.Generator) -> None:
    x = rng.normal(size=(300, 3))
    g = knn_graph(representation(x), k=5)
    lt = rng.normal(size=(300, 3))
    ls = lt + rng.normal(scale=2.0, size=(300, 3))
    kw = {"pairs": ["teacher_vs_student"], "n_bootstrap": 300, "seed": 3}
    a = individual_fairness(g, {"teacher": lt, "student": ls}, **kw)
    b = individual_fairness(g, {"teacher": lt, "student": ls}, **kw)
    assert a.to_dict() == b.to_dict()
    for role in ("teacher", "student"):
        est = a.roles[role].lipschitz
        assert est.ci_low < est.value < est.ci_high
    delta = a.delta["teacher_vs_student"].lipschitz
    assert delta.value > 0 and delta.ci_low > 0 and delta.p_value < 0.05


def test_counterfactual_flip_rate_and_groups(rng: np.random.Generator) -> None:
    n = 80
    g = knn_graph(representation(rng.normal(size=(n, 2))), k=4)
    logits = rng.normal(size=(n, 3)).astype(np.float32)
    cf = (logits + rng.normal(scale=0.8, size=(n, 3))).astype(np.float32)
    groups = np.where(np.arange(n) % 3 == 0, "a", "b")
    res = individual_fairness(
        g,
        {"student": logits},
        counterfactual={"student": cf},
        sensitive_features=groups,
        n_bootstrap=50,
    )
    c = res.roles["student"].counterfactual
    assert c is not None
    tv = 0.5 * np.abs(softmax(logits) - softmax(cf)).sum(axis=1)
    flip = logits.argmax(axis=1) != cf.argmax(axis=1)
    assert abs(c.mean_tv_distance.value - tv.mean()) < 1e-12
    assert abs(c.flip_rate.value - flip.mean()) < 1e-12
    assert [r.group for r in c.by_group] == ["a", "b"]
    ga = groups == "a"
    assert c.by_group[0].n == ga.sum()
    assert abs(c.by_group[0].flip_rate - flip[ga].mean()) < 1e-12
    assert abs(c.by_group[1].mean_tv_distance - tv[~ga].mean()) < 1e-12


def test_to_dict_shape_and_round_trip(rng: np.random.Generator) -> None:
    n = 60
    g = knn_graph(representation(rng.normal(size=(n, 3))), k=5, space="standardized")
    lt, ls = rng.normal(size=(n, 2)), rng.normal(size=(n, 2))
    res = individual_fairness(
        g,
        {"teacher": lt, "student": ls},
        counterfactual={"student": ls[::-1].copy()},
        pairs=[("teacher", "student")],
        n_bootstrap=20,
    )
    d = res.to_dict()
    json.dumps(d, allow_nan=False)
    assert set(d) == {"config", "teacher", "student", "delta"}
    assert {
        "k",
        "space",
        "distance",
        "n_pairs",
        "n_zero_distance_pairs",
        "consistency_definition",
    } <= set(d["config"])
    assert d["config"]["space"] == "standardized"
    assert set(d["teacher"]["lipschitz"]) == {"value", "ci_low", "ci_high"}
    assert "value" in d["teacher"]["consistency"]
    assert "counterfactual" not in d["teacher"]
    assert {"mean_tv_distance", "flip_rate", "by_group"} <= set(d["student"]["counterfactual"])
    assert set(d["delta"]["teacher_vs_student"]["lipschitz"]) == {
        "value",
        "ci_low",
        "ci_high",
        "p_value",
    }
    assert IndividualFairnessResult.from_dict(d).to_dict() == d


def test_rejects_mismatched_rows(rng: np.random.Generator) -> None:
    g = knn_graph(rng.normal(size=(20, 2)), k=3)
    with pytest.raises(InputDataError):
        individual_fairness(g, {"student": rng.normal(size=(19, 2))})
    with pytest.raises(UsageError):
        individual_fairness(g, {"student": rng.normal(size=(20, 2))}, consistency_k=0)
    with pytest.warns(KDAuditWarning, match="only k=3"):
        res = individual_fairness(g, {"student": rng.normal(size=(20, 2))}, n_bootstrap=0)
    assert res.config.consistency_k == 4


@pytest.mark.slow
def test_knn_large_matches_sklearn(rng: np.random.Generator) -> None:
    x = rng.normal(size=(20000, 16)).astype(np.float32)
    g = knn_graph(x, k=5)
    d_ref, i_ref = _sk_knn(x, 5, "euclidean")
    np.testing.assert_array_equal(g.indices, i_ref)
    np.testing.assert_allclose(g.distances, d_ref, rtol=1e-5, atol=1e-5)


# --------------------------------------------------------- normalized I(f), jackknife
def test_spare_neighbours_extend_the_graph_exactly(rng: np.random.Generator) -> None:
    x = rng.normal(size=(400, 4)).astype(np.float32)
    g = knn_graph(x, k=5, spare=10)
    d, i = _sk_knn(x, 15, "euclidean")
    assert g.indices.shape == (400, 5) and g.extended_indices.shape == (400, 15)
    np.testing.assert_array_equal(g.extended_indices, i)
    np.testing.assert_allclose(g.extended_distances, d, rtol=1e-5)
    np.testing.assert_array_equal(g.indices, g.extended_indices[:, :5])
    assert knn_graph(x[:8], k=5, spare=10).extended_indices.shape == (8, 7)  # capped at n - 1
    with pytest.raises(UsageError, match="spare"):
        knn_graph(x, k=5, spare=-1)


def test_normalized_lipschitz_is_raw_times_median_distance(rng: np.random.Generator) -> None:
    x = rng.normal(size=(200, 3))
    g = knn_graph(representation(x), k=5, spare=10)
    logits = rng.normal(size=(200, 3))
    res = individual_fairness(
        g, {"teacher": logits, "student": 2 * logits}, pairs=[("teacher", "student")], n_bootstrap=1
    )
    scale = float(np.median(g.distances.astype(np.float64)))
    assert res.config.distance_scale == pytest.approx(scale, rel=1e-12)
    for role in ("teacher", "student"):
        r = res.roles[role]
        assert r.lipschitz_normalized.value == pytest.approx(r.lipschitz.value * scale, rel=1e-12)
    d = res.delta["teacher_vs_student"]
    assert d.lipschitz_normalized.value == pytest.approx(d.lipschitz.value * scale, rel=1e-12)
    # unit-free: rescaling the inputs changes the raw I(f), not the normalized one
    g10 = knn_graph(representation(10 * x, space="flat"), k=5, spare=10)
    g1 = knn_graph(representation(x, space="flat"), k=5, spare=10)
    a = individual_fairness(g1, {"m": logits}, n_bootstrap=0).roles["m"]
    b = individual_fairness(g10, {"m": logits}, n_bootstrap=0).roles["m"]
    assert b.lipschitz.value == pytest.approx(a.lipschitz.value / 10, rel=1e-5)
    assert b.lipschitz_normalized.value == pytest.approx(a.lipschitz_normalized.value, rel=1e-5)


def test_jackknife_replicate_equals_an_audit_of_the_subsample(rng: np.random.Generator) -> None:
    """Replicate g is exactly the analysis of the rows outside group g on their own k-NN graph."""
    from kdaudit.analysis.individual_fairness import _lipschitz_terms, subsample_statistics

    n = 300
    x = rng.normal(size=(n, 3)).astype(np.float32)
    logits = {"a": rng.normal(size=(n, 3)), "b": 3 * rng.normal(size=(n, 3))}
    g = knn_graph(x, k=5, spare=10)
    ext_idx, ext_d = g.extended()
    dist = ext_d.astype(np.float64)
    inv = np.where(dist > 0, 1 / np.where(dist > 0, dist, 1), 0)
    terms = np.stack(
        [_lipschitz_terms(LogitArray.from_array(v), ext_idx, inv) for v in logits.values()], axis=2
    )
    same = np.stack([v.argmax(1)[ext_idx] == v.argmax(1)[:, None] for v in logits.values()], axis=2)
    alive = rng.random(n) > 0.1
    got = subsample_statistics(ext_idx, dist, terms, same, 5, 5, alive)
    sub = individual_fairness(
        knn_graph(x[alive], k=5), {r: v[alive] for r, v in logits.items()}, n_bootstrap=0
    )
    want = [sub.roles[r].lipschitz.value for r in logits]
    want += [sub.roles[r].lipschitz_normalized.value for r in logits]
    want += [sub.roles[r].consistency.value for r in logits]
    np.testing.assert_allclose(got, want, rtol=1e-6)


def test_jackknife_interval_closed_form(rng: np.random.Generator) -> None:
    from kdaudit.analysis.individual_fairness import _jackknife_estimate

    reps = rng.normal(size=20)
    est = _jackknife_estimate(0.3, reps, 0.95, None, paired=True)
    se = np.sqrt(19 / 20 * ((reps - reps.mean()) ** 2).sum())
    q = 2.093024054408263  # t_{0.975, 19}
    assert est.ci_low == pytest.approx(0.3 - q * se, rel=1e-9)
    assert est.ci_high == pytest.approx(0.3 + q * se, rel=1e-9)
    from scipy import stats as sps

    assert est.p_value == pytest.approx(2 * sps.t.sf(0.3 / se, 19), rel=1e-9)
    zero = _jackknife_estimate(0.0, np.zeros(20), 0.95, None, paired=True)
    assert (zero.ci_low, zero.ci_high, zero.p_value) == (0.0, 0.0, 1.0)


def test_intervals_from_the_jackknife_are_seeded(rng: np.random.Generator) -> None:
    x = rng.normal(size=(500, 3))
    g = knn_graph(representation(x), k=5, spare=10)
    lt = rng.normal(size=(500, 3))
    kw = {"pairs": [("teacher", "student")], "n_bootstrap": 1, "seed": 4, "n_groups": 25}
    a = individual_fairness(g, {"teacher": lt, "student": lt[::-1].copy()}, **kw)
    assert (
        a.to_dict()
        == individual_fairness(g, {"teacher": lt, "student": lt[::-1].copy()}, **kw).to_dict()
    )
    assert a.config.n_groups == 25 and "jackknife" in a.config.resampling
    assert a.config.graph_width == 15
    for est in (a.roles["teacher"].lipschitz_normalized, a.delta["teacher_vs_student"].consistency):
        assert est.ci_low < est.value < est.ci_high


@pytest.mark.slow
def test_calibration_individual_reduced() -> None:
    """Reduced bench/calibration_individual.py: the null false-alarm rate and coverage hold."""
    import importlib.util
    from pathlib import Path

    path = Path(__file__).resolve().parents[1] / "bench" / "calibration_individual.py"
    spec = importlib.util.spec_from_file_location("calibration_individual", path)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    world = mod.World(6)
    runs = [mod.one_sample(world, 1500, 1000 + i, (20,), n_boot=100, n_half=2) for i in range(80)]
    values = np.array([r["point"]["value"] for r in runs])
    truth = values.mean(0)
    lo = np.array([r["jackknife-20"]["low"] for r in runs])
    hi = np.array([r["jackknife-20"]["high"] for r in runs])
    p = np.array([r["jackknife-20"]["p"] for r in runs])
    covered = ((lo <= truth) & (truth <= hi)).mean(0)
    # columns: per statistic (I(f), normalized, consistency): teacher, student, sharp, d_null, d_sharp
    for s in range(3):
        assert covered[s * 5] >= 0.87 and covered[s * 5 + 4] >= 0.87
        assert (p[:, s * 5 + 3] <= 0.05).mean() <= 0.11  # 0.05 plus Monte Carlo error at 80 runs
    # the old fixed-graph anchor bootstrap is anti-conservative on the same samples
    old = np.array([r["anchor-bootstrap"]["p"] for r in runs])
    assert (old[:, 3] <= 0.05).mean() > (p[:, 3] <= 0.05).mean()


def test_calibration_script_smoke() -> None:
    """bench/calibration_individual.py runs; its kdaudit intervals contain their values."""
    import importlib.util
    from pathlib import Path

    path = Path(__file__).resolve().parents[1] / "bench" / "calibration_individual.py"
    spec = importlib.util.spec_from_file_location("calibration_individual", path)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    out = mod.one_sample(mod.World(4), 300, 0, (20,), n_boot=20, n_half=2)
    assert {"point", "anchor-bootstrap", "jackknife-fixed", "half-sampling", "jackknife-20"} == set(
        out
    )
    v, jk = out["point"]["value"], out["jackknife-20"]
    assert np.all(jk["low"] <= v) and np.all(v <= jk["high"])


def test_tiny_samples_stay_in_range_and_untestable_changes_have_p_one(rng) -> None:
    for n in (2, 3, 6, 25):
        x = rng.normal(size=(n, 2))
        g = knn_graph(x, k=1, spare=10)
        lt = rng.normal(size=(n, 2))
        res = individual_fairness(
            g,
            {"teacher": lt, "student": 3 * lt[::-1].copy()},
            pairs=[("teacher", "student")],
            n_bootstrap=10,
            consistency_k=2,
        )
        for role in res.roles.values():
            for est in (role.lipschitz, role.lipschitz_normalized):
                assert est.ci_low is None or 0.0 <= est.ci_low <= est.value <= est.ci_high
            c = role.consistency
            assert c.ci_low is None or 0.0 <= c.ci_low <= c.value <= c.ci_high <= 1.0
        for est in (
            res.delta["teacher_vs_student"].lipschitz,
            res.delta["teacher_vs_student"].consistency,
        ):
            assert est.p_value is not None and 0.0 <= est.p_value <= 1.0
        if n == 2:  # one row left per replicate: no neighbours, nothing can be tested
            assert res.delta["teacher_vs_student"].lipschitz.p_value == 1.0
            assert res.delta["teacher_vs_student"].lipschitz.ci_low is None
