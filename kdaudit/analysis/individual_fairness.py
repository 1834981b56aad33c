"""Individual fairness (METHODS.md 3): Lipschitz estimate, consistency, counterfactuals.

All models are measured on the same pairs: the kNN graph of
:mod:`kdaudit.analysis.neighbors`, built once.

Definitions
-----------
Lipschitz estimate (P1, after Dwork et al. 2012; smaller is fairer)::

    I(f) = sum_i sum_{j in kNN(i), d_ij > 0} D(f(x_i), f(x_j)) / d_ij
           / #{(i, j): j in kNN(i), d_ij > 0}

with D the total variation distance between the softmax probability vectors
(half their L1 distance, in [0, 1]) and d the graph's distance. Pairs with
d = 0 (duplicates in the representation) are skipped and counted.

Consistency (AIF360's ``BinaryLabelDatasetMetric.consistency``; larger is
fairer)::

    consistency = 1 - mean_i |yhat_i - mean(yhat_j for j in N_i)|

where N_i is ``i`` itself plus its ``consistency_k - 1`` nearest *other*
samples (AIF360 calls ``NearestNeighbors(n_neighbors=5).kneighbors(X)`` on
the fitted X, whose first neighbour is the point itself). For 0/1
predictions this equals ``mean_i share of N_i predicted like i``, which is
the definition kdaudit uses for every task ("agreement"); for binary 0/1
predictions it is AIF360's number. Differences from AIF360 (documented, not
bugs): the neighbours are searched in kdaudit's representation space
(``space``; pass ``space="flat"`` on 2-D inputs to use raw features as AIF360
does) and exact distance ties are broken by the smaller index (AIF360's
ball tree breaks them arbitrarily, and with exact duplicates may return a
duplicate instead of the point itself).

Counterfactual (when inputs x' are given, same rows as x): the mean D(f(x),
f(x')) and the flip rate (share of rows whose argmax changes), overall and
per group.

Uncertainty: percentile bootstrap over anchor rows i (B resamples, seeded).
The replicate of I(f) is the ratio of the resampled per-anchor sums; paired
deltas between models use the same resampled anchors. p-value:
``min(1, 2 * min(share delta* <= 0, share delta* >= 0))``.
"""

from __future__ import annotations

import dataclasses
import warnings
from collections.abc import Iterable, Mapping
from typing import Any, Self

import numpy as np

from kdaudit.analysis import stats
from kdaudit.analysis.neighbors import KNNGraph
from kdaudit.engine.logits import LogitArray, softmax
from kdaudit.errors import InputDataError, KDAuditWarning, UsageError
from kdaudit.results import Estimate, Record, to_native

_WORK_BYTES = 64 * 1024 * 1024  # float64 working memory for one chunk of probability rows
_RESERVED = frozenset({"config", "delta"})


# -------------------------------------------------------------------------- records
@dataclasses.dataclass(frozen=True, slots=True, kw_only=True)
class IndividualFairnessConfig(Record):
    """Every choice behind the individual-fairness numbers."""

    k: int
    space: str
    distance: str
    n_samples: int
    n_pairs: int
    """Pairs used in I(f): (i, j in kNN(i)) with d > 0."""
    n_zero_distance_pairs: int
    divergence: str = "total_variation"
    consistency_k: int = 5
    consistency_definition: str = ""
    n_bootstrap: int = 0
    confidence: float = 0.95
    seed: int = 0


@dataclasses.dataclass(frozen=True, slots=True, kw_only=True)
class CounterfactualGroup(Record):
    group: str
    n: int
    mean_tv_distance: float
    flip_rate: float


@dataclasses.dataclass(frozen=True, slots=True, kw_only=True)
class Counterfactual(Record):
    """f(x) vs f(x') on the same rows."""

    n: int
    mean_tv_distance: Estimate = dataclasses.field(metadata={"record": Estimate})
    flip_rate: Estimate = dataclasses.field(metadata={"record": Estimate})
    by_group: tuple[CounterfactualGroup, ...] = dataclasses.field(
        default=(), metadata={"record": CounterfactualGroup, "many": True}
    )


@dataclasses.dataclass(frozen=True, slots=True, kw_only=True)
class RoleIndividualFairness(Record):
    lipschitz: Estimate = dataclasses.field(metadata={"record": Estimate})
    consistency: Estimate = dataclasses.field(metadata={"record": Estimate})
    consistency_definition: str = ""
    counterfactual: Counterfactual | None = dataclasses.field(
        default=None, metadata={"record": Counterfactual, "omit_none": True}
    )


@dataclasses.dataclass(frozen=True, slots=True, kw_only=True)
class PairIndividualFairness(Record):
    """metric(B) - metric(A) for the pair A_vs_B, paired over resampled anchors."""

    lipschitz: Estimate = dataclasses.field(metadata={"record": Estimate})
    consistency: Estimate = dataclasses.field(metadata={"record": Estimate})


@dataclasses.dataclass(frozen=True, slots=True, kw_only=True)
class IndividualFairnessResult(Record):
    """``to_dict()``: ``{config, ROLE: {...}, delta?: {PAIR: {...}}}`` (roles at top level)."""

    config: IndividualFairnessConfig
    roles: dict[str, RoleIndividualFairness]
    delta: dict[str, PairIndividualFairness] = dataclasses.field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"config": self.config.to_dict()}
        for role, rec in self.roles.items():
            out[role] = rec.to_dict()
        if self.delta:
            out["delta"] = {k: v.to_dict() for k, v in self.delta.items()}
        return to_native(out)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Self:
        roles = {k: RoleIndividualFairness.from_dict(v) for k, v in data.items()
                 if k not in _RESERVED}
        delta = {k: PairIndividualFairness.from_dict(v) for k, v in data.get("delta", {}).items()}
        return cls(config=IndividualFairnessConfig.from_dict(data["config"]), roles=roles,
                   delta=delta)


# ------------------------------------------------------------------------- analysis
def individual_fairness(
    graph: KNNGraph,
    probabilities: Mapping[str, LogitArray | np.ndarray],
    *,
    predictions: Mapping[str, np.ndarray] | None = None,
    counterfactual: Mapping[str, LogitArray | np.ndarray] | None = None,
    sensitive_features: np.ndarray | None = None,
    n_bootstrap: int = 1000,
    seed: int = 0,
    confidence: float = 0.95,
    pairs: Iterable[tuple[str, str] | str] = (),
    consistency_k: int = 5,
) -> IndividualFairnessResult:
    """Lipschitz estimate, consistency and counterfactual change of each model.

    Parameters
    ----------
    graph : KNNGraph
        The shared kNN graph, ``graph.indices`` of shape (n_samples, k).
    probabilities : mapping of role -> LogitArray or ndarray of shape (n_samples, n_classes)
        Each model's logits (or log-probabilities); softmax is applied here,
        chunk by chunk, so memory stays bounded for large ``n_classes``.
        A plain array is read as logits.
    predictions : mapping of role -> ndarray of shape (n_samples,), optional
        Predicted labels for consistency; default: the argmax of the logits.
    counterfactual : mapping of role -> LogitArray or ndarray, optional
        Each model's logits on counterfactual inputs x' (same rows as x).
    sensitive_features : ndarray of shape (n_samples,), optional
        Group labels for the per-group counterfactual numbers.
    n_bootstrap : int
        Bootstrap replicates (0: no intervals or p-values).
    seed : int
        Seed of the bootstrap's generator.
    confidence : float
        Coverage of the percentile intervals.
    pairs : iterable of (A, B) tuples or "A_vs_B" strings
        Model pairs for paired deltas ``metric(B) - metric(A)``; pairs whose
        roles are absent are ignored.
    consistency_k : int
        Size of each consistency neighbourhood *including the point itself*
        (AIF360's ``n_neighbors``, default 5). Lowered, with a warning, to
        ``graph.k + 1`` when the graph has fewer neighbours; ``config.consistency_k``
        reports the value used.

    Returns
    -------
    IndividualFairnessResult
    """
    n, k = graph.indices.shape
    if not probabilities:
        raise UsageError("individual_fairness needs at least one model's outputs; got none.")
    bad = _RESERVED.intersection(probabilities)
    if bad:
        raise UsageError(f"Role names {sorted(bad)} are reserved in the individual-fairness report.")
    if n_bootstrap < 0:
        raise UsageError(f"Expected n_bootstrap >= 0; got {n_bootstrap}.")
    logits = {role: _as_logits(v, role, n) for role, v in probabilities.items()}
    if consistency_k < 1:
        raise UsageError(f"Expected consistency_k >= 1; got {consistency_k}.")
    if consistency_k - 1 > k:
        warnings.warn(
            f"Consistency uses {consistency_k} neighbours (the point included) but the kNN graph "
            f"has only k={k}; using {k + 1}, which is not comparable with AIF360's default.",
            KDAuditWarning, stacklevel=2,
        )
        consistency_k = k + 1
    dist = graph.distances.astype(np.float64)
    nonzero = dist > 0
    inv_d = np.where(nonzero, 1.0 / np.where(nonzero, dist, 1.0), 0.0)
    pair_count = nonzero.sum(axis=1).astype(np.float64)  # per anchor
    n_pairs = int(pair_count.sum())
    n_zero = int(n * k - n_pairs)
    if n_zero:
        warnings.warn(
            f"{n_zero} of {n * k} nearest-neighbour pairs have distance 0 (duplicate samples) "
            "and are left out of the Lipschitz estimate.",
            KDAuditWarning, stacklevel=2,
        )

    # per-anchor terms: lipschitz sums and consistency agreement, one column per role
    roles = list(logits)
    lip_sum = np.zeros((n, len(roles)))
    agree = np.zeros((n, len(roles)))
    definitions: dict[str, str] = {}
    nb_c = graph.indices[:, : consistency_k - 1]
    for r, role in enumerate(roles):
        lip_sum[:, r] = _lipschitz_sums(logits[role], graph.indices, inv_d)
        pred = None if predictions is None else predictions.get(role)
        pred = logits[role].predictions() if pred is None else _as_labels(pred, role, n)
        agree[:, r] = (1.0 + (pred[nb_c] == pred[:, None]).sum(axis=1)) / consistency_k
        definitions[role] = _consistency_definition(pred, consistency_k)

    cf_rows: dict[str, tuple[np.ndarray, np.ndarray]] = {}
    for role, cf in (counterfactual or {}).items():
        if role not in logits:
            continue
        cf_rows[role] = _counterfactual_rows(logits[role], _as_logits(cf, f"{role} (counterfactual)", n))

    # bootstrap over anchors: all per-anchor columns at once, same weights for every role
    columns = [lip_sum, pair_count[:, None], agree]
    for tv, flip in cf_rows.values():
        columns += [tv[:, None], flip[:, None].astype(np.float64)]
    per_anchor = np.concatenate(columns, axis=1)
    point = per_anchor.sum(axis=0)
    reps = _bootstrap_sums(per_anchor, n_bootstrap, seed)  # (B, n_columns)

    m = len(roles)
    with np.errstate(divide="ignore", invalid="ignore"):
        lip_point = point[:m] / point[m]
        lip_reps = reps[:, :m] / reps[:, m : m + 1]
    cons_point = point[m + 1 : 2 * m + 1] / n
    cons_reps = reps[:, m + 1 : 2 * m + 1] / n

    lip_reason = "every nearest-neighbour pair has distance 0" if n_pairs == 0 else None
    results: dict[str, RoleIndividualFairness] = {}
    for r, role in enumerate(roles):
        cf_rec = None
        if role in cf_rows:
            j = 2 * m + 1 + 2 * list(cf_rows).index(role)
            cf_rec = _counterfactual_record(
                cf_rows[role], point[j : j + 2] / n, reps[:, j : j + 2] / n, confidence,
                sensitive_features, n,
            )
        results[role] = RoleIndividualFairness(
            lipschitz=stats.estimate(lip_point[r], lip_reps[:, r], confidence, lip_reason),
            consistency=stats.estimate(cons_point[r], cons_reps[:, r], confidence),
            consistency_definition=definitions[role],
            counterfactual=cf_rec,
        )

    delta: dict[str, PairIndividualFairness] = {}
    for a, b in stats.parse_pairs(pairs):
        if a not in logits or b not in logits:
            continue
        ia, ib = roles.index(a), roles.index(b)
        delta[f"{a}_vs_{b}"] = PairIndividualFairness(
            lipschitz=stats.estimate(lip_point[ib] - lip_point[ia], lip_reps[:, ib] - lip_reps[:, ia],
                                confidence, lip_reason, paired=True),
            consistency=stats.estimate(cons_point[ib] - cons_point[ia],
                                  cons_reps[:, ib] - cons_reps[:, ia], confidence, paired=True),
        )

    kinds = sorted(set(definitions.values()))
    config = IndividualFairnessConfig(
        k=k, space=graph.space, distance=graph.metric, n_samples=n, n_pairs=n_pairs,
        n_zero_distance_pairs=n_zero, consistency_k=consistency_k,
        consistency_definition="; ".join(kinds), n_bootstrap=int(n_bootstrap),
        confidence=float(confidence), seed=int(seed),
    )
    return IndividualFairnessResult(config=config, roles=results, delta=delta)


# -------------------------------------------------------------------------- helpers
def total_variation(p: np.ndarray, q: np.ndarray) -> np.ndarray:
    """Total variation distance ``0.5 * sum |p - q|`` along the last axis.

    Parameters
    ----------
    p, q : ndarray, shape (..., n_classes)
        Probability vectors (broadcastable).

    Returns
    -------
    ndarray, shape (...)
    """
    return 0.5 * np.abs(np.asarray(p) - np.asarray(q)).sum(axis=-1)


def _as_logits(value: LogitArray | np.ndarray, role: str, n: int) -> LogitArray:
    la = value if isinstance(value, LogitArray) else LogitArray.from_array(np.asarray(value))
    if la.n_samples != n:
        raise InputDataError(
            f"Expected the {role} outputs to have one row per sample of the kNN graph ({n}); "
            f"got {la.n_samples}.",
            tip="Build the graph from the same data the models were run on.",
        )
    return la


def _as_labels(pred: np.ndarray, role: str, n: int) -> np.ndarray:
    p = np.asarray(pred)
    if p.shape != (n,):
        raise InputDataError(f"Expected {role} predictions of shape ({n},); got {p.shape}.")
    return p


def _consistency_definition(pred: np.ndarray, k: int) -> str:
    values = np.unique(pred)
    if np.isin(values, [0, 1]).all():
        return (f"aif360: 1 - mean_i |yhat_i - mean(yhat over i and its {k - 1} nearest "
                "other samples)| (binary 0/1 predictions)")
    return (f"agreement: mean_i share of i and its {k - 1} nearest other samples predicted "
            "like i (multi-class generalization; equals aif360 on 0/1 predictions)")


def _chunk_rows(n_classes: int, k: int) -> int:
    return max(1, _WORK_BYTES // (8 * n_classes * (k + 1) * 2))


def _lipschitz_sums(la: LogitArray, indices: np.ndarray, inv_d: np.ndarray) -> np.ndarray:
    """Per anchor i: sum over its neighbours j (d > 0) of TV(p_i, p_j) / d_ij."""
    n, k = indices.shape
    out = np.empty(n)
    step = _chunk_rows(la.n_classes, k)
    for s in range(0, n, step):
        e = min(n, s + step)
        p_i = la.probabilities(np.arange(s, e))
        p_j = la.probabilities(indices[s:e].ravel()).reshape(e - s, k, -1)
        tv = total_variation(p_i[:, None, :], p_j)
        out[s:e] = (tv * inv_d[s:e]).sum(axis=1)
    return out


def _counterfactual_rows(la: LogitArray, cf: LogitArray) -> tuple[np.ndarray, np.ndarray]:
    if cf.n_classes != la.n_classes:
        raise InputDataError(
            f"Expected counterfactual outputs with {la.n_classes} classes; got {cf.n_classes}."
        )
    n = la.n_samples
    tv = np.empty(n)
    flip = np.empty(n, dtype=bool)
    step = _chunk_rows(la.n_classes, 1)
    for s in range(0, n, step):
        idx = np.arange(s, min(n, s + step))
        a, b = la.rows(idx), cf.rows(idx)
        tv[idx] = total_variation(softmax(a), softmax(b))
        flip[idx] = a.argmax(axis=1) != b.argmax(axis=1)
    return tv, flip


def _counterfactual_record(
    rows: tuple[np.ndarray, np.ndarray],
    point: np.ndarray,
    reps: np.ndarray,
    confidence: float,
    groups: np.ndarray | None,
    n: int,
) -> Counterfactual:
    tv, flip = rows
    by_group: list[CounterfactualGroup] = []
    if groups is not None:
        if tuple(np.shape(groups) if not hasattr(groups, "codes") else groups.shape) != (n,):
            raise InputDataError(f"Expected sensitive_features of shape ({n},); "
                                 f"got {np.shape(groups)}.")
        labels, inv = stats.factorize_labels(groups)
        counts = np.bincount(inv, minlength=labels.shape[0])
        tv_g = np.bincount(inv, weights=tv, minlength=labels.shape[0]) / counts
        fl_g = np.bincount(inv, weights=flip.astype(np.float64), minlength=labels.shape[0]) / counts
        by_group = [
            CounterfactualGroup(group=str(lab), n=int(c), mean_tv_distance=float(t), flip_rate=float(f))
            for lab, c, t, f in zip(labels, counts, tv_g, fl_g, strict=True)
        ]
    return Counterfactual(
        n=n,
        mean_tv_distance=stats.estimate(point[0], reps[:, 0], confidence),
        flip_rate=stats.estimate(point[1], reps[:, 1], confidence),
        by_group=tuple(by_group),
    )


def _bootstrap_sums(per_anchor: np.ndarray, n_bootstrap: int, seed: int) -> np.ndarray:
    """Replicates of the column sums under resampling of anchor rows, shape (B, n_columns)."""
    n, m = per_anchor.shape
    out = np.empty((n_bootstrap, m))
    if n_bootstrap == 0:
        return out
    rng = np.random.default_rng(seed)
    chunk = max(1, _WORK_BYTES // (8 * 2 * n))
    done = 0
    for weights in stats.bootstrap_cell_counts(np.ones(n, dtype=np.int64), n_bootstrap, rng,
                                               chunk_size=chunk, cell_of_row=np.arange(n)):
        b = weights.shape[0]
        out[done : done + b] = weights.astype(np.float64) @ per_anchor
        done += b
    return out
