"""Individual fairness on a hash-drawn anchor subsample (issue 11)."""

from __future__ import annotations

import numpy as np
import pytest

from kdaudit.analysis.anchored import (
    ANCHOR_AUTO_ROWS,
    DEFAULT_ANCHORS,
    anchor_rows,
    anchored_individual_fairness,
    use_anchors,
)
from kdaudit.analysis.individual_fairness import DEFAULT_SPARE, individual_fairness
from kdaudit.analysis.neighbors import knn_graph
from kdaudit.errors import UsageError


def _data(n: int, seed: int):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, 3))
    w = rng.normal(size=(3, 4))
    logits = {
        "teacher": 2.0 * x @ w + rng.normal(scale=0.3, size=(n, 4)),
        "student": 2.0 * x @ w + rng.normal(scale=0.8, size=(n, 4)),
    }
    return x, logits


def _full(x, logits, k=5):
    graph = knn_graph(x, k=k, metric="euclidean", space="raw", spare=DEFAULT_SPARE)
    return individual_fairness(
        graph, logits, n_bootstrap=0, pairs=[("teacher", "student")]
    ).to_dict()


def test_policy_threshold_and_option():
    assert use_anchors(ANCHOR_AUTO_ROWS - 1, None) is None  # exact by default below
    assert use_anchors(ANCHOR_AUTO_ROWS, None) == DEFAULT_ANCHORS
    assert use_anchors(5000, 300) == 300
    assert use_anchors(5000, 5000) is None and use_anchors(10**7, 0) is None
    with pytest.raises(UsageError):
        use_anchors(10, -1)


def test_anchor_rows_agree_across_shards():
    rows = anchor_rows(10_000, 700, seed=3)
    assert abs(rows.size - 700) < 4 * np.sqrt(700)
    from kdaudit.analysis.ann import anchor_mask

    parts = [
        np.flatnonzero(anchor_mask(hi - lo, 0.07, seed=3, start=lo)) + lo
        for lo, hi in ((0, 1234), (1234, 7000), (7000, 10_000))
    ]
    np.testing.assert_array_equal(np.concatenate(parts), rows)


def test_every_row_an_anchor_equals_exact_full_data():
    x, logits = _data(400, 0)
    full = _full(x, logits)
    got = anchored_individual_fairness(
        x,
        logits,
        n_anchors=400,
        k=5,
        metric="euclidean",
        space="raw",
        pairs=[("teacher", "student")],
    )
    assert got["config"]["anchors"]["count"] == 400
    for role in ("teacher", "student"):  # rel 1e-6: the exact graph stores float32 distances
        for name in ("lipschitz", "consistency", "lipschitz_normalized"):
            assert got[role][name]["value"] == pytest.approx(full[role][name]["value"], rel=1e-6)
        lo, hi = got[role]["lipschitz"]["subsample_ci"]  # no subsampling left: a point
        assert hi - lo == pytest.approx(0.0, abs=1e-12)
    assert got["delta"]["teacher_vs_student"]["lipschitz"]["value"] == pytest.approx(
        full["delta"]["teacher_vs_student"]["lipschitz"]["value"], rel=1e-6
    )


def _coverage(n_sims: int, n: int, m: int) -> dict[str, float]:
    x, logits = _data(n, 1)
    full = _full(x, logits)
    hits = {"lipschitz": 0, "consistency": 0, "delta": 0}
    for s in range(n_sims):
        got = anchored_individual_fairness(
            x,
            logits,
            n_anchors=m,
            k=5,
            metric="euclidean",
            space="raw",
            seed=100 + s,
            pairs=[("teacher", "student")],
        )
        for name in ("lipschitz", "consistency"):
            lo, hi = got["student"][name]["subsample_ci"]
            hits[name] += lo <= full["student"][name]["value"] <= hi
            # the reported interval (adds the full data's own sampling variance) is wider
            assert got["student"][name]["ci_high"] - got["student"][name]["ci_low"] >= hi - lo
        lo, hi = got["delta"]["teacher_vs_student"]["lipschitz"]["subsample_ci"]
        hits["delta"] += lo <= full["delta"]["teacher_vs_student"]["lipschitz"]["value"] <= hi
    return {k: v / n_sims for k, v in hits.items()}


def test_subsample_interval_covers_full_data_value_quick():
    cov = _coverage(120, 2000, 250)
    # 95% nominal; 120 draws: binomial sd ~0.02
    assert all(0.88 <= c <= 1.0 for c in cov.values()), cov


@pytest.mark.slow
def test_subsample_interval_covers_full_data_value_slow():
    cov = _coverage(600, 6000, 400)
    assert all(0.925 <= c <= 0.975 for c in cov.values()), cov


def _audit_files(tmp_path, n=600):
    from kdaudit.data.dataset import Dataset

    rng = np.random.default_rng(7)
    x = rng.normal(size=(n, 4)).astype(np.float32)
    y = (x[:, 0] > 0).astype(np.int64)
    ds = Dataset(
        y_true=y, x=x, sensitive_features={"g": rng.choice(["a", "b"], n)}, fingerprint="f"
    )
    t, s = tmp_path / "t.npy", tmp_path / "s.npy"
    np.save(t, np.stack([-x[:, 0], x[:, 0]], axis=1))
    np.save(s, np.stack([-x[:, 0] - 0.3 * x[:, 1], x[:, 0]], axis=1))
    return str(t), str(s), ds


def test_audit_reports_anchors_and_validates(tmp_path, monkeypatch):
    import kdaudit.analysis.anchored as anchored
    from kdaudit import api
    from kdaudit.report import validate_report

    t, s, ds = _audit_files(tmp_path)
    exact = api.compare(t, s, data=ds, bootstrap=20, use_cache=False).data["individual_fairness"]
    assert "anchors" not in exact["config"]  # exact stays the default below the threshold
    rep = api.compare(t, s, data=ds, bootstrap=20, use_cache=False, anchors=200).data
    validate_report(
        {**rep, "data": {**rep["data"], "sha256": "0" * 64}}
    )  # in-memory data: no file hash
    block = rep["individual_fairness"]
    assert block["config"]["anchors"]["count"] == anchor_rows(600, 200, seed=0).size
    assert block["config"]["anchors"]["method"].startswith("hash(seed, row id)")
    lo, hi = block["student"]["lipschitz"]["subsample_ci"]
    assert (
        block["student"]["lipschitz"]["ci_low"]
        <= lo
        <= hi
        <= block["student"]["lipschitz"]["ci_high"]
    )
    assert 0.0 <= block["delta"]["teacher_vs_student"]["lipschitz"]["p_value"] <= 1.0
    # past the row threshold anchors are on without being asked
    monkeypatch.setattr(anchored, "ANCHOR_AUTO_ROWS", 500)
    monkeypatch.setattr(anchored, "DEFAULT_ANCHORS", 300)
    auto = api.compare(t, s, data=ds, bootstrap=20, use_cache=False).data["individual_fairness"]
    assert auto["config"]["anchors"]["requested"] == 300
    off = api.compare(t, s, data=ds, bootstrap=20, use_cache=False, anchors=0).data
    assert "anchors" not in off["individual_fairness"]["config"]
