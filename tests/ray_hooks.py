"""Functions Ray actors import by name in tests (pytest's own module names are not importable there)."""

from __future__ import annotations

import os
from pathlib import Path


def fail_once(marker_path: str, index: int) -> None:
    """Kill the actor the first time it reaches shard 2 (a crashed worker); bind the marker with partial."""
    marker = Path(marker_path)
    if index == 2 and not marker.exists():
        marker.write_text("crashed once")
        os._exit(1)


def bad_shard(log_path: str, index: int) -> None:
    """Raise kdaudit's own error on shard 1 (logging each call): the driver must raise it, unretried."""
    from kdaudit.errors import InputDataError

    with open(log_path, "a") as fh:
        fh.write(f"{index}\n")
    if index == 1:
        raise InputDataError("shard 1 has labels the models do not know")
