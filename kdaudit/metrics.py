"""fairlearn-style metric functions: the audit's numbers, one call each.

Each function takes arrays (``y_true``, predicted labels or logits) and keyword-only
options (``sensitive_features``, ...) like :mod:`fairlearn.metrics`, and runs the same
analyzer the audit runs (:mod:`kdaudit.analysis`), so its number equals the report's
on the same data. No second implementation lives here.

* Group fairness of one model, value only (a float; NaN when undefined, with a
  :class:`~kdaudit.errors.KDAuditWarning`): :func:`demographic_parity_difference`,
  :func:`demographic_parity_ratio`, :func:`equalized_odds_difference`,
  :func:`equal_opportunity_difference`, :func:`worst_group_accuracy`. On a binary task
  (labels 0/1, positive label 1) they equal fairlearn's functions of the same name
  (``method="between_groups"``) wherever every group's rates are defined. On a
  multi-class task without ``pos_label`` each class is measured one-vs-rest and the
  worst class is returned (fairlearn would silently measure class 1 only).
* Teacher against student, with uncertainty (a frozen record with ``value``,
  ``ci_low``, ``ci_high``, ``p_value``): :func:`paired_accuracy_difference` (Newcombe
  interval, exact McNemar test), :func:`fairness_difference` (the noise-aware paired
  bootstrap of a fairness metric's change, with its corrected ``estimate``) and
  :func:`class_accuracy_shift` (per-class McNemar tests, corrected for multiplicity).
* Individual fairness: :func:`individual_fairness` (I(f), the mean total-variation
  distance of neighbours' predicted probabilities over their distance) and
  :func:`consistency_score` (AIF360's consistency).

Predictions may be given as labels, shape (n_samples,), or as logits / scores, shape
(n_samples, n_classes), whose argmax is taken.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Literal, get_args

import numpy as np

from kdaudit.errors import InputDataError, UsageError
from kdaudit.vocab import Correction, MetricDistance

if TYPE_CHECKING:
    from kdaudit.analysis.class_shift import ClassShiftResult
    from kdaudit.analysis.group_fairness import FairnessDelta
    from kdaudit.analysis.stats import DeltaEstimate

__all__ = [
    "FAIRNESS_METRICS",
    "class_accuracy_shift",
    "consistency_score",
    "demographic_parity_difference",
    "demographic_parity_ratio",
    "equal_opportunity_difference",
    "equalized_odds_difference",
    "fairness_difference",
    "individual_fairness",
    "paired_accuracy_difference",
    "worst_group_accuracy",
]

FairnessMetric = Literal[
    "demographic_parity_difference",
    "equalized_odds_difference",
    "equal_opportunity_difference",
    "demographic_parity_ratio",
    "worst_group_accuracy",
]
#: The group-fairness metrics (the audit's ``group_fairness.ATTR.ROLE`` keys, in order).
FAIRNESS_METRICS: tuple[FairnessMetric, ...] = get_args(FairnessMetric)


# ------------------------------------------------------------------------ inputs
def _labels(values: Any, name: str) -> np.ndarray:
    """Labels from labels (n,) or logits (n, C) (argmax); bools become 0/1."""
    arr = np.asarray(values)
    if arr.ndim == 2:
        if arr.shape[1] < 2:
            raise InputDataError(
                f"Expected {name} as labels (n_samples,) or logits (n_samples, n_classes) "
                f"with n_classes >= 2; got shape {arr.shape}."
            )
        return np.asarray(arr.argmax(axis=1), dtype=np.int64)
    if arr.dtype == bool:
        return arr.astype(np.int64)
    if arr.ndim != 1 or not (np.issubdtype(arr.dtype, np.integer) or arr.size == 0):
        raise InputDataError(
            f"Expected {name} to hold integer labels 0..n_classes-1 of shape (n_samples,) "
            f"or logits of shape (n_samples, n_classes); got dtype {arr.dtype}, shape {arr.shape}.",
            tip="Encode the labels as 0..n_classes-1 (e.g. sklearn's LabelEncoder).",
        )
    return arr


def _n_classes(n_classes: int | None, *arrays: Any) -> int:
    if n_classes is not None:
        return int(n_classes)
    widths = [np.shape(a)[1] for a in arrays if np.ndim(a) == 2]
    # only integer (or bool) labels count here; anything else is refused by _labels, by name
    top = max(
        (
            int(np.max(a)) + 1
            for a in map(np.asarray, arrays)
            if a.ndim == 1 and a.size and (a.dtype == bool or np.issubdtype(a.dtype, np.integer))
        ),
        default=0,
    )
    return max(2, top, *widths)


def _check_method(method: str, agg: str = "worst_case") -> None:
    if method != "between_groups":
        raise UsageError(
            f"Expected method='between_groups'; got {method!r}.",
            tip="kdaudit measures max - min over groups; 'to_overall' is not implemented.",
        )
    if agg != "worst_case":
        raise UsageError(f"Expected agg='worst_case'; got {agg!r}.")


def _group_metric(
    name: FairnessMetric,
    y_true: Any,
    y_pred: Any,
    sensitive_features: Any,
    pos_label: int | None,
    n_classes: int | None,
) -> float:
    from kdaudit.analysis.group_fairness import group_fairness

    c = _n_classes(n_classes, y_true, y_pred)
    res = group_fairness(
        _labels(y_true, "y_true"),
        {"model": _labels(y_pred, "y_pred")},
        np.asarray(sensitive_features),
        n_classes=c,
        pairs=(),
        positive_label=pos_label,
        n_bootstrap=0,
        min_group_size=0,
    )
    value = getattr(res.roles["model"], name).value
    return float("nan") if value is None else float(value)


# ------------------------------------------------------------ group fairness, value
def demographic_parity_difference(
    y_true: Any,
    y_pred: Any,
    *,
    sensitive_features: Any,
    method: str = "between_groups",
    pos_label: int | None = None,
    n_classes: int | None = None,
) -> float:
    """Largest difference in selection rate P(y_pred = positive) between groups.

    Parameters
    ----------
    y_true : array-like of int, shape (n_samples,)
        True labels 0..n_classes-1 (or bools).
    y_pred : array-like, shape (n_samples,) or (n_samples, n_classes)
        Predicted labels, or logits / scores whose argmax is the prediction.
    sensitive_features : array-like, shape (n_samples,)
        One group label per row.
    method : {"between_groups"}
        max - min over groups (fairlearn's default; the only one implemented).
    pos_label : int, optional
        The positive class; default 1 on a binary task. On a multi-class task
        without it, every class is measured one-vs-rest and the largest is returned.
    n_classes : int, optional
        Default: from the labels (max label + 1, at least 2) or the logits' width.

    Returns
    -------
    float
        In [0, 1]; NaN (with a warning) when fewer than two groups.

    Examples
    --------
    >>> y_true = [0, 1, 0, 1, 0, 1, 0, 1]
    >>> y_pred = [1, 1, 1, 1, 0, 1, 0, 1]
    >>> groups = ["a", "a", "a", "a", "b", "b", "b", "b"]
    >>> demographic_parity_difference(y_true, y_pred, sensitive_features=groups)
    0.5
    """
    _check_method(method)
    return _group_metric(
        "demographic_parity_difference", y_true, y_pred, sensitive_features, pos_label, n_classes
    )


def demographic_parity_ratio(
    y_true: Any,
    y_pred: Any,
    *,
    sensitive_features: Any,
    method: str = "between_groups",
    pos_label: int | None = None,
    n_classes: int | None = None,
) -> float:
    """Smallest over largest selection rate across groups (1 = parity; the 80% rule).

    Parameters are those of :func:`demographic_parity_difference`; on a multi-class
    task without ``pos_label`` the smallest ratio over classes is returned.

    Returns
    -------
    float
        In [0, 1]; NaN when no group has a positive prediction.

    Examples
    --------
    >>> demographic_parity_ratio([0, 1, 0, 1, 0, 1, 0, 1], [1, 1, 1, 1, 0, 1, 0, 1],
    ...                          sensitive_features=list("aaaabbbb"))
    0.5
    """
    _check_method(method)
    return _group_metric(
        "demographic_parity_ratio", y_true, y_pred, sensitive_features, pos_label, n_classes
    )


def equalized_odds_difference(
    y_true: Any,
    y_pred: Any,
    *,
    sensitive_features: Any,
    method: str = "between_groups",
    agg: str = "worst_case",
    pos_label: int | None = None,
    n_classes: int | None = None,
) -> float:
    """The larger of the true-positive-rate and false-positive-rate spreads across groups.

    Parameters are those of :func:`demographic_parity_difference`, plus ``agg``
    (``"worst_case"`` only, fairlearn's default). A group without positives (or
    negatives) has no TPR (FPR) and is left out of that spread, with a warning;
    fairlearn counts such a rate as 0 instead.

    Returns
    -------
    float

    Examples
    --------
    >>> y_true = [0, 1, 0, 1, 0, 1, 0, 1]
    >>> y_pred = [1, 1, 0, 1, 0, 0, 0, 1]  # group a: FPR 1/2, TPR 1; group b: FPR 0, TPR 1/2
    >>> equalized_odds_difference(y_true, y_pred, sensitive_features=list("aaaabbbb"))
    0.5
    """
    _check_method(method, agg)
    return _group_metric(
        "equalized_odds_difference", y_true, y_pred, sensitive_features, pos_label, n_classes
    )


def equal_opportunity_difference(
    y_true: Any,
    y_pred: Any,
    *,
    sensitive_features: Any,
    method: str = "between_groups",
    pos_label: int | None = None,
    n_classes: int | None = None,
) -> float:
    """Largest difference in true positive rate between groups.

    Parameters are those of :func:`demographic_parity_difference`.

    Returns
    -------
    float

    Examples
    --------
    >>> equal_opportunity_difference([0, 1, 0, 1, 0, 1, 0, 1], [1, 1, 0, 1, 0, 0, 0, 1],
    ...                              sensitive_features=list("aaaabbbb"))
    0.5
    """
    _check_method(method)
    return _group_metric(
        "equal_opportunity_difference", y_true, y_pred, sensitive_features, pos_label, n_classes
    )


def worst_group_accuracy(
    y_true: Any,
    y_pred: Any,
    *,
    sensitive_features: Any,
    n_classes: int | None = None,
) -> float:
    """The lowest accuracy over groups (plain multi-class accuracy within each group).

    Equals ``fairlearn.metrics.MetricFrame(metrics=accuracy_score, ...).group_min()``.

    Parameters
    ----------
    y_true, y_pred, sensitive_features, n_classes
        As in :func:`demographic_parity_difference`.

    Returns
    -------
    float

    Examples
    --------
    >>> acc = worst_group_accuracy([0, 1, 2, 0, 1, 2], [0, 1, 2, 0, 0, 0],
    ...                            sensitive_features=list("aaabbb"))  # group b: 1 of 3 right
    >>> round(acc, 4)
    0.3333
    """
    return _group_metric(
        "worst_group_accuracy", y_true, y_pred, sensitive_features, None, n_classes
    )


# ------------------------------------------------------- teacher vs student, tests
def paired_accuracy_difference(
    y_true: Any,
    y_pred_teacher: Any,
    y_pred_student: Any,
    *,
    confidence: float = 0.95,
) -> DeltaEstimate:
    """acc(student) - acc(teacher) on the same rows: Newcombe interval, exact McNemar p.

    Parameters
    ----------
    y_true : array-like of int, shape (n_samples,)
    y_pred_teacher, y_pred_student : array-like, shape (n_samples,) or (n_samples, n_classes)
        Labels or logits of the reference model and of the compared one.
    confidence : float
        Coverage of the interval.

    Returns
    -------
    DeltaEstimate
        ``value``, ``ci_low``, ``ci_high`` (Newcombe's hybrid score interval for paired
        proportions) and ``p_value`` (two-sided exact McNemar test; 1 when the two
        models never disagree on correctness).

    Examples
    --------
    >>> y = [0, 1] * 50
    >>> teacher = y
    >>> student = [1 - v if i < 10 else v for i, v in enumerate(y)]  # 10 rows now wrong
    >>> d = paired_accuracy_difference(y, teacher, student)
    >>> round(d.value, 2), round(d.p_value, 4), d.ci_high < 0
    (-0.1, 0.002, True)
    """
    from kdaudit.analysis.accuracy import accuracy_analysis

    res = accuracy_analysis(
        _labels(y_true, "y_true"),
        {
            "teacher": _labels(y_pred_teacher, "y_pred_teacher"),
            "student": _labels(y_pred_student, "y_pred_student"),
        },
        pairs=[("teacher", "student")],
        confidence=confidence,
    )
    return res.accuracy_delta["teacher_vs_student"]


def class_accuracy_shift(
    y_true: Any,
    y_pred_teacher: Any,
    y_pred_student: Any,
    *,
    n_classes: int | None = None,
    alpha: float = 0.05,
    correction: Correction = "fdr_bh",
) -> ClassShiftResult:
    """Per-class accuracy change from teacher to student (exact McNemar per class).

    Parameters
    ----------
    y_true : array-like of int, shape (n_samples,)
    y_pred_teacher, y_pred_student : array-like, shape (n_samples,) or (n_samples, n_classes)
    n_classes : int, optional
        Default: from the labels or the logits' width.
    alpha : float
        Level applied to the adjusted p-values.
    correction : {"fdr_bh", "holm", "none"}
        Multiple-comparison adjustment over classes.

    Returns
    -------
    ClassShiftResult
        ``n_significant`` (P1's #TC for this pair), and per class ``acc_a``
        (teacher), ``acc_b`` (student), raw and adjusted p-values.

    Examples
    --------
    >>> import numpy as np
    >>> y = np.repeat([0, 1, 2], 40)
    >>> student = np.where((y == 2) & (np.arange(120) % 2 == 0), 0, y)  # class 2 halved
    >>> res = class_accuracy_shift(y, y, student)
    >>> res.n_significant, [row.significant for row in res.per_class]
    (1, [False, False, True])
    """
    from kdaudit.analysis.class_shift import class_shift

    return class_shift(
        _labels(y_true, "y_true"),
        _labels(y_pred_teacher, "y_pred_teacher"),
        _labels(y_pred_student, "y_pred_student"),
        n_classes=_n_classes(n_classes, y_true, y_pred_teacher, y_pred_student),
        alpha=alpha,
        correction=correction,
    )


def fairness_difference(
    y_true: Any,
    y_pred_teacher: Any,
    y_pred_student: Any,
    *,
    sensitive_features: Any,
    metric: FairnessMetric = "demographic_parity_difference",
    pos_label: int | None = None,
    n_classes: int | None = None,
    n_bootstrap: int = 1000,
    seed: int = 0,
    confidence: float = 0.95,
    min_group_size: int = 30,
) -> FairnessDelta:
    """metric(student) - metric(teacher), with the audit's noise-aware paired bootstrap.

    The same resampled rows serve both models. ``value`` is the plain change (the
    difference of the fairlearn-equal values); ``estimate`` corrects the spreads'
    upward noise bias; ``ci_low``/``ci_high`` is the calibrated interval and
    ``p_value`` the studentized max-T test that every pairwise group gap is unchanged
    (docs/methods.md, "Noise-aware disparities").

    Parameters
    ----------
    y_true, sensitive_features, pos_label, n_classes
        As in :func:`demographic_parity_difference`.
    y_pred_teacher, y_pred_student : array-like, shape (n_samples,) or (n_samples, n_classes)
    metric : str
        One of :data:`FAIRNESS_METRICS`.
    n_bootstrap, seed, confidence
        Bootstrap replicates (0: the value only), seed, interval coverage.
    min_group_size : int
        Smaller groups are warned about (their rates are noisy).

    Returns
    -------
    FairnessDelta
        ``value``, ``estimate``, ``ci_low``, ``ci_high``, ``p_value``, ``method``.

    Examples
    --------
    >>> import numpy as np
    >>> rng = np.random.default_rng(0)
    >>> y = rng.integers(0, 2, 2000)
    >>> group = rng.choice(["a", "b"], 2000)
    >>> student = np.where((group == "b") & (rng.random(2000) < 0.3), 0, y)  # fewer b positives
    >>> d = fairness_difference(y, y, student, sensitive_features=group, n_bootstrap=200)
    >>> round(d.value, 3), d.p_value < 0.05
    (0.158, True)
    """
    from kdaudit.analysis.group_fairness import group_fairness

    if metric not in FAIRNESS_METRICS:
        raise UsageError(
            f"Expected metric to be one of {', '.join(FAIRNESS_METRICS)}; got {metric!r}."
        )
    res = group_fairness(
        _labels(y_true, "y_true"),
        {
            "teacher": _labels(y_pred_teacher, "y_pred_teacher"),
            "student": _labels(y_pred_student, "y_pred_student"),
        },
        np.asarray(sensitive_features),
        n_classes=_n_classes(n_classes, y_true, y_pred_teacher, y_pred_student),
        pairs=[("teacher", "student")],
        positive_label=pos_label,
        n_bootstrap=n_bootstrap,
        seed=seed,
        confidence=confidence,
        min_group_size=min_group_size,
    )
    delta: FairnessDelta = getattr(res.delta["teacher_vs_student"], metric)
    return delta


# ------------------------------------------------------------- individual fairness
def _graph(x: Any, n_neighbors: int, distance: str, space: str) -> Any:
    from kdaudit.analysis.neighbors import knn_graph, representation

    rep = representation(np.asarray(x), space=space)
    if not 1 <= n_neighbors < rep.shape[0]:
        raise UsageError(
            f"Expected 1 <= n_neighbors < n_samples ({rep.shape[0]}); got {n_neighbors}."
        )
    return knn_graph(rep, k=n_neighbors, metric=distance, space=space)


def individual_fairness(
    x: Any,
    y_score: Any,
    *,
    n_neighbors: int = 5,
    distance: MetricDistance = "euclidean",
    space: str = "auto",
) -> float:
    """I(f): mean over neighbour pairs of TV(p(x), p(x')) / d(x, x'); smaller is fairer.

    Parameters
    ----------
    x : array-like, shape (n_samples, n_features) or (n_samples, ...)
        Model inputs. Tables are standardized per column (``space="auto"``), as the
        audit does; see :func:`kdaudit.analysis.neighbors.representation`.
    y_score : array-like, shape (n_samples, n_classes)
        Logits; softmax gives the probabilities p.
    n_neighbors : int
        k nearest neighbours of each sample (the sample itself excluded).
    distance : {"euclidean", "cosine"}
        d.
    space : {"auto", "standardized", "flat"}
        Where neighbours are searched.

    Returns
    -------
    float
        NaN when every neighbour pair has distance 0.

    Examples
    --------
    >>> import numpy as np
    >>> x = np.arange(10.0)[:, None]
    >>> logits = np.c_[np.zeros(10), np.ones(10)]  # the same output everywhere
    >>> individual_fairness(x, logits, n_neighbors=2)
    0.0
    """
    from kdaudit.analysis.individual_fairness import individual_fairness as analyze

    graph = _graph(x, n_neighbors, distance, space)
    res = analyze(
        graph, {"model": np.asarray(y_score)}, n_bootstrap=0, consistency_k=n_neighbors + 1
    )
    value = res.roles["model"].lipschitz.value
    return float("nan") if value is None else float(value)


def consistency_score(
    x: Any,
    y_pred: Any,
    *,
    n_neighbors: int = 5,
    distance: MetricDistance = "euclidean",
    space: str = "auto",
) -> float:
    """AIF360's consistency: 1 - mean_i |yhat_i - mean of yhat over i's n_neighbors|.

    As in AIF360, the ``n_neighbors`` neighbourhood includes the sample itself. For
    multi-class labels, the share of the neighbourhood predicted like the sample
    (equal to AIF360's formula on 0/1 labels).

    Parameters
    ----------
    x : array-like, shape (n_samples, n_features)
        Inputs (standardized per column with ``space="auto"``, as the audit does;
        AIF360 uses them as given: pass ``space="flat"`` for that).
    y_pred : array-like, shape (n_samples,) or (n_samples, n_classes)
        Labels or logits.
    n_neighbors : int
        Neighbourhood size, the sample included (AIF360's default 5).
    distance, space
        As in :func:`individual_fairness`.

    Returns
    -------
    float

    Examples
    --------
    >>> consistency_score([[0.0], [1.0], [2.0], [10.0], [11.0], [12.0]], [0, 0, 0, 1, 1, 1],
    ...                   n_neighbors=3)
    1.0
    """
    from kdaudit.analysis.individual_fairness import individual_fairness as analyze

    if isinstance(n_neighbors, bool) or not isinstance(n_neighbors, int) or n_neighbors < 1:
        raise UsageError(
            f"n_neighbors counts the sample itself, so it must be an integer >= 1; "
            f"got {n_neighbors!r}."
        )
    pred = _labels(y_pred, "y_pred")
    graph = _graph(x, n_neighbors - 1, distance, space) if n_neighbors > 1 else None
    if graph is None:
        return 1.0  # a neighbourhood of the sample alone always agrees
    one_hot = np.eye(_n_classes(None, pred))[pred]
    res = analyze(
        graph,
        {"model": one_hot},
        predictions={"model": pred},
        n_bootstrap=0,
        consistency_k=n_neighbors,
    )
    value = res.roles["model"].consistency.value
    return float("nan") if value is None else float(value)
