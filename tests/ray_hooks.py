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
