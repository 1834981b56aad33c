"""Group labels held as integer codes with a name table.

A sensitive attribute (or split) of ``n`` rows is ``codes`` (``int64``, shape ``(n,)``)
plus ``names`` (the distinct labels as strings, sorted). Fixed-width numpy strings
would size *every* row like the longest label: one 1 MiB cell in a CSV would make
each of 2,000 labels 4 MiB. Here the long name is stored once.

:class:`GroupLabels` behaves like a 1-D array where analyzers need one
(``np.asarray`` gives an object array whose items share the name strings), and
:func:`kdaudit.analysis.stats.factorize_labels` reads its codes directly.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Iterator
from typing import Any

import numpy as np

__all__ = ["MISSING", "GroupLabels", "to_group_labels"]

#: the name of missing values (NaN, None, pandas NA) in every attribute
MISSING = "nan"


@dataclasses.dataclass(frozen=True, eq=False)
class GroupLabels:
    """Integer codes into a sorted table of group names.

    Attributes
    ----------
    codes : ndarray of int64, shape (n_samples,)
        ``names[codes[i]]`` is row ``i``'s group.
    names : tuple of str
        Distinct group names, sorted.
    """

    codes: np.ndarray
    names: tuple[str, ...]

    ndim = 1

    @property
    def shape(self) -> tuple[int]:
        return (int(self.codes.shape[0]),)

    @property
    def dtype(self) -> np.dtype:
        return np.dtype(object)

    @property
    def n_groups(self) -> int:
        return len(self.names)

    def __len__(self) -> int:
        return int(self.codes.shape[0])

    def __iter__(self) -> Iterator[str]:
        names = self.names
        return (names[c] for c in self.codes.tolist())

    def name_array(self) -> np.ndarray:
        """The names as an object array, shape (n_groups,)."""
        out = np.empty(len(self.names), dtype=object)
        out[:] = list(self.names)
        return out

    def __array__(self, dtype: Any = None, copy: Any = None) -> np.ndarray:
        arr = self.name_array()[self.codes]
        return arr if dtype is None or np.dtype(dtype) == object else arr.astype(dtype)

    def __getitem__(self, index: Any) -> Any:
        if isinstance(index, (int, np.integer)):
            return self.names[int(self.codes[index])]
        return GroupLabels(codes=self.codes[index], names=self.names)

    def tolist(self) -> list[str]:
        return list(self)


def _name(value: Any) -> str:
    """One label as text: integral floats without '.0', every missing value as 'nan'."""
    if value is None or type(value).__name__ in ("NAType", "NaTType"):
        return MISSING
    if isinstance(value, (float, np.floating)):
        if math.isnan(value):
            return MISSING
        if math.isfinite(value) and float(value).is_integer():
            return str(int(value))
        return str(float(value))
    if isinstance(value, (bool, np.bool_)):
        return str(bool(value))
    if isinstance(value, (int, np.integer)):
        return str(int(value))
    if isinstance(value, bytes):
        return value.decode("utf-8", "backslashreplace")
    return str(value)


def to_group_labels(values: Any) -> GroupLabels:
    """Factorize 1-D values (any dtype, pandas nullable ones included) into :class:`GroupLabels`.

    Values that print the same (``1``, ``1.0`` and ``"1"``) are one group.
    """
    if isinstance(values, GroupLabels):
        return values
    arr = np.asarray(values)
    if arr.ndim != 1:
        raise ValueError(f"expected 1-D group labels; got shape {arr.shape}")
    if arr.dtype.kind in "iubfUS":
        uniq, inverse = np.unique(arr, return_inverse=True)
        raw = [_name(v) for v in uniq.tolist()]
    else:  # object, datetime...: one dict lookup per row, no fixed-width copy
        table: dict[Any, int] = {}
        keys = [
            v if isinstance(v, (str, int)) and not isinstance(v, bool) else _name(v)
            for v in arr.tolist()
        ]
        inverse = np.fromiter(
            (table.setdefault(k, len(table)) for k in keys), dtype=np.int64, count=len(keys)
        )
        raw = [_name(k) for k in table]
    # merge labels that print alike, then sort the names
    names = sorted(set(raw))
    position = {n: i for i, n in enumerate(names)}
    remap = np.fromiter((position[r] for r in raw), dtype=np.int64, count=len(raw))
    codes = (
        remap[np.asarray(inverse, dtype=np.int64).reshape(-1)]
        if len(raw)
        else np.zeros(arr.shape[0], dtype=np.int64)
    )
    return GroupLabels(codes=codes, names=tuple(names))
