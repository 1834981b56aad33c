"""The one clock format of kdaudit's files: UTC, whole seconds, ``Z`` (``2026-01-31T12:00:00Z``).

Cache manifests, reports and shard records stamp times with :func:`utc_timestamp`, so
every file agrees on the format. Imports nothing from kdaudit: every layer may use it.
"""

from __future__ import annotations

import datetime as _dt

__all__ = ["utc_timestamp"]


def utc_timestamp() -> str:
    """Now, in UTC, as ISO 8601 to the second with a ``Z`` suffix."""
    now = _dt.datetime.now(_dt.UTC).replace(microsecond=0)
    return now.isoformat().replace("+00:00", "Z")
