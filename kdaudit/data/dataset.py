"""The evaluation dataset: labels, inputs, sensitive attributes, and a fingerprint.

Formats (INTERFACE.md "Data"):

* ``.npz`` with ``x``, ``y``, ``sensitive_<name>`` arrays, optional ``split``;
  a multi-input model reads ``x_<input name>`` arrays instead of ``x``.
* ``.csv`` / ``.parquet`` with ``label``, ``sensitive`` and ``features`` columns.
* built-ins (``trifeature``, ``adult:PATH``...), see :mod:`kdaudit.data.builtin`.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import zipfile
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from kdaudit.errors import InputDataError, UsageError

TABLE_SUFFIXES = {".csv", ".parquet", ".pq"}


@dataclasses.dataclass(frozen=True, eq=False)
class Dataset:
    """Everything an audit needs from the evaluation data.

    Attributes
    ----------
    y_true : ndarray of shape (n_samples,), int64
        Class labels in ``0 .. n_classes - 1``.
    x : ndarray of shape (n_samples, ...) or dict of such arrays, or None
        Model inputs as stored (before any model's preprocessing). A dict maps
        model input names to arrays for multi-input models. ``None`` when every
        model is a logits file.
    sensitive_features : dict of name -> ndarray of shape (n_samples,)
        Group labels as strings, one array per sensitive attribute, in the
        order the user named them.
    split : ndarray of shape (n_samples,) or None
        Optional split labels (e.g. in/out of distribution) as strings.
    sha256 : str
        Hash of the data file's bytes (or of the generated arrays for built-ins).
    fingerprint : str
        Hash of ``sha256`` plus every selection option; part of logit-cache keys.
    """

    y_true: np.ndarray
    x: np.ndarray | dict[str, np.ndarray] | None
    sensitive_features: dict[str, np.ndarray]
    split: np.ndarray | None = None
    path: str = ""
    sha256: str = ""
    fingerprint: str = ""
    label: str = "y"
    feature_names: tuple[str, ...] | None = None
    extras: dict[str, Any] = dataclasses.field(default_factory=dict)

    @property
    def n_samples(self) -> int:
        return int(self.y_true.shape[0])

    @property
    def has_inputs(self) -> bool:
        return self.x is not None

    def inputs(self, start: int, stop: int) -> np.ndarray | dict[str, np.ndarray]:
        """Rows ``start:stop`` of the inputs (a dict for multi-input data)."""
        if self.x is None:
            raise InputDataError(
                f"Dataset {self.path or '(in memory)'} has no inputs ('x'); "
                "only logits files can be audited on it.",
                tip="Add an 'x' array to the data, or pass precomputed logits (.npy/.npz) as models.",
            )
        if isinstance(self.x, dict):
            return {k: v[start:stop] for k, v in self.x.items()}
        return self.x[start:stop]

    def describe(self) -> dict[str, Any]:
        """The ``data`` block of report.json."""
        files = self.extras.get("sensitive_files")
        return {
            **({"sensitive_files": files} if files else {}),
            "path": self.path,
            "sha256": self.sha256,
            "fingerprint": self.fingerprint,
            "n_samples": self.n_samples,
            "label": self.label,
            "sensitive": list(self.sensitive_features),
            "has_inputs": self.has_inputs,
            "has_split": self.split is not None,
        }


def file_sha256(path: str | Path, *, chunk: int = 1 << 20) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        while block := fh.read(chunk):
            h.update(block)
    return h.hexdigest()


def arrays_sha256(arrays: Mapping[str, np.ndarray]) -> str:
    """A content hash of named arrays (dtype, shape and bytes), for generated data."""
    h = hashlib.sha256()
    for name in sorted(arrays):
        a = np.ascontiguousarray(arrays[name])
        h.update(name.encode())
        h.update(str(a.dtype).encode())
        h.update(repr(a.shape).encode())
        h.update(a.tobytes() if a.dtype != object else repr(a.tolist()).encode())
    return h.hexdigest()


def fingerprint(sha256: str, **options: Any) -> str:
    payload = json.dumps({"sha256": sha256, **options}, sort_keys=True, default=str)
    return hashlib.sha256(payload.encode()).hexdigest()


def as_group_labels(values: Any, name: str) -> np.ndarray:
    """Group labels as a 1-D array of str (missing values become 'nan')."""
    arr = np.asarray(values)
    if arr.ndim != 1:
        raise InputDataError(
            f"Expected sensitive attribute {name!r} to be 1-D; got shape {arr.shape}."
        )
    if arr.dtype.kind == "f":
        # 1.0 and 1 are the same group; keep integers readable
        arr = np.where(np.isfinite(arr) & (arr == np.round(arr)), arr.astype(np.int64), arr)
    return arr.astype(str)


def check_labels(y: Any, source: str) -> np.ndarray:
    y = np.asarray(y)
    if y.ndim != 1:
        raise InputDataError(f"Expected labels in {source} to be 1-D; got shape {y.shape}.")
    if y.shape[0] == 0:
        raise InputDataError(f"The data in {source} is empty (0 rows).", tip="Check the file.")
    if y.dtype.kind == "f":
        if not np.all(np.isfinite(y)) or np.any(y != np.round(y)):
            raise InputDataError(
                f"Expected integer class labels in {source}; found non-integer values.",
                tip="Encode classes as 0..n_classes-1.",
            )
    elif y.dtype.kind not in "iub":
        raise InputDataError(
            f"Expected integer class labels in {source}; got dtype {y.dtype}.",
            tip="Encode classes as 0..n_classes-1 (e.g. with sklearn's LabelEncoder).",
        )
    y = y.astype(np.int64)
    if y.min() < 0:
        raise InputDataError(f"Labels in {source} must be >= 0; found {int(y.min())}.")
    return y


def load_dataset(
    spec: str | Path,
    *,
    label: str | None = None,
    sensitive: Sequence[str] | None = None,
    features: Sequence[str] | None = None,
    positive_label: str | None = None,
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
    """
    from kdaudit.data import builtin

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
    from kdaudit.data.parquet_set import is_parquet_set, load_parquet_set, load_whole

    if is_parquet_set(path):  # a folder of .parquet files or a set manifest (.json)
        return load_whole(load_parquet_set(path), label=label, sensitive=sensitive, features=features)
    if path.is_dir():
        raise InputDataError(f"Data path {text!r} is a directory; expected a .npz, .csv or .parquet file.")
    suffix = path.suffix.lower()
    if suffix == ".npz":
        return _load_npz(path, sensitive=sensitive)
    if suffix in TABLE_SUFFIXES:
        return _load_table(path, label=label, sensitive=sensitive, features=features,
                           positive_label=positive_label)
    raise InputDataError(
        f"Unknown data file extension {suffix!r} for {text!r}.",
        tip="Use .npz (x, y, sensitive_<name>), .csv or .parquet.",
    )


def _load_npz(path: Path, *, sensitive: Sequence[str] | None) -> Dataset:
    try:
        npz = np.load(path, allow_pickle=False)
        arrays = {k: npz[k] for k in npz.files}
    except (zipfile.BadZipFile, OSError, ValueError, EOFError) as exc:
        raise InputDataError(
            f"Could not read {str(path)!r} as an .npz archive: {exc}.",
            tip="Write it with numpy.savez; object arrays (pickles) are not accepted.",
        ) from exc
    if "y" not in arrays:
        raise InputDataError(
            f"Data file {str(path)!r} has no 'y' array; found {sorted(arrays) or 'no arrays'}.",
            tip="Save labels as 'y' (numpy.savez(path, x=..., y=..., sensitive_sex=...)).",
        )
    y = check_labels(arrays["y"], repr(str(path)))
    n = y.shape[0]
    available = [k[len("sensitive_"):] for k in arrays if k.startswith("sensitive_")]
    names = list(sensitive) if sensitive else available
    sens: dict[str, np.ndarray] = {}
    for s in names:
        key = f"sensitive_{s}"
        if key not in arrays:
            raise InputDataError(
                f"Sensitive attribute {s!r} is not in {str(path)!r}; available: {available or 'none'}.",
                tip=f"Add an array named {key!r} or choose one of the available attributes.",
            )
        sens[s] = as_group_labels(arrays[key], s)
    x: np.ndarray | dict[str, np.ndarray] | None
    multi = {k[2:]: v for k, v in arrays.items() if k.startswith("x_")}
    if "x" in arrays:
        x = arrays["x"]
    elif multi:
        x = multi
    else:
        x = None
    split = as_group_labels(arrays["split"], "split") if "split" in arrays else None
    for key, arr in [("x", x), ("split", split), *[(f"sensitive_{k}", v) for k, v in sens.items()]]:
        for sub_key, sub in (arr.items() if isinstance(arr, dict) else [(key, arr)]):
            if sub is not None and sub.shape[0] != n:
                raise InputDataError(
                    f"Array {sub_key!r} in {str(path)!r} has {sub.shape[0]} rows but 'y' has {n}."
                )
    sha = file_sha256(path)
    extras = {k: v for k, v in arrays.items() if k in {"embedding"}}
    return Dataset(
        y_true=y, x=x, sensitive_features=sens, split=split, path=str(path), sha256=sha,
        # sensitive attributes do not change any model input, so they stay out of the
        # fingerprint and a new choice of attributes reuses cached logits
        fingerprint=fingerprint(sha, kind="npz"), label="y", extras=extras,
    )


def _load_table(
    path: Path,
    *,
    label: str | None,
    sensitive: Sequence[str] | None,
    features: Sequence[str] | None,
    positive_label: str | None,
) -> Dataset:
    import pandas as pd

    try:
        if path.suffix.lower() == ".csv":
            df = pd.read_csv(path)
        else:
            df = pd.read_parquet(path)
    except Exception as exc:  # pandas raises many types for malformed files
        raise InputDataError(f"Could not read table {str(path)!r}: {exc}") from exc
    if df.shape[0] == 0:
        raise InputDataError(f"The data in {str(path)!r} is empty (0 rows).")
    label = label or "y"
    if label not in df.columns:
        raise UsageError(
            f"Label column {label!r} is not in {str(path)!r}; columns: {list(df.columns)[:20]}.",
            tip="Name the label column with --label COL.",
        )
    sensitive = list(sensitive or [])
    for s in sensitive:
        if s not in df.columns:
            raise UsageError(
                f"Sensitive column {s!r} is not in {str(path)!r}; columns: {list(df.columns)[:20]}.",
                tip="Name existing columns with --sensitive COL[,COL...].",
            )
    raw_y = df[label]
    if raw_y.isna().any():
        raise InputDataError(f"Label column {label!r} in {str(path)!r} has missing values.")
    if raw_y.dtype.kind in "iub" or (raw_y.dtype.kind == "f"):
        y = check_labels(raw_y.to_numpy(), repr(str(path)))
        classes = None
    elif positive_label is not None:
        y = (raw_y.astype(str) == str(positive_label)).to_numpy().astype(np.int64)
        classes = ["not " + str(positive_label), str(positive_label)]
    else:
        classes = sorted(raw_y.astype(str).unique())
        y = np.searchsorted(np.array(classes), raw_y.astype(str).to_numpy()).astype(np.int64)
    if features:
        missing = [c for c in features if c not in df.columns]
        if missing:
            raise UsageError(f"Feature columns {missing} are not in {str(path)!r}.")
        feat_cols = list(features)
    else:
        excluded = {label, *sensitive, "split"}
        feat_cols = [c for c in df.columns if c not in excluded and df[c].dtype.kind in "iufb"]
    x = None
    if feat_cols:
        non_numeric = [c for c in feat_cols if df[c].dtype.kind not in "iufb"]
        if non_numeric:
            raise InputDataError(
                f"Feature columns {non_numeric} in {str(path)!r} are not numeric.",
                tip="Encode them first, or leave them out of --features.",
            )
        x = df[feat_cols].to_numpy(dtype=np.float32)
    sens = {s: as_group_labels(df[s].astype(str).to_numpy() if df[s].dtype == object else df[s].to_numpy(), s)
            for s in sensitive}
    split = as_group_labels(df["split"].to_numpy(), "split") if "split" in df.columns else None
    sha = file_sha256(path)
    extras: dict[str, Any] = {}
    if classes is not None:
        extras["class_names"] = classes
    return Dataset(
        y_true=y, x=x, sensitive_features=sens, split=split, path=str(path), sha256=sha,
        fingerprint=fingerprint(sha, kind="table", label=label, sensitive=sensitive,
                                features=feat_cols, positive_label=positive_label),
        label=label, feature_names=tuple(feat_cols), extras=extras,
    )


def add_sensitive_file(dataset: Dataset, name: str, path: str | Path) -> Dataset:
    """Add a sensitive attribute read from its own file of group labels.

    Parameters
    ----------
    dataset : Dataset
    name : str
        The attribute's name in reports.
    path : str or Path
        ``.npy`` (1-D, no pickles), or ``.csv`` / ``.parquet`` with one column (or a
        column called ``name``); one row per data row, in the same order.
    """
    p = Path(path)
    if not p.is_file():
        raise InputDataError(f"Sensitive-attribute file {str(path)!r} does not exist.")
    if name in dataset.sensitive_features:
        raise UsageError(f"Sensitive attribute {name!r} is given twice.",
                         tip="Give each --sensitive-file a new NAME (NAME=PATH).")
    suffix = p.suffix.lower()
    try:
        if suffix == ".npy":
            values = np.load(p, allow_pickle=False)
        elif suffix in TABLE_SUFFIXES:
            import pandas as pd

            df = pd.read_csv(p) if suffix == ".csv" else pd.read_parquet(p)
            if name in df.columns:
                values = df[name].to_numpy()
            elif df.shape[1] == 1:
                values = df.iloc[:, 0].to_numpy()
            else:
                raise InputDataError(
                    f"Sensitive-attribute file {str(path)!r} has {df.shape[1]} columns and none is "
                    f"named {name!r}.", tip="Keep one column, or name it after the attribute.")
        else:
            raise InputDataError(f"Unknown extension {suffix!r} for sensitive-attribute file {str(path)!r}.",
                                 tip="Use .npy, .csv or .parquet.")
    except (OSError, ValueError) as exc:
        raise InputDataError(f"Could not read sensitive-attribute file {str(path)!r}: {exc}") from exc
    groups = as_group_labels(values, name)
    if groups.shape[0] != dataset.n_samples:
        raise InputDataError(
            f"Sensitive-attribute file {str(path)!r} has {groups.shape[0]} rows but the data has "
            f"{dataset.n_samples}.", tip="One group label per data row, in the same order.")
    files = dict(dataset.extras.get("sensitive_files", {}))
    files[name] = {"path": str(p), "sha256": file_sha256(p)}
    return dataclasses.replace(
        dataset, sensitive_features={**dataset.sensitive_features, name: groups},
        extras={**dataset.extras, "sensitive_files": files},
    )
