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
from kdaudit.engine.logits import LogitArray, softmax
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
    res3 = individual_fairness(g, {"student": logits}, predictions={"student": yhat},
                               n_bootstrap=0, consistency_k=3)
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
    a = individual_fairness(knn_graph(representation(x), k=5), {"teacher": lt, "student": ls},
                            n_bootstrap=0)
    b = individual_fairness(knn_graph(representation(x[perm]), k=5),
                            {"teacher": lt[perm], "student": ls[perm]}, n_bootstrap=0)
    for role in ("teacher", "student"):
        assert abs(a.roles[role].lipschitz.value - b.roles[role].lipschitz.value) < 1e-12
        assert abs(a.roles[role].consistency.value - b.roles[role].consistency.value) < 1e-12


def test_identical_models_give_zero_delta_with_p_one(rng: np.random.Generator) -> None:
    x = rng.normal(size=(120, 3))
    g = knn_graph(representation(x), k=5)
    logits = rng.normal(size=(120, 3))
    res = individual_fairness(g, {"teacher": logits, "student": logits.copy()},
                              pairs=[("teacher", "student")], n_bootstrap=200)
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
    res = individual_fairness(g, {"student": logits}, counterfactual={"student": cf},
                              sensitive_features=groups, n_bootstrap=50)
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
    res = individual_fairness(g, {"teacher": lt, "student": ls},
                              counterfactual={"student": ls[::-1].copy()},
                              pairs=[("teacher", "student")], n_bootstrap=20)
    d = res.to_dict()
    json.dumps(d, allow_nan=False)
    assert set(d) == {"config", "teacher", "student", "delta"}
    assert {"k", "space", "distance", "n_pairs", "n_zero_distance_pairs",
            "consistency_definition"} <= set(d["config"])
    assert d["config"]["space"] == "standardized"
    assert set(d["teacher"]["lipschitz"]) == {"value", "ci_low", "ci_high"}
    assert "value" in d["teacher"]["consistency"]
    assert "counterfactual" not in d["teacher"]
    assert {"mean_tv_distance", "flip_rate", "by_group"} <= set(d["student"]["counterfactual"])
    assert set(d["delta"]["teacher_vs_student"]["lipschitz"]) == {"value", "ci_low", "ci_high",
                                                                  "p_value"}
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
