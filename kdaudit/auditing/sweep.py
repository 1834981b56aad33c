"""The temperature sweep of an audit: each further student's logits, wired into :mod:`kdaudit.sweep`."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np

from kdaudit.arrays import LogitArray
from kdaudit.auditing.acquire import _model_logits
from kdaudit.auditing.checks import MAX_CLASS_SHIFT_CLASSES
from kdaudit.auditing.options import AuditOptions
from kdaudit.data.dataset import Dataset
from kdaudit.errors import InputDataError


def _sweep(
    dataset: Dataset,
    logits: Mapping[str, Sequence[LogitArray]],
    infos: Mapping[str, list[dict[str, Any]]],
    n_classes: int,
    options: AuditOptions,
    sweep: Sequence[tuple[float, Sequence[Any]]],
    cache: Any,
    graph: Any,
) -> dict[str, Any]:
    """``temperature_sweep`` rows with intervals and ``temperature_sweep_reference`` (kdaudit.sweep)."""
    from kdaudit.sweep import temperature_sweep

    y = dataset.y_true
    attribute, group_metrics = _group_metrics(dataset, n_classes, options)
    main = (
        infos["student"][0].get("temperature"),
        [i["path"] for i in infos["student"]],
        logits["student"],
    )
    rows, reference = temperature_sweep(
        y,
        _sweep_entries(dataset, n_classes, options, sweep, cache),
        main=main,
        references={r: logits[r] for r in ("teacher", "baseline") if r in logits},
        attribute=attribute,
        group_metrics=group_metrics,
        individual=_individual(graph, options),
        class_shift=_shift(y, n_classes, options),
        confidence=options.confidence,
    )
    return {"temperature_sweep": rows, "temperature_sweep_reference": reference}


def _sweep_entries(
    dataset: Dataset,
    n_classes: int,
    options: AuditOptions,
    sweep: Sequence[tuple[float, Sequence[Any]]],
    cache: Any,
) -> list[tuple[float, list[str], list[LogitArray]]]:
    """Each sweep student's ``(temperature, paths of its runs, logits of its runs)``."""
    entries = []
    for temperature, specs in sweep:
        runs = []
        for spec in specs:
            la, _ = _model_logits(
                dataclasses.replace(spec, role="student"), dataset, options, cache
            )
            if la.n_classes != n_classes:
                raise InputDataError(
                    f"Sweep student at T={temperature} outputs {la.n_classes} classes; "
                    f"the other models output {n_classes}."
                )
            runs.append(la)
        entries.append((float(temperature), [s.path for s in specs], runs))
    return entries


def _shift(
    y: np.ndarray, n_classes: int, options: AuditOptions
) -> Callable[[Sequence[np.ndarray], Sequence[np.ndarray]], dict[str, Any] | None]:
    """Class shift of a sweep student's runs against a reference's (None: too many classes)."""
    from kdaudit.analysis.class_shift import class_shift, class_shift_multirun

    def shift(ref: Sequence[np.ndarray], st: Sequence[np.ndarray]) -> dict[str, Any] | None:
        if n_classes > MAX_CLASS_SHIFT_CLASSES:  # no dense class x class tables at that size
            return None
        alpha, correction = options.alpha, options.correction
        if len(ref) >= 2 and len(st) >= 2:
            return class_shift_multirun(
                y, list(ref), list(st), n_classes=n_classes, alpha=alpha, correction=correction
            ).to_dict()
        return class_shift(
            y, ref[0], st[0], n_classes=n_classes, alpha=alpha, correction=correction
        ).to_dict()

    return shift


def _group_metrics(
    dataset: Dataset, n_classes: int, options: AuditOptions
) -> tuple[str | None, Callable[[np.ndarray], dict[str, Any]] | None]:
    """The sweep's attribute (the first sensitive one) and its group metrics of one student."""
    from kdaudit.analysis.group_fairness import group_fairness

    if not dataset.sensitive_features or "group_fairness" in options.skip:
        return None, None
    attribute, groups = next(iter(dataset.sensitive_features.items()))

    def group_metrics(pred: np.ndarray) -> dict[str, Any]:
        return group_fairness(
            dataset.y_true,
            {"student": pred},
            groups,
            n_classes=n_classes,
            pairs=[],
            positive_label=options.positive_label,
            n_bootstrap=options.bootstrap,
            seed=options.seed,
            confidence=options.confidence,
            min_group_size=options.min_group_size,
        ).to_dict()["student"]

    return attribute, group_metrics


def _individual(
    graph: Any, options: AuditOptions
) -> Callable[[Mapping[str, LogitArray], Mapping[str, np.ndarray]], dict[str, Any]] | None:
    """Individual fairness of the sweep students on the audit's one neighbour graph."""
    from kdaudit.analysis.individual_fairness import individual_fairness

    if graph is None:
        return None

    def individual(
        roles: Mapping[str, LogitArray], preds: Mapping[str, np.ndarray]
    ) -> dict[str, Any]:
        if hasattr(graph, "evaluate"):  # anchors (kdaudit.analysis.anchored.AnchorPlan)
            return graph.evaluate(
                roles, predictions=preds, seed=options.seed, confidence=options.confidence
            )
        return individual_fairness(
            graph,
            roles,
            predictions=preds,
            n_bootstrap=options.bootstrap,
            seed=options.seed,
            confidence=options.confidence,
        ).to_dict()

    return individual
