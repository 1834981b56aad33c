"""Count tables: the small integer summaries every group/class analysis works from.

A shard of rows is reduced to a :class:`CellTable`: the distinct combinations
("cells") of label, each model run's prediction, each sensitive attribute's group
and the split, with how many rows fall in each. Group and split values are kept
as their *names* (strings), so tables from different shards, whose local codes
differ, merge exactly: :func:`merge_tables` maps every shard onto the sorted union
of names and adds the counts. The merged table does not depend on how the rows
were split or in which order the shards arrive.

Every estimator of accuracy, class shift, group fairness and robustness is a
function of these counts (they reduce rows to the same cells themselves and
bootstrap the cell counts), so :func:`expand_table` hands them rows in cell order
and they give exactly what they give on the original rows.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence

import numpy as np

from kdaudit.analysis.stats import encode_cells, factorize_labels
from kdaudit.errors import InputDataError

__all__ = [
    "LABEL",
    "SPLIT",
    "CellTable",
    "ExpandedRows",
    "expand_table",
    "group_column",
    "merge_tables",
    "pred_column",
    "reduce_rows",
]

LABEL = "y"


def pred_column(role: str, run: int) -> str:
    return f"pred:{role}:{run}"


def group_column(name: str) -> str:
    return f"group:{name}"


SPLIT = "split"


@dataclasses.dataclass(frozen=True, slots=True, kw_only=True)
class CellTable:
    """Distinct observed combinations of the per-row columns and their counts.

    Attributes
    ----------
    columns : tuple of str
        ``"y"``, then ``"pred:ROLE:RUN"`` per model run, ``"group:NAME"`` per
        sensitive attribute, and ``"split"`` when the data has one.
    n_classes : int
    vocabs : dict of column -> ndarray of str
        Names of the codes of each group/split column, sorted.
    cells : ndarray of int64, shape (n_cells, n_columns)
        Class indices (label, predictions) or codes into ``vocabs``, lexicographic.
    counts : ndarray of int64, shape (n_cells,)
    """

    columns: tuple[str, ...]
    n_classes: int
    vocabs: dict[str, np.ndarray]
    cells: np.ndarray
    counts: np.ndarray

    @property
    def n_samples(self) -> int:
        return int(self.counts.sum())

    def sizes(self) -> list[int]:
        return [
            int(self.vocabs[c].shape[0]) if c in self.vocabs else self.n_classes
            for c in self.columns
        ]

    def to_arrays(self) -> dict[str, np.ndarray]:
        """Plain arrays for ``np.savez`` (no pickles)."""
        out = {
            "cells": self.cells,
            "counts": self.counts,
            "columns": np.array(self.columns, dtype=str),
            "n_classes": np.array(self.n_classes, dtype=np.int64),
        }
        for i, c in enumerate(self.columns):
            if c in self.vocabs:
                out[f"vocab_{i}"] = self.vocabs[c].astype(str)
        return out

    @classmethod
    def from_arrays(cls, arrays: Mapping[str, np.ndarray]) -> CellTable:
        columns = tuple(str(c) for c in arrays["columns"])
        vocabs = {
            c: np.asarray(arrays[f"vocab_{i}"]).astype(str)
            for i, c in enumerate(columns)
            if f"vocab_{i}" in arrays
        }
        return cls(
            columns=columns,
            n_classes=int(arrays["n_classes"]),
            vocabs=vocabs,
            cells=np.asarray(arrays["cells"], dtype=np.int64).reshape(-1, len(columns)),
            counts=np.asarray(arrays["counts"], dtype=np.int64),
        )


def reduce_rows(
    y_true: np.ndarray,
    predictions: Mapping[str, Sequence[np.ndarray]],
    *,
    n_classes: int,
    sensitive_features: Mapping[str, np.ndarray] | None = None,
    split: np.ndarray | None = None,
) -> CellTable:
    """Reduce rows to their cell table.

    Parameters
    ----------
    y_true : ndarray of int, shape (n_samples,)
    predictions : mapping role -> list of ndarray of int, each (n_samples,)
        Predicted classes of every run of every role.
    n_classes : int
    sensitive_features : mapping name -> ndarray, each (n_samples,), optional
        Group labels (any dtype; kept as strings).
    split : ndarray, shape (n_samples,), optional

    Returns
    -------
    CellTable
    """
    y = np.asarray(y_true, dtype=np.int64)
    n = y.shape[0]
    columns: list[str] = [LABEL]
    data: list[np.ndarray] = [y]
    sizes: list[int] = [n_classes]
    for role, runs in predictions.items():
        for r, p in enumerate(runs):
            p = np.asarray(p, dtype=np.int64)
            if p.shape != (n,):
                raise InputDataError(
                    f"Expected {n} predictions of the {role} (run {r}); got {p.shape}."
                )
            columns.append(pred_column(role, r))
            data.append(p)
            sizes.append(n_classes)
    for c, d in zip(columns, data, strict=True):
        if n and (d.min() < 0 or d.max() >= n_classes):
            raise InputDataError(f"Column {c} has values outside 0..{n_classes - 1}.")
    vocabs: dict[str, np.ndarray] = {}
    coded = [(group_column(k), v) for k, v in (sensitive_features or {}).items()]
    if split is not None:
        coded.append((SPLIT, split))
    for name, values in coded:
        names, codes = factorize_labels(np.asarray(values))
        if codes.shape != (n,):
            raise InputDataError(f"Expected {n} values of {name}; got {codes.shape}.")
        columns.append(name)
        data.append(codes)
        sizes.append(max(1, int(names.shape[0])))
        vocabs[name] = names
    if n == 0:
        cells, counts = np.zeros((0, len(columns)), dtype=np.int64), np.zeros(0, dtype=np.int64)
    else:
        cells, counts, _ = encode_cells(data, sizes)
    return CellTable(
        columns=tuple(columns),
        n_classes=int(n_classes),
        vocabs=vocabs,
        cells=cells.astype(np.int64),
        counts=counts.astype(np.int64),
    )


def merge_tables(tables: Sequence[CellTable]) -> CellTable:
    """The exact sum of several shards' tables (same columns), on the union of group names.

    The result depends only on the multiset of rows, not on the split or the order.
    """
    if not tables:
        raise InputDataError("Expected at least one table of counts to merge; got none.")
    first = tables[0]
    for t in tables[1:]:
        if t.columns != first.columns or t.n_classes != first.n_classes:
            raise InputDataError(
                f"Count tables disagree on columns/classes: {first.columns}/{first.n_classes} vs "
                f"{t.columns}/{t.n_classes}.",
                tip="Every shard must be computed with the same models, data columns and options.",
            )
    vocabs = {c: np.unique(np.concatenate([t.vocabs[c] for t in tables])) for c in first.vocabs}
    parts = []
    for t in tables:
        cells = t.cells.copy()
        for j, c in enumerate(t.columns):
            if c in vocabs:
                cells[:, j] = (
                    np.searchsorted(vocabs[c], t.vocabs[c])[t.cells[:, j]] if len(t.cells) else 0
                )
        parts.append(cells)
    stacked = np.concatenate(parts, axis=0)
    counts = np.concatenate([t.counts for t in tables])
    merged = CellTable(
        columns=first.columns,
        n_classes=first.n_classes,
        vocabs=vocabs,
        cells=stacked,
        counts=counts,
    )
    if stacked.shape[0] == 0:
        return merged
    cells, _, inverse = encode_cells(
        [stacked[:, j] for j in range(stacked.shape[1])], merged.sizes()
    )
    # float64 sums are exact below 2**53 rows
    summed = np.bincount(inverse.reshape(-1), weights=counts, minlength=cells.shape[0]).astype(
        np.int64
    )
    keep = summed > 0
    return dataclasses.replace(merged, cells=cells[keep].astype(np.int64), counts=summed[keep])


@dataclasses.dataclass(frozen=True, slots=True, kw_only=True)
class ExpandedRows:
    """Rows rebuilt from a table, in cell order (what the estimators take)."""

    y_true: np.ndarray
    predictions: dict[str, list[np.ndarray]]
    sensitive_features: dict[str, np.ndarray]
    split: np.ndarray | None


def expand_table(table: CellTable) -> ExpandedRows:
    """One row per counted observation, cell by cell.

    The estimators reduce rows to cells again and never look at row order, so
    these rows give the same numbers as the original ones.
    """
    counts = table.counts
    out_pred: dict[str, list[np.ndarray]] = {}
    sens: dict[str, np.ndarray] = {}
    split = None
    y = np.empty(0, dtype=np.int64)
    for j, c in enumerate(table.columns):
        col = np.repeat(table.cells[:, j], counts)
        if c == LABEL:
            y = col
        elif c.startswith("pred:"):
            _, role, _run = c.split(":", 2)
            out_pred.setdefault(role, []).append(col)
        elif c.startswith("group:"):
            sens[c[len("group:") :]] = table.vocabs[c][col]
        elif c == SPLIT:
            split = table.vocabs[c][col]
    return ExpandedRows(y_true=y, predictions=out_pred, sensitive_features=sens, split=split)
