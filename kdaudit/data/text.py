"""Text data: a column of strings as model inputs, and multi-label sensitive attributes.

* :class:`TextInputs` is what ``Dataset.x`` holds when the data names a text column
  (``--text-column COL``). Models that tokenize (:mod:`kdaudit.models.text`) read it;
  every other adapter refuses it with a clear message.
* :func:`expand_multilabel` turns a column whose cells are lists (HateXplain's targeted
  communities) into one yes/no attribute per member, named ``COLUMN:MEMBER``.

This module imports neither torch nor tokenizers.
"""

from __future__ import annotations

import ast
import dataclasses
import json
from collections.abc import Iterable, Sequence
from typing import Any

import numpy as np

from kdaudit.errors import InputDataError, UsageError

__all__ = [
    "MEMBER_SEP",
    "TextInputs",
    "expand_multilabel",
    "is_list_column",
    "member_lists",
    "parse_list_cell",
    "split_sensitive_names",
]

#: separator between a list column's name and one member: ``target:Women``
MEMBER_SEP = ":"
YES, NO = "yes", "no"


@dataclasses.dataclass(frozen=True, eq=False)
class TextInputs:
    """A column of texts, one per data row.

    Slicing returns another :class:`TextInputs`, so ``Dataset.inputs(lo, hi)`` hands a
    tokenizing adapter the raw strings of a batch.

    Attributes
    ----------
    texts : ndarray of shape (n_samples,), object
        The strings (missing values become ``""``).
    column : str
        Where they came from (the ``--text-column``), for messages.
    """

    texts: np.ndarray
    column: str = "text"

    def __post_init__(self) -> None:
        arr = np.asarray(self.texts, dtype=object)
        if arr.ndim != 1:
            raise InputDataError(
                f"Expected one text per row in column {self.column!r}; got shape {arr.shape}."
            )
        object.__setattr__(self, "texts", arr)

    @classmethod
    def from_values(cls, values: Iterable[Any], column: str = "text") -> TextInputs:
        """Texts from any iterable; ``None``/NaN become empty strings."""
        out = []
        for v in values:
            if v is None or (isinstance(v, float) and np.isnan(v)):
                out.append("")
            else:
                out.append(str(v))
        return cls(np.array(out, dtype=object), column)

    # numpy-like surface used by the engine (row count, batch sizing, hashing)
    @property
    def shape(self) -> tuple[int]:
        return (int(self.texts.shape[0]),)

    @property
    def ndim(self) -> int:
        return 1

    @property
    def dtype(self) -> np.dtype:
        return np.dtype(object)

    def __len__(self) -> int:
        return int(self.texts.shape[0])

    def __getitem__(self, index: Any) -> TextInputs:
        sub = self.texts[index]
        if not isinstance(sub, np.ndarray):
            sub = np.array([sub], dtype=object)
        return TextInputs(sub, self.column)

    def __array__(self, dtype: Any = None, copy: Any = None) -> np.ndarray:
        return self.texts if dtype is None else self.texts.astype(dtype)

    def tolist(self) -> list[str]:
        return [str(t) for t in self.texts]

    def replace(self, texts: Sequence[str]) -> TextInputs:
        """The same column with other strings (e.g. counterfactual texts)."""
        return TextInputs(np.array(list(texts), dtype=object), self.column)


# --------------------------------------------------------------------------- list cells


def parse_list_cell(value: Any) -> list[str] | None:
    """A cell as a list of strings, or None when it is not a list.

    Accepted: Python lists/tuples/sets and numpy arrays (Parquet and JSONL list columns),
    and strings holding a JSON list (``["Women", "Men"]``) or a Python literal list
    (``['Women', 'Men']``, as pandas writes lists into CSV). Nothing is evaluated
    beyond literals (:func:`ast.literal_eval`).
    """
    if isinstance(value, (list, tuple, set, frozenset, np.ndarray)):
        return [str(v) for v in value]
    if isinstance(value, str):
        text = value.strip()
        if not (text.startswith("[") and text.endswith("]")):
            return None
        try:
            parsed = json.loads(text)
        except ValueError:
            try:
                parsed = ast.literal_eval(text)
            except (ValueError, SyntaxError, MemoryError, RecursionError):
                return None
        if isinstance(parsed, (list, tuple)):
            return [str(v) for v in parsed]
    return None


def is_list_column(values: Sequence[Any]) -> bool:
    """True when every non-missing cell parses as a list (and at least one cell does)."""
    seen = False
    for v in values:
        if v is None or (isinstance(v, float) and np.isnan(v)):
            continue
        if parse_list_cell(v) is None:
            return False
        seen = True
    return seen


def member_lists(values: Sequence[Any], column: str) -> list[set[str]]:
    """Each row's members as a set (missing cells: no members)."""
    out: list[set[str]] = []
    for i, v in enumerate(values):
        if v is None or (isinstance(v, float) and np.isnan(v)):
            out.append(set())
            continue
        parsed = parse_list_cell(v)
        if parsed is None:
            raise InputDataError(
                f"Row {i} of list column {column!r} is not a list: {str(v)[:60]!r}.",
                tip='Write every cell as a JSON list (e.g. ["Women"]) or leave it empty.',
            )
        out.append(set(parsed))
    return out


def expand_multilabel(
    values: Sequence[Any],
    column: str,
    *,
    members: Sequence[str] | None = None,
    min_group_size: int = 30,
) -> dict[str, np.ndarray]:
    """One yes/no attribute per member of a list column.

    Parameters
    ----------
    values : sequence of length n_samples
        The column's cells (lists, or strings holding lists).
    column : str
        The column's name; attributes are named ``column:member``.
    members : sequence of str, optional
        Only these members (``--sensitive target:Women``), whatever their size.
    min_group_size : int
        Without ``members``: keep every member named in at least this many rows
        (and absent from at least this many), sorted by name.

    Returns
    -------
    dict of name -> ndarray of shape (n_samples,) of ``"yes"`` / ``"no"``
    """
    rows = member_lists(values, column)
    n = len(rows)
    counts: dict[str, int] = {}
    for r in rows:
        for m in r:
            counts[m] = counts.get(m, 0) + 1
    if members is None:
        chosen = sorted(
            m for m, c in counts.items() if c >= min_group_size and n - c >= min_group_size
        )
        if not chosen:
            raise InputDataError(
                f"No member of list column {column!r} is named in at least {min_group_size} rows "
                f"(and absent from as many); the most frequent are "
                f"{sorted(counts.items(), key=lambda kv: -kv[1])[:5]}.",
                tip=f"Lower --min-group-size, or name members with --sensitive {column}:MEMBER.",
            )
    else:
        unknown = [m for m in members if m not in counts]
        if unknown:
            raise UsageError(
                f"{', '.join(repr(column + MEMBER_SEP + m) for m in unknown)}: no row of list column "
                f"{column!r} names {'this member' if len(unknown) == 1 else 'these members'}; "
                f"members found: {sorted(counts)[:20]}.",
                tip="Member names are case-sensitive.",
            )
        chosen = list(dict.fromkeys(members))
    return {
        f"{column}{MEMBER_SEP}{m}": np.array([YES if m in r else NO for r in rows], dtype=str)
        for m in chosen
    }


def split_sensitive_names(
    names: Sequence[str], columns: Sequence[str]
) -> list[tuple[str, str | None]]:
    """``["target:Women", "race"]`` -> ``[("target", "Women"), ("race", None)]``.

    A name that is itself a column stays whole (a column may contain ``:``).
    """
    out: list[tuple[str, str | None]] = []
    for name in names:
        if name in columns or MEMBER_SEP not in name:
            out.append((name, None))
        else:
            col, _, member = name.partition(MEMBER_SEP)
            out.append((col, member))
    return out
