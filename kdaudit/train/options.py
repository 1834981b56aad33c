"""Command-line values shared by ``kdaudit train``'s image/tabular path (:mod:`.cli`) and its
text path (:mod:`.text`): comma lists of seeds or temperatures, and the logit cache.

Both runners import this module; neither imports the other's module for it.
"""

from __future__ import annotations

import argparse
from typing import Any

from kdaudit.errors import UsageError

__all__ = ["logit_cache", "parse_list"]


def parse_list(text: str, kind: type, flag: str) -> list[Any]:
    """``"1,2,4"`` -> ``[1, 2, 4]``; raises UsageError naming the flag."""
    try:
        values = [kind(part) for part in str(text).split(",") if part.strip() != ""]
    except ValueError as exc:
        raise UsageError(
            f"Expected {flag} as a comma-separated list of {kind.__name__}; got {text!r}."
        ) from exc
    if not values:
        raise UsageError(f"Expected at least one value for {flag}; got {text!r}.")
    return values


def logit_cache(args: argparse.Namespace) -> Any:
    """The logit cache ``--cache-dir`` names (the platform default), or None with ``--no-cache``."""
    if getattr(args, "no_cache", False):
        return None
    from kdaudit.engine.cache import LogitCache, default_cache_dir

    return LogitCache(getattr(args, "cache_dir", None) or default_cache_dir())
