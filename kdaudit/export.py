"""Per-row export: which samples each model gets right, and which changed from teacher to student.

:func:`row_table` builds one row per evaluation sample: its position, its label, each
role's predicted class and confidence (the softmax probability of that class),
whether it is right, its group in every sensitive attribute, and whether the
student's prediction differs from the teacher's (``changed``). :func:`write_rows`
writes that table as Parquet (or CSV for a ``.csv`` path) through a temporary file,
so a failed write leaves no partial file.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from kdaudit.errors import UsageError
from kdaudit.vocab import ROLES

__all__ = ["ROW_SUFFIXES", "check_rows_path", "row_table", "write_rows"]

#: file suffixes :func:`write_rows` understands
ROW_SUFFIXES = (".parquet", ".csv")
_ROLES = ROLES


def _confidence(logits: Any) -> tuple[np.ndarray, np.ndarray]:
    """Predicted class and its softmax probability per row, streamed over blocks.

    The class is the argmax in the stored dtype, as :meth:`LogitArray.predictions` (and so
    the audit) takes it; the probability is computed in float32, as before.
    """
    from kdaudit.arrays import softmax

    n = logits.n_samples
    pred = np.empty(n, dtype=np.int64)
    conf = np.empty(n, dtype=np.float64)
    for start, block in logits.chunks(native=True):
        k = block.argmax(axis=1)
        p = softmax(np.asarray(block, dtype=np.float32))
        pred[start : start + len(k)] = k
        conf[start : start + len(k)] = p[np.arange(len(k)), k]
    return pred, conf


def row_table(
    y_true: np.ndarray,
    logits: Mapping[str, Any],
    *,
    sensitive_features: Mapping[str, np.ndarray] | None = None,
    class_names: Sequence[str] | None = None,
) -> Any:
    """One row per sample: label, each role's prediction and confidence, groups, ``changed``.

    Parameters
    ----------
    y_true : ndarray of shape (n_samples,)
        Class labels ``0 .. n_classes - 1``.
    logits : mapping of role -> LogitArray of shape (n_samples, n_classes)
        The first run of each role (``teacher``, ``student``, ``baseline``).
    sensitive_features : mapping of name -> ndarray of shape (n_samples,), optional
        Group labels, one column each (``group_<name>``).
    class_names : sequence of str, optional
        Names of the classes; adds ``label_name`` and ``<role>_pred_name`` columns.

    Returns
    -------
    pandas.DataFrame
        Columns ``row`` (position in the data, from 0), ``label``, per role
        ``<role>_pred``, ``<role>_confidence``, ``<role>_correct``, then ``group_<name>``
        per attribute and, with a teacher and a student, ``changed`` (their predictions
        differ), ``newly_wrong`` (teacher right, student wrong) and ``newly_right``.
    """
    import pandas as pd

    y = np.asarray(y_true, dtype=np.int64)
    cols: dict[str, Any] = {"row": np.arange(y.shape[0], dtype=np.int64), "label": y}
    names = None if class_names is None else np.asarray([str(c) for c in class_names], dtype=object)
    if names is not None:
        cols["label_name"] = names[y]
    preds: dict[str, np.ndarray] = {}
    for role in [r for r in _ROLES if r in logits] + [r for r in logits if r not in _ROLES]:
        pred, conf = _confidence(logits[role])
        preds[role] = pred
        cols[f"{role}_pred"] = pred
        if names is not None:
            cols[f"{role}_pred_name"] = names[pred]
        cols[f"{role}_confidence"] = conf
        cols[f"{role}_correct"] = pred == y
    for name, groups in (sensitive_features or {}).items():
        cols[f"group_{name}"] = np.asarray(groups).astype(str)
    if "teacher" in preds and "student" in preds:
        t_ok, s_ok = preds["teacher"] == y, preds["student"] == y
        cols["changed"] = preds["teacher"] != preds["student"]
        cols["newly_wrong"] = t_ok & ~s_ok
        cols["newly_right"] = ~t_ok & s_ok
    return pd.DataFrame(cols)


def check_rows_path(path: str | Path) -> Path:
    """Check an ``--export-rows`` path before any work: a known suffix, not a folder."""
    p = Path(path)
    if p.suffix.lower() not in ROW_SUFFIXES:
        raise UsageError(
            f"--export-rows {str(path)!r}: expected a file ending in .parquet or .csv."
        )
    if p.is_dir():
        raise UsageError(f"--export-rows {str(path)!r} is a folder; give a file path.")
    for parent in p.parents:
        if parent.exists() and not parent.is_dir():
            raise UsageError(
                f"--export-rows {str(path)!r}: {str(parent)!r} is a file, not a folder."
            )
    return p


def write_rows(frame: Any, path: str | Path) -> Path:
    """Write a :func:`row_table` frame as Parquet (or CSV for ``.csv``), atomically.

    Returns
    -------
    Path
        The file written.
    """
    p = check_rows_path(path)
    parent = p.parent if str(p.parent) else Path(".")
    parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=parent, prefix=f".{p.name}.", suffix=".tmp")
    os.close(fd)
    try:
        if p.suffix.lower() == ".csv":
            frame.to_csv(tmp, index=False)
        else:
            frame.to_parquet(tmp, index=False)
        os.chmod(tmp, 0o644)
        os.replace(tmp, p)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return p
