"""What a user may type for a model's preprocessing, accepted the same way by the CLI and the API.

A preprocessing spec may be given as

* a :class:`~kdaudit.models.preprocess.Preprocess`;
* a mapping such as ``{"scale": 1 / 255, "reshape": [1, 28, 28]}``;
* a string, as on the command line: ``"scale = 0.0039, reshape = [1, 28, 28]"`` (the body of a
  TOML inline table, braces optional) or a JSON object ``'{"scale": 0.0039}'``;
* ``None`` (no preprocessing).
"""

from __future__ import annotations

import json
import tomllib
from collections.abc import Mapping
from typing import Any

from kdaudit.errors import UsageError

__all__ = ["as_preprocess", "parse_preprocess_text"]

_EXAMPLE = "'scale = 0.0039, reshape = [1, 28, 28]'"


def parse_preprocess_text(text: str) -> dict[str, Any]:
    """Parse a preprocessing spec written as text into a mapping.

    Parameters
    ----------
    text : str
        ``"scale = 0.0039, reshape = [1, 28, 28]"``, the same in braces, or a JSON object.

    Returns
    -------
    dict
        The spec's keys and values.

    Raises
    ------
    UsageError
        The text is neither a TOML inline table body nor a JSON object.
    """
    body = text.strip()
    try:
        if body.startswith("{") and '"' in body:
            value: Any = json.loads(body)
        else:
            inner = body[1:-1] if body.startswith("{") and body.endswith("}") else body
            value = tomllib.loads(f"p = {{{inner}}}")["p"]
    except (ValueError, tomllib.TOMLDecodeError) as exc:
        raise UsageError(
            f"Could not read the preprocessing spec {text!r}: {exc}.",
            tip=f"write it like {_EXAMPLE}",
        ) from None
    if not isinstance(value, dict):
        raise UsageError(
            f"Expected a table of preprocessing options; got {text!r}.",
            tip=f"write it like {_EXAMPLE}",
        )
    return value


def as_preprocess(value: Any, *, where: str = "preprocess") -> Any:
    """Turn any accepted form of a preprocessing spec into a ``Preprocess`` (or ``None``).

    Parameters
    ----------
    value : Preprocess, mapping, str or None
        See the module docstring.
    where : str
        How error messages name the value (e.g. ``"the student's preprocess"``).

    Returns
    -------
    Preprocess or None

    Raises
    ------
    UsageError
        An unreadable string, an unknown key or a value of the wrong type.
    """
    from kdaudit.models.preprocess import Preprocess

    if value is None or isinstance(value, Preprocess):
        return value
    if isinstance(value, str):
        value = parse_preprocess_text(value)
    if isinstance(value, Mapping):
        return Preprocess.from_dict(dict(value))
    raise UsageError(
        f"Expected {where} as a Preprocess, a dict or a string like {_EXAMPLE}; "
        f"got {type(value).__name__}."
    )
