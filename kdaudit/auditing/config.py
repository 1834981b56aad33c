"""Audit configs (TOML): reading, checking, and turning one into an audit plan.

The plan holds everything but the data and the gate policy, which the caller reads
last (``kdaudit.api.audit``), once everything in the config is known to be well-formed.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

from kdaudit.auditing.acquire import load_data
from kdaudit.auditing.options import AuditOptions
from kdaudit.errors import UsageError

__all__ = ["AuditPlan", "DataRequest", "load_config", "plan_audit"]

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
    return cfg


@dataclasses.dataclass(frozen=True, slots=True, kw_only=True)
class DataRequest:
    """Which data a config names, and how to read it (its ``[data]`` table)."""

    path: str
    label: str | None = None
    sensitive: Sequence[str] | None = None
    features: Sequence[str] | None = None
    text_column: str | None = None
    sensitive_files: Mapping[str, str] = dataclasses.field(default_factory=dict)

    def load(self, *, min_group_size: int) -> Any:
        """The Dataset, with its sensitive-attribute files."""
        return load_data(
            self.path,
            label=self.label,
            sensitive=self.sensitive,
            features=self.features,
            text_column=self.text_column,
            sensitive_files=self.sensitive_files,
            min_group_size=min_group_size,
        )


@dataclasses.dataclass(frozen=True, slots=True, kw_only=True)
class AuditPlan:
    """An audit config, checked and resolved: everything but the data itself and the gate.

    Attributes
    ----------
    models : dict of role -> list of ModelSpec
    sweep : list of (temperature, list of ModelSpec)
    options : AuditOptions
    data : DataRequest
        Read last (:meth:`DataRequest.load`), once the whole config is known to be well-formed.
    gate : dict or None
        The ``[gate]`` table (already checked against the policy schema).
    """

    models: dict[str, list[Any]]
    sweep: list[tuple[float, list[Any]]]
    options: AuditOptions
    data: DataRequest
    gate: dict[str, Any] | None


def plan_audit(config: str | Path, *, overrides: Mapping[str, Any] | None = None) -> AuditPlan:
    """Read and check the audit config ``config`` (``kdaudit audit CONFIG.toml``).

    Parameters
    ----------
    config : str or Path
        The TOML file; relative paths in it resolve from its folder.
    overrides : mapping, optional
        AuditOptions fields that win over the config's ``[analysis]`` and ``[engine]``.
    """
    cfg = load_config(config)
    resolve = _resolver(Path(config).resolve().parent)
    model_cfg = cfg.get("models", {})
    data = _data_request(cfg, config, resolve)
    options = _options(cfg, config, overrides, resolve)
    models = {role: _specs(role, table, options, resolve) for role, table in model_cfg.items()}
    sweep = []
    for entry in cfg.get("sweep", []):  # the schema requires each entry's temperature
        template = {
            k: v for k, v in {**model_cfg.get("student", {}), **entry}.items() if k in _MODEL_KEYS
        }
        sweep.append((float(entry["temperature"]), _specs("student", template, options, resolve)))
    return AuditPlan(
        models=models, sweep=sweep, options=options, data=data, gate=cfg.get("gate") or None
    )


def _resolver(base: Path) -> Callable[[str], str]:
    def resolve(p: str) -> str:
        """Relative paths resolve from the config's folder, built-in args too."""
        text = str(p)
        head, sep, arg = text.partition(":")
        if sep and "/" not in head and head:  # a built-in spec such as adult:data/adult.test
            is_relative_file = bool(arg) and not Path(arg).is_absolute() and (base / arg).exists()
            return f"{head}:{base / arg}" if is_relative_file else text
        return text if Path(text).is_absolute() else str(base / text)

    return resolve


def _data_request(
    cfg: Mapping[str, Any], config: str | Path, resolve: Callable[[str], str]
) -> DataRequest:
    data_cfg = cfg["data"]  # the schema requires [data] with a path and no other keys
    sensitive = data_cfg.get("sensitive")
    if isinstance(sensitive, str):
        sensitive = [sensitive]
    return DataRequest(
        path=resolve(data_cfg["path"]),
        label=data_cfg.get("label"),
        sensitive=sensitive,
        features=data_cfg.get("features"),
        text_column=data_cfg.get("text_column"),
        sensitive_files={k: resolve(v) for k, v in data_cfg.get("sensitive_files", {}).items()},
    )


def _options(
    cfg: Mapping[str, Any],
    config: str | Path,
    overrides: Mapping[str, Any] | None,
    resolve: Callable[[str], str],
) -> AuditOptions:
    analysis = dict(cfg.get("analysis", {}))
    engine = dict(cfg.get("engine", {}))
    if "skip" in analysis:
        analysis["skip"] = frozenset(analysis["skip"])
    for key in ("embedding", "counterfactual"):
        if analysis.get(key):
            analysis[key] = resolve(analysis[key])
    if engine.get("cache_dir"):
        engine["cache_dir"] = resolve(engine["cache_dir"])
    opts = {**analysis, **engine, **dict(overrides or {})}
    return AuditOptions(**opts)


def _specs(
    role: str, table: Mapping[str, Any], options: AuditOptions, resolve: Callable[[str], str]
) -> list[Any]:
    from kdaudit.models.base import ModelSpec
    from kdaudit.userinput import as_preprocess

    # the schema (kdaudit/schemas/audit_config.json) has refused unknown keys and a missing path
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
