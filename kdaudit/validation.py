"""Typed validation of every file kdaudit reads that holds settings: one mechanism.

Each kind of file has a JSON Schema shipped in :mod:`kdaudit.schemas`:

=================  ==============================================================
kind               file
=================  ==============================================================
``audit_config``   ``kdaudit audit CONFIG.toml`` (every table, ``[[sweep]]`` included)
``policy``         ``--policy FILE`` and ``[gate]`` in a config
``model_manifest`` ``NAME.json`` beside a model written by ``kdaudit train``
``cache_manifest`` ``<cache>/<key>/manifest.json``
``gate_report``    the parts of ``report.json`` that ``kdaudit gate`` reads
``preprocess``     a model's preprocessing table (config, ``--ROLE-preprocess``, manifest)
``stats_record``   ``stats-NNNNN.json`` of ``kdaudit stats`` (read by ``--from-stats``)
=================  ==============================================================

:func:`validate` turns the first violations into one message that names the file and
the key path (``[sweep][0].paht: unknown key``); :func:`load_toml` and
:func:`load_json` read a regular file, bound its nesting depth, parse it and validate
it, so no reader hand-writes its own type checks.
"""

from __future__ import annotations

import functools
import json
import math
import tomllib
from importlib import resources
from pathlib import Path
from typing import Any

from kdaudit.errors import InputDataError, KDAuditError, UsageError
from kdaudit.safety import check_depth, read_text_regular

__all__ = [
    "KINDS",
    "ValidationProblem",
    "load_json",
    "load_toml",
    "parse_text",
    "problems",
    "validate",
]

KINDS = (
    "audit_config",
    "policy",
    "model_manifest",
    "cache_manifest",
    "gate_report",
    "preprocess",
    "stats_record",
)
_MAX_SHOWN = 3


@functools.cache
def _schema(kind: str) -> dict[str, Any]:
    if kind not in KINDS:
        raise ValueError(f"unknown schema kind {kind!r}")  # pragma: no cover - a bug in the caller
    text = resources.files("kdaudit.schemas").joinpath(f"{kind}.json").read_text("utf-8")
    return json.loads(text)


@functools.cache
def _validator(kind: str) -> Any:
    import jsonschema
    from referencing import Registry, Resource

    registry = Registry().with_resources(
        (f"kdaudit:{k}", Resource.from_contents(_schema(k))) for k in KINDS
    )
    schema = _schema(kind)
    base = jsonschema.validators.validator_for(schema)
    base.check_schema(schema)
    # JSON Schema counts 1.0 as an integer; kdaudit's integers (seed, bootstrap...) must be ints
    checker = base.TYPE_CHECKER.redefine(
        "integer", lambda _, x: isinstance(x, int) and not isinstance(x, bool)
    )
    cls = jsonschema.validators.extend(base, type_checker=checker)
    return cls(schema, registry=registry)


def _key_path(parts: Any) -> str:
    out = ""
    for p in parts:
        out += f"[{p}]" if isinstance(p, int) else (f".{p}" if out else str(p))
    return out or "(top level)"


def _describe(err: Any) -> str:
    """One error as ``key.path: what is wrong`` (instances are never printed whole).

    A ``description`` in the failing part of the schema is added as the hint.
    """
    text = _describe_bare(err)
    hint = err.schema.get("description") if isinstance(err.schema, dict) else None
    return (
        f"{text} ({hint})"
        if hint and err.validator not in ("additionalProperties", "required")
        else text
    )


def _describe_bare(err: Any) -> str:
    path = list(err.absolute_path)
    v = err.validator
    if v == "additionalProperties":
        allowed = sorted((err.schema.get("properties") or {}).keys())
        extra = sorted(set(err.instance) - set(allowed)) if isinstance(err.instance, dict) else []
        keys = ", ".join(_key_path([*path, k]) for k in extra) or _key_path(path)
        hint = f"; known keys here: {', '.join(allowed)}" if allowed else ""
        return f"{keys}: unknown key{'s' if len(extra) > 1 else ''}{hint}"
    if v == "required":
        missing = [
            k
            for k in err.validator_value
            if isinstance(err.instance, dict) and k not in err.instance
        ]
        return f"{_key_path([*path, missing[0]] if missing else path)}: required key is missing"
    where = _key_path(path)
    found = _short(err.instance)
    if v == "type":
        want = err.validator_value
        want = " or ".join(want) if isinstance(want, list) else want
        return f"{where}: expected {_article(want)}, got {found}"
    if v in ("enum", "const"):
        choices = err.validator_value if v == "enum" else [err.validator_value]
        return f"{where}: expected one of {', '.join(json.dumps(c) for c in choices)}, got {found}"
    if v in ("minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum"):
        op = {"minimum": ">=", "maximum": "<=", "exclusiveMinimum": ">", "exclusiveMaximum": "<"}[v]
        return f"{where}: must be {op} {err.validator_value}, got {found}"
    if v == "anyOf" and err.context:
        types = sorted(
            {
                json.dumps(c.validator_value)
                if c.validator != "type"
                else " or ".join(c.validator_value)
                if isinstance(c.validator_value, list)
                else c.validator_value
                for c in err.context
                if c.validator in ("type", "const")
            }
        )
        if types:
            return f"{where}: expected {' or '.join(types)}, got {found}"
        deepest = max(err.context, key=lambda e: len(list(e.absolute_path)))
        return _describe(deepest)
    if v == "minLength":
        return f"{where}: must not be empty"
    if v == "minItems":
        return f"{where}: needs at least {err.validator_value} item(s)"
    if v == "pattern":
        return f"{where}: {found} does not have the expected form"
    msg = err.message
    return f"{where}: {msg[:160]}"


def _article(word: str) -> str:
    return ("an " if word[:1] in "aeiou" else "a ") + word


def _short(value: Any) -> str:
    if isinstance(value, bool):
        kind = "boolean"
    elif isinstance(value, int):
        kind = "integer"
    elif isinstance(value, float):
        kind = "number"
    elif isinstance(value, str):
        kind = "string"
    elif isinstance(value, list):
        return f"an array of {len(value)} item(s)"
    elif isinstance(value, dict):
        return "a table"
    elif value is None:
        return "null"
    else:
        kind = type(value).__name__
    text = json.dumps(value, default=str)
    if len(text) > 40:
        text = text[:37] + "..."
    return f"{kind} {text}"


def problems(instance: Any, kind: str) -> list[str]:
    """Every violation of schema ``kind``, one ``key.path: message`` line each, in key order.

    Non-finite numbers (TOML ``nan``/``inf``, JSON ``NaN``) are refused everywhere: no
    setting means them, and report.json cannot hold them.
    """
    errors = sorted(
        _validator(kind).iter_errors(instance), key=lambda e: [str(p) for p in e.absolute_path]
    )
    return _non_finite(instance, []) + [_describe(e) for e in errors]


def _non_finite(value: Any, path: list[Any]) -> list[str]:
    """Key paths of NaN/inf values (iterative: nesting depth is bounded before parsing anyway)."""
    found: list[str] = []
    stack: list[tuple[Any, list[Any]]] = [(value, path)]
    while stack and len(found) < _MAX_SHOWN:
        item, where = stack.pop()
        if isinstance(item, float) and not math.isfinite(item):
            found.append(f"{_key_path(where)}: must be a finite number, got {item}")
        elif isinstance(item, dict):
            stack.extend((v, [*where, k]) for k, v in reversed(list(item.items())))
        elif isinstance(item, list):
            stack.extend((v, [*where, i]) for i, v in reversed(list(enumerate(item))))
    return found


class ValidationProblem(UsageError):
    """A settings file does not match its schema (exit 2); ``problems`` lists every violation."""

    def __init__(self, message: str, problems: list[str], *, tip: str | None = None) -> None:
        super().__init__(message, tip=tip)
        self.problems = problems


_NAMES = {
    "audit_config": "config",
    "policy": "policy",
    "model_manifest": "model manifest",
    "cache_manifest": "cache manifest",
    "gate_report": "report",
    "preprocess": "preprocess spec",
    "stats_record": "statistics record",
}
_TIPS = {
    "audit_config": "see docs/config.md for every key and its type",
    "policy": "see INTERFACE.md's 'Gate policy' section for the keys and their types",
    "model_manifest": "the manifest beside the model is damaged; re-export the model with "
    "'kdaudit train' or remove the .json file",
    "cache_manifest": "run 'kdaudit cache verify', or remove the entry",
    "gate_report": "give 'kdaudit gate' a report.json written by kdaudit",
    "preprocess": "e.g. 'scale = 0.0039, reshape = [1, 28, 28]' (numbers and lists of integers)",
    "stats_record": "delete the shard's stats-NNNNN.* files and rerun kdaudit stats for it",
}


def validate(
    instance: Any, kind: str, source: str, *, error: type[KDAuditError] = ValidationProblem
) -> Any:
    """Check ``instance`` against schema ``kind``; return it unchanged when valid.

    Parameters
    ----------
    instance : object
        Parsed TOML/JSON.
    kind : str
        One of :data:`KINDS`.
    source : str
        The file (or flag) it came from, named in the message.
    error : exception class
        Raised on violations (default :class:`ValidationProblem`, exit 2).
    """
    found = problems(instance, kind)
    if not found:
        return instance
    shown = "; ".join(found[:_MAX_SHOWN])
    more = f" (and {len(found) - _MAX_SHOWN} more)" if len(found) > _MAX_SHOWN else ""
    message = f"Invalid {_NAMES[kind]} {source}: {shown}{more}."
    if error is ValidationProblem:
        raise ValidationProblem(message, found, tip=_TIPS[kind])
    raise error(message, tip=_TIPS[kind])


def _parse(text: str, fmt: str, source: str, error: type[KDAuditError]) -> Any:
    try:
        check_depth(text, source)
    except InputDataError as exc:
        raise error(str(exc), tip=exc.tip) from None
    try:
        if fmt == "toml":
            return tomllib.loads(text)
        return json.loads(text)
    except (tomllib.TOMLDecodeError, ValueError) as exc:
        raise error(f"{source} is not valid {fmt.upper()}: {exc}") from None
    except RecursionError:
        raise error(  # pragma: no cover - check_depth refuses deep text first
            f"{source} is nested too deeply to read."
        ) from None


def parse_text(
    text: str, fmt: str, kind: str, source: str, *, error: type[KDAuditError] = UsageError
) -> Any:
    """Depth-check, parse (``fmt`` "toml" or "json") and validate text already read."""
    data = _parse(text, fmt, source, error)
    validate(data, kind, source)
    return data


def load_toml(
    path: str | Path, kind: str, *, role: str | None = None, error: type[KDAuditError] = UsageError
) -> dict[str, Any]:
    """Read, depth-check, parse and validate a TOML file (a regular file only)."""
    role = role or _NAMES[kind] + " file"
    text = _read(path, role, error)
    data = _parse(text, "toml", f"{role} {str(path)!r}", error)
    validate(data, kind, repr(str(path)))
    return data


def load_json(
    path: str | Path,
    kind: str,
    *,
    role: str | None = None,
    error: type[KDAuditError] = InputDataError,
    check: bool = True,
) -> Any:
    """Read, depth-check, parse and (with ``check``) validate a JSON file."""
    role = role or _NAMES[kind] + " file"
    text = _read(path, role, error)
    data = _parse(text, "json", f"{role} {str(path)!r}", error)
    if check:
        validate(data, kind, repr(str(path)), error=error)
    return data


def _read(path: str | Path, role: str, error: type[KDAuditError]) -> str:
    try:
        return read_text_regular(path, role)
    except InputDataError as exc:
        if error is InputDataError:
            raise
        raise error(str(exc), tip=exc.tip) from None
