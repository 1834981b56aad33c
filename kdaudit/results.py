"""Base for result records: frozen dataclasses holding JSON-native values.

Analyzers return subclasses of :class:`Record`; renderers read them (or their
``to_dict()``) and never compute statistics themselves.
"""

from __future__ import annotations

import dataclasses
import math
from typing import Any, Self

import numpy as np

__all__ = [
    "Estimate",
    "Record",
    "nested",
    "to_native",
]


def to_native(value: Any) -> Any:
    """Convert numpy scalars/arrays, tuples and records to JSON-native values.

    Non-finite floats become ``None`` (JSON has no NaN); callers that need to
    say *why* a value is missing put an ``undefined_reason`` beside it.
    """
    if isinstance(value, Record):
        return value.to_dict()
    if isinstance(value, dict):
        return {str(k): to_native(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [to_native(v) for v in value]
    if isinstance(value, np.ndarray):
        return to_native(value.tolist())
    if isinstance(value, (bool, np.bool_)):
        return bool(value)
    if isinstance(value, (int, np.integer)):
        return int(value)
    if isinstance(value, (float, np.floating)):
        f = float(value)
        return f if math.isfinite(f) else None
    return value


@dataclasses.dataclass(frozen=True, slots=True, kw_only=True)
class Record:
    """A frozen, JSON-native result. Subclasses add fields."""

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for f in dataclasses.fields(self):
            v = getattr(self, f.name)
            if v is None and f.metadata.get("omit_none", False):
                continue
            out[f.name] = to_native(v)
        return out

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Self:
        """Rebuild a record from ``to_dict()`` output (nested records included)."""
        kwargs: dict[str, Any] = {}
        hints = {f.name: f for f in dataclasses.fields(cls)}
        for name, f in hints.items():
            if name not in data:
                continue
            v = data[name]
            sub = f.metadata.get("record")
            if sub is not None and v is not None:
                if f.metadata.get("many"):
                    v = tuple(sub.from_dict(x) for x in v)
                elif f.metadata.get("mapping"):
                    v = {k: sub.from_dict(x) for k, x in v.items()}
                else:
                    v = sub.from_dict(v)
            elif isinstance(v, list):
                v = tuple(tuple(x) if isinstance(x, list) else x for x in v)
            kwargs[name] = v
        return cls(**kwargs)


def nested(record: type[Record], *, many: bool = False, mapping: bool = False) -> Any:
    """Field metadata marking a nested record (for ``from_dict``)."""
    return dataclasses.field(metadata={"record": record, "many": many, "mapping": mapping})


@dataclasses.dataclass(frozen=True, slots=True, kw_only=True)
class Estimate(Record):
    """A number with an optional confidence interval and p-value.

    ``value`` is ``None`` when undefined; ``undefined_reason`` then says why.
    """

    value: float | None
    ci_low: float | None = None
    ci_high: float | None = None
    p_value: float | None = dataclasses.field(default=None, metadata={"omit_none": True})
    undefined_reason: str | None = dataclasses.field(default=None, metadata={"omit_none": True})
