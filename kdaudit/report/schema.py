"""The JSON Schema of report.json (schema_version "1") and its validator.

A report that fails validation is a bug in kdaudit (the report dict is built by
kdaudit itself), so :class:`ReportSchemaError` is a plain :class:`Exception`
subclass rather than a user error: the CLI maps it to exit code 4.
"""

from __future__ import annotations

import functools
import json
import math
from importlib import resources
from typing import Any

from kdaudit.vocab import SCHEMA_VERSION

__all__ = ["SCHEMA_VERSION", "ReportSchemaError", "load_schema", "schema_text", "validate_report"]


_MAX_ERRORS_SHOWN = 8


class ReportSchemaError(Exception):
    """A report dict does not match the report.json schema (a bug in kdaudit).

    Attributes
    ----------
    errors : list of str
        One line per violation, ``$.json.path: message``.
    """

    def __init__(self, message: str, errors: list[str] | None = None) -> None:
        super().__init__(message)
        self.errors = errors or []


def schema_text() -> str:
    """Return the schema file's text, exactly as shipped (``kdaudit schema`` prints it)."""
    return resources.files("kdaudit.report").joinpath("schema.json").read_text(encoding="utf-8")


@functools.cache
def _schema() -> dict[str, Any]:
    return json.loads(schema_text())


def load_schema() -> dict[str, Any]:
    """Return the report.json JSON Schema (draft 2020-12) as a new dict."""
    return json.loads(json.dumps(_schema()))


@functools.cache
def _validator() -> Any:
    import jsonschema

    schema = _schema()
    cls = jsonschema.validators.validator_for(schema)
    # the schema itself is checked against its metaschema by tests/test_report_schema.py;
    # doing it here on every run costs ~50 ms
    # $refs inlined once: resolving them per instance dominates validation time
    return cls(_inline_refs(schema, schema["$defs"]))


def _inline_refs(node: Any, defs: dict[str, Any]) -> Any:
    """Replace every ``{"$ref": "#/$defs/NAME"}`` by the definition (the schema has no cycles)."""
    if isinstance(node, dict):
        ref = node.get("$ref")
        if isinstance(ref, str) and ref.startswith("#/$defs/"):
            rest = {k: v for k, v in node.items() if k != "$ref"}
            target = _inline_refs(defs[ref.removeprefix("#/$defs/")], defs)
            return {"allOf": [target, _inline_refs(rest, defs)]} if rest else target
        return {k: _inline_refs(v, defs) for k, v in node.items() if k != "$defs"}
    if isinstance(node, list):
        return [_inline_refs(v, defs) for v in node]
    return node


def _json_path(parts: Any) -> str:
    out = "$"
    for p in parts:
        out += f"[{p}]" if isinstance(p, int) else f".{p}"
    return out


def _non_native(value: Any, path: str = "$") -> str | None:
    """Return the path of the first value that is not JSON-native (or NaN/inf)."""
    if value is None or isinstance(value, (bool, str)):
        return None
    if type(value) is int:
        return None
    if type(value) is float:
        return None if math.isfinite(value) else f"{path}: non-finite float {value!r}"
    if isinstance(value, dict):
        for k, v in value.items():
            if not isinstance(k, str):
                return f"{path}: non-string key {k!r}"
            found = _non_native(v, f"{path}.{k}")
            if found:
                return found
        return None
    if isinstance(value, list):
        for i, v in enumerate(value):
            found = _non_native(v, f"{path}[{i}]")
            if found:
                return found
        return None
    return f"{path}: {type(value).__name__} is not JSON-native (use kdaudit.results.to_native)"


def _set_matrices_aside(report: dict[str, Any]) -> tuple[dict[str, Any], list[str]]:
    """Check disagreement matrices with a fast loop and hide them from jsonschema.

    A 1,000-class audit holds three 1,000 x 1,000 matrices: jsonschema would take
    minutes over 3 million integers; this check (what the schema says: a square
    array of non-negative integers) takes a fraction of a second.
    """
    shift = report.get("class_shift")
    if not isinstance(shift, dict):
        return report, []
    problems: list[str] = []
    new_shift: dict[str, Any] = {}
    for pair, entry in shift.items():
        if not isinstance(entry, dict) or "disagreement_matrix" not in entry:
            new_shift[pair] = entry
            continue
        m = entry["disagreement_matrix"]
        where = f"$.class_shift.{pair}.disagreement_matrix"
        if not isinstance(m, list) or not all(isinstance(row, list) for row in m):
            problems.append(f"{where}: expected a list of lists of integers")
        elif any(len(row) != len(m) for row in m):
            problems.append(
                f"{where}: expected a square C x C matrix, got {len(m)} rows of "
                f"lengths {sorted({len(row) for row in m})[:5]}"
            )
        elif not all(type(x) is int and x >= 0 for row in m for x in row):
            problems.append(f"{where}: every entry must be a non-negative int (JSON-native)")
        new_shift[pair] = {**entry, "disagreement_matrix": []}
    return {**report, "class_shift": new_shift}, problems


def validate_report(report: dict[str, Any]) -> None:
    """Check a report dict against the report.json schema.

    Parameters
    ----------
    report : dict
        The JSON-native report (as ``kdaudit.api`` builds it).

    Raises
    ------
    ReportSchemaError
        When the dict is not JSON-native (numpy scalars, tuples, NaN) or violates the
        schema; the message lists the first violations with their JSON paths.
    """
    report, matrix_problems = _set_matrices_aside(report)
    if matrix_problems:
        raise ReportSchemaError(
            "report dict does not match report.json schema_version 1; this is a bug in "
            "kdaudit:\n  " + "\n  ".join(matrix_problems),
            matrix_problems,
        )
    bad = _non_native(report)
    if bad:
        raise ReportSchemaError(f"report.json would not be valid JSON: {bad}", [bad])
    errors = sorted(_validator().iter_errors(report), key=lambda e: list(e.absolute_path))
    if not errors:
        return
    lines = []
    for err in errors:
        # a failing if/then or not shows as one generic error; name the deepest cause
        leaf = min(err.context, key=lambda e: -len(e.absolute_path)) if err.context else err
        msg = leaf.message
        if len(msg) > 240:  # messages start with the offending instance, which may be huge
            msg = f"{msg[:100]} ... {msg[-120:]}"
        lines.append(f"{_json_path(leaf.absolute_path)}: {msg}")
    shown = "\n  ".join(lines[:_MAX_ERRORS_SHOWN])
    more = len(lines) - _MAX_ERRORS_SHOWN
    tail = f"\n  ... and {more} more" if more > 0 else ""
    raise ReportSchemaError(
        f"report dict does not match report.json schema_version {SCHEMA_VERSION} "
        f"({len(lines)} problem(s)); this is a bug in kdaudit:\n  {shown}{tail}",
        lines,
    )
