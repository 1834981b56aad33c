"""Compatibility path: the progress bar lives in :mod:`kdaudit.progress` (a low utility).

Import it from there; this name is kept for code written against ``kdaudit.engine.progress``.
"""

from kdaudit.progress import progress_bar, progress_enabled

__all__ = ["progress_bar", "progress_enabled"]
