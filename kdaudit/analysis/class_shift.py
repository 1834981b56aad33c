"""Class-wise shift between two models (METHODS.md section 1, after P1).

Two tests of "did class c's accuracy change from model A to model B":

* :func:`class_shift` (one run per model, the usual release case): exact
  McNemar test per class, paired on the same samples.
* :func:`class_shift_multirun` (several runs/seeds per model, P1's method):
  per run ``ratio_r(c) = acc_r(c) / acc_r`` and, per class, Welch's t-test
  between the two models' ratios.

Both adjust the per-class p-values (Benjamini-Hochberg by default) and
report the raw and corrected counts of significant classes, plus P1's
disagreement statistics (share of samples where the predicted labels differ,
overall and per true class, and the C x C matrix of (A says i, B says j)
counts with the diagonal set to 0).

Conventions (documented choices)
--------------------------------
* A class is significant when its (adjusted) p-value is ``<= alpha``
  (statsmodels' ``multipletests`` rejection rule).
* The family for the correction is every class with at least one sample
  (single run) or with a defined test (multi-run); classes without samples
  get ``p_value = p_adjusted = null`` and an ``undefined_reason``. A class
  with samples but no discordant pair has McNemar p = 1 and *is* in the family.
* Multi-run, degenerate classes: when both models' ratios have zero variance
  and equal means (e.g. the class is never right in any run), p = 1; when both
  have zero variance but different means, Welch's t is undefined and the class
  gets p = null with a reason (scipy returns NaN there too). Classes with fewer
  than two runs with a defined ratio on either side are null as well.
* Multi-run disagreement statistics are averaged over every (run of A, run
  of B) combination and their standard deviation is reported beside them;
  ``newly_wrong``/``newly_right`` are those means; the disagreement matrix is
  that of run 0 of A against run 0 of B.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from typing import Any, Self

import numpy as np

from kdaudit.analysis.stats import (
    adjust_pvalues,
    check_correction,
    check_labels,
    mcnemar_exact,
    nan_mean_var,
    optional_float,
    welch_ttest,
)
from kdaudit.errors import InputDataError, UsageError
from kdaudit.results import Record, to_native

__all__ = [
    "NO_SAMPLES",
    "ClassShiftResult",
    "ClassShiftRow",
    "MultiRunClassShiftRow",
    "class_shift",
    "class_shift_multirun",
]

NO_SAMPLES = "no samples of this class"


_FIELD_NAMES: dict[type, tuple[str, ...]] = {}


def _field_names(cls: type) -> tuple[str, ...]:
    names = _FIELD_NAMES.get(cls)
    if names is None:
        names = _FIELD_NAMES[cls] = tuple(f.name for f in dataclasses.fields(cls))
    return names


@dataclasses.dataclass(frozen=True, slots=True, kw_only=True)
class ClassShiftRow(Record):
    """One class of a single-run class-shift result (``class`` in JSON is ``class_``)."""

    class_: int
    n: int
    acc_a: float | None
    acc_b: float | None
    p_value: float | None
    p_adjusted: float | None
    significant: bool
    newly_wrong: float
    newly_right: float
    disagreement_rate: float | None
    undefined_reason: str | None = dataclasses.field(default=None, metadata={"omit_none": True})

    def to_dict(self) -> dict[str, Any]:
        # values are JSON-native by construction; a direct walk keeps 1000-class
        # results cheap (the generic Record.to_dict is ~5x slower here)
        out: dict[str, Any] = {"class": self.class_}
        for name in _field_names(type(self))[1:]:
            v = getattr(self, name)
            if v is None and name == "undefined_reason":
                continue
            out[name] = v
        return out

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Self:
        data = dict(data)
        data["class_"] = data.pop("class")
        return cls(**data)


@dataclasses.dataclass(frozen=True, slots=True, kw_only=True)
class MultiRunClassShiftRow(ClassShiftRow):
    """One class of a multi-run result: adds the per-run accuracy-ratio summary."""

    ratio_mean_a: float | None
    ratio_mean_b: float | None
    ratio_std_a: float | None
    ratio_std_b: float | None
    disagreement_rate_std: float | None
    undefined_reason: str | None = dataclasses.field(default=None, metadata={"omit_none": True})


@dataclasses.dataclass(frozen=True, slots=True, kw_only=True)
class ClassShiftResult(Record):
    """Class-wise shift of one pair of models (INTERFACE.md ``class_shift.PAIR``).

    ``disagreement_matrix[i][j]`` counts samples that A predicts as ``i`` and B
    as ``j`` (diagonal 0). Multi-run results also fill ``n_runs_a``,
    ``n_runs_b``, ``disagreement_rate_std`` and ``disagreement_matrix_runs``.
    """

    mode: str
    test: str
    alpha: float
    correction: str
    n_classes: int
    n_significant: int
    n_significant_uncorrected: int
    disagreement_rate: float
    per_class: tuple[ClassShiftRow, ...]
    disagreement_matrix: tuple[tuple[int, ...], ...]
    n_runs_a: int | None = dataclasses.field(default=None, metadata={"omit_none": True})
    n_runs_b: int | None = dataclasses.field(default=None, metadata={"omit_none": True})
    disagreement_rate_std: float | None = dataclasses.field(
        default=None, metadata={"omit_none": True}
    )
    disagreement_matrix_runs: tuple[int, int] | None = dataclasses.field(
        default=None, metadata={"omit_none": True}
    )
    # multi-run: the single-run (McNemar) count of run r of A against run r of B, per r
    n_significant_per_run: tuple[int, ...] | None = dataclasses.field(
        default=None, metadata={"omit_none": True}
    )
    n_significant_run_mean: float | None = dataclasses.field(
        default=None, metadata={"omit_none": True}
    )
    n_significant_run_std: float | None = dataclasses.field(
        default=None, metadata={"omit_none": True}
    )

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for f in dataclasses.fields(self):
            v = getattr(self, f.name)
            if v is None and f.metadata.get("omit_none", False):
                continue
            if f.name == "per_class":
                out[f.name] = [row.to_dict() for row in v]
            elif f.name == "disagreement_matrix":
                out[f.name] = [list(r) for r in v]  # already ints; skip the slow generic walk
            else:
                out[f.name] = to_native(v)
        return out

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Self:
        data = dict(data)
        row_cls = MultiRunClassShiftRow if data.get("mode") == "multi_run" else ClassShiftRow
        data["per_class"] = tuple(row_cls.from_dict(r) for r in data["per_class"])
        data["disagreement_matrix"] = tuple(tuple(r) for r in data["disagreement_matrix"])
        for key in ("disagreement_matrix_runs", "n_significant_per_run"):
            if data.get(key) is not None:
                data[key] = tuple(data[key])
        return cls(**data)

    def matrix(self) -> np.ndarray:
        """The disagreement matrix as an int64 array of shape (n_classes, n_classes)."""
        return np.asarray(self.disagreement_matrix, dtype=np.int64).reshape(
            self.n_classes, self.n_classes
        )


# ------------------------------------------------------------------------ helpers
def _check_common(alpha: float, correction: str, n_classes: int) -> None:
    check_correction(correction)
    if not 0.0 < alpha < 1.0:
        raise UsageError(f"Expected alpha in (0, 1); got {alpha!r}.")
    if n_classes < 1:
        raise UsageError(f"Expected n_classes >= 1; got {n_classes}.")


def _disagreement_matrix(pred_a: np.ndarray, pred_b: np.ndarray, n_classes: int) -> np.ndarray:
    """(n_classes, n_classes) counts of (A says i, B says j), diagonal 0."""
    m = np.bincount(pred_a * n_classes + pred_b, minlength=n_classes * n_classes)
    m = m.reshape(n_classes, n_classes)
    np.fill_diagonal(m, 0)
    return m


def _per_class_counts(
    y: np.ndarray, pred_a: np.ndarray, pred_b: np.ndarray, n_classes: int
) -> np.ndarray:
    """Per class, counts of the 5 outcomes, shape (5, n_classes).

    Rows: A right, B right, A right & B wrong, A wrong & B right, A != B.
    """
    ra = pred_a == y
    rb = pred_b == y
    # one bincount over (outcome code, class): code = 2*ra + rb, plus disagreement
    code = (ra.astype(np.int64) * 2 + rb) * n_classes + y
    joint = np.bincount(code, minlength=4 * n_classes).reshape(4, n_classes)
    # joint[k]: k = 2*ra + rb -> 0: both wrong, 1: B only, 2: A only, 3: both
    differ = np.bincount(y[pred_a != pred_b], minlength=n_classes)
    return np.stack([joint[2] + joint[3], joint[1] + joint[3], joint[2], joint[1], differ])


def _significance(
    p: np.ndarray, alpha: float, correction: str
) -> tuple[np.ndarray, np.ndarray, int, int]:
    p_adj = adjust_pvalues(p, correction)
    sig = np.isfinite(p_adj) & (p_adj <= alpha)
    n_sig_raw = int((np.isfinite(p) & (p <= alpha)).sum())
    return p_adj, sig, int(sig.sum()), n_sig_raw


def _matrix_tuple(m: np.ndarray) -> tuple[tuple[int, ...], ...]:
    return tuple(map(tuple, m.tolist()))


def _ratio_or_none(num: np.ndarray, den: np.ndarray) -> list[float | None]:
    with np.errstate(divide="ignore", invalid="ignore"):
        r = num / den
    return [optional_float(x) for x in r]


# ------------------------------------------------------------------- single run
def class_shift(
    y_true: np.ndarray,
    pred_a: np.ndarray,
    pred_b: np.ndarray,
    *,
    n_classes: int,
    alpha: float = 0.05,
    correction: str = "fdr_bh",
) -> ClassShiftResult:
    """Per-class accuracy change from model A to model B, one run each (exact McNemar).

    Parameters
    ----------
    y_true : ndarray of int, shape (n_samples,)
    pred_a, pred_b : ndarray of int, shape (n_samples,)
        Predicted labels of the reference model A (e.g. the teacher) and of B.
    n_classes : int
        C; labels lie in ``[0, C)``.
    alpha : float
        Significance level applied to the adjusted p-values.
    correction : {"fdr_bh", "holm", "none"}
        Multiple-comparison adjustment over classes.

    Returns
    -------
    ClassShiftResult
        ``mode="single_run"``, ``test="mcnemar_exact"``; per class ``n``,
        ``acc_a``, ``acc_b``, raw and adjusted p, ``significant``,
        ``newly_wrong`` (A right, B wrong), ``newly_right`` (A wrong, B right),
        ``disagreement_rate``; the (C, C) disagreement matrix.

    Notes
    -----
    Cost O(n_samples + C^2) (the matrix); a few bincounts, no Python loop
    over samples.

    Examples
    --------
    >>> import numpy as np
    >>> y = np.repeat([0, 1, 2], 40)
    >>> student = np.where((y == 2) & (np.arange(120) % 2 == 0), 0, y)  # class 2 halved
    >>> res = class_shift(y, y, student, n_classes=3)
    >>> res.n_significant, res.per_class[2].newly_wrong, res.disagreement_rate
    (1, 20, 0.16666666666666666)
    """
    _check_common(alpha, correction, n_classes)
    y = check_labels("y_true", y_true, n_classes=n_classes)
    n = y.shape[0]
    if n == 0:
        raise InputDataError("Expected at least one sample; got an empty y_true.")
    pa = check_labels("pred_a", pred_a, n_samples=n, n_classes=n_classes)
    pb = check_labels("pred_b", pred_b, n_samples=n, n_classes=n_classes)

    n_c = np.bincount(y, minlength=n_classes)
    right_a, right_b, newly_wrong, newly_right, differ = _per_class_counts(y, pa, pb, n_classes)
    present = n_c > 0
    p = np.where(present, mcnemar_exact(newly_wrong, newly_right), np.nan)
    p_adj, sig, n_sig, n_sig_raw = _significance(p, alpha, correction)

    acc_a = _ratio_or_none(right_a, n_c)
    acc_b = _ratio_or_none(right_b, n_c)
    dis = _ratio_or_none(differ, n_c)
    p_list = [optional_float(x) for x in p]
    padj_list = [optional_float(x) for x in p_adj]
    rows = tuple(
        ClassShiftRow(
            class_=c,
            n=int(n_c[c]),
            acc_a=acc_a[c],
            acc_b=acc_b[c],
            p_value=p_list[c],
            p_adjusted=padj_list[c],
            significant=bool(sig[c]),
            newly_wrong=int(newly_wrong[c]),
            newly_right=int(newly_right[c]),
            disagreement_rate=dis[c],
            undefined_reason=None if present[c] else NO_SAMPLES,
        )
        for c in range(n_classes)
    )
    return ClassShiftResult(
        mode="single_run",
        test="mcnemar_exact",
        alpha=float(alpha),
        correction=correction,
        n_classes=int(n_classes),
        n_significant=n_sig,
        n_significant_uncorrected=n_sig_raw,
        disagreement_rate=float(differ.sum() / n),
        per_class=rows,
        disagreement_matrix=_matrix_tuple(_disagreement_matrix(pa, pb, n_classes)),
    )


# -------------------------------------------------------------------- multi run
def class_shift_multirun(
    y_true: np.ndarray,
    preds_a: Sequence[np.ndarray],
    preds_b: Sequence[np.ndarray],
    *,
    n_classes: int,
    alpha: float = 0.05,
    correction: str = "fdr_bh",
) -> ClassShiftResult:
    """Per-class shift between two models with several runs each (P1's Welch test).

    For each run r of each model, ``ratio_r(c) = acc_r(c) / acc_r`` (the class's
    accuracy relative to the run's overall accuracy); per class, Welch's
    two-sample t-test compares model A's ratios with model B's
    (``scipy.stats.ttest_ind(equal_var=False)``, vectorized over classes).

    Parameters
    ----------
    y_true : ndarray of int, shape (n_samples,)
        The same evaluation rows for every run.
    preds_a, preds_b : sequence of ndarray of int, each shape (n_samples,)
        Predicted labels of each run of A (reference) and of B; at least 2 each.
    n_classes, alpha, correction
        As in :func:`class_shift`.

    Returns
    -------
    ClassShiftResult
        ``mode="multi_run"``, ``test="welch_t"``, with ``n_runs_a``,
        ``n_runs_b``, per class ``ratio_mean_a/_b`` and ``ratio_std_a/_b``
        (sample std, ddof=1), ``acc_a``/``acc_b`` as means over runs, and the
        disagreement statistics averaged over all run combinations (see the
        module notes for the degenerate cases).

    Examples
    --------
    >>> import numpy as np
    >>> y = np.repeat([0, 1], 50)
    >>> a = [y, y]  # two perfect runs
    >>> b = [np.where(np.arange(100) < 10 + i, 1, y) for i in range(2)]  # class 0 hurt
    >>> res = class_shift_multirun(y, a, b, n_classes=2)
    >>> res.mode, res.n_runs_a, [row.acc_b for row in res.per_class]
    ('multi_run', 2, [0.79, 1.0])
    """
    _check_common(alpha, correction, n_classes)
    y, runs_a, runs_b = _check_runs(y_true, preds_a, preds_b, n_classes)
    n_c = np.bincount(y, minlength=n_classes)
    acc_ca, ratio_a = _class_ratios(y, runs_a, n_c)
    acc_cb, ratio_b = _class_ratios(y, runs_b, n_c)
    test = _welch_by_class(ratio_a, ratio_b, n_c > 0)
    p_adj, sig, n_sig, n_sig_raw = _significance(test.p, alpha, correction)
    dis = _run_disagreement(y, runs_a, runs_b, n_c)
    rows = _multirun_rows(n_c, acc_ca, acc_cb, test, p_adj, sig, dis, n_classes=n_classes)
    per_run = tuple(
        class_shift(
            y_true, ra, rb, n_classes=n_classes, alpha=alpha, correction=correction
        ).n_significant
        for ra, rb in zip(runs_a, runs_b, strict=False)
    )
    overall = dis.overall
    return ClassShiftResult(
        mode="multi_run",
        test="welch_t",
        alpha=float(alpha),
        correction=correction,
        n_classes=int(n_classes),
        n_significant=n_sig,
        n_significant_uncorrected=n_sig_raw,
        disagreement_rate=float(overall.mean()),
        per_class=rows,
        disagreement_matrix=_matrix_tuple(_disagreement_matrix(runs_a[0], runs_b[0], n_classes)),
        n_runs_a=len(runs_a),
        n_runs_b=len(runs_b),
        disagreement_rate_std=float(overall.std(ddof=1)) if overall.shape[0] > 1 else 0.0,
        disagreement_matrix_runs=(0, 0),
        n_significant_per_run=per_run,
        n_significant_run_mean=float(np.mean(per_run)),
        n_significant_run_std=float(np.std(per_run, ddof=1)) if len(per_run) > 1 else 0.0,
    )


def _check_runs(
    y_true: np.ndarray,
    preds_a: Sequence[np.ndarray],
    preds_b: Sequence[np.ndarray],
    n_classes: int,
) -> tuple[np.ndarray, list[np.ndarray], list[np.ndarray]]:
    """Stage 1: the labels and every run of both models, checked."""
    if len(preds_a) < 2 or len(preds_b) < 2:
        raise UsageError(
            "Expected at least 2 runs per model for the multi-run test; got "
            f"{len(preds_a)} and {len(preds_b)}. Use class_shift() for single runs."
        )
    y = check_labels("y_true", y_true, n_classes=n_classes)
    n = y.shape[0]
    if n == 0:
        raise InputDataError("Expected at least one sample; got an empty y_true.")
    runs_a = [
        check_labels(f"run {i} of model A", p, n_samples=n, n_classes=n_classes)
        for i, p in enumerate(preds_a)
    ]
    runs_b = [
        check_labels(f"run {i} of model B", p, n_samples=n, n_classes=n_classes)
        for i, p in enumerate(preds_b)
    ]
    return y, runs_a, runs_b


def _class_ratios(
    y: np.ndarray, runs: list[np.ndarray], n_c: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Stage 2: per run, class accuracies (R, C) and ratios to the run's accuracy (R, C)."""
    right = np.stack([np.bincount(y[p == y], minlength=n_c.shape[0]) for p in runs])
    with np.errstate(divide="ignore", invalid="ignore"):
        acc_c = right / n_c  # (R, C), NaN for empty classes
        acc = right.sum(axis=1) / y.shape[0]  # (R,)
        ratio = acc_c / acc[:, None]  # NaN/inf when a run is never right
    ratio[~np.isfinite(ratio)] = np.nan
    return acc_c, ratio


@dataclasses.dataclass(frozen=True, slots=True, kw_only=True)
class _WelchByClass:
    p: np.ndarray
    mean_a: np.ndarray
    std_a: np.ndarray
    mean_b: np.ndarray
    std_b: np.ndarray
    reasons: list[str | None]


def _welch_by_class(ratio_a: np.ndarray, ratio_b: np.ndarray, present: np.ndarray) -> _WelchByClass:
    """Stage 3: Welch's t-test per class, with the degenerate cases named."""
    _, _, p = welch_ttest(ratio_a, ratio_b, axis=0)
    mean_a, std_a, cnt_a = _mean_std(ratio_a)
    mean_b, std_b, cnt_b = _mean_std(ratio_b)
    reasons: list[str | None] = [None] * present.shape[0]
    constant = (cnt_a >= 2) & (cnt_b >= 2) & (std_a == 0) & (std_b == 0)
    for c in range(present.shape[0]):
        if not present[c]:
            reasons[c] = NO_SAMPLES
        elif cnt_a[c] < 2 or cnt_b[c] < 2:
            reasons[c] = "fewer than 2 runs with a defined accuracy ratio"
        elif constant[c] and mean_a[c] != mean_b[c]:
            reasons[c] = "zero variance in both models' ratios; Welch's t is undefined"
    p = np.where(constant & (mean_a == mean_b), 1.0, p)
    p = np.where([r is None for r in reasons], p, np.nan)
    return _WelchByClass(
        p=p, mean_a=mean_a, std_a=std_a, mean_b=mean_b, std_b=std_b, reasons=reasons
    )


@dataclasses.dataclass(frozen=True, slots=True, kw_only=True)
class _RunDisagreement:
    overall: np.ndarray  # (R_a * R_b,) disagreement rate of each run combination
    mean: np.ndarray  # (C,)
    std: np.ndarray  # (C,)
    newly_wrong: np.ndarray  # (C,) mean over combinations
    newly_right: np.ndarray  # (C,)


def _run_disagreement(
    y: np.ndarray, runs_a: list[np.ndarray], runs_b: list[np.ndarray], n_c: np.ndarray
) -> _RunDisagreement:
    """Stage 3: disagreement over every (run of A, run of B) combination."""
    n_classes = n_c.shape[0]
    counts = np.stack(
        [_per_class_counts(y, pa, pb, n_classes)[2:] for pa in runs_a for pb in runs_b]
    ).astype(np.float64)  # (R_a * R_b, 3, C): newly wrong, newly right, differ
    with np.errstate(divide="ignore", invalid="ignore"):
        dis_c = counts[:, 2] / n_c
    dis_mean, dis_std, _ = _mean_std(dis_c)
    return _RunDisagreement(
        overall=counts[:, 2].sum(axis=1) / y.shape[0],
        mean=dis_mean,
        std=dis_std,
        newly_wrong=counts[:, 0].mean(axis=0),
        newly_right=counts[:, 1].mean(axis=0),
    )


def _multirun_rows(
    n_c: np.ndarray,
    acc_ca: np.ndarray,
    acc_cb: np.ndarray,
    test: _WelchByClass,
    p_adj: np.ndarray,
    sig: np.ndarray,
    dis: _RunDisagreement,
    *,
    n_classes: int,
) -> tuple[MultiRunClassShiftRow, ...]:
    """Stage 4: one record per class."""

    def col(x: np.ndarray) -> list[float | None]:
        return [optional_float(v) for v in x]

    acc_a, acc_b = col(np.mean(acc_ca, axis=0)), col(np.mean(acc_cb, axis=0))
    p, padj = col(test.p), col(p_adj)
    ma, mb, sa, sb = col(test.mean_a), col(test.mean_b), col(test.std_a), col(test.std_b)
    dm, ds, nw, nr = col(dis.mean), col(dis.std), col(dis.newly_wrong), col(dis.newly_right)
    return tuple(
        MultiRunClassShiftRow(
            class_=c,
            n=int(n_c[c]),
            acc_a=acc_a[c],
            acc_b=acc_b[c],
            p_value=p[c],
            p_adjusted=padj[c],
            significant=bool(sig[c]),
            newly_wrong=nw[c] or 0.0,
            newly_right=nr[c] or 0.0,
            disagreement_rate=dm[c],
            ratio_mean_a=ma[c],
            ratio_mean_b=mb[c],
            ratio_std_a=sa[c],
            ratio_std_b=sb[c],
            disagreement_rate_std=ds[c],
            undefined_reason=test.reasons[c],
        )
        for c in range(n_classes)
    )


def _mean_std(x: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """NaN-aware mean, sample std (ddof=1) and finite count along axis 0 (exact for constants)."""
    mean, var, cnt = nan_mean_var(x)
    with np.errstate(invalid="ignore"):
        std = np.where(cnt >= 2, np.sqrt(np.maximum(var, 0.0)), np.nan)
    return mean, std, cnt.astype(np.int64)
