"""The one place that wires datasets, model adapters, the engine and the analyzers.

>>> import kdaudit
>>> report = kdaudit.compare("teacher.onnx", "student.onnx", baseline="nds.onnx",
...                          data="eval.npz", sensitive=["sex"])      # doctest: +SKIP
>>> report.write("report/")                                           # doctest: +SKIP

Everything returned is a :class:`Report`, a JSON-native dict plus writers, so
notebooks and scripts need no subprocess.
"""

from __future__ import annotations

import dataclasses
import datetime as _dt
import getpass
import platform
import shlex
import sys
import tomllib
import warnings
from collections.abc import Mapping, Sequence
from importlib import metadata
from pathlib import Path
from typing import Any

import numpy as np

from kdaudit._version import __version__
from kdaudit.data.dataset import Dataset, load_dataset
from kdaudit.engine.logits import LogitArray
from kdaudit.errors import CacheError, InputDataError, KDAuditWarning, UsageError

ROLES = ("teacher", "student", "baseline")
PAIRS = (("teacher", "student"), ("baseline", "student"), ("teacher", "baseline"))
ANALYSES = ("class_shift", "group_fairness", "individual_fairness", "robustness")
CORRECTIONS = ("fdr_bh", "holm", "none")
SCHEMA_VERSION = "1"

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
    positive_label: int | None = None
    intersectional: bool = False
    knn_k: int = 5
    distance: str = "euclidean"
    space: str = "auto"
    embedding: str | None = None
    counterfactual: str | None = None
    device: str = "auto"
    batch_size: int | None = None
    cache_dir: str | None = None
    use_cache: bool = True
    skip: frozenset[str] = frozenset()
    progress: bool = False
    trust_code: bool = False

    def __post_init__(self) -> None:
        if not 0.0 < self.alpha < 1.0:
            raise UsageError(f"--alpha must be between 0 and 1; got {self.alpha}.")
        if self.correction not in CORRECTIONS:
            raise UsageError(
                f"Unknown --correction {self.correction!r}; choose one of {', '.join(CORRECTIONS)}."
            )
        if self.seed < 0:
            raise UsageError(f"--seed must be >= 0; got {self.seed}.")
        if self.min_group_size < 0:
            raise UsageError(f"--min-group-size must be >= 0; got {self.min_group_size}.")
        if self.bootstrap < 0:
            raise UsageError(f"--bootstrap must be >= 0; got {self.bootstrap}.")
        if not 0.5 <= self.confidence < 1.0:
            raise UsageError(f"confidence must be in [0.5, 1); got {self.confidence}.")
        if self.batch_size is not None and self.batch_size <= 0:
            raise UsageError(f"--batch-size must be a positive integer; got {self.batch_size}.")
        if self.device not in ("auto", "cpu", "cuda"):
            raise UsageError(f"--device must be auto, cpu or cuda; got {self.device!r}.")
        if self.knn_k < 1:
            raise UsageError(f"k for nearest neighbours must be >= 1; got {self.knn_k}.")
        if self.distance not in ("euclidean", "cosine"):
            raise UsageError(f"distance must be euclidean or cosine; got {self.distance!r}.")
        unknown = set(self.skip) - set(ANALYSES)
        if unknown:
            raise UsageError(
                f"Unknown analysis in --skip: {', '.join(sorted(unknown))}; "
                f"choose from {', '.join(ANALYSES)}."
            )

    def to_config(self) -> dict[str, Any]:
        cfg = dataclasses.asdict(self)
        cfg["skip"] = sorted(self.skip)
        cfg.pop("progress")
        return cfg


class Report:
    """A finished audit: ``data`` is the JSON-native report.json content."""

    def __init__(self, data: dict[str, Any]) -> None:
        self.data = data

    @property
    def gate(self) -> dict[str, Any] | None:
        return self.data.get("gate")

    @property
    def passed(self) -> bool:
        """True unless a gate was evaluated and failed."""
        return bool(self.gate["passed"]) if self.gate else True

    def apply_policy(self, policy: Any) -> Report:
        """Judge this report with a gate policy (a path, a name or a Policy) and store the verdict."""
        from kdaudit.gate import evaluate_gate, load_policy

        pol = load_policy(policy) if isinstance(policy, (str, Path)) else policy
        self.data["gate"] = evaluate_gate(self.data, pol).to_dict()
        return self

    def write(self, out_dir: str | Path, *, formats: Sequence[str] = ("json", "html", "md")) -> dict[str, Path]:
        """Write report.json, report.html and summary.md into ``out_dir``."""
        from kdaudit.report import write_report

        return write_report(self.data, Path(out_dir), formats=tuple(formats))

    def __repr__(self) -> str:
        acc = self.data.get("accuracy", {})
        return f"Report(roles={list(acc)}, gate={'none' if self.gate is None else self.passed})"


# --------------------------------------------------------------------------- models


def as_specs(model: ModelLike, role: str, defaults: Mapping[str, Any] | None = None) -> list[Any]:
    """Normalise a path, ModelSpec, or a list of them (several runs) to a list of ModelSpec."""
    from kdaudit.models.base import ModelSpec

    items = list(model) if isinstance(model, (list, tuple)) else [model]
    if not items:
        raise UsageError(f"No model given for role {role!r}.")
    specs = []
    for item in items:
        if isinstance(item, ModelSpec):
            specs.append(dataclasses.replace(item, role=role))
        else:
            specs.append(ModelSpec(path=str(item), role=role, **dict(defaults or {})))
    return specs


def _model_logits(spec: Any, dataset: Dataset, options: AuditOptions, cache: Any) -> tuple[LogitArray, dict[str, Any]]:
    from kdaudit.engine.inference import compute_logits
    from kdaudit.models.base import load_model

    spec, manifest = _with_manifest(spec)
    adapter = load_model(spec, device=options.device)
    # compute_logits checks rows and finiteness; logits files are read memory-mapped, never cached
    logits = compute_logits(
        adapter, dataset, batch_size=options.batch_size, device=options.device,
        cache=cache, progress=options.progress, name=f"{spec.role} model {spec.path!r}",
    )
    info = adapter.describe()
    info["n_classes"] = logits.n_classes
    info["temperature"] = spec.temperature
    info["preprocess"] = spec.preprocess.to_dict() if spec.preprocess is not None else None
    info["preprocess_source"] = ("manifest" if manifest and manifest.get("_preprocess_from_manifest")
                                 else "given" if spec.preprocess is not None else "none")
    if manifest:
        info["manifest"] = {k: manifest.get(k) for k in
                            ("name", "role", "arch", "seed", "temperature", "soft_weight", "generation")}
    return logits, info


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
    if spec.temperature is None and spec.role == "student" and manifest.get("temperature") is not None:
        changes["temperature"] = float(manifest["temperature"])
    if spec.preprocess is None and manifest.get("preprocess"):
        changes["preprocess"] = Preprocess.from_dict(dict(manifest["preprocess"]))
        manifest = {**manifest, "_preprocess_from_manifest": True}
    return dataclasses.replace(spec, **changes), manifest


def _check_classes(logits: Mapping[str, list[LogitArray]], dataset: Dataset) -> int:
    counts = {f"{role} run {i}": la.n_classes for role, runs in logits.items() for i, la in enumerate(runs)}
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
    options = options or AuditOptions()
    started = _now()
    unknown_roles = set(models) - set(ROLES)
    if unknown_roles:
        raise UsageError(f"Unknown model role(s) {sorted(unknown_roles)}; use teacher, student, baseline.")
    for needed in ("teacher", "student"):
        if needed not in models:
            raise UsageError(f"An audit needs a {needed} model.")
    cache = _open_cache(options)
    caught: list[str] = []
    with warnings.catch_warnings(record=True) as records:
        warnings.simplefilter("always", KDAuditWarning)
        logits: dict[str, list[LogitArray]] = {}
        infos: dict[str, list[dict[str, Any]]] = {}
        for role in ROLES:
            for spec in models.get(role, []):
                la, info = _model_logits(spec, dataset, options, cache)
                logits.setdefault(role, []).append(la)
                infos.setdefault(role, []).append(info)
        n_classes = _check_classes(logits, dataset)
        preds = {role: [la.predictions() for la in runs] for role, runs in logits.items()}
        graph = None if _individual_fairness_skip_reason(dataset, options) else _knn(dataset, options)
        report = _analyse(dataset, logits, preds, n_classes, options, specs=models, cache=cache,
                          graph=graph)
        if sweep:
            report["temperature_sweep"] = _sweep(dataset, preds, n_classes, options, sweep, cache, graph)
        for rec in records:
            if issubclass(rec.category, KDAuditWarning) or issubclass(rec.category, RuntimeWarning):
                caught.append(str(rec.message))
    report = {
        "schema_version": SCHEMA_VERSION,
        "kdaudit_version": __version__,
        "created": started,
        "models": {role: _model_block(infos[role]) for role in ROLES if role in infos},
        "data": dataset.describe(),
        "config": {**options.to_config(), "n_classes": n_classes,
                   "runs_used_for_single_run_analyses": "first run of each role",
                   "pairs": [f"{a}_vs_{b}" for a, b in _pairs(logits)]},
        **report,
    }
    report["warnings"] = sorted(set(report.get("warnings", [])) | set(caught) | set(_ci_notes(report)))
    for message in report["warnings"]:  # recorded into the report above; shown to the user here
        warnings.warn(message, KDAuditWarning, stacklevel=2)
    report["provenance"] = _provenance(command_line, started)
    out = Report(report)
    if policy is not None:
        out.apply_policy(policy)
    return out


def _ci_notes(report: Mapping[str, Any]) -> list[str]:
    """Say so when a percentile CI of a group-fairness level excludes its own point value.

    Spreads (max - min over groups, or the worst of many classes) only grow under
    resampling noise, so their percentile intervals sit high; the paired deltas are far
    less affected. The report keeps the CI METHODS.md prescribes and flags it here.
    """
    flagged = []
    for attr, block in report.get("group_fairness", {}).items():
        for role in ROLES:
            for metric, est in block.get(role, {}).items():
                if not isinstance(est, dict) or est.get("value") is None or est.get("ci_low") is None:
                    continue
                if not est["ci_low"] <= est["value"] <= est["ci_high"]:
                    flagged.append(f"{metric} ({role}, {attr})")
    if not flagged:
        return []
    return [
        "Percentile bootstrap CIs exclude their point value for " + ", ".join(flagged) + ": spreads "
        "over small groups or many classes are biased upward under resampling. Judge changes by "
        "the paired deltas, whose CIs are far less affected."
    ]


def _open_cache(options: AuditOptions) -> Any:
    if not options.use_cache:
        return None
    from kdaudit.engine.cache import LogitCache, default_cache_dir

    root = Path(options.cache_dir) if options.cache_dir else default_cache_dir()
    if root.exists() and not root.is_dir():
        raise CacheError(f"The logit cache {str(root)!r} is a file, not a folder.",
                         tip="Pass another --cache-dir, or --no-cache.")
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
    logits: Mapping[str, list[LogitArray]],
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
    acc = accuracy_analysis(y, first, pairs=pairs, n_bootstrap=options.bootstrap,
                            seed=options.seed, confidence=options.confidence).to_dict()
    out["accuracy"] = acc["accuracy"]
    out["accuracy_delta"] = acc["accuracy_delta"]

    if "class_shift" in options.skip:
        out["skipped"]["class_shift"] = "skipped with --skip"
    else:
        shift: dict[str, Any] = {}
        for a, b in pairs:
            if len(preds[a]) >= 2 and len(preds[b]) >= 2:
                res = class_shift_multirun(y, preds[a], preds[b], n_classes=n_classes,
                                           alpha=options.alpha, correction=options.correction)
            else:
                res = class_shift(y, first[a], first[b], n_classes=n_classes,
                                  alpha=options.alpha, correction=options.correction)
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
        out["individual_fairness"] = _individual_fairness(dataset, logits, first, pairs, options,
                                                          specs=specs, cache=cache, graph=graph)

    if "robustness" in options.skip:
        out["skipped"]["robustness"] = "skipped with --skip"
    elif dataset.split is None and not dataset.sensitive_features:
        out["skipped"]["robustness"] = "the data has no 'split' array and no sensitive attribute"
    else:
        from kdaudit.analysis.robustness import robustness

        # the first sensitive attribute is the bias attribute (per-bias-type runs: one audit each)
        attr_name, attr = next(iter(dataset.sensitive_features.items()), ("", None))
        out["robustness"] = robustness(
            y, first, split=dataset.split, bias_attribute=attr, attribute_name=attr_name,
            pairs=pairs, n_bootstrap=options.bootstrap, seed=options.seed,
            confidence=options.confidence, min_group_size=options.min_group_size,
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
        attributes["+".join(attributes)] = intersectional_groups(dataset.sensitive_features)
    result = {}
    for name, groups in attributes.items():
        result[name] = group_fairness(
            dataset.y_true, predictions, groups, n_classes=n_classes, pairs=pairs,
            positive_label=options.positive_label,
            n_bootstrap=options.bootstrap if n_bootstrap is None else n_bootstrap,
            seed=options.seed, confidence=options.confidence,
            min_group_size=options.min_group_size,
        ).to_dict()
    return result


def _individual_fairness_skip_reason(dataset: Dataset, options: AuditOptions) -> str | None:
    if "individual_fairness" in options.skip:
        return "skipped with --skip"
    has_embedding = options.embedding is not None or "embedding" in dataset.extras
    if not dataset.has_inputs and not has_embedding:
        return "the data has no inputs ('x') and no embedding was given, so no neighbours can be found"
    if isinstance(dataset.x, dict) and not has_embedding:
        return ("the model takes several inputs (x_<name> arrays), so no input space defines "
                "similarity; pass --embedding FILE.npy (one row per sample) to compare neighbours there")
    return None


def _knn(dataset: Dataset, options: AuditOptions) -> Any:
    """The one neighbour graph of an audit, shared by every model and the sweep."""
    from kdaudit.analysis.neighbors import knn_graph, representation

    embedding = None
    if options.embedding is not None:
        try:
            embedding = np.load(options.embedding, allow_pickle=False)
        except (OSError, ValueError) as exc:
            raise InputDataError(f"Could not read embedding {options.embedding!r}: {exc}") from exc
    elif "embedding" in dataset.extras:
        embedding = dataset.extras["embedding"]
    if embedding is not None and embedding.shape[0] != dataset.n_samples:
        raise InputDataError(
            f"The embedding has {embedding.shape[0]} rows but the data has {dataset.n_samples}."
        )
    x = None if isinstance(dataset.x, dict) else dataset.x  # multi-input data needs an embedding
    space = "embedding" if embedding is not None else options.space
    rep = representation(x, space=space, embedding=embedding)
    if space == "auto":
        space = "standardized" if x is not None and x.ndim == 2 else "flat"
    from kdaudit.analysis.ann import choose_graph

    return choose_graph(rep, k=options.knn_k, metric=options.distance, space=space, seed=options.seed,
                        exact=knn_graph)


def _individual_fairness(
    dataset: Dataset,
    logits: Mapping[str, list[LogitArray]],
    predictions: Mapping[str, np.ndarray],
    pairs: Sequence[tuple[str, str]],
    options: AuditOptions,
    *,
    specs: Mapping[str, Sequence[Any]],
    cache: Any,
    graph: Any,
) -> dict[str, Any]:
    from kdaudit.analysis.individual_fairness import individual_fairness

    counterfactual = None
    if options.counterfactual is not None:
        counterfactual = _counterfactual_logits(dataset, options, specs, cache)
    first_sensitive = next(iter(dataset.sensitive_features.values()), None)
    result = individual_fairness(
        graph, {role: runs[0] for role, runs in logits.items()}, predictions=predictions,
        counterfactual=counterfactual, sensitive_features=first_sensitive,
        n_bootstrap=options.bootstrap, seed=options.seed, confidence=options.confidence,
        pairs=pairs,
    ).to_dict()
    if getattr(graph, "ann", None):  # approximate neighbours: say how close to exact
        result["config"]["neighbors"] = {"method": "approximate", **graph.ann}
    return result


def _counterfactual_dataset(dataset: Dataset, path: str) -> Dataset:
    """The counterfactual inputs x' (same rows as the data, e.g. a sensitive attribute flipped)."""
    from kdaudit.data.dataset import file_sha256, fingerprint

    p = Path(path)
    if not p.is_file():
        raise InputDataError(f"Counterfactual file {path!r} does not exist.")
    try:
        with np.load(p, allow_pickle=False) as npz:
            arrays = {k: npz[k] for k in npz.files}
    except (OSError, ValueError, EOFError) as exc:
        raise InputDataError(f"Could not read counterfactual inputs {path!r} as .npz: {exc}") from exc
    multi = {k[2:]: v for k, v in arrays.items() if k.startswith("x_")}
    x: Any = arrays.get("x", multi or None)
    if x is None:
        raise InputDataError(f"Counterfactual file {path!r} has no 'x' array.",
                             tip="Save the counterfactual inputs as 'x' (same rows as the data).")
    rows = {k: v.shape[0] for k, v in (x.items() if isinstance(x, dict) else [("x", x)])}
    if set(rows.values()) != {dataset.n_samples}:
        raise InputDataError(
            f"Counterfactual inputs {path!r} have {sorted(set(rows.values()))} rows; the data has "
            f"{dataset.n_samples}. Row i must be the counterfactual of data row i."
        )
    sha = file_sha256(p)
    return dataclasses.replace(dataset, x=x, path=str(p), sha256=sha,
                               fingerprint=fingerprint(sha, kind="counterfactual", of=dataset.fingerprint))


def _counterfactual_logits(
    dataset: Dataset, options: AuditOptions, specs: Mapping[str, Sequence[Any]], cache: Any
) -> dict[str, LogitArray] | None:
    if any(s.path.lower().endswith((".npy", ".npz")) for runs in specs.values() for s in runs[:1]):
        warnings.warn("--counterfactual needs models that take inputs; it is skipped for logits files.",
                      KDAuditWarning, stacklevel=2)
        return None
    cf = _counterfactual_dataset(dataset, str(options.counterfactual))
    return {role: _model_logits(runs[0], cf, options, cache)[0] for role, runs in specs.items()}


def _sweep(
    dataset: Dataset,
    preds: Mapping[str, list[np.ndarray]],
    n_classes: int,
    options: AuditOptions,
    sweep: Sequence[tuple[float, Sequence[Any]]],
    cache: Any,
    graph: Any,
) -> list[dict[str, Any]]:
    """One row per extra student: accuracy, #TC, #SC, worst DPD/EOD, I(f) (point values)."""
    from kdaudit.analysis.class_shift import class_shift, class_shift_multirun

    y = dataset.y_true
    rows = []
    for temperature, specs in sorted(sweep, key=lambda t: t[0]):
        runs = []
        for spec in specs:
            la, _ = _model_logits(dataclasses.replace(spec, role="student"), dataset, options, cache)
            if la.n_classes != n_classes:
                raise InputDataError(
                    f"Sweep student at T={temperature} outputs {la.n_classes} classes; "
                    f"the other models output {n_classes}."
                )
            runs.append(la)
        st_preds = [la.predictions() for la in runs]
        row: dict[str, Any] = {
            "temperature": float(temperature),
            "paths": [s.path for s in specs],
            "accuracy": float(np.mean(st_preds[0] == y)),
        }
        for ref, key in (("teacher", "n_tc"), ("baseline", "n_sc")):
            if ref not in preds:
                row[key] = None
                continue
            if len(preds[ref]) >= 2 and len(st_preds) >= 2:
                res = class_shift_multirun(y, preds[ref], st_preds, n_classes=n_classes,
                                           alpha=options.alpha, correction=options.correction)
            else:
                res = class_shift(y, preds[ref][0], st_preds[0], n_classes=n_classes,
                                  alpha=options.alpha, correction=options.correction)
            d = res.to_dict()
            row[key] = d["n_significant"]
            row[key + "_uncorrected"] = d["n_significant_uncorrected"]
        row["demographic_parity_difference"] = None
        row["equalized_odds_difference"] = None
        if dataset.sensitive_features and "group_fairness" not in options.skip:
            gf = _group_fairness(dataset, {"student": st_preds[0]}, n_classes, [], options, n_bootstrap=0)
            dpd = [v["student"]["demographic_parity_difference"]["value"] for v in gf.values()]
            eod = [v["student"]["equalized_odds_difference"]["value"] for v in gf.values()]
            row["demographic_parity_difference"] = max((v for v in dpd if v is not None), default=None)
            row["equalized_odds_difference"] = max((v for v in eod if v is not None), default=None)
        row["lipschitz"] = None
        if graph is not None:
            from kdaudit.analysis.individual_fairness import individual_fairness

            ind = individual_fairness(graph, {"student": runs[0]}, predictions={"student": st_preds[0]},
                                      n_bootstrap=0, seed=options.seed).to_dict()
            row["lipschitz"] = ind["student"]["lipschitz"]["value"]
        rows.append(row)
    return rows


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
    options: AuditOptions | None = None,
    model_defaults: Mapping[str, Mapping[str, Any]] | None = None,
    sweep: Sequence[tuple[float, ModelLike]] | None = None,
    policy: Any = None,
    command_line: Sequence[str] | None = None,
    **option_overrides: Any,
) -> Report:
    """Compare a teacher, a distilled student and optionally a baseline on one dataset.

    Parameters
    ----------
    teacher, student, baseline : path, ModelSpec, or list of them (several runs)
        Model files (.onnx, .safetensors/.pt with ``arch``, .npy logits ...).
    data : path, built-in spec or Dataset
        Evaluation data (INTERFACE.md "Data").
    label, sensitive, features : optional
        Column selection for tables; ``sensitive`` also selects npz attributes.
    sensitive_files : mapping of name -> path, optional
        Further sensitive attributes, each a file of group labels with one row per data row.
    options : AuditOptions, optional
        Statistical and engine choices; keyword overrides (``bootstrap=200``...) apply on top.
    model_defaults : mapping of role -> ModelSpec fields, optional
        E.g. ``{"student": {"arch": "lenet5", "preprocess": Preprocess(...)}}``.
    sweep : sequence of (temperature, model), optional
        Further students for the temperature-sweep view.
    policy : path, name ("default", "strict") or Policy, optional
        Release gate.

    Returns
    -------
    Report
    """
    options = dataclasses.replace(options or AuditOptions(), **option_overrides)
    dataset = data if isinstance(data, Dataset) else load_dataset(
        data, label=label, sensitive=sensitive, features=features
    )
    dataset = _with_sensitive_files(dataset, sensitive_files)
    defaults = {role: dict((model_defaults or {}).get(role, {})) for role in ROLES}
    for role in ROLES:
        defaults[role].setdefault("trust_code", options.trust_code)
    models = {"teacher": as_specs(teacher, "teacher", defaults["teacher"]),
              "student": as_specs(student, "student", defaults["student"])}
    if baseline is not None:
        models["baseline"] = as_specs(baseline, "baseline", defaults["baseline"])
    sweep_specs = [(float(t), as_specs(m, "student", defaults["student"])) for t, m in (sweep or [])]
    return run_audit(models, dataset, options=options, sweep=sweep_specs,
                     command_line=command_line, policy=policy)


def _with_sensitive_files(dataset: Dataset, files: Mapping[str, str | Path] | None) -> Dataset:
    from kdaudit.data.dataset import add_sensitive_file

    for name, path in (files or {}).items():
        dataset = add_sensitive_file(dataset, name, path)
    return dataset


_CONFIG_ANALYSIS_KEYS = {
    "alpha", "correction", "bootstrap", "seed", "confidence", "min_group_size", "positive_label",
    "intersectional", "knn_k", "distance", "space", "embedding", "counterfactual", "skip",
}
_CONFIG_ENGINE_KEYS = {"device", "batch_size", "cache_dir", "use_cache", "trust_code"}
_MODEL_KEYS = {"path", "preprocess", "outputs", "temperature", "format", "arch", "input_shape"}


def load_config(path: str | Path) -> dict[str, Any]:
    """Read an audit config (INTERFACE.md "Audit config"); relative paths resolve from its folder."""
    p = Path(path)
    if not p.is_file():
        raise UsageError(f"Config file {str(path)!r} does not exist.")
    try:
        cfg = tomllib.loads(p.read_text(encoding="utf-8"))
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise UsageError(f"Config {str(path)!r} is not valid TOML: {exc}") from exc
    unknown = set(cfg) - {"data", "models", "analysis", "gate", "engine", "sweep"}
    if unknown:
        raise UsageError(f"Unknown section(s) in {str(path)!r}: {', '.join(sorted(unknown))}.")
    return cfg


def audit(config: str | Path, *, overrides: Mapping[str, Any] | None = None,
          command_line: Sequence[str] | None = None) -> Report:
    """Run the audit a TOML config describes (``kdaudit audit CONFIG.toml``)."""
    from kdaudit.models.base import ModelSpec
    from kdaudit.models.preprocess import Preprocess

    cfg = load_config(config)
    base = Path(config).resolve().parent

    def resolve(p: str) -> str:
        """Relative paths resolve from the config's folder (INTERFACE.md), built-in args too."""
        text = str(p)
        head, sep, arg = text.partition(":")
        if sep and "/" not in head and head:  # a built-in spec such as adult:data/adult.test
            is_relative_file = bool(arg) and not Path(arg).is_absolute() and (base / arg).exists()
            return f"{head}:{base / arg}" if is_relative_file else text
        return text if Path(text).is_absolute() else str(base / text)

    model_cfg = cfg.get("models", {})
    bad_roles = set(model_cfg) - set(ROLES)
    if bad_roles:
        raise UsageError(f"Unknown model role(s) in config: {', '.join(sorted(bad_roles))}; "
                         "use [models.teacher], [models.student], [models.baseline] and [[sweep]].")
    data_cfg = cfg.get("data", {})
    if "path" not in data_cfg:
        raise UsageError(f"Config {str(config)!r} has no [data] path.")
    bad_data = set(data_cfg) - {"path", "label", "sensitive", "features", "sensitive_files"}
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
        pre = Preprocess.from_dict(table["preprocess"]) if table.get("preprocess") else None
        shape = tuple(table["input_shape"]) if table.get("input_shape") else None
        return [ModelSpec(path=resolve(p), role=role, format=table.get("format"), arch=table.get("arch"),
                          preprocess=pre, outputs=table.get("outputs", "auto"),
                          trust_code=options.trust_code, temperature=table.get("temperature"),
                          input_shape=shape) for p in paths]

    models = {role: specs(role, table) for role, table in model_cfg.items()}
    sweep = []
    for entry in cfg.get("sweep", []):
        if "temperature" not in entry:
            raise UsageError("Each [[sweep]] entry needs a temperature.")
        template = {k: v for k, v in {**model_cfg.get("student", {}), **entry}.items() if k in _MODEL_KEYS}
        sweep.append((float(entry["temperature"]), specs("student", template)))
    policy = None
    if cfg.get("gate"):
        from kdaudit.gate import Policy

        policy = Policy.from_dict(cfg["gate"])
    # the data is read last, once everything in the config is known to be well-formed
    dataset = load_dataset(resolve(data_cfg["path"]), label=data_cfg.get("label"),
                           sensitive=sensitive, features=data_cfg.get("features"))
    dataset = _with_sensitive_files(
        dataset, {k: resolve(v) for k, v in data_cfg.get("sensitive_files", {}).items()})
    return run_audit(models, dataset, options=options, sweep=sweep, command_line=command_line,
                     policy=policy)


# --------------------------------------------------------------------------- provenance


def _now() -> str:
    return _dt.datetime.now(_dt.UTC).replace(microsecond=0).isoformat().replace("+00:00", "Z")


_PACKAGES = ("numpy", "scipy", "pandas", "scikit-learn", "statsmodels", "fairlearn", "onnxruntime",
             "onnx", "torch", "jinja2", "matplotlib")


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
