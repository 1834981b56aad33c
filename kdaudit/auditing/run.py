"""Orchestration: acquire the logits, run the analyses, assemble report.json's content.

:func:`run_audit` (rows in memory) and ``compare --from-stats`` (rows expanded from
merged counts) both end in :func:`assemble_report`. Neither builds the
:class:`kdaudit.api.Report` nor applies a gate: they return an :class:`AuditOutput`
that :mod:`kdaudit.api` wraps, so orchestration sits below the report and the gate.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from kdaudit import sanity
from kdaudit._version import __version__
from kdaudit.analysis.pairs import present_pairs
from kdaudit.arrays import LogitArray
from kdaudit.auditing.acquire import _model_logits, _open_cache, _preflight
from kdaudit.auditing.analyses import _analyse, _individual_fairness_skip_reason, _knn
from kdaudit.auditing.capture import WarningLog
from kdaudit.auditing.checks import (
    _check_classes,
    _check_groups,
    _check_roles,
    _class_names,
    _out_of_memory,
)
from kdaudit.auditing.options import AuditOptions
from kdaudit.auditing.provenance import _now, _provenance
from kdaudit.auditing.sweep import _sweep
from kdaudit.data.dataset import Dataset
from kdaudit.errors import AuditError
from kdaudit.vocab import ROLES, SCHEMA_VERSION

__all__ = ["AuditOutput", "assemble_report", "run_audit"]


@dataclasses.dataclass(frozen=True, slots=True, kw_only=True)
class AuditOutput:
    """What an audit produced: report.json's content, and what ``Report.rows`` reads.

    Attributes
    ----------
    data : dict
        The JSON-native report (no ``governance`` or ``gate`` yet: :mod:`kdaudit.api`
        adds them when it wraps this in a Report).
    row_source : tuple or None
        ``(y_true, {role: first run's LogitArray}, sensitive_features, class_names)``;
        None when the rows are not in memory (``compare --from-stats``).
    """

    data: dict[str, Any]
    row_source: tuple[Any, ...] | None


def run_audit(
    models: Mapping[str, Sequence[Any]],
    dataset: Dataset,
    *,
    options: AuditOptions | None = None,
    sweep: Sequence[tuple[float, Sequence[Any]]] | None = None,
    command_line: Sequence[str] | None = None,
) -> AuditOutput:
    """Audit models on a dataset.

    Parameters
    ----------
    models : mapping of role -> list of ModelSpec
        Roles among ``teacher``, ``student``, ``baseline``; several specs are several runs.
    dataset : Dataset
        Evaluation data.
    options : AuditOptions, optional
        Statistical and engine choices.
    sweep : sequence of (temperature, list of ModelSpec), optional
        Further distilled students (e.g. a temperature sweep); each is compared with
        the teacher and baseline and summarised in ``temperature_sweep``.
    command_line : sequence of str, optional
        Recorded in the report's provenance.

    Returns
    -------
    AuditOutput
        :func:`kdaudit.api.run_audit` wraps it in a Report and applies the gate.
    """
    from kdaudit.data.dataset import remembered_hashes

    with remembered_hashes():  # each model file is read once, however often it is named
        return _run_audit(
            models,
            dataset,
            options=options,
            sweep=sweep,
            command_line=command_line,
        )


@dataclasses.dataclass(frozen=True, slots=True, kw_only=True)
class _Acquired:
    """The logits of every run, their ``models`` records, and the checks made on them."""

    logits: dict[str, list[LogitArray]]
    infos: dict[str, list[dict[str, Any]]]
    n_classes: int
    findings: list[dict[str, Any]]


def _run_audit(
    models: Mapping[str, Sequence[Any]],
    dataset: Dataset,
    *,
    options: AuditOptions | None,
    sweep: Sequence[tuple[float, Sequence[Any]]] | None,
    command_line: Sequence[str] | None,
) -> AuditOutput:
    options = options or AuditOptions()
    started = _now()
    _check_roles(models)
    log = WarningLog()  # every stage below records its warnings here
    with log.capture():
        _check_groups(dataset, options)
        cache = _open_cache(options)
        got = _acquire(models, sweep, dataset, options, cache)
        graph = None
        if not _individual_fairness_skip_reason(dataset, options):
            with _out_of_memory(dataset, got.n_classes, options):
                graph = _knn(dataset, options, models)
        with _out_of_memory(dataset, got.n_classes, options):
            preds = {role: [la.predictions() for la in runs] for role, runs in got.logits.items()}
    return assemble_report(
        dataset,
        got.logits,
        preds,
        got.infos,
        got.n_classes,
        options,
        findings=got.findings,
        log=log,
        started=started,
        specs=models,
        cache=cache,
        graph=graph,
        sweep=sweep,
        command_line=command_line,
    )


def _acquire(
    models: Mapping[str, Sequence[Any]],
    sweep: Sequence[tuple[float, Sequence[Any]]] | None,
    dataset: Dataset,
    options: AuditOptions,
    cache: Any,
) -> _Acquired:
    """Every run's logits (after a two-row preflight of every model) and their records."""
    # every model is loaded and run on two rows first, so all problems surface in one error
    facts = _preflight(models, sweep, dataset, options)
    findings = sanity.input_scale_findings(facts, dataset.x)
    logits: dict[str, list[LogitArray]] = {}
    infos: dict[str, list[dict[str, Any]]] = {}
    for role in ROLES:
        for spec in models.get(role, []):
            try:
                la, info = _model_logits(spec, dataset, options, cache)
            except MemoryError as exc:
                raise AuditError(
                    f"Out of memory computing the logits of the {role} model {spec.path!r} on "
                    f"{dataset.path or 'the data'!r} ({dataset.n_samples} rows).",
                    tip="Use a smaller --batch-size, or a machine with more memory.",
                ) from exc
            logits.setdefault(role, []).append(la)
            infos.setdefault(role, []).append(info)
    n_classes = _check_classes(logits, dataset, options)
    return _Acquired(logits=logits, infos=infos, n_classes=n_classes, findings=findings)


def assemble_report(
    dataset: Dataset,
    logits: Mapping[str, Sequence[Any]],
    preds: Mapping[str, list[np.ndarray]],
    infos: Mapping[str, list[dict[str, Any]]],
    n_classes: int,
    options: AuditOptions,
    *,
    started: str,
    findings: Sequence[dict[str, Any]] = (),
    log: WarningLog | None = None,
    data_block: dict[str, Any] | None = None,
    skipped: Mapping[str, str] | None = None,
    specs: Mapping[str, Sequence[Any]] | None = None,
    cache: Any = None,
    graph: Any = None,
    sweep: Sequence[tuple[float, Sequence[Any]]] | None = None,
    command_line: Sequence[str] | None = None,
    row_logits: bool = True,
) -> AuditOutput:
    """The report from a dataset's metadata and labels, per-role predictions and model infos.

    The one assembly of ``compare`` (rows in memory) and ``compare --from-stats``
    (rows expanded from merged count tables, ``logits`` then being the predictions,
    ``graph`` None and ``row_logits`` False): every analysis, sanity check, flag,
    governance section and gate comes from here, so a local run is a distributed
    run with one worker.

    Parameters
    ----------
    dataset : Dataset
        Labels, sensitive attributes and split of every row (inputs only for
        individual fairness, i.e. when ``graph`` is given).
    logits : mapping of role -> list of LogitArray (or of predictions)
        Read by individual fairness, counterfactual text and the sweep only.
    preds : mapping of role -> list of ndarray
        Predicted class per row and run.
    infos : mapping of role -> list of dict
        The ``models`` records per run.
    n_classes : int
        Number of classes the models output.
    options : AuditOptions
        Statistical choices.
    started : str
        When the audit started (``created``).
    findings : sequence of dict
        Sanity findings gathered before the analyses.
    log : WarningLog, optional
        The warnings recorded before the analyses (:func:`run_audit`'s stages); every
        warning raised here joins them, goes into ``warnings`` and is re-emitted once.
    data_block : dict, optional
        The ``data`` block (default: ``dataset.describe()``).
    skipped : mapping of str -> str, optional
        Analyses that this path cannot run, with the reason (into ``skipped``).
    specs, cache, graph, sweep : optional
        What individual fairness, counterfactuals and the sweep need.
    command_line : sequence of str, optional
        Recorded in the provenance.
    row_logits : bool
        Whether ``logits`` are per-row logits that :meth:`Report.rows` can use.
    """
    findings = list(findings)
    log = log or WarningLog()
    class_names = _class_names(dataset, options, n_classes)
    with log.capture(), _out_of_memory(dataset, n_classes, options):
        findings += sanity.prediction_findings(
            dataset.y_true, preds, n_classes, class_names=class_names
        )
        report = _analyse(
            dataset,
            logits,
            preds,
            n_classes,
            options,
            specs=specs or {},
            cache=cache,
            graph=graph,
        )
        for name, reason in (skipped or {}).items():  # what this path cannot run, and why
            if name not in options.skip and name not in report:
                report["skipped"][name] = reason
        for note in _annotate_small_groups(report.get("group_fairness") or {}, dataset, options):
            log.add(note)
        if sweep:
            report.update(_sweep(dataset, logits, infos, n_classes, options, sweep, cache, graph))
    report = {
        **_header(dataset, infos, n_classes, options, started, data_block, class_names, preds),
        **report,
    }
    if findings:
        report["sanity"] = findings
    for message in [f["message"] for f in findings] + _ci_notes(report):
        log.add(message)
    report["warnings"] = sorted(set(report.get("warnings", [])) | set(log.messages()))
    log.emit(report["warnings"])  # recorded into the report above; shown to the caller here
    report["provenance"] = _provenance(command_line, started)
    row_source = None
    if row_logits:
        row_source = (
            dataset.y_true,
            {role: runs[0] for role, runs in logits.items()},
            dict(dataset.sensitive_features),
            class_names,
        )
    return AuditOutput(data=report, row_source=row_source)


def _header(
    dataset: Dataset,
    infos: Mapping[str, list[dict[str, Any]]],
    n_classes: int,
    options: AuditOptions,
    started: str,
    data_block: dict[str, Any] | None,
    class_names: Sequence[str] | None,
    preds: Mapping[str, Any],
) -> dict[str, Any]:
    """report.json's first keys: versions, ``created``, ``models``, ``data`` and ``config``."""
    data_block = dict(dataset.describe() if data_block is None else data_block)
    if class_names is not None:
        data_block["class_names"] = list(class_names)
    return {
        "schema_version": SCHEMA_VERSION,
        "kdaudit_version": __version__,
        "created": started,
        "models": {role: _model_block(infos[role]) for role in ROLES if role in infos},
        "data": data_block,
        "config": {
            **options.to_config(),
            "n_classes": n_classes,
            "runs_used_for_single_run_analyses": "first run of each role",
            "pairs": [f"{a}_vs_{b}" for a, b in present_pairs(preds)],
        },
    }


def _annotate_small_groups(
    gf: Mapping[str, Any], dataset: Dataset, options: AuditOptions
) -> list[str]:
    """The small-group flag per rate (rows, positives, negatives) on every by_group row."""
    from kdaudit.analysis.group_fairness import intersectional_groups

    notes = []
    for attr, block in gf.items():
        groups = dataset.sensitive_features.get(attr)
        if groups is None and "+" in attr:
            groups = intersectional_groups(dataset.sensitive_features)
        if groups is not None:
            notes += sanity.annotate_small_groups(
                block, dataset.y_true, groups, min_group_size=options.min_group_size
            )
    return notes


def _ci_notes(report: Mapping[str, Any]) -> list[str]:
    """Say so if a displayed group-fairness interval excludes its displayed estimate.

    The noise-aware intervals are built to hold their ``estimate`` (the plug-in
    ``value`` of a spread is biased upward and may lie above them, which is why the
    report shows ``estimate``); this is a guard that the invariant holds.
    """
    flagged = []
    for attr, block in report.get("group_fairness", {}).items():
        for role in ROLES:
            for metric, est in block.get(role, {}).items():
                shown = est.get("estimate", est.get("value")) if isinstance(est, dict) else None
                if shown is None or est.get("ci_low") is None or est.get("ci_high") is None:
                    continue
                if not est["ci_low"] <= shown <= est["ci_high"]:
                    flagged.append(f"{metric} ({role}, {attr})")
    if not flagged:
        return []
    return [
        "Intervals exclude their estimate for " + ", ".join(flagged) + "; please report this "
        "as a kdaudit bug (the noise-aware intervals are built to hold their estimate)."
    ]


def _model_block(runs: list[dict[str, Any]]) -> dict[str, Any]:
    first = dict(runs[0])
    first["runs"] = [{"path": r["path"], "sha256": r["sha256"]} for r in runs]
    first.setdefault("temperature", None)
    return first
