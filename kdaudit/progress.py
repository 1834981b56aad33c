"""The one progress bar of kdaudit: shown on a terminal, silent when quiet or piped.

Inference, training, sharded runs and the CLI's "show progress?" all use it. It imports
nothing from kdaudit and loads tqdm only when a bar is made.
"""

from __future__ import annotations

import sys
from typing import IO, Any

__all__ = ["progress_bar", "progress_enabled"]


def progress_enabled(requested: bool, stream: IO[str] | None = None) -> bool:
    """True when a bar was requested (not ``--quiet``) and ``stream`` is a TTY."""
    stream = stream if stream is not None else sys.stderr
    try:
        return bool(requested) and bool(stream.isatty())
    except (AttributeError, ValueError):  # closed or replaced streams
        return False


def progress_bar(
    total: int, *, desc: str, enabled: bool, initial: int = 0, unit: str = "rows"
) -> Any:
    """A tqdm bar on stderr (disabled unless shown): inference rows, training batches.

    Parameters
    ----------
    total : int
        Rows to infer in all.
    desc : str
        Label, e.g. the model's role.
    enabled : bool
        The caller's wish (False with ``--quiet``); the bar also stays off when
        stderr is not a TTY (CI logs, pipes).
    initial : int
        Rows already done (resumed from the cache).
    unit : str
        What ``total`` counts (``"rows"``; the trainer counts ``"batch"``).
    """
    from tqdm import tqdm

    stream = sys.stderr
    return tqdm(
        total=total,
        initial=initial,
        desc=desc,
        unit=unit,
        unit_scale=unit == "rows",
        file=stream,
        leave=False,
        dynamic_ncols=True,
        disable=not progress_enabled(enabled, stream),
    )
