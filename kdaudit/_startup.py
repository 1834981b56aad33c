"""Process-wide settings for a ``kdaudit`` command-line run (not applied to library users).

A short command such as ``kdaudit compare`` spends most of its time importing
(numpy, scipy.special, matplotlib, jinja2, jsonschema) and drawing five figures; see
``bench/bench_startup.py`` for the measurements behind the two settings here:

* Python's cyclic garbage collector, with its default young-generation threshold of
  700 container allocations, ran ~300 times in one compare and re-scanned the
  long-lived objects that the imports create (~0.13 s of ~1.2 s of CPU). A larger
  threshold keeps cyclic garbage bounded (figures and tracebacks are still
  collected) at ~0.06 s. Reference counting, which frees arrays, is unaffected.
* matplotlib gets only the fonts it ships with (:func:`kdaudit.safety.bundled_fonts_only`).
"""

from __future__ import annotations

import gc

__all__ = ["GC_THRESHOLDS", "configure_cli_process"]

#: (young, middle, old) collection thresholds for a command-line run (Python: 700, 10, 10)
GC_THRESHOLDS = (20_000, 20, 20)


def configure_cli_process() -> None:
    """Apply the command-line settings; called once by :func:`kdaudit.cli.main`."""
    from kdaudit.safety import bundled_fonts_only

    if gc.get_threshold()[0] < GC_THRESHOLDS[0]:  # a user's larger setting is kept
        gc.set_threshold(*GC_THRESHOLDS)
    bundled_fonts_only()
