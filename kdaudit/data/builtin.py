"""Built-in datasets, generated or read from a path the user gives; never downloaded.

A spec is ``NAME`` or ``NAME:ARG`` (e.g. ``adult:/data/adult.test``). :data:`BUILTINS`
names each dataset's loader as ``"module:function"``; the module is imported only when
that dataset is asked for, and nothing it raises is swallowed: a bug in
``trifeature.py`` surfaces as that bug, not as "Unknown built-in dataset".

Each loader takes ``(arg or None, sensitive)`` and returns a
:class:`~kdaudit.data.dataset.Dataset` whose ``sha256`` hashes the generated arrays
or the source file. A new built-in is one line here (``tests/test_data_builtin.py``
checks that every line resolves to a loader).
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Final, cast

from kdaudit.errors import UsageError

__all__ = ["BUILTINS", "builtin_loader", "load_builtin"]

if TYPE_CHECKING:
    from kdaudit.data.dataset import Dataset

Loader = Callable[[str | None, Sequence[str] | None], "Dataset"]

#: name -> "module:function" of its loader, imported on first use
BUILTINS: Final[dict[str, str]] = {
    "adult": "kdaudit.data.realworld:load_adult",
    "compas": "kdaudit.data.realworld:load_compas",
    "german": "kdaudit.data.realworld:load_german",
    "hatexplain": "kdaudit.data.hatexplain:load_hatexplain",
    "tabular": "kdaudit.data.tabular:load_tabular",
    "textsynth": "kdaudit.data.text_synth:load_textsynth",
    "trifeature": "kdaudit.data.trifeature:load_trifeature",
}


def builtin_loader(name: str) -> Loader:
    """The loader of built-in dataset ``name`` (its module is imported now).

    Raises
    ------
    UsageError
        ``name`` is not a built-in dataset (exit 2).
    """
    target = BUILTINS.get(name)
    if target is None:
        raise UsageError(
            f"Unknown built-in dataset {name!r}; known: {', '.join(sorted(BUILTINS))}."
        )
    module, _, function = target.partition(":")
    # ImportError and any other failure of the module propagate: they are bugs, not user errors
    return cast(Loader, getattr(importlib.import_module(module), function))


def load_builtin(spec: str, *, sensitive: Sequence[str] | None = None) -> Dataset:
    """Load the built-in dataset named by ``spec`` (``NAME`` or ``NAME:ARG``)."""
    name, _, arg = spec.partition(":")
    return builtin_loader(name)(arg or None, sensitive)
