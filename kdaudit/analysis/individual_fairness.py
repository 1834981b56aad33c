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

Unit-free I(f): ``lipschitz_normalized`` = I(f) x ``distance_scale``, i.e.
I(f) with every distance divided by the median distance of the graph's
neighbour pairs with d > 0 (``config.distance_scale``). It reads "the change
in predicted probability (total variation) between two inputs one typical
neighbour distance apart", means the same on images, tables and embeddings,
and is what a policy's ``max_lipschitz_increase`` judges. The raw I(f) stays.

Uncertainty (docs/individual_fairness.md has the measured calibration):
I(f) and consistency are averages over PAIRS of rows, and the pairs are
chosen by the data (a row that moves changes its neighbours' neighbours), so
resampling anchor rows over a fixed graph underestimates their spread
(measured: SE 0.71-0.76x the true one, 19% false alarms at 5%). kdaudit uses a grouped
(delete-a-group) jackknife: rows are split at random into G = 20 groups;
replicate g deletes group g and REBUILDS the k-NN graph of the other rows
(exactly, from each row's ``k + spare`` nearest kept in the graph), then
recomputes every statistic (the normalized I(f) with the replicate's own
distance scale). ``SE^2 = (G - 1) / G x sum_g (T_g - mean T)^2``; intervals
are ``value +- t_{G-1} x SE``; paired deltas use the same groups and their
p-value is the two-sided t-test with G - 1 df. Counterfactual numbers are
plain per-row means and keep the percentile bootstrap over rows.
"""

from __future__ import annotations

import dataclasses
import warnings
from collections.abc import Iterable, Mapping
from typing import Any, Self

import numpy as np
import scipy.special as _special

from kdaudit.analysis import stats
from kdaudit.analysis.neighbors import KNNGraph
from kdaudit.arrays import LogitArray, softmax
from kdaudit.errors import InputDataError, KDAuditWarning, UsageError
from kdaudit.results import Estimate, Record, to_native

__all__ = [
    "DEFAULT_GROUPS",
    "DEFAULT_SPARE",
    "Counterfactual",
    "CounterfactualGroup",
    "IndividualFairnessConfig",
    "IndividualFairnessResult",
    "PairIndividualFairness",
    "RoleIndividualFairness",
    "distance_scale",
    "individual_fairness",
    "subsample_statistics",
    "total_variation",
]

DEFAULT_GROUPS = 20
"""Row groups of the grouped jackknife (docs/individual_fairness.md: measured coverage)."""
DEFAULT_SPARE = 10
"""Neighbours searched beyond k so a jackknife replicate can rebuild the graph exactly."""
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
    distance_scale: float | None = None
    """Median distance of the graph's neighbour pairs with d > 0: the unit of
    ``lipschitz_normalized`` (I(f) x distance_scale)."""
    resampling: str = ""
    n_groups: int = 0
    graph_width: int = 0
    """Neighbours held per row (k plus the spares the jackknife rebuilds from)."""


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
    lipschitz_normalized: Estimate | None = dataclasses.field(
        default=None, metadata={"record": Estimate, "omit_none": True}
    )
    consistency_definition: str = ""
    counterfactual: Counterfactual | None = dataclasses.field(
        default=None, metadata={"record": Counterfactual, "omit_none": True}
    )


@dataclasses.dataclass(frozen=True, slots=True, kw_only=True)
class PairIndividualFairness(Record):
    """metric(B) - metric(A) for the pair A_vs_B, paired over resampled anchors."""

    lipschitz: Estimate = dataclasses.field(metadata={"record": Estimate})
    consistency: Estimate = dataclasses.field(metadata={"record": Estimate})
    lipschitz_normalized: Estimate | None = dataclasses.field(
        default=None, metadata={"record": Estimate, "omit_none": True}
    )


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
        roles = {
            k: RoleIndividualFairness.from_dict(v) for k, v in data.items() if k not in _RESERVED
        }
        delta = {k: PairIndividualFairness.from_dict(v) for k, v in data.get("delta", {}).items()}
        return cls(
            config=IndividualFairnessConfig.from_dict(data["config"]), roles=roles, delta=delta
        )


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
    n_groups: int = DEFAULT_GROUPS,
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
        Bootstrap replicates of the counterfactual numbers (per-row means); 0: no
        intervals or p-values at all.
    seed : int
        Seed of the bootstrap's generator and of the jackknife's random row groups.
    confidence : float
        Coverage of the intervals.
    pairs : iterable of (A, B) tuples or "A_vs_B" strings
        Model pairs for paired deltas ``metric(B) - metric(A)``; pairs whose
        roles are absent are ignored.
    consistency_k : int
        Size of each consistency neighbourhood *including the point itself*
        (AIF360's ``n_neighbors``, default 5). Lowered, with a warning, to
        ``graph.k + 1`` when the graph has fewer neighbours; ``config.consistency_k``
        reports the value used.
    n_groups : int
        Row groups G of the grouped jackknife behind the intervals and p-values of
        I(f), its normalized form and consistency (capped at n_samples). Each
        replicate deletes one group and rebuilds the k-NN graph of the rest from the
        graph's extended neighbour lists (:func:`knn_graph` with ``spare``).

    Returns
    -------
    IndividualFairnessResult

    Examples
    --------
    >>> import numpy as np
    >>> from kdaudit.analysis.neighbors import knn_graph
    >>> rng = np.random.default_rng(0)
    >>> x = rng.normal(size=(60, 2))
    >>> graph = knn_graph(x, k=3)
    >>> smooth, rough = x @ [1.0, 0.0], rng.normal(size=60) * 5
    >>> logits = {"teacher": np.c_[smooth, -smooth], "student": np.c_[rough, -rough]}
    >>> res = individual_fairness(graph, logits, n_bootstrap=0, consistency_k=4)
    >>> bool(res.roles["teacher"].lipschitz.value < res.roles["student"].lipschitz.value)
    True
    """
    from kdaudit.analysis.pairs import check_pairs, pair_name

    logits, consistency_k = _validate(graph, probabilities, n_bootstrap, consistency_k)
    geo = _geometry(graph)
    roles = list(logits)
    terms = _pair_terms(graph, geo, logits, predictions, consistency_k)
    m, n = len(roles), geo.n
    point, reps, n_groups = _point_and_jackknife(
        geo, terms, consistency_k, n_bootstrap=n_bootstrap, n_groups=n_groups, seed=seed
    )
    cf = _counterfactuals(logits, counterfactual, n, n_bootstrap, seed, confidence)
    lip_reason = "every nearest-neighbour pair has distance 0" if geo.n_pairs == 0 else None

    results = {
        role: _role_record(
            point,
            reps,
            r,
            m,
            lip_reason,
            confidence,
            terms.definitions[role],
            cf.record(role, sensitive_features),
        )
        for r, role in enumerate(roles)
    }
    delta = {
        pair_name(a, b): _pair_record(
            point, reps, roles.index(a), roles.index(b), m, lip_reason, confidence
        )
        for a, b in check_pairs(pairs, roles, absent="skip")
    }
    config = _config(
        graph, geo, terms, consistency_k, n_bootstrap, confidence, seed, n_groups, reps
    )
    return IndividualFairnessResult(config=config, roles=results, delta=delta)


# ------------------------------------------------------------------- stage 1: validate
def _validate(
    graph: KNNGraph,
    probabilities: Mapping[str, LogitArray | np.ndarray],
    n_bootstrap: int,
    consistency_k: int,
) -> tuple[dict[str, LogitArray], int]:
    """Each role's outputs as a LogitArray, and the consistency neighbourhood size used."""
    n, k = graph.indices.shape
    if not probabilities:
        raise UsageError("individual_fairness needs at least one model's outputs; got none.")
    bad = _RESERVED.intersection(probabilities)
    if bad:
        raise UsageError(
            f"Role names {sorted(bad)} are reserved in the individual-fairness report."
        )
    if n_bootstrap < 0:
        raise UsageError(f"Expected n_bootstrap >= 0; got {n_bootstrap}.")
    logits = {role: _as_logits(v, role, n) for role, v in probabilities.items()}
    if consistency_k < 1:
        raise UsageError(f"Expected consistency_k >= 1; got {consistency_k}.")
    if consistency_k - 1 > k:
        warnings.warn(
            f"Consistency uses {consistency_k} neighbours (the point included) but the kNN graph "
            f"has only k={k}; using {k + 1}, which is not comparable with AIF360's default.",
            KDAuditWarning,
            stacklevel=3,
        )
        consistency_k = k + 1
    return logits, consistency_k


# ------------------------------------------------------------ stage 2: pairs and terms
@dataclasses.dataclass(frozen=True, slots=True, kw_only=True)
class _Geometry:
    """The graph's extended neighbour lists, their distances and the pair counts."""

    n: int
    k: int
    ext_idx: np.ndarray
    dist: np.ndarray
    inv_d: np.ndarray  # 1 / d, 0 where d = 0
    n_pairs: int
    n_zero: int
    scale: float


def _geometry(graph: KNNGraph) -> _Geometry:
    n, k = graph.indices.shape
    ext_idx, ext_dist = graph.extended()
    dist = ext_dist.astype(np.float64)
    nonzero = dist > 0
    inv_d = np.where(nonzero, 1.0 / np.where(nonzero, dist, 1.0), 0.0)
    pair_count = nonzero[:, :k].sum(axis=1).astype(np.float64)  # per anchor
    n_pairs = int(pair_count.sum())
    n_zero = int(n * k - n_pairs)
    if n_zero:
        warnings.warn(
            f"{n_zero} of {n * k} nearest-neighbour pairs have distance 0 (duplicate samples) "
            "and are left out of the Lipschitz estimate.",
            KDAuditWarning,
            stacklevel=3,
        )
    return _Geometry(
        n=n,
        k=k,
        ext_idx=ext_idx,
        dist=dist,
        inv_d=inv_d,
        n_pairs=n_pairs,
        n_zero=n_zero,
        scale=distance_scale(graph),
    )


@dataclasses.dataclass(frozen=True, slots=True, kw_only=True)
class _PairTerms:
    """Per-pair terms over the extended lists (the jackknife rebuilds the graph from them)."""

    terms: np.ndarray  # (n, width, roles) float32: TV / d
    same: np.ndarray  # (n, width, roles) bool: neighbour predicted like the anchor
    lip_sum: np.ndarray  # (n, roles): sum of the k nearest terms per anchor
    agree: np.ndarray  # (n, roles): consistency of each anchor
    definitions: dict[str, str]


def _pair_terms(
    graph: KNNGraph,
    geo: _Geometry,
    logits: Mapping[str, LogitArray],
    predictions: Mapping[str, np.ndarray] | None,
    consistency_k: int,
) -> _PairTerms:
    n, k, width, m = geo.n, geo.k, geo.ext_idx.shape[1], len(logits)
    terms = np.zeros((n, width, m), dtype=np.float32)
    same = np.zeros((n, width, m), dtype=bool)
    lip_sum = np.zeros((n, m))
    agree = np.zeros((n, m))
    definitions: dict[str, str] = {}
    nb_c = graph.indices[:, : consistency_k - 1]
    for r, (role, la) in enumerate(logits.items()):
        pair_terms = _lipschitz_terms(la, geo.ext_idx, geo.inv_d)
        lip_sum[:, r] = pair_terms[:, :k].sum(axis=1)
        terms[:, :, r] = pair_terms
        pred = None if predictions is None else predictions.get(role)
        pred = la.predictions() if pred is None else _as_labels(pred, role, n)
        agree[:, r] = (1.0 + (pred[nb_c] == pred[:, None]).sum(axis=1)) / consistency_k
        same[:, :, r] = pred[geo.ext_idx] == pred[:, None]
        definitions[role] = _consistency_definition(pred, consistency_k)
    return _PairTerms(terms=terms, same=same, lip_sum=lip_sum, agree=agree, definitions=definitions)


# ------------------------------------------------------------------ stage 3: estimate
def _point_and_jackknife(
    geo: _Geometry,
    terms: _PairTerms,
    consistency_k: int,
    *,
    n_bootstrap: int,
    n_groups: int,
    seed: int,
) -> tuple[np.ndarray, np.ndarray | None, int]:
    """Point statistics (lipschitz, lipschitz_normalized, consistency per role), the
    grouped-jackknife replicates (None without resampling) and the groups used."""
    m, n, k = terms.lip_sum.shape[1], geo.n, geo.k
    lip_point = terms.lip_sum.sum(axis=0) / geo.n_pairs if geo.n_pairs else np.full(m, np.nan)
    cons_point = terms.agree.sum(axis=0) / n
    point = np.concatenate([lip_point, lip_point * geo.scale, cons_point])
    n_groups = int(min(n_groups, n))
    reps = None
    if n_bootstrap > 0 and n_groups >= 2 and geo.n_pairs:
        reps = _jackknife_replicates(
            geo.ext_idx, geo.dist, terms.terms, terms.same, k, consistency_k, n_groups, seed
        )
    return point, reps, n_groups


# ------------------------------------------------------ stage 3: counterfactual estimate
@dataclasses.dataclass(frozen=True, slots=True, kw_only=True)
class _Counterfactuals:
    """Per-row TV distance and flip of each role with counterfactual outputs, bootstrapped."""

    n: int
    rows: dict[str, tuple[np.ndarray, np.ndarray]]
    point: np.ndarray  # (2 * roles,) column sums: tv, flip per role
    reps: np.ndarray | None  # (B, 2 * roles)
    confidence: float

    def record(self, role: str, sensitive_features: np.ndarray | None) -> Counterfactual | None:
        if role not in self.rows:
            return None
        j = 2 * list(self.rows).index(role)
        assert self.reps is not None  # rows non-empty, so the replicates exist
        return _counterfactual_record(
            self.rows[role],
            self.point[j : j + 2] / self.n,
            self.reps[:, j : j + 2] / self.n,
            self.confidence,
            sensitive_features,
            self.n,
        )


def _counterfactuals(
    logits: Mapping[str, LogitArray],
    counterfactual: Mapping[str, LogitArray | np.ndarray] | None,
    n: int,
    n_bootstrap: int,
    seed: int,
    confidence: float,
) -> _Counterfactuals:
    rows: dict[str, tuple[np.ndarray, np.ndarray]] = {}
    for role, cf in (counterfactual or {}).items():
        if role not in logits:
            continue
        rows[role] = _counterfactual_rows(
            logits[role], _as_logits(cf, f"{role} (counterfactual)", n)
        )
    # counterfactual numbers are per-row means: the plain bootstrap over rows is right for them
    cols = [c for tv, flip in rows.values() for c in (tv, flip.astype(np.float64))]
    return _Counterfactuals(
        n=n,
        rows=rows,
        point=np.array([c.sum() for c in cols]),
        reps=_bootstrap_sums(np.column_stack(cols), n_bootstrap, seed) if cols else None,
        confidence=confidence,
    )


# ------------------------------------------------------------------- stage 4: records
def _role_record(
    point: np.ndarray,
    reps: np.ndarray | None,
    r: int,
    m: int,
    lip_reason: str | None,
    confidence: float,
    definition: str,
    counterfactual: Counterfactual | None,
) -> RoleIndividualFairness:
    ests = [
        _jackknife_estimate(
            point[c],
            None if reps is None else reps[:, c],
            confidence,
            None if c == 2 * m + r else lip_reason,
            bounds=(0.0, 1.0) if c == 2 * m + r else (0.0, np.inf),
        )
        for c in (r, m + r, 2 * m + r)
    ]
    return RoleIndividualFairness(
        lipschitz=ests[0],
        lipschitz_normalized=ests[1],
        consistency=ests[2],
        consistency_definition=definition,
        counterfactual=counterfactual,
    )


def _pair_record(
    point: np.ndarray,
    reps: np.ndarray | None,
    ia: int,
    ib: int,
    m: int,
    lip_reason: str | None,
    confidence: float,
) -> PairIndividualFairness:
    ests = []
    for off, reason in ((0, lip_reason), (m, lip_reason), (2 * m, None)):
        d_reps = None if reps is None else reps[:, off + ib] - reps[:, off + ia]
        ests.append(
            _jackknife_estimate(
                point[off + ib] - point[off + ia],
                d_reps,
                confidence,
                reason,
                paired=True,
                bounds=(-1.0, 1.0) if off == 2 * m else (-np.inf, np.inf),
            )
        )
    return PairIndividualFairness(
        lipschitz=ests[0], lipschitz_normalized=ests[1], consistency=ests[2]
    )


def _config(
    graph: KNNGraph,
    geo: _Geometry,
    terms: _PairTerms,
    consistency_k: int,
    n_bootstrap: int,
    confidence: float,
    seed: int,
    n_groups: int,
    reps: np.ndarray | None,
) -> IndividualFairnessConfig:
    width = geo.ext_idx.shape[1]
    resampling = "none"
    if reps is not None:
        resampling = (
            f"grouped jackknife over {n_groups} random row groups, k-NN graph rebuilt "
            f"without each group (t interval, {n_groups - 1} df)"
        )
        if width <= geo.k:
            resampling += (
                "; the graph has no spare neighbours, so a "
                "replicate keeps the surviving ones of each row's k (approximate)"
            )
    return IndividualFairnessConfig(
        k=geo.k,
        space=graph.space,
        distance=graph.metric,
        n_samples=geo.n,
        n_pairs=geo.n_pairs,
        n_zero_distance_pairs=geo.n_zero,
        consistency_k=consistency_k,
        consistency_definition="; ".join(sorted(set(terms.definitions.values()))),
        n_bootstrap=int(n_bootstrap),
        confidence=float(confidence),
        seed=int(seed),
        distance_scale=None if not np.isfinite(geo.scale) else float(geo.scale),
        resampling=resampling,
        n_groups=n_groups if reps is not None else 0,
        graph_width=int(width),
    )


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
        return (
            f"aif360: 1 - mean_i |yhat_i - mean(yhat over i and its {k - 1} nearest "
            "other samples)| (binary 0/1 predictions)"
        )
    return (
        f"agreement: mean_i share of i and its {k - 1} nearest other samples predicted "
        "like i (multi-class generalization; equals aif360 on 0/1 predictions)"
    )


def _chunk_rows(n_classes: int, k: int) -> int:
    return max(1, _WORK_BYTES // (8 * n_classes * (k + 1) * 2))


def _lipschitz_terms(la: LogitArray, indices: np.ndarray, inv_d: np.ndarray) -> np.ndarray:
    """Per anchor i and listed neighbour j: TV(p_i, p_j) / d_ij (0 where d = 0), float64."""
    n, k = indices.shape
    out = np.empty((n, k))
    step = _chunk_rows(la.n_classes, k)
    for s in range(0, n, step):
        e = min(n, s + step)
        p_i = la.probabilities(np.arange(s, e))
        p_j = la.probabilities(indices[s:e].ravel()).reshape(e - s, k, -1)
        out[s:e] = total_variation(p_i[:, None, :], p_j) * inv_d[s:e]
    return out


def distance_scale(graph: KNNGraph) -> float:
    """The unit of ``lipschitz_normalized``: median distance of the graph's pairs with d > 0.

    NaN when every pair has distance 0.
    """
    d = np.asarray(graph.distances, dtype=np.float64).ravel()
    d = d[d > 0]
    return float(np.median(d)) if d.size else float("nan")


def _jackknife_replicates(
    ext_idx: np.ndarray,
    dist: np.ndarray,
    terms: np.ndarray,
    same: np.ndarray,
    k: int,
    consistency_k: int,
    n_groups: int,
    seed: int,
) -> np.ndarray:
    """Delete-a-group jackknife replicates, shape (G, 3 * n_roles).

    Rows are split at random into G groups of near-equal size. Replicate g deletes
    group g and REBUILDS the k-NN graph of the remaining rows: each remaining row's
    neighbours are its first k surviving entries of the extended list (exact when at
    least k survive; else the survivors are used). Columns per role: I(f), I(f) x the
    replicate's own distance scale, consistency.
    """
    n = ext_idx.shape[0]
    rng = np.random.default_rng([int(seed), 0x1F])
    group = rng.permutation(n) % n_groups
    return np.stack(
        [
            subsample_statistics(ext_idx, dist, terms, same, k, consistency_k, group != g)
            for g in range(n_groups)
        ]
    )


def subsample_statistics(
    ext_idx: np.ndarray,
    dist: np.ndarray,
    terms: np.ndarray,
    same: np.ndarray,
    k: int,
    consistency_k: int,
    alive: np.ndarray,
) -> np.ndarray:
    """I(f), normalized I(f) and consistency per role on the rows where ``alive``.

    The subsample's k-NN graph is rebuilt: each kept row's neighbours are its first k
    kept entries of the extended list. Returns shape (3 * n_roles,).
    """
    m = terms.shape[2]
    out = np.full(3 * m, np.nan)
    nb = alive[ext_idx] & alive[:, None]
    rank = np.cumsum(nb, axis=1)
    use = nb & (rank <= k) & (dist > 0)
    count = int(use.sum())
    if count:
        lip = terms[use].sum(axis=0, dtype=np.float64) / count
        out[:m] = lip
        out[m : 2 * m] = lip * float(np.median(dist[use]))
    use_c = nb & (rank <= consistency_k - 1)
    agree = (1.0 + (same & use_c[:, :, None]).sum(axis=1)) / (1.0 + use_c.sum(axis=1))[:, None]
    out[2 * m :] = agree[alive].mean(axis=0)
    return out


def _jackknife_estimate(
    value: float,
    replicates: np.ndarray | None,
    confidence: float,
    reason: str | None,
    *,
    paired: bool = False,
    bounds: tuple[float, float] = (-np.inf, np.inf),
) -> Estimate:
    """``value +- t_{G-1} x SE_jack`` (clipped to ``bounds``); with ``paired`` the
    two-sided t-test p of value == 0.

    ``SE_jack^2 = (G - 1) / G x sum_g (T_g - mean T)^2``. A zero SE (e.g. identical
    models) gives the degenerate interval [value, value] and p = 1 when value == 0.
    Fewer than two usable replicates (a handful of rows): no interval, and p = 1 for a
    change (nothing can be tested).
    """
    if reason is not None or value is None or not np.isfinite(value):
        return Estimate(value=None, undefined_reason=reason or "undefined")
    if replicates is None:
        return Estimate(value=float(value))
    reps = replicates[np.isfinite(replicates)]
    g = reps.shape[0]
    if g < 2:
        return Estimate(value=float(value), p_value=1.0 if paired else None)
    se = float(np.sqrt((g - 1) / g * np.sum((reps - reps.mean()) ** 2)))
    half = float(_special.stdtrit(g - 1, 0.5 + confidence / 2.0)) * se
    p = None
    if paired:
        if se > 0:
            p = float(2.0 * _special.stdtr(g - 1, -abs(value) / se))
        else:
            p = 1.0 if value == 0 else 0.0
    low, high = max(bounds[0], float(value - half)), min(bounds[1], float(value + half))
    return Estimate(value=float(value), ci_low=low, ci_high=high, p_value=p)


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
            raise InputDataError(
                f"Expected sensitive_features of shape ({n},); got {np.shape(groups)}."
            )
        labels, inv = stats.factorize_labels(groups)
        counts = np.bincount(inv, minlength=labels.shape[0])
        tv_g = np.bincount(inv, weights=tv, minlength=labels.shape[0]) / counts
        fl_g = np.bincount(inv, weights=flip.astype(np.float64), minlength=labels.shape[0]) / counts
        by_group = [
            CounterfactualGroup(
                group=str(lab), n=int(c), mean_tv_distance=float(t), flip_rate=float(f)
            )
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
    for weights in stats.bootstrap_cell_counts(
        np.ones(n, dtype=np.int64), n_bootstrap, rng, chunk_size=chunk, cell_of_row=np.arange(n)
    ):
        b = weights.shape[0]
        out[done : done + b] = weights.astype(np.float64) @ per_anchor
        done += b
    return out
