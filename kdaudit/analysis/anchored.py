"""Individual fairness on a deterministic anchor subsample (issue 11, large data).

Past :data:`ANCHOR_AUTO_ROWS` rows (or when the user asks with ``--anchors N``
/ config ``anchors``), the Lipschitz estimate and consistency are averaged over
``~N`` *anchor* rows instead of all rows: row ``i`` is an anchor when a hash of
``(seed, i)`` falls below ``N / n`` (:func:`kdaudit.analysis.ann.anchor_mask`),
so every worker keeps the same rows whatever the sharding. Each anchor's
neighbours are searched among *all* rows (exact, or HNSW past
:data:`kdaudit.analysis.ann.EXACT_MAX_ROWS` rows when hnswlib is installed).

Uncertainty
-----------
The anchors are a simple random sample of ``m`` of the ``n`` rows. For a
per-anchor mean (consistency) and a ratio of per-anchor sums (Lipschitz:
``sum_i L_i / sum_i P_i``, linearized as ``z_i = (L_i - R P_i) / mean(P)``,
Cochran 1977 ch. 6), two Student-t intervals are reported:

- ``subsample_ci``: the interval for the *full-data value* (what the exact
  all-rows computation would give), with the finite-population correction
  ``1 - m/n`` (:func:`kdaudit.analysis.ann.anchor_mean_interval`);
- ``ci_low``/``ci_high``: the interval for the population quantity, which adds
  the subsampling variance to the sampling variance of the full-data value:
  ``Var = s^2/n + (1 - m/n) s^2/m = s^2/m``.

Paired deltas between models use the per-anchor differences the same way.
"""

from __future__ import annotations

import dataclasses
import importlib.util
from collections.abc import Iterable, Mapping
from typing import Any

import numpy as np
from scipy import stats

from kdaudit.analysis.ann import (
    EXACT_MAX_ROWS,
    anchor_mask,
    anchor_mean_interval,
    ann_graph,
    recall_at_k,
)
from kdaudit.analysis.individual_fairness import _as_logits, total_variation
from kdaudit.analysis.neighbors import knn_graph
from kdaudit.analysis.pairs import pair_name
from kdaudit.arrays import LogitArray
from kdaudit.errors import UsageError

__all__ = [
    "ANCHOR_AUTO_ROWS",
    "DEFAULT_ANCHORS",
    "AnchorPlan",
    "anchor_rows",
    "anchored_individual_fairness",
    "use_anchors",
]

#: from this many rows on, individual fairness uses anchors unless told otherwise
ANCHOR_AUTO_ROWS = 1_000_000
#: anchors used above ANCHOR_AUTO_ROWS when no count is given
DEFAULT_ANCHORS = 100_000


def use_anchors(n_samples: int, anchors: int | None) -> int | None:
    """The anchor count to use, or None for the exact all-rows computation.

    ``anchors`` given (> 0): that many (None when it is at least ``n_samples``,
    since then every row is an anchor); 0: never; None: :data:`DEFAULT_ANCHORS`
    from :data:`ANCHOR_AUTO_ROWS` rows on.
    """
    if anchors is not None and anchors < 0:
        raise UsageError(f"--anchors must be >= 0; got {anchors}.")
    if anchors == 0:
        return None
    count = DEFAULT_ANCHORS if anchors is None and n_samples >= ANCHOR_AUTO_ROWS else anchors
    return None if count is None or count >= n_samples else int(count)


def anchor_rows(n_samples: int, n_anchors: int, *, seed: int) -> np.ndarray:
    """Indices of the anchor rows: ``hash(seed, i) < (n_anchors / n) 2^64`` (~n_anchors of them)."""
    return np.flatnonzero(anchor_mask(n_samples, min(1.0, n_anchors / n_samples), seed=seed))


def _neighbours(
    rep: np.ndarray, rows: np.ndarray, *, k: int, metric: str, space: str, seed: int
) -> tuple[np.ndarray, np.ndarray, dict[str, Any]]:
    n = rep.shape[0]
    if n > EXACT_MAX_ROWS and importlib.util.find_spec("hnswlib") is not None:
        graph, info = ann_graph(rep, k=k, metric=metric, space=space, seed=seed, queries=rows)
        rec, m = recall_at_k(graph, rep, seed=seed, rows=rows)
        info = dataclasses.replace(info, recall_at_k=rec, recall_queries=m)
        return (
            graph.indices,
            graph.distances.astype(np.float64),
            {"method": "approximate", **info.to_dict()},
        )
    graph = knn_graph(rep, k=k, metric=metric, space=space, queries=rows)
    return graph.indices, graph.distances.astype(np.float64), {"method": "exact"}


def _interval(
    values: np.ndarray,
    n: int,
    confidence: float,
    *,
    center: float | None = None,
    p_value: bool = False,
) -> dict[str, Any]:
    """{value, ci_low, ci_high, subsample_ci[, p_value]} from linearized per-anchor values.

    ``p_value``: two-sided t test of "value is 0" with the total (population) variance.
    """
    v = np.asarray(values, dtype=np.float64)
    v = v[np.isfinite(v)]
    m = v.shape[0]
    value, lo_s, hi_s = anchor_mean_interval(v, n, confidence=confidence)
    value = value if center is None else center
    shift = 0.0 if center is None or m == 0 else center - float(v.mean())
    if m < 2:
        return {"value": value, "ci_low": None, "ci_high": None, "subsample_ci": None}
    se = float(np.sqrt(v.var(ddof=1) / m))
    half = float(stats.t.ppf(0.5 + confidence / 2, m - 1)) * se
    out = {
        "value": value,
        "ci_low": value - half,
        "ci_high": value + half,
        "subsample_ci": [lo_s + shift, hi_s + shift],
    }
    if p_value:
        out["p_value"] = (
            1.0
            if se == 0 and value == 0
            else (0.0 if se == 0 else float(2 * stats.t.sf(abs(value) / se, m - 1)))
        )
    return out


def _ratio_terms(num: np.ndarray, den: np.ndarray) -> tuple[float, np.ndarray]:
    """R = sum(num)/sum(den) and its linearized per-anchor values R + (num - R den)/mean(den)."""
    total = float(den.sum())
    if total <= 0:
        return float("nan"), np.full(num.shape, np.nan)
    r = float(num.sum()) / total
    return r, r + (num - r * den) / (total / den.shape[0])


def anchored_individual_fairness(
    rep: np.ndarray,
    probabilities: Mapping[str, LogitArray | np.ndarray],
    *,
    n_anchors: int,
    k: int,
    metric: str,
    space: str,
    predictions: Mapping[str, np.ndarray] | None = None,
    seed: int = 0,
    confidence: float = 0.95,
    pairs: Iterable[tuple[str, str]] = (),
    consistency_k: int = 5,
) -> dict[str, Any]:
    """Lipschitz estimate and consistency of each model over hash-drawn anchor rows.

    Parameters
    ----------
    rep : ndarray, shape (n_samples, n_dims)
        The representation the neighbours are searched in.
    probabilities : mapping of role -> LogitArray or ndarray (n_samples, n_classes)
        Each model's logits.
    n_anchors : int
        Expected number of anchors (the realized count is reported).
    k : int
        Neighbours per anchor for the Lipschitz estimate.
    metric, space : str
        Distance (euclidean | cosine) and the representation's name.
    predictions : mapping of role -> ndarray (n_samples,), optional
        Labels for consistency (default argmax of the logits).
    seed : int
        Keys the anchor hash and the ANN index.
    confidence : float
    pairs : iterable of (A, B)
        Paired deltas ``metric(B) - metric(A)``.
    consistency_k : int
        Neighbourhood size for consistency, the point included (at most k + 1).

    Returns
    -------
    dict
        The ``individual_fairness`` report block: ``config`` (with
        ``anchors``: count, method, population, seed, neighbours), one record per
        role, ``delta``.
    """
    x = np.asarray(rep)
    n = x.shape[0]
    if not 1 <= k < n:
        raise UsageError(f"k for nearest neighbours must be in 1..{n - 1}; got {k}.")
    rows = anchor_rows(n, n_anchors, seed=seed)
    if rows.shape[0] < 2:
        raise UsageError(f"Only {rows.shape[0]} anchor row(s) drawn from {n}; raise --anchors.")
    consistency_k = min(consistency_k, k + 1)
    idx, dist, neighbours = _neighbours(x, rows, k=k, metric=metric, space=space, seed=seed)
    nonzero = dist > 0
    inv_d = np.where(nonzero, 1.0 / np.where(nonzero, dist, 1.0), 0.0)
    pair_count = nonzero.sum(axis=1).astype(np.float64)
    scale = float(np.median(dist[nonzero])) if nonzero.any() else float("nan")

    per_role: dict[str, dict[str, np.ndarray | float]] = {}
    out: dict[str, Any] = {}
    for role, value in probabilities.items():
        la = _as_logits(value, role, n)
        p_i = la.probabilities(rows)
        p_j = la.probabilities(idx.ravel()).reshape(rows.shape[0], k, -1)
        lip_sum = (total_variation(p_i[:, None, :], p_j) * inv_d).sum(axis=1)
        pred = None if predictions is None else predictions.get(role)
        pred = la.predictions() if pred is None else np.asarray(pred)
        agree = (
            1.0 + (pred[idx[:, : consistency_k - 1]] == pred[rows, None]).sum(axis=1)
        ) / consistency_k
        r, lin = _ratio_terms(lip_sum, pair_count)
        per_role[role] = {"lip": r, "lip_lin": lin, "cons": agree}
        lip = _interval(lin, n, confidence, center=r)
        norm = {
            key: (
                None
                if v is None
                else ([c * scale for c in v] if isinstance(v, list) else v * scale)
            )
            for key, v in lip.items()
        }
        out[role] = {
            "lipschitz": lip,
            "lipschitz_normalized": norm,
            "consistency": _interval(agree, n, confidence),
        }
    delta: dict[str, Any] = {}
    for a, b in pairs:
        if a not in per_role or b not in per_role:
            continue
        d_lip = np.asarray(per_role[b]["lip_lin"]) - np.asarray(per_role[a]["lip_lin"])
        d_cons = np.asarray(per_role[b]["cons"]) - np.asarray(per_role[a]["cons"])
        lip = _interval(
            d_lip,
            n,
            confidence,
            center=float(per_role[b]["lip"]) - float(per_role[a]["lip"]),
            p_value=True,
        )
        delta[pair_name(a, b)] = {
            "lipschitz": lip,
            "consistency": _interval(d_cons, n, confidence, p_value=True),
        }
    config = {
        "k": int(k),
        "space": space,
        "distance": metric,
        "n_samples": int(n),
        "n_pairs": int(pair_count.sum()),
        "divergence": "total_variation",
        "consistency_k": int(consistency_k),
        "confidence": confidence,
        "seed": int(seed),
        "distance_scale": scale,
        "resampling": (
            "anchor subsample: Student-t over anchors; ci includes the subsampling "
            "variance, subsample_ci is the interval for the full-data value (with "
            "finite-population correction)"
        ),
        "anchors": {
            "count": int(rows.shape[0]),
            "requested": int(n_anchors),
            "method": "hash(seed, row id) < requested / n_samples (SplitMix64)",
            "population": int(n),
            "neighbors": neighbours,
        },
    }
    result: dict[str, Any] = {"config": config, **out}
    if delta:
        result["delta"] = delta
    return result


@dataclasses.dataclass(frozen=True, eq=False)
class AnchorPlan:
    """What an audit uses instead of the all-rows kNN graph when anchors are on."""

    rep: np.ndarray
    k: int
    metric: str
    space: str
    n_anchors: int

    def evaluate(
        self,
        probabilities: Mapping[str, LogitArray | np.ndarray],
        *,
        predictions: Mapping[str, np.ndarray] | None = None,
        seed: int = 0,
        confidence: float = 0.95,
        pairs: Iterable[tuple[str, str]] = (),
    ) -> dict[str, Any]:
        """:func:`anchored_individual_fairness` on this plan's representation."""
        return anchored_individual_fairness(
            self.rep,
            probabilities,
            n_anchors=self.n_anchors,
            k=self.k,
            metric=self.metric,
            space=self.space,
            predictions=predictions,
            seed=seed,
            confidence=confidence,
            pairs=pairs,
        )
