"""Built-in datasets, generated or read from a path the user gives; never downloaded.

A spec is ``NAME`` or ``NAME:ARG`` (e.g. ``adult:/data/adult.test``). Each
loader returns a :class:`~kdaudit.data.dataset.Dataset` whose ``sha256`` hashes
the generated arrays or the source file.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from kdaudit.data.dataset import Dataset
from kdaudit.errors import UsageError

# name -> loader(arg or None, sensitive) ; filled by the modules that define datasets
BUILTINS: dict[str, Callable[[str | None, Sequence[str] | None], Dataset]] = {}


def register(
    name: str,
) -> Callable[
    [Callable[[str | None, Sequence[str] | None], Dataset]],
    Callable[[str | None, Sequence[str] | None], Dataset],
]:
    def deco(
        fn: Callable[[str | None, Sequence[str] | None], Dataset],
    ) -> Callable[[str | None, Sequence[str] | None], Dataset]:
        BUILTINS[name] = fn
        return fn

    return deco


def load_builtin(spec: str, *, sensitive: Sequence[str] | None = None) -> Dataset:
    name, _, arg = spec.partition(":")
    if name not in BUILTINS:
        raise UsageError(
            f"Unknown built-in dataset {name!r}; known: {', '.join(sorted(BUILTINS))}."
        )
    return BUILTINS[name](arg or None, sensitive)


def _register_all() -> None:
    # imported for their @register side effects
    from kdaudit.data import tabular  # noqa: F401

    try:
        from kdaudit.data import trifeature  # noqa: F401
    except ImportError:  # pragma: no cover - written by the trainer work
        pass
    try:
        from kdaudit.data import realworld  # noqa: F401
    except ImportError:  # pragma: no cover
        pass
    from kdaudit.data import hatexplain, text_synth  # noqa: F401


_register_all()
