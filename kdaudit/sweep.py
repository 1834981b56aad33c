"""Temperature-sweep rows with their uncertainty (issue 8 item 6, issue 13 item 4).

One row per distilled student (one temperature, one or several training runs):
accuracy, demographic parity / equalized odds difference on one named
sensitive attribute, the Lipschitz estimate I(f) (raw and unit-free), and the
number of classes shifted against the teacher (#TC) and the baseline (#SC).
Teacher and baseline get the same numbers in ``temperature_sweep_reference``
so that charts can draw them as reference lines.

Per metric a row carries (the CONTRACT of report.json additions):

* ``<metric>``: the mean over the row's runs of each run's value (one run:
  that run's value). For DPD/EOD this is the plug-in (fairlearn) value; when
  the group-fairness analyzer also gives a noise-corrected ``estimate``, the
  row has ``<metric>_estimate`` too.
* ``<metric>_ci``: ``[low, high]``, the interval the audit's own analyzer gives
  that metric (accuracy: Wilson score; DPD/EOD: the group-fairness analyzer's
  interval; I(f): the grouped jackknife of
  :mod:`kdaudit.analysis.individual_fairness`). With R >= 2 runs it is the
  interval of the mean over runs, its half-width combining the test-set
  uncertainty (the mean half-width of the runs' own intervals, which all rest
  on the same rows) and the seed spread (``t_{R-1} x std / sqrt(R)``) in
  quadrature; it is always centred on the mean.
* ``<metric>_std``: the standard deviation over runs (``ddof=1``), R >= 2 only.

#TC/#SC are counts of significant per-class tests (multi-run Welch tests
when both sides have several runs); they get no interval.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from typing import Any, cast

import numpy as np
import scipy.special as _special

from kdaudit.analysis.accuracy import wilson_interval
from kdaudit.arrays import LogitArray

__all__ = [
    "METRICS",
    "GroupMetrics",
    "Individual",
    "combine_runs",
    "metric_row",
    "temperature_sweep",
]

METRICS = (
    "accuracy",
    "demographic_parity_difference",
    "equalized_odds_difference",
    "lipschitz",
    "lipschitz_normalized",
)
_FAIRNESS = ("demographic_parity_difference", "equalized_odds_difference")


def combine_runs(
    values: Sequence[float | None],
    intervals: Sequence[tuple[float | None, float | None]],
    confidence: float,
    centres: Sequence[float | None] | None = None,
) -> tuple[float | None, list[float] | None, float | None]:
    """Mean over runs, its interval and the spread over runs.

    Parameters
    ----------
    values : per-run values (None where undefined; such runs are left out)
    intervals : per-run ``(low, high)`` (None where absent)
    confidence : float
    centres : per-run centre of the interval (the analyzer's ``estimate``); default ``values``

    Returns
    -------
    mean of values, [low, high] or None, std of values (None for fewer than 2 defined runs)
    """
    centres = values if centres is None else centres
    ok = [i for i, v in enumerate(values) if v is not None and math.isfinite(v)]
    if not ok:
        return None, None, None
    v = np.array([values[i] for i in ok], dtype=np.float64)
    mean = float(v.mean())
    if len(ok) == 1:
        low, high = intervals[ok[0]]
        ci = None if low is None or high is None else [float(low), float(high)]
        return mean, ci, None
    std = float(v.std(ddof=1))
    halves = [
        (hi - lo) / 2.0
        for lo, hi in (intervals[i] for i in ok)
        if lo is not None and hi is not None
    ]
    c = [cast(float, centres[i] if centres[i] is not None else values[i]) for i in ok]
    centre = float(np.mean(c))
    seed_half = (
        float(_special.stdtrit(len(ok) - 1, 0.5 + confidence / 2.0)) * std / math.sqrt(len(ok))
    )
    test_half = float(np.mean(halves)) if halves else 0.0
    half = math.hypot(seed_half, test_half)
    return mean, [centre - half, centre + half], std


GroupMetrics = Callable[[np.ndarray], dict[str, dict[str, Any]]]
Individual = Callable[[Mapping[str, LogitArray], Mapping[str, np.ndarray]], dict[str, Any]]


def metric_row(
    y: np.ndarray,
    runs: Sequence[LogitArray],
    *,
    group_metrics: GroupMetrics | None,
    individual: Individual | None,
    confidence: float,
    preds: Sequence[np.ndarray] | None = None,
) -> dict[str, Any]:
    """Accuracy, DPD, EOD, I(f) and normalized I(f) of one model's runs, with intervals.

    ``group_metrics(pred)`` returns the group-fairness records of one run's
    predictions on the row's attribute; ``individual(logits, preds)`` the
    individual-fairness result dict of several runs (one role per run).
    """
    preds = [la.predictions() for la in runs] if preds is None else list(preds)
    n = y.shape[0]
    per: dict[str, list[tuple[Any, Any, tuple[Any, Any]]]] = {}
    for p in preds:
        right = int((p == y).sum())
        per.setdefault("accuracy", []).append(
            (right / n, None, wilson_interval(right, n, confidence))
        )
        if group_metrics is not None:
            recs = group_metrics(p)
            for metric in _FAIRNESS:
                rec = recs.get(metric) or {}
                per.setdefault(metric, []).append(
                    (rec.get("value"), rec.get("estimate"), (rec.get("ci_low"), rec.get("ci_high")))
                )
    if individual is not None:
        roles = {f"run{i}": la for i, la in enumerate(runs)}
        ind = individual(roles, {f"run{i}": p for i, p in enumerate(preds)})
        for metric in ("lipschitz", "lipschitz_normalized"):
            for role in roles:
                rec = ind[role].get(metric) or {}
                per.setdefault(metric, []).append(
                    (rec.get("value"), rec.get("estimate"), (rec.get("ci_low"), rec.get("ci_high")))
                )
    out: dict[str, Any] = {"n_runs": len(preds)}
    for metric in METRICS:
        if metric not in per:
            out[metric] = None
            continue
        values = [v for v, _, _ in per[metric]]
        centres = [c for _, c, _ in per[metric]]
        mean, ci, std = combine_runs(values, [iv for _, _, iv in per[metric]], confidence, centres)
        out[metric] = mean
        out[f"{metric}_ci"] = ci
        if len(preds) >= 2:
            out[f"{metric}_std"] = std
        if mean is not None and all(c is not None for c in centres):
            out[f"{metric}_estimate"] = float(np.mean(centres))
    return out


def temperature_sweep(
    y: np.ndarray,
    entries: Sequence[tuple[float | None, Sequence[str], Sequence[LogitArray]]],
    *,
    main: tuple[float | None, Sequence[str], Sequence[LogitArray]],
    references: Mapping[str, Sequence[LogitArray]],
    attribute: str | None,
    group_metrics: GroupMetrics | None,
    individual: Individual | None,
    class_shift: Callable[[Sequence[np.ndarray], Sequence[np.ndarray]], dict[str, Any] | None],
    confidence: float,
) -> tuple[list[dict[str, Any]], dict[str, dict[str, Any]]]:
    """The sweep's rows (sorted by temperature, the main student flagged) and reference values.

    Parameters
    ----------
    y : ndarray of int, shape (n_samples,)
    entries : sequence of (temperature, paths, runs)
        The sweep's students.
    main : (temperature, paths, runs)
        The audit's main student: the row whose paths (and temperature, when
        known) match is flagged ``main: true``; with no such row it is added.
    references : mapping of "teacher"/"baseline" -> runs
        Compared with each student for #TC/#SC and summarised in the reference block.
    attribute : str or None
        The sensitive attribute of the DPD/EOD columns (recorded in every row).
    group_metrics, individual : callables or None (see :func:`metric_row`)
    class_shift : callable (reference predictions, student predictions) -> class-shift dict
    confidence : float

    Returns
    -------
    rows, reference
    """
    main_t, main_paths, _ = main
    rows_in = list(entries)
    flagged = [
        i
        for i, (t, paths, _) in enumerate(rows_in)
        if list(paths) == list(main_paths) and (main_t is None or t == main_t)
    ]
    if not flagged:
        rows_in.append(main)
        flagged = [len(rows_in) - 1]
    ref_preds = {role: [la.predictions() for la in runs] for role, runs in references.items()}
    rows = []
    for i, (temperature, paths, runs) in enumerate(rows_in):
        preds = [la.predictions() for la in runs]
        row: dict[str, Any] = {
            "temperature": None if temperature is None else float(temperature),
            "paths": [str(p) for p in paths],
            "main": i == flagged[0],
            "attribute": attribute,
        }
        for ref, key in (("teacher", "n_tc"), ("baseline", "n_sc")):
            d = class_shift(ref_preds[ref], preds) if ref in ref_preds else None
            if d is None:  # no such role, or class shift not computed (too many classes)
                row[key] = None
                continue
            row[key] = d["n_significant"]
            row[key + "_uncorrected"] = d["n_significant_uncorrected"]
        row.update(
            metric_row(
                y,
                runs,
                group_metrics=group_metrics,
                individual=individual,
                confidence=confidence,
                preds=preds,
            )
        )
        rows.append(row)
    rows.sort(key=lambda r: (r["temperature"] is None, r["temperature"] or 0.0))
    reference = {}
    for role, runs in references.items():
        reference[role] = {
            "attribute": attribute,
            **metric_row(
                y,
                runs,
                group_metrics=group_metrics,
                individual=individual,
                confidence=confidence,
                preds=ref_preds[role],
            ),
        }
    return rows, reference
