"""Warnings attributed to the caller's line, not to kdaudit's internals.

``warnings.warn(..., stacklevel=2)`` points at whichever kdaudit function called the
one that warns, which tells a notebook user nothing. :func:`warn_caller` walks up the
stack to the first frame outside the kdaudit package (what Python 3.12's
``skip_file_prefixes`` does) and warns with that stack level.
"""

from __future__ import annotations

import os
import sys
import warnings

__all__ = ["warn_caller"]

_PACKAGE_DIR = os.path.dirname(os.path.abspath(__file__)) + os.sep


def _outside_level() -> int:
    """``stacklevel`` (for a warn() called in this module's caller) of the first outside frame."""
    frame = sys._getframe(2)  # the caller of warn_caller
    level = 2
    while frame is not None and os.path.abspath(frame.f_code.co_filename).startswith(_PACKAGE_DIR):
        frame = frame.f_back  # type: ignore[assignment]
        level += 1
    return level


def warn_caller(message: str, category: type[Warning] = UserWarning) -> None:
    """Warn with the location of the first stack frame outside kdaudit.

    Parameters
    ----------
    message : str
    category : type of Warning
    """
    if sys.version_info >= (3, 12):
        warnings.warn(message, category, skip_file_prefixes=(_PACKAGE_DIR,))  # type: ignore[call-arg]
    else:
        warnings.warn(message, category, stacklevel=_outside_level())
