"""The one place that wires datasets, model adapters, the engine and the analyzers.

>>> import kdaudit
>>> report = kdaudit.compare("teacher.onnx", "student.onnx", baseline="nds.onnx",
...                          data="eval.npz", sensitive=["sex"])      # doctest: +SKIP
>>> report.write("report/")                                           # doctest: +SKIP

Everything returned is a :class:`Report`, a JSON-native dict plus writers, so
notebooks and scripts need no subprocess.
"""

from __future__ import annotations

import contextlib
import dataclasses
import datetime as _dt
import functools
import getpass
import platform
import shlex
import sys
import warnings
from collections.abc import Iterator, Mapping, Sequence
from importlib import metadata
from pathlib import Path
from typing import Any

import numpy as np

from kdaudit import sanity
from kdaudit._version import __version__
from kdaudit._warnings import warn_caller
from kdaudit.auditresult import AuditResult, GateRecord
from kdaudit.data.dataset import Dataset, load_dataset
from kdaudit.engine.logits import LogitArray
from kdaudit.errors import AuditError, CacheError, InputDataError, KDAuditWarning, UsageError

ROLES = ("teacher", "student", "baseline")
PAIRS = (("teacher", "student"), ("baseline", "student"), ("teacher", "baseline"))
ANALYSES = ("class_shift", "group_fairness", "individual_fairness", "robustness")
CORRECTIONS = ("fdr_bh", "holm", "none")
SCHEMA_VERSION = "1"
#: replicates beyond this only cost time (the CI's Monte Carlo error is already negligible)
MAX_BOOTSTRAP = 100_000

ModelLike = Any  # str | Path | ModelSpec | Sequence of those (several runs)


@dataclasses.dataclass(frozen=True, kw_only=True)
class AuditOptions:
    """Every choice an audit makes; all of them are written into report.json's ``config``."""

    alpha: float = 0.05
    correction: str = "fdr_bh"
    bootstrap: int = 1000
    seed: int = 0
    confidence: float = 0.95
    min_group_size: int = 30
    max_groups: int = 1000
    positive_label: int | None = None
    intersectional: bool = False
    knn_k: int = 5
    anchors: int | None = None
    distance: str = "auto"
    space: str = "auto"
    embedding: str | None = None
    embedding_model: str | None = None
    counterfactual: str | None = None
    counterfactual_terms: str | None = None
    device: str = "auto"
    batch_size: int | None = None
    cache_dir: str | None = None
    use_cache: bool = True
    skip: frozenset[str] = frozenset()
    progress: bool = False
    trust_code: bool = False
    class_names: tuple[str, ...] | None = None

    def __post_init__(self) -> None:
        if self.class_names is not None:
            if isinstance(self.class_names, str):
                raise UsageError(
                    "class_names must be a list of names, one per class; got a string."
                )
            object.__setattr__(self, "class_names", tuple(str(c) for c in self.class_names))
        if not 0.0 < self.alpha < 1.0:
            raise UsageError(f"--alpha must be between 0 and 1; got {self.alpha}.")
        if self.correction not in CORRECTIONS:
            raise UsageError(
                f"Unknown --correction {self.correction!r}; choose one of {', '.join(CORRECTIONS)}."
            )
        if self.seed < 0:
            raise UsageError(f"--seed must be >= 0; got {self.seed}.")
        if (
            isinstance(self.max_groups, bool)
            or not isinstance(self.max_groups, int)
            or self.max_groups < 1
        ):
            raise UsageError(f"max_groups must be a positive integer; got {self.max_groups!r}.")
        if self.min_group_size < 0:
            raise UsageError(f"--min-group-size must be >= 0; got {self.min_group_size}.")
        if self.bootstrap < 0:
            raise UsageError(f"--bootstrap must be >= 0; got {self.bootstrap}.")
        if self.bootstrap > MAX_BOOTSTRAP:
            raise UsageError(
                f"--bootstrap must be at most {MAX_BOOTSTRAP}; got {self.bootstrap}.",
                tip="A few thousand replicates give stable 95% intervals.",
            )
        if not 0.5 <= self.confidence < 1.0:
            raise UsageError(f"confidence must be in [0.5, 1); got {self.confidence}.")
        if self.batch_size is not None and self.batch_size <= 0:
            raise UsageError(f"--batch-size must be a positive integer; got {self.batch_size}.")
        if self.device not in ("auto", "cpu", "cuda"):
            raise UsageError(f"--device must be auto, cpu or cuda; got {self.device!r}.")
        if self.knn_k < 1:
            raise UsageError(f"k for nearest neighbours must be >= 1; got {self.knn_k}.")
        if self.anchors is not None and (isinstance(self.anchors, bool) or self.anchors < 0):
            raise UsageError(
                f"anchors must be an integer >= 0 (0: exact, all rows); got {self.anchors!r}."
            )
        if self.distance not in ("euclidean", "cosine", "auto"):
            raise UsageError(f"distance must be euclidean, cosine or auto; got {self.distance!r}.")
        unknown = set(self.skip) - set(ANALYSES)
        if unknown:
            raise UsageError(
                f"Unknown analysis in --skip: {', '.join(sorted(unknown))}; "
                f"choose from {', '.join(ANALYSES)}."
            )

    def to_config(self) -> dict[str, Any]:
        cfg = dataclasses.asdict(self)
        cfg["skip"] = sorted(self.skip)
        cfg["class_names"] = None if self.class_names is None else list(self.class_names)
        cfg.pop("progress")
        return cfg


class Report:
    """A finished audit.

    Attributes
    ----------
    result : AuditResult
        The typed, immutable results (:mod:`kdaudit.auditresult`); every renderer reads it.
    data : dict
        The JSON-native report.json content (fractions, not percent; ``null`` with an
        ``undefined_reason`` where a number is undefined): a fresh copy on each access.

    Notes
    -----
    In a notebook a Report displays as the HTML report. :meth:`to_frames` gives tidy
    pandas tables, :meth:`rows` the per-sample predictions, :meth:`write` the files.
    A Report does not change: :meth:`apply_policy` returns a new one.
    """

    def __init__(self, data: Mapping[str, Any] | AuditResult) -> None:
        if isinstance(data, AuditResult):
            self._result = data
        else:
            self._result = AuditResult.from_dict(data)
        self._row_source: tuple[Any, ...] | None = None

    @property
    def result(self) -> AuditResult:
        """The typed, immutable audit result."""
        return self._result

    @property
    def data(self) -> dict[str, Any]:
        """report.json's content as a fresh JSON-native dict (changing it changes nothing)."""
        return self._result.to_dict()

    @property
    def gate(self) -> GateRecord | None:
        """The gate's verdict and checks, or None when no policy judged this report."""
        return self._result.gate

    @property
    def passed(self) -> bool | None:
        """True when a gate judged this report and every check passed; False when a gate
        judged it and any check failed or was inconclusive; None without a gate."""
        return None if self.gate is None else bool(self.gate.passed)

    @property
    def release_ok(self) -> bool | None:
        """Whether the gate lets the release through (the exit code): like :attr:`passed`,
        but an inconclusive gate counts as a pass under ``on_inconclusive = "pass"``."""
        return None if self.gate is None else self.gate.lets_release

    def apply_policy(self, policy: Any) -> Report:
        """A new Report: this one judged by a gate policy (``gate`` and ``governance`` set).

        This Report is left as it was.

        Parameters
        ----------
        policy : str, Path or Policy
            A TOML file, a shipped name (``"default"``, ``"strict"``) or a Policy. The
            policy's text and its sha256 are recorded with the verdict.
        """
        from kdaudit.gate import judge_result, load_policy

        pol = load_policy(policy) if isinstance(policy, (str, Path)) else policy
        out = Report(judge_result(self._result, pol))
        out._row_source = self._row_source
        return out

    def to_frames(self) -> dict[str, Any]:
        """Tidy pandas DataFrames of the results, by name.

        Returns
        -------
        dict of str -> pandas.DataFrame
            ``models``, ``accuracy``, ``accuracy_delta``, ``class_shift`` (per pair and
            class), ``fairness`` (per attribute, role and metric), ``fairness_delta``,
            ``by_group`` (per attribute, role and group), ``individual``, ``robustness``,
            ``sweep`` (per temperature), ``gate_checks``, ``warnings`` and more; only the
            sections this report has. The numbers are those of :attr:`data`.
        """
        from kdaudit.frames import report_frames

        return report_frames(self._result)

    def rows(self) -> Any:
        """Per-sample predictions: which rows changed between teacher and student.

        Returns
        -------
        pandas.DataFrame
            One row per evaluation sample: ``row``, ``label``, per role ``<role>_pred``,
            ``<role>_confidence`` (softmax probability of the predicted class) and
            ``<role>_correct``, ``group_<attribute>`` per sensitive attribute, and
            ``changed`` / ``newly_wrong`` / ``newly_right`` (teacher vs student). Uses the
            first run of each role.

        Raises
        ------
        UsageError
            The report was read from a file: the predictions are not stored in report.json.
        """
        if self._row_source is None:
            raise UsageError(
                "Per-row predictions exist only for a report from this session's "
                "audit (report.json does not store them).",
                tip="Run the audit with --export-rows FILE.parquet, or call "
                "rows() on the Report that compare()/audit() returned.",
            )
        from kdaudit.export import row_table

        y, logits, sensitive, names = self._row_source
        return row_table(y, logits, sensitive_features=sensitive, class_names=names)

    def export_rows(self, path: str | Path) -> Path:
        """Write :meth:`rows` to ``path`` (``.parquet``, or ``.csv``); return the path."""
        from kdaudit.export import check_rows_path, write_rows

        check_rows_path(path)
        return write_rows(self.rows(), path)

    def write(
        self, out_dir: str | Path, *, formats: Sequence[str] = ("json", "html", "md")
    ) -> dict[str, Path]:
        """Write the report files into ``out_dir``.

        Parameters
        ----------
        out_dir : str or Path
            Folder (created when missing).
        formats : sequence of str
            Any of ``json`` (report.json), ``html`` (report.html), ``md`` (summary.md),
            ``modelcard`` (model_card.json), ``csv`` (a ``csv/`` folder of the
            :meth:`to_frames` tables).

        Returns
        -------
        dict of str -> Path
            Format -> file (or folder) written.
        """
        from kdaudit.report import write_report

        return write_report(self._result, Path(out_dir), formats=tuple(formats))

    def _repr_html_(self) -> str:
        """The HTML report, isolated in an iframe so its styles do not touch the notebook."""
        import html

        from kdaudit.report.html import render_html

        page = render_html(self._result, validate=False)
        return (
            f'<iframe srcdoc="{html.escape(page, quote=True)}" '
            'style="width:100%;height:720px;border:1px solid #ddd" '
            'sandbox="allow-same-origin" title="kdaudit report"></iframe>'
        )

    def __repr__(self) -> str:
        verdict = "none" if self.gate is None else self.gate.effective_verdict
        return f"Report(roles={list(self._result.accuracy.keys())}, gate={verdict})"


# --------------------------------------------------------------------------- models


def as_specs(model: ModelLike, role: str, defaults: Mapping[str, Any] | None = None) -> list[Any]:
    """Normalise a path, ModelSpec, or a list of them (several runs) to a list of ModelSpec."""
    from kdaudit.models.base import ModelSpec
    from kdaudit.userinput import as_preprocess

    items = list(model) if isinstance(model, (list, tuple)) else [model]
    if not items:
        raise UsageError(f"No model given for role {role!r}.")
    fields = dict(defaults or {})
    if "preprocess" in fields:  # the CLI's strings, a dict or a Preprocess
        fields["preprocess"] = as_preprocess(fields["preprocess"], where=f"the {role}'s preprocess")
    specs = []
    for item in items:
        if isinstance(item, ModelSpec):
            pre = as_preprocess(item.preprocess, where=f"the {role}'s preprocess")
            specs.append(dataclasses.replace(item, role=role, preprocess=pre))
        else:
            specs.append(ModelSpec(path=str(item), role=role, **fields))
    return specs


def _model_logits(
    spec: Any, dataset: Dataset, options: AuditOptions, cache: Any
) -> tuple[LogitArray, dict[str, Any]]:
    from kdaudit.engine.inference import compute_logits
    from kdaudit.models.base import load_model

    spec, manifest = _with_manifest(spec)
    adapter = load_model(spec, device=options.device)
    if dataset.extras.get("class_names") and hasattr(adapter, "align_classes"):
        adapter.align_classes(list(dataset.extras["class_names"]))  # id2label vs the data's labels
    # compute_logits checks rows and finiteness; logits files are read memory-mapped, never cached
    logits = compute_logits(
        adapter,
        dataset,
        batch_size=options.batch_size,
        device=options.device,
        cache=cache,
        progress=options.progress,
        name=f"{spec.role} model {spec.path!r}",
    )
    return logits, model_info(adapter, spec, manifest, n_classes=logits.n_classes, kind=logits.kind)


def model_info(
    adapter: Any, spec: Any, manifest: Mapping[str, Any] | None, *, n_classes: int, kind: str
) -> dict[str, Any]:
    """The report's ``models.ROLE`` record of one run (``compare`` and ``kdaudit stats`` alike).

    Parameters
    ----------
    adapter : ModelAdapter
        The loaded model.
    spec : ModelSpec
        Its spec, with the values of its ``kdaudit train`` manifest filled in.
    manifest : dict or None
        That manifest.
    n_classes : int
        Classes the model outputs.
    kind : str
        ``"logits"`` or ``"log_probs"`` (what the outputs were read as).
    """
    info = adapter.describe()
    info["n_classes"] = n_classes
    # what --outputs auto resolved to: probabilities are read as log-probabilities
    info["outputs_resolved"] = "probs" if kind == "log_probs" else "logits"
    info["temperature"] = spec.temperature
    info["preprocess"] = spec.preprocess.to_dict() if spec.preprocess is not None else None
    info["preprocess_source"] = (
        "manifest"
        if manifest and manifest.get("_preprocess_from_manifest")
        else "given"
        if spec.preprocess is not None
        else "none"
    )
    if manifest:
        info["manifest"] = {
            k: manifest.get(k)
            for k in ("name", "role", "arch", "seed", "temperature", "soft_weight", "generation")
        }
    return info


def _with_manifest(spec: Any) -> tuple[Any, dict[str, Any] | None]:
    """Fill a model's temperature and preprocessing from the ``kdaudit train`` manifest beside it.

    Only a manifest that names this file's sha256 is used; values the user gave win.
    """
    from kdaudit.models.manifest import manifest_for_model
    from kdaudit.models.preprocess import Preprocess

    if Path(spec.path).suffix.lower() in (".npy", ".npz", ".json") or not Path(spec.path).is_file():
        return spec, None
    manifest = manifest_for_model(spec.path)
    if manifest is None:
        return spec, None
    changes: dict[str, Any] = {}
    if (
        spec.temperature is None
        and spec.role == "student"
        and manifest.get("temperature") is not None
    ):
        changes["temperature"] = float(manifest["temperature"])
    if spec.preprocess is None and manifest.get("preprocess"):
        changes["preprocess"] = Preprocess.from_dict(dict(manifest["preprocess"]))
        manifest = {**manifest, "_preprocess_from_manifest": True}
    return dataclasses.replace(spec, **changes), manifest


#: class_shift holds a class x class disagreement matrix per model pair (in report.json too)
MAX_CLASS_SHIFT_CLASSES = 2048


def _n_groups(groups: Any) -> int:
    from kdaudit.data.labels import to_group_labels

    return len(to_group_labels(groups).names)


def _check_groups(dataset: Dataset, options: AuditOptions) -> None:
    """Refuse an attribute with more groups than ``max_groups`` (an id column, a free-text cell)."""
    for name, groups in dataset.sensitive_features.items():
        count = _n_groups(groups)
        if count > options.max_groups:
            raise InputDataError(
                f"Sensitive attribute {name!r} of {dataset.path or 'the data'!r} has {count} groups, "
                f"more than --max-groups {options.max_groups}.",
                tip=f"Is {name!r} an id or free-text column? Choose a real attribute or bin it; "
                "or raise --max-groups (config: [analysis] max_groups).",
            )


def _check_classes(
    logits: Mapping[str, list[LogitArray]], dataset: Dataset, options: AuditOptions | None = None
) -> int:
    counts = {
        f"{role} run {i}": la.n_classes
        for role, runs in logits.items()
        for i, la in enumerate(runs)
    }
    distinct = sorted(set(counts.values()))
    if len(distinct) > 1:
        desc = ", ".join(f"{k}: {v}" for k, v in counts.items())
        raise InputDataError(
            f"Expected every model to output the same number of classes; got {desc}.",
            tip="Check that all models were trained on the same label set.",
        )
    n_classes = distinct[0]
    if n_classes < 2:
        raise InputDataError(f"Models output {n_classes} class; need at least 2.")
    if n_classes > MAX_CLASS_SHIFT_CLASSES and (
        options is None or "class_shift" not in options.skip
    ):
        cells = n_classes * n_classes
        raise InputDataError(
            f"The models output {n_classes} classes: class shift's {n_classes} x {n_classes} "
            f"disagreement matrix would hold {cells:.3g} counts ({cells * 8 / 1e9:.3g} GB) per model "
            f"pair; kdaudit builds it for at most {MAX_CLASS_SHIFT_CLASSES} classes.",
            tip='Skip it with --skip class_shift (config: [analysis] skip = ["class_shift"]).',
        )
    y_max = int(dataset.y_true.max())
    if y_max >= n_classes:
        raise InputDataError(
            f"Labels in {dataset.path!r} go up to {y_max} but the models output {n_classes} classes.",
            tip="Labels must be 0..n_classes-1, in the models' class order.",
        )
    return n_classes


# --------------------------------------------------------------------------- audit


def run_audit(
    models: Mapping[str, Sequence[Any]],
    dataset: Dataset,
    *,
    options: AuditOptions | None = None,
    sweep: Sequence[tuple[float, Sequence[Any]]] | None = None,
    command_line: Sequence[str] | None = None,
    policy: Any = None,
) -> Report:
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
    policy : path, name or Policy, optional
        A release gate to judge the report with.
    """
    from kdaudit.data.dataset import remembered_hashes

    with remembered_hashes():  # each model file is read once, however often it is named
        return _run_audit(
            models,
            dataset,
            options=options,
            sweep=sweep,
            command_line=command_line,
            policy=policy,
        )


def _run_audit(
    models: Mapping[str, Sequence[Any]],
    dataset: Dataset,
    *,
    options: AuditOptions | None,
    sweep: Sequence[tuple[float, Sequence[Any]]] | None,
    command_line: Sequence[str] | None,
    policy: Any,
) -> Report:
    options = options or AuditOptions()
    started = _now()
    unknown_roles = set(models) - set(ROLES)
    if unknown_roles:
        raise UsageError(
            f"Unknown model role(s) {sorted(unknown_roles)}; use teacher, student, baseline."
        )
    for needed in ("teacher", "student"):
        if needed not in models:
            raise UsageError(f"An audit needs a {needed} model.")
    _check_groups(dataset, options)
    cache = _open_cache(options)
    caught: list[str] = []
    with warnings.catch_warnings(record=True) as records:
        warnings.simplefilter("always", KDAuditWarning)
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
        graph = None
        if not _individual_fairness_skip_reason(dataset, options):
            with _out_of_memory(dataset, n_classes, options):
                graph = _knn(dataset, options, models)
        for rec in records:
            if issubclass(rec.category, KDAuditWarning) or issubclass(rec.category, RuntimeWarning):
                caught.append(str(rec.message))
    with _out_of_memory(dataset, n_classes, options):
        preds = {role: [la.predictions() for la in runs] for role, runs in logits.items()}
    return assemble_report(
        dataset,
        logits,
        preds,
        infos,
        n_classes,
        options,
        findings=findings,
        caught=caught,
        started=started,
        specs=models,
        cache=cache,
        graph=graph,
        sweep=sweep,
        command_line=command_line,
        policy=policy,
    )


@contextlib.contextmanager
def _out_of_memory(dataset: Dataset, n_classes: int, options: AuditOptions) -> Iterator[None]:
    """Turn a MemoryError in the analyses into an AuditError that names the sizes."""
    try:
        yield
    except MemoryError as exc:
        groups = ", ".join(
            f"{k}: {_n_groups(v)} groups" for k, v in dataset.sensitive_features.items()
        )
        raise AuditError(
            f"Out of memory in the analyses of {dataset.path or 'the data'!r}: {dataset.n_samples} "
            f"rows x {n_classes} classes{', ' + groups if groups else ''}, "
            f"{options.bootstrap} bootstrap replicates.",
            tip="Lower --bootstrap, --skip an analysis, or use fewer classes/groups.",
        ) from exc


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
    caught: Sequence[str] = (),
    data_block: dict[str, Any] | None = None,
    skipped: Mapping[str, str] | None = None,
    specs: Mapping[str, Sequence[Any]] | None = None,
    cache: Any = None,
    graph: Any = None,
    sweep: Sequence[tuple[float, Sequence[Any]]] | None = None,
    command_line: Sequence[str] | None = None,
    policy: Any = None,
    row_logits: bool = True,
) -> Report:
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
    findings, caught : sequence
        Sanity findings and warnings gathered before the analyses.
    data_block : dict, optional
        The ``data`` block (default: ``dataset.describe()``).
    skipped : mapping of str -> str, optional
        Analyses that this path cannot run, with the reason (into ``skipped``).
    specs, cache, graph, sweep : optional
        What individual fairness, counterfactuals and the sweep need.
    command_line : sequence of str, optional
        Recorded in the provenance.
    policy : optional
        A release gate.
    row_logits : bool
        Whether ``logits`` are per-row logits that :meth:`Report.rows` can use.
    """
    findings = list(findings)
    caught = list(caught)
    class_names = _class_names(dataset, options, n_classes)
    with warnings.catch_warnings(record=True) as records:
        warnings.simplefilter("always", KDAuditWarning)
        with _out_of_memory(dataset, n_classes, options):
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
            caught += _annotate_small_groups(report.get("group_fairness") or {}, dataset, options)
            if sweep:
                report.update(
                    _sweep(dataset, logits, infos, n_classes, options, sweep, cache, graph)
                )
        for rec in records:
            if issubclass(rec.category, KDAuditWarning) or issubclass(rec.category, RuntimeWarning):
                caught.append(str(rec.message))
    data_block = dict(dataset.describe() if data_block is None else data_block)
    if class_names is not None:
        data_block["class_names"] = list(class_names)
    report = {
        "schema_version": SCHEMA_VERSION,
        "kdaudit_version": __version__,
        "created": started,
        "models": {role: _model_block(infos[role]) for role in ROLES if role in infos},
        "data": data_block,
        "config": {
            **options.to_config(),
            "n_classes": n_classes,
            "runs_used_for_single_run_analyses": "first run of each role",
            "pairs": [f"{a}_vs_{b}" for a, b in _pairs(preds)],
        },
        **report,
    }
    if findings:
        report["sanity"] = findings
    caught += [f["message"] for f in findings]
    report["warnings"] = sorted(
        set(report.get("warnings", [])) | set(caught) | set(_ci_notes(report))
    )
    for message in report["warnings"]:  # recorded into the report above; shown to the user here
        warn_caller(message, KDAuditWarning)
    report["provenance"] = _provenance(command_line, started)
    from kdaudit.governance import governance_section

    report["governance"] = governance_section(report)
    out = Report(report)
    if row_logits:
        out._row_source = (
            dataset.y_true,
            {role: runs[0] for role, runs in logits.items()},
            dict(dataset.sensitive_features),
            class_names,
        )
    if policy is not None:
        out = out.apply_policy(policy)
    return out


def _preflight(
    models: Mapping[str, Sequence[Any]],
    sweep: Sequence[tuple[float, Sequence[Any]]] | None,
    dataset: Dataset,
    options: AuditOptions,
) -> list[dict[str, Any]]:
    entries = []
    for role in ROLES:
        runs = models.get(role, [])
        entries += [
            (role if len(runs) == 1 else f"{role} run {i + 1}", spec) for i, spec in enumerate(runs)
        ]
    for temperature, specs in sweep or []:
        entries += [
            (
                f"sweep student T={temperature:g}" + ("" if len(specs) == 1 else f" run {i + 1}"),
                dataclasses.replace(spec, role="student"),
            )
            for i, spec in enumerate(specs)
        ]
    return sanity.preflight(entries, dataset, device=options.device, prepare=_with_manifest)


def _class_names(dataset: Dataset, options: AuditOptions, n_classes: int) -> tuple[str, ...] | None:
    """Class names from --class-names, else from the data (table labels, npz ``class_names``)."""
    given = options.class_names
    names = given if given is not None else dataset.extras.get("class_names")
    if names is None:
        return None
    names = tuple(str(c) for c in names)
    if len(names) != n_classes:
        if given is not None:
            raise UsageError(
                f"--class-names gives {len(names)} names but the models output "
                f"{n_classes} classes.",
                tip="Give one name per class, in the models' class order.",
            )
        return None  # e.g. a label column with fewer classes present than the models output
    return names


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


def _open_cache(options: AuditOptions) -> Any:
    if not options.use_cache:
        return None
    from kdaudit.engine.cache import LogitCache, default_cache_dir

    root = Path(options.cache_dir) if options.cache_dir else default_cache_dir()
    if root.exists() and not root.is_dir():
        raise CacheError(
            f"The logit cache {str(root)!r} is a file, not a folder.",
            tip="Pass another --cache-dir, or --no-cache.",
        )
    return LogitCache(root)


def _pairs(logits: Mapping[str, Any]) -> list[tuple[str, str]]:
    return [(a, b) for a, b in PAIRS if a in logits and b in logits]


def _model_block(runs: list[dict[str, Any]]) -> dict[str, Any]:
    first = dict(runs[0])
    first["runs"] = [{"path": r["path"], "sha256": r["sha256"]} for r in runs]
    first.setdefault("temperature", None)
    return first


def _analyse(
    dataset: Dataset,
    logits: Mapping[str, Sequence[LogitArray]],
    preds: Mapping[str, list[np.ndarray]],
    n_classes: int,
    options: AuditOptions,
    *,
    specs: Mapping[str, Sequence[Any]],
    cache: Any,
    graph: Any,
) -> dict[str, Any]:
    from kdaudit.analysis.accuracy import accuracy_analysis
    from kdaudit.analysis.class_shift import class_shift, class_shift_multirun

    y = dataset.y_true
    pairs = _pairs(logits)
    first = {role: runs[0] for role, runs in preds.items()}
    out: dict[str, Any] = {"skipped": {}, "warnings": []}
    acc = accuracy_analysis(
        y,
        first,
        pairs=pairs,
        n_bootstrap=options.bootstrap,
        seed=options.seed,
        confidence=options.confidence,
    ).to_dict()
    out["accuracy"] = acc["accuracy"]
    out["accuracy_delta"] = acc["accuracy_delta"]

    if "class_shift" in options.skip:
        out["skipped"]["class_shift"] = "skipped with --skip"
    else:
        shift: dict[str, Any] = {}
        for a, b in pairs:
            if len(preds[a]) >= 2 and len(preds[b]) >= 2:
                res = class_shift_multirun(
                    y,
                    preds[a],
                    preds[b],
                    n_classes=n_classes,
                    alpha=options.alpha,
                    correction=options.correction,
                )
            else:
                res = class_shift(
                    y,
                    first[a],
                    first[b],
                    n_classes=n_classes,
                    alpha=options.alpha,
                    correction=options.correction,
                )
            shift[f"{a}_vs_{b}"] = res.to_dict()
        out["class_shift"] = shift

    if "group_fairness" in options.skip:
        out["skipped"]["group_fairness"] = "skipped with --skip"
    elif not dataset.sensitive_features:
        out["skipped"]["group_fairness"] = "no sensitive attribute given (--sensitive)"
    else:
        out["group_fairness"] = _group_fairness(dataset, first, n_classes, pairs, options)

    if graph is None:
        out["skipped"]["individual_fairness"] = _individual_fairness_skip_reason(dataset, options)
    else:
        out["individual_fairness"] = _individual_fairness(
            dataset, logits, first, pairs, options, specs=specs, cache=cache, graph=graph
        )

    if options.counterfactual_terms is not None and "individual_fairness" not in options.skip:
        from kdaudit.text_audit import counterfactual_text

        out["counterfactual_text"] = counterfactual_text(
            dataset, logits, pairs, options, specs, cache
        )

    if "robustness" in options.skip:
        out["skipped"]["robustness"] = "skipped with --skip"
    elif dataset.split is None and not dataset.sensitive_features:
        out["skipped"]["robustness"] = "the data has no 'split' array and no sensitive attribute"
    else:
        from kdaudit.analysis.robustness import robustness

        # the first sensitive attribute is the bias attribute (per-bias-type runs: one audit each)
        attr_name, attr = next(iter(dataset.sensitive_features.items()), ("", None))
        out["robustness"] = robustness(
            y,
            first,
            split=dataset.split,
            bias_attribute=attr,
            attribute_name=attr_name,
            pairs=pairs,
            n_bootstrap=options.bootstrap,
            seed=options.seed,
            confidence=options.confidence,
            min_group_size=options.min_group_size,
        ).to_dict()
    return out


def _group_fairness(
    dataset: Dataset,
    predictions: Mapping[str, np.ndarray],
    n_classes: int,
    pairs: Sequence[tuple[str, str]],
    options: AuditOptions,
    *,
    n_bootstrap: int | None = None,
) -> dict[str, Any]:
    from kdaudit.analysis.group_fairness import group_fairness, intersectional_groups

    attributes = dict(dataset.sensitive_features)
    if options.intersectional and len(attributes) >= 2:
        combined = intersectional_groups(dataset.sensitive_features)
        if _n_groups(combined) > options.max_groups:
            raise InputDataError(
                f"The intersection {'+'.join(attributes)!r} has {_n_groups(combined)} groups, more "
                f"than --max-groups {options.max_groups}.",
                tip="Drop --intersectional, use fewer attributes, or raise --max-groups.",
            )
        attributes["+".join(attributes)] = combined
    result = {}
    for name, groups in attributes.items():
        result[name] = group_fairness(
            dataset.y_true,
            predictions,
            groups,
            n_classes=n_classes,
            pairs=pairs,
            positive_label=options.positive_label,
            n_bootstrap=options.bootstrap if n_bootstrap is None else n_bootstrap,
            seed=options.seed,
            confidence=options.confidence,
            min_group_size=options.min_group_size,
        ).to_dict()
    return result


def _individual_fairness_skip_reason(dataset: Dataset, options: AuditOptions) -> str | None:
    if "individual_fairness" in options.skip:
        return "skipped with --skip"
    has_embedding = options.embedding is not None or "embedding" in dataset.extras
    if not dataset.has_inputs and not has_embedding:
        return (
            "the data has no inputs ('x') and no embedding was given, so no neighbours can be found"
        )
    from kdaudit.data.text import TextInputs

    if isinstance(dataset.x, TextInputs) and not has_embedding and not options.embedding_model:
        return (
            "the data is text, so no input space defines similarity; pass --embedding FILE.npy "
            "or --embedding-model ROLE (that model's pooled hidden state)"
        )
    if isinstance(dataset.x, dict) and not has_embedding:
        return (
            "the model takes several inputs (x_<name> arrays), so no input space defines "
            "similarity; pass --embedding FILE.npy (one row per sample) to compare neighbours there"
        )
    return None


def _knn(
    dataset: Dataset, options: AuditOptions, models: Mapping[str, Sequence[Any]] | None = None
) -> Any:
    """The one neighbour graph of an audit, shared by every model and the sweep."""
    from kdaudit.analysis.individual_fairness import DEFAULT_SPARE
    from kdaudit.analysis.neighbors import knn_graph, representation

    embedding = None
    if options.embedding_model is not None and options.embedding is None:
        from kdaudit.models.text import model_embedding

        embedding = model_embedding(
            dataset, options.embedding_model, models or {}, device=options.device
        )
    elif options.embedding is not None:
        from kdaudit.data.dataset import load_arrays

        if not Path(options.embedding).suffix.lower() == ".npy":
            raise InputDataError(f"The embedding {options.embedding!r} must be a .npy file.")
        embedding = load_arrays(options.embedding, "embedding")["arr_0"]
    elif "embedding" in dataset.extras:
        embedding = dataset.extras["embedding"]
    if embedding is not None and (embedding.ndim != 2 or embedding.dtype.kind not in "fiub"):
        raise InputDataError(
            f"The embedding {options.embedding or 'array of the data'!r} must be a numeric "
            f"(n_samples, n_features) array; got {embedding.dtype} of shape {embedding.shape}."
        )
    if embedding is not None and embedding.shape[0] != dataset.n_samples:
        raise InputDataError(
            f"The embedding has {embedding.shape[0]} rows but the data has {dataset.n_samples}."
        )
    x = (
        None
        if isinstance(dataset.x, dict) or not isinstance(dataset.x, np.ndarray | None)
        else dataset.x
    )  # multi-input and text data need an embedding
    space = "embedding" if embedding is not None else options.space
    rep = representation(x, space=space, embedding=embedding)
    if space == "auto":
        space = "standardized" if x is not None and x.ndim == 2 else "flat"
    metric = options.distance
    if metric == "auto":  # cosine for text representations, euclidean otherwise
        from kdaudit.data.text import TextInputs

        metric = "cosine" if isinstance(dataset.x, TextInputs) else "euclidean"
    from kdaudit.analysis.anchored import AnchorPlan, use_anchors
    from kdaudit.analysis.ann import choose_graph

    n_anchors = use_anchors(rep.shape[0], options.anchors)
    if n_anchors is not None:  # large data (or --anchors): a hash-drawn anchor subsample
        return AnchorPlan(rep=rep, k=options.knn_k, metric=metric, space=space, n_anchors=n_anchors)
    # exact where it is fast enough (with the spares the jackknife rebuilds from), else HNSW
    return choose_graph(
        rep,
        k=options.knn_k,
        metric=metric,
        space=space,
        seed=options.seed,
        exact=functools.partial(knn_graph, spare=DEFAULT_SPARE),
    )


def _individual_fairness(
    dataset: Dataset,
    logits: Mapping[str, Sequence[LogitArray]],
    predictions: Mapping[str, np.ndarray],
    pairs: Sequence[tuple[str, str]],
    options: AuditOptions,
    *,
    specs: Mapping[str, Sequence[Any]],
    cache: Any,
    graph: Any,
) -> dict[str, Any]:
    from kdaudit.analysis.anchored import AnchorPlan
    from kdaudit.analysis.individual_fairness import individual_fairness

    if isinstance(graph, AnchorPlan):
        if options.counterfactual is not None:
            raise UsageError(
                "--counterfactual needs the exact all-rows neighbour graph, not anchors.",
                tip="Pass --anchors 0 (exact), or drop --counterfactual.",
            )
        return graph.evaluate(
            {role: runs[0] for role, runs in logits.items()},
            predictions=predictions,
            seed=options.seed,
            confidence=options.confidence,
            pairs=pairs,
        )
    counterfactual = None
    if options.counterfactual is not None:
        counterfactual = _counterfactual_logits(dataset, options, specs, cache)
    first_sensitive = next(iter(dataset.sensitive_features.values()), None)
    result = individual_fairness(
        graph,
        {role: runs[0] for role, runs in logits.items()},
        predictions=predictions,
        counterfactual=counterfactual,
        sensitive_features=first_sensitive,
        n_bootstrap=options.bootstrap,
        seed=options.seed,
        confidence=options.confidence,
        pairs=pairs,
    ).to_dict()
    if getattr(graph, "ann", None):  # approximate neighbours: say how close to exact
        result["config"]["neighbors"] = {"method": "approximate", **graph.ann}
    return result


def _counterfactual_dataset(dataset: Dataset, path: str) -> Dataset:
    """The counterfactual inputs x' (same rows as the data, e.g. a sensitive attribute flipped)."""
    from kdaudit.data.dataset import file_sha256, fingerprint, load_arrays

    p = Path(path)
    if not p.exists():
        raise InputDataError(f"Counterfactual file {path!r} does not exist.")
    if p.suffix.lower() != ".npz":
        raise InputDataError(f"Counterfactual file {path!r} must be an .npz archive.")
    arrays = load_arrays(p, "counterfactual file")
    multi = {k[2:]: v for k, v in arrays.items() if k.startswith("x_")}
    x: Any = arrays.get("x", multi or None)
    if x is None:
        raise InputDataError(
            f"Counterfactual file {path!r} has no 'x' array.",
            tip="Save the counterfactual inputs as 'x' (same rows as the data).",
        )
    rows = {k: v.shape[0] for k, v in (x.items() if isinstance(x, dict) else [("x", x)])}
    if set(rows.values()) != {dataset.n_samples}:
        raise InputDataError(
            f"Counterfactual inputs {path!r} have {sorted(set(rows.values()))} rows; the data has "
            f"{dataset.n_samples}. Row i must be the counterfactual of data row i."
        )
    sha = file_sha256(p)
    return dataclasses.replace(
        dataset,
        x=x,
        path=str(p),
        sha256=sha,
        fingerprint=fingerprint(sha, kind="counterfactual", of=dataset.fingerprint),
    )


def _counterfactual_logits(
    dataset: Dataset, options: AuditOptions, specs: Mapping[str, Sequence[Any]], cache: Any
) -> dict[str, LogitArray] | None:
    if any(s.path.lower().endswith((".npy", ".npz")) for runs in specs.values() for s in runs[:1]):
        warnings.warn(
            "--counterfactual needs models that take inputs; it is skipped for logits files.",
            KDAuditWarning,
            stacklevel=2,
        )
        return None
    cf = _counterfactual_dataset(dataset, str(options.counterfactual))
    return {role: _model_logits(runs[0], cf, options, cache)[0] for role, runs in specs.items()}


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
    from kdaudit.analysis.class_shift import class_shift, class_shift_multirun
    from kdaudit.analysis.group_fairness import group_fairness
    from kdaudit.analysis.individual_fairness import individual_fairness
    from kdaudit.sweep import temperature_sweep

    y = dataset.y_true
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

    attribute, group_metrics = None, None
    if dataset.sensitive_features and "group_fairness" not in options.skip:
        attribute, groups = next(iter(dataset.sensitive_features.items()))

        def group_metrics(pred: np.ndarray) -> dict[str, Any]:
            return group_fairness(
                y,
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

    individual = None
    if graph is not None:

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

    main = (
        infos["student"][0].get("temperature"),
        [i["path"] for i in infos["student"]],
        logits["student"],
    )
    rows, reference = temperature_sweep(
        y,
        entries,
        main=main,
        references={r: logits[r] for r in ("teacher", "baseline") if r in logits},
        attribute=attribute,
        group_metrics=group_metrics,
        individual=individual,
        class_shift=shift,
        confidence=options.confidence,
    )
    return {"temperature_sweep": rows, "temperature_sweep_reference": reference}


# --------------------------------------------------------------------------- entry points


def compare(
    teacher: ModelLike,
    student: ModelLike,
    *,
    data: str | Path | Dataset,
    baseline: ModelLike | None = None,
    label: str | None = None,
    sensitive: Sequence[str] | None = None,
    features: Sequence[str] | None = None,
    sensitive_files: Mapping[str, str | Path] | None = None,
    text_column: str | None = None,
    options: AuditOptions | None = None,
    model_defaults: Mapping[str, Mapping[str, Any]] | None = None,
    sweep: Sequence[tuple[float, ModelLike]] | None = None,
    policy: Any = None,
    command_line: Sequence[str] | None = None,
    preprocess: Any = None,
    **option_overrides: Any,
) -> Report:
    """Compare a teacher, a distilled student and optionally a baseline on one dataset.

    Parameters
    ----------
    teacher, student, baseline : path, ModelSpec, or list of them (several runs)
        Model files: ``.onnx``; ``.safetensors``/``.pt`` state dicts with ``arch``;
        ``.npy``/``.npz`` precomputed logits of shape (n_samples, n_classes). A list is
        several runs (seeds) of one role; with several runs for both sides, class shift
        uses Welch's t-test over runs.
    data : path, built-in spec or Dataset
        Evaluation data: an ``.npz`` with ``x``, ``y`` and ``sensitive_<name>`` arrays
        (optional ``class_names``), a ``.csv``/``.parquet`` table (see ``label``), or a
        built-in such as ``"trifeature"`` or ``"adult:PATH"``.
    label, sensitive, features : optional
        Column selection for tables; ``sensitive`` also selects npz attributes. A list
        column's members are selected as ``COLUMN:MEMBER`` (or all members with at least
        ``min_group_size`` rows when only ``COLUMN`` is named).
    text_column : str, optional
        Tables: the column of texts that text models tokenize (docs/text.md).
    sensitive_files : mapping of name -> path, optional
        Further sensitive attributes, each a file of group labels with one row per data row.
    options : AuditOptions, optional
        Statistical and engine choices; keyword overrides apply on top, e.g.
        ``bootstrap=200``, ``seed=1``, ``class_names=["<=50K", ">50K"]``.
    model_defaults : mapping of role -> ModelSpec fields, optional
        ``outputs`` defaults to ``"auto"`` as on the command line (rows that are
        non-negative and sum to 1 are read as probabilities). E.g. ``{"student": {"arch": "lenet5", "outputs": "probs",
        "preprocess": "scale = 0.0039, reshape = [1, 28, 28]"}}``.
    sweep : sequence of (temperature, model), optional
        Further students for the temperature-sweep view.
    policy : path, name ("default", "strict") or Policy, optional
        Release gate; its verdict is in ``Report.gate`` and ``Report.passed``.
    command_line : sequence of str, optional
        Recorded in the report's provenance.
    preprocess : str, dict, Preprocess, or mapping of role -> one of those, optional
        Input preprocessing, written as on the command line
        (``"scale = 0.00392156862745098, reshape = [1, 28, 28]"``), as a dict
        (``{"scale": 1 / 255}``) or a Preprocess; one spec for every model, or
        ``{"teacher": ..., "student": ...}`` per role. Preprocessing given in
        ``model_defaults`` wins. Without either, a model's ``kdaudit train`` manifest
        supplies it.

    Returns
    -------
    Report
        ``report.data`` is the report.json content; ``report.to_frames()`` gives tidy
        DataFrames, ``report.write(dir)`` the files.
    """
    options = dataclasses.replace(options or AuditOptions(), **option_overrides)
    dataset = (
        data
        if isinstance(data, Dataset)
        else load_dataset(
            data,
            label=label,
            sensitive=sensitive,
            features=features,
            text_column=text_column,
            min_group_size=options.min_group_size,
        )
    )
    dataset = _with_sensitive_files(dataset, sensitive_files)
    defaults = {role: dict((model_defaults or {}).get(role, {})) for role in ROLES}
    for role in ROLES:
        defaults[role].setdefault("trust_code", options.trust_code)
        defaults[role].setdefault("outputs", "auto")  # the CLI's default
    if preprocess is not None:
        by_role = (
            preprocess
            if isinstance(preprocess, Mapping) and preprocess and set(preprocess) <= set(ROLES)
            else dict.fromkeys(ROLES, preprocess)
        )
        for role, spec in by_role.items():
            defaults[role].setdefault("preprocess", spec)
    models = {
        "teacher": as_specs(teacher, "teacher", defaults["teacher"]),
        "student": as_specs(student, "student", defaults["student"]),
    }
    if baseline is not None:
        models["baseline"] = as_specs(baseline, "baseline", defaults["baseline"])
    sweep_specs = [
        (float(t), as_specs(m, "student", defaults["student"])) for t, m in (sweep or [])
    ]
    return run_audit(
        models,
        dataset,
        options=options,
        sweep=sweep_specs,
        command_line=command_line,
        policy=policy,
    )


def _with_sensitive_files(dataset: Dataset, files: Mapping[str, str | Path] | None) -> Dataset:
    from kdaudit.data.dataset import add_sensitive_file

    for name, path in (files or {}).items():
        dataset = add_sensitive_file(dataset, name, path)
    return dataset


_CONFIG_ANALYSIS_KEYS = {
    "alpha",
    "correction",
    "bootstrap",
    "seed",
    "confidence",
    "min_group_size",
    "max_groups",
    "positive_label",
    "intersectional",
    "knn_k",
    "anchors",
    "distance",
    "space",
    "embedding",
    "counterfactual",
    "skip",
    "class_names",
    "embedding_model",
    "counterfactual_terms",
}
_CONFIG_ENGINE_KEYS = {"device", "batch_size", "cache_dir", "use_cache", "trust_code"}
_MODEL_KEYS = {
    "path",
    "preprocess",
    "outputs",
    "temperature",
    "format",
    "arch",
    "input_shape",
    "tokenizer",
    "max_length",
}


def load_config(path: str | Path) -> dict[str, Any]:
    """Read an audit config (TOML: [data], [models.ROLE], [analysis], [engine], [gate], [[sweep]]).

    Relative paths resolve from the config file's folder.
    """
    from kdaudit.validation import load_toml, validate

    p = Path(path)
    if not p.exists():
        raise UsageError(f"Config file {str(path)!r} does not exist.")
    # one mechanism for every table ([[sweep]] and [gate] included): kdaudit/schemas/
    cfg = load_toml(p, "audit_config", role="config")
    if cfg.get("gate"):
        validate(cfg["gate"], "policy", f"{str(path)!r} [gate]")
    unknown = set(cfg) - {"data", "models", "analysis", "gate", "engine", "sweep"}
    if unknown:
        raise UsageError(f"Unknown section(s) in {str(path)!r}: {', '.join(sorted(unknown))}.")
    return cfg


def audit(
    config: str | Path,
    *,
    overrides: Mapping[str, Any] | None = None,
    command_line: Sequence[str] | None = None,
) -> Report:
    """Run the audit a TOML config describes (``kdaudit audit CONFIG.toml``)."""
    from kdaudit.models.base import ModelSpec
    from kdaudit.userinput import as_preprocess

    cfg = load_config(config)
    base = Path(config).resolve().parent

    def resolve(p: str) -> str:
        """Relative paths resolve from the config's folder, built-in args too."""
        text = str(p)
        head, sep, arg = text.partition(":")
        if sep and "/" not in head and head:  # a built-in spec such as adult:data/adult.test
            is_relative_file = bool(arg) and not Path(arg).is_absolute() and (base / arg).exists()
            return f"{head}:{base / arg}" if is_relative_file else text
        return text if Path(text).is_absolute() else str(base / text)

    model_cfg = cfg.get("models", {})
    bad_roles = set(model_cfg) - set(ROLES)
    if bad_roles:
        raise UsageError(
            f"Unknown model role(s) in config: {', '.join(sorted(bad_roles))}; "
            "use [models.teacher], [models.student], [models.baseline] and [[sweep]]."
        )
    data_cfg = cfg.get("data", {})
    if "path" not in data_cfg:
        raise UsageError(f"Config {str(config)!r} has no [data] path.")
    bad_data = set(data_cfg) - {
        "path",
        "label",
        "sensitive",
        "features",
        "sensitive_files",
        "text_column",
    }
    if bad_data:
        raise UsageError(f"Unknown key(s) in [data]: {', '.join(sorted(bad_data))}.")
    sensitive = data_cfg.get("sensitive")
    if isinstance(sensitive, str):
        sensitive = [sensitive]

    analysis = dict(cfg.get("analysis", {}))
    engine = dict(cfg.get("engine", {}))
    unknown = (set(analysis) - _CONFIG_ANALYSIS_KEYS) | (set(engine) - _CONFIG_ENGINE_KEYS)
    if unknown:
        raise UsageError(f"Unknown option(s) in {str(config)!r}: {', '.join(sorted(unknown))}.")
    if "skip" in analysis:
        analysis["skip"] = frozenset(analysis["skip"])
    for key in ("embedding", "counterfactual"):
        if analysis.get(key):
            analysis[key] = resolve(analysis[key])
    if engine.get("cache_dir"):
        engine["cache_dir"] = resolve(engine["cache_dir"])
    opts = {**analysis, **engine, **dict(overrides or {})}
    options = AuditOptions(**opts)

    def specs(role: str, table: Mapping[str, Any]) -> list[Any]:
        bad = set(table) - _MODEL_KEYS
        if bad:
            raise UsageError(f"Unknown key(s) in [models.{role}]: {', '.join(sorted(bad))}.")
        if "path" not in table:
            raise UsageError(f"[models.{role}] has no path.")
        paths = table["path"] if isinstance(table["path"], list) else [table["path"]]
        pre = as_preprocess(table.get("preprocess") or None, where=f"[models.{role}] preprocess")
        shape = tuple(table["input_shape"]) if table.get("input_shape") else None
        return [
            ModelSpec(
                path=resolve(p),
                role=role,
                format=table.get("format"),
                arch=table.get("arch"),
                preprocess=pre,
                outputs=table.get("outputs", "auto"),
                trust_code=options.trust_code,
                temperature=table.get("temperature"),
                input_shape=shape,
                max_length=table.get("max_length"),
                tokenizer=resolve(table["tokenizer"]) if table.get("tokenizer") else None,
            )
            for p in paths
        ]

    models = {role: specs(role, table) for role, table in model_cfg.items()}
    sweep = []
    for entry in cfg.get("sweep", []):
        if "temperature" not in entry:
            raise UsageError("Each [[sweep]] entry needs a temperature.")
        template = {
            k: v for k, v in {**model_cfg.get("student", {}), **entry}.items() if k in _MODEL_KEYS
        }
        sweep.append((float(entry["temperature"]), specs("student", template)))
    policy = None
    if cfg.get("gate"):
        from kdaudit.gate import Policy

        policy = Policy.from_dict(cfg["gate"])
    # the data is read last, once everything in the config is known to be well-formed
    dataset = load_dataset(
        resolve(data_cfg["path"]),
        label=data_cfg.get("label"),
        sensitive=sensitive,
        features=data_cfg.get("features"),
        text_column=data_cfg.get("text_column"),
        min_group_size=options.min_group_size,
    )
    dataset = _with_sensitive_files(
        dataset, {k: resolve(v) for k, v in data_cfg.get("sensitive_files", {}).items()}
    )
    return run_audit(
        models, dataset, options=options, sweep=sweep, command_line=command_line, policy=policy
    )


# --------------------------------------------------------------------------- provenance


def _now() -> str:
    return _dt.datetime.now(_dt.UTC).replace(microsecond=0).isoformat().replace("+00:00", "Z")


# what an audit can run on (the core and the extras); test-only oracles are not recorded
_PACKAGES = (
    "numpy",
    "scipy",
    "pandas",
    "pyarrow",
    "onnxruntime",
    "onnx",
    "torch",
    "safetensors",
    "jinja2",
    "matplotlib",
    "jsonschema",
)


def _provenance(command_line: Sequence[str] | None, started: str) -> dict[str, Any]:
    versions: dict[str, str | None] = {}
    for name in _PACKAGES:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            versions[name] = None
    try:
        user = getpass.getuser()
    except (KeyError, OSError):
        user = None
    return {
        "command_line": shlex.join(command_line) if command_line is not None else None,
        "user": user,
        "host": platform.node(),
        "python": sys.version.split()[0],
        "platform": platform.platform(),
        "packages": versions,
        "started": started,
        "finished": _now(),
    }
