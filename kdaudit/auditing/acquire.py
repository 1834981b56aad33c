"""Logit acquisition: model specs, manifests, the logit cache, the data, the logits.

Everything an audit reads from files: the data (with its sensitive-attribute files),
each model (its ``kdaudit train`` manifest filled in), its logits through the cache,
and the counterfactual inputs' logits.
"""

from __future__ import annotations

import dataclasses
import warnings
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from kdaudit import sanity
from kdaudit.arrays import LogitArray
from kdaudit.auditing.options import AuditOptions
from kdaudit.data.dataset import Dataset
from kdaudit.data.loader import load_dataset
from kdaudit.errors import CacheError, InputDataError, KDAuditWarning, UsageError
from kdaudit.vocab import ROLES

__all__ = ["as_specs", "compare_specs", "load_data", "model_info"]

ModelLike = Any  # str | Path | ModelSpec | Sequence of those (several runs)


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
    from kdaudit.models.loader import load_model

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


def _with_sensitive_files(dataset: Dataset, files: Mapping[str, str | Path] | None) -> Dataset:
    from kdaudit.data.dataset import add_sensitive_file

    for name, path in (files or {}).items():
        dataset = add_sensitive_file(dataset, name, path)
    return dataset


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


def load_data(
    data: str | Path | Dataset,
    *,
    label: str | None = None,
    sensitive: Sequence[str] | None = None,
    features: Sequence[str] | None = None,
    text_column: str | None = None,
    sensitive_files: Mapping[str, str | Path] | None = None,
    min_group_size: int,
) -> Dataset:
    """The evaluation data (read unless already a Dataset), with its sensitive-attribute files."""
    dataset = (
        data
        if isinstance(data, Dataset)
        else load_dataset(
            data,
            label=label,
            sensitive=sensitive,
            features=features,
            text_column=text_column,
            min_group_size=min_group_size,
        )
    )
    return _with_sensitive_files(dataset, sensitive_files)


def compare_specs(
    teacher: ModelLike,
    student: ModelLike,
    baseline: ModelLike | None,
    sweep: Sequence[tuple[float, ModelLike]] | None,
    *,
    options: AuditOptions,
    model_defaults: Mapping[str, Mapping[str, Any]] | None = None,
    preprocess: Any = None,
) -> tuple[dict[str, list[Any]], list[tuple[float, list[Any]]]]:
    """``compare``'s models and sweep students as ModelSpecs, by role.

    Per-role defaults: ``outputs="auto"`` (the CLI's default) and the options'
    ``trust_code``; ``preprocess`` (one spec for every model, or a mapping by role)
    applies where ``model_defaults`` gives none.
    """
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
    return models, sweep_specs
