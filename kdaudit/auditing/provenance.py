"""Provenance of an audit: when it ran, on what, with which packages (report.json ``provenance``)."""

from __future__ import annotations

import getpass
import platform
import shlex
import sys
from collections.abc import Sequence
from importlib import metadata
from typing import Any

from kdaudit._clock import utc_now

__all__ = ["_now", "_provenance"]


#: when an audit started or finished (the one timestamp helper, shared with the cache)
_now = utc_now


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
