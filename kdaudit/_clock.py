"""The one timestamp format of kdaudit: UTC, whole seconds, ``Z`` suffix.

Imports nothing from kdaudit: every layer (the logit cache's manifests, an audit's
``created`` and provenance) may use it.
"""

from __future__ import annotations

import datetime as _dt

__all__ = ["utc_now"]


def utc_now() -> str:
    """The current UTC time as ``YYYY-MM-DDTHH:MM:SSZ``."""
    return _dt.datetime.now(_dt.UTC).isoformat(timespec="seconds").replace("+00:00", "Z")
