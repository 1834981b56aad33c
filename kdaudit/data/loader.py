"""Load evaluation data from a spec: a file, a Parquet set or a built-in name.

:func:`load_dataset` is the one dispatcher over the readers of
:mod:`~kdaudit.data.dataset` (npz, tables), :mod:`~kdaudit.data.parquet_set` and
:mod:`~kdaudit.data.builtin`; the readers never import it.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from kdaudit.data import builtin
from kdaudit.data.dataset import TABLE_SUFFIXES, Dataset, load_npz, load_table
from kdaudit.data.parquet_set import is_parquet_set, load_parquet_set, load_whole
from kdaudit.errors import InputDataError
from kdaudit.safety import regular_file

__all__ = ["load_dataset"]


def load_dataset(
    spec: str | Path,
    *,
    label: str | None = None,
    sensitive: Sequence[str] | None = None,
    features: Sequence[str] | None = None,
    positive_label: str | None = None,
    text_column: str | None = None,
    min_group_size: int = 30,
) -> Dataset:
    """Load evaluation data from a file path or a built-in name (``trifeature``, ``adult:PATH``).

    Parameters
    ----------
    spec : str or Path
        A ``.npz``, ``.csv`` or ``.parquet`` path, or a built-in dataset spec.
    label : str, optional
        Label column for tables (default ``y``); ignored for npz.
    sensitive : sequence of str, optional
        Sensitive attribute names; for npz these select ``sensitive_<name>``
        arrays (default: all of them).
    features : sequence of str, optional
        Feature columns for tables (default: every other numeric column).
    positive_label : str, optional
        For tables with a non-numeric label column: the value that becomes class 1.
    text_column : str, optional
        For tables: the column of texts that tokenizing models read (``x`` becomes a
        :class:`~kdaudit.data.text.TextInputs`).
    min_group_size : int
        A sensitive column whose cells are lists becomes one yes/no attribute per member
        named in at least this many rows (:func:`kdaudit.data.text.expand_multilabel`).
    """
    # one name (or the CLI's comma-separated form) is a list of one, not of its letters
    if isinstance(sensitive, str):
        sensitive = [s.strip() for s in sensitive.split(",") if s.strip()]
    if isinstance(features, str):
        features = [s.strip() for s in features.split(",") if s.strip()]

    text = str(spec)
    name = text.split(":", 1)[0]
    if name in builtin.BUILTINS and not Path(text).exists():
        return builtin.load_builtin(text, sensitive=sensitive)
    path = Path(text)
    if not path.exists():
        raise InputDataError(
            f"Data file {text!r} does not exist.",
            tip=f"Check the path, or use a built-in dataset: {', '.join(sorted(builtin.BUILTINS))}.",
        )
    if is_parquet_set(path):  # a folder of .parquet files or a set manifest (.json)
        return load_whole(
            load_parquet_set(path), label=label, sensitive=sensitive, features=features
        )
    if path.is_dir():
        raise InputDataError(
            f"Data path {text!r} is a directory; expected a .npz, .csv or .parquet file."
        )
    regular_file(path, "data file")  # a FIFO would block open(), a device never ends
    suffix = path.suffix.lower()
    if suffix == ".npz":
        return load_npz(path, sensitive=sensitive)
    if suffix in TABLE_SUFFIXES:
        return load_table(
            path,
            label=label,
            sensitive=sensitive,
            features=features,
            positive_label=positive_label,
            text_column=text_column,
            min_group_size=min_group_size,
        )
    raise InputDataError(
        f"Unknown data file extension {suffix!r} for {text!r}.",
        tip="Use .npz (x, y, sensitive_<name>), .csv, .parquet or .jsonl.",
    )
