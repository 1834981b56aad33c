"""The evaluation dataset: labels, inputs, sensitive attributes, and a fingerprint.

Formats:

* ``.npz`` with ``x``, ``y``, ``sensitive_<name>`` arrays, optional ``split`` and ``class_names`` (names of classes 0..n-1);
  a multi-input model reads ``x_<input name>`` arrays instead of ``x``.
* ``.csv`` / ``.parquet`` with ``label``, ``sensitive`` and ``features`` columns.
* built-ins (``trifeature``, ``adult:PATH``...), see :mod:`kdaudit.data.builtin`.
"""

from __future__ import annotations

import contextlib
import dataclasses
import hashlib
import json
import os
import zipfile
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import numpy.typing as npt

from kdaudit._optional import require
from kdaudit.data.labels import GroupLabels, to_group_labels
from kdaudit.errors import InputDataError, UsageError
from kdaudit.safety import open_regular, regular_file

if TYPE_CHECKING:
    from kdaudit.data.text import TextInputs

TABLE_SUFFIXES = {".csv", ".parquet", ".pq", ".jsonl", ".ndjson"}


@dataclasses.dataclass(frozen=True, eq=False)
class Dataset:
    """Everything an audit needs from the evaluation data.

    Attributes
    ----------
    y_true : ndarray of shape (n_samples,), int64
        Class labels in ``0 .. n_classes - 1``.
    x : ndarray of shape (n_samples, ...) or dict of such arrays, or None
        Model inputs as stored (before any model's preprocessing). A dict maps
        model input names to arrays for multi-input models; a
        :class:`~kdaudit.data.text.TextInputs` holds texts. ``None`` when every
        model is a logits file.
    sensitive_features : dict of name -> GroupLabels (or array) of shape (n_samples,)
        Group labels as integer codes with a name table (:mod:`kdaudit.data.labels`),
        one per sensitive attribute, in the order the user named them.
    split : GroupLabels (or array) of shape (n_samples,) or None
        Optional split labels (e.g. in/out of distribution).
    sha256 : str
        Hash of the data file's bytes (or of the generated arrays for built-ins).
    fingerprint : str
        Hash of ``sha256`` plus every selection option; part of logit-cache keys.
    """

    y_true: np.ndarray
    x: np.ndarray | dict[str, np.ndarray] | TextInputs | None
    sensitive_features: dict[str, Any]  # GroupLabels (codes + names), or 1-D arrays
    split: Any = None  # GroupLabels, a 1-D array, or None
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

    def inputs(self, start: int, stop: int) -> np.ndarray | dict[str, np.ndarray] | TextInputs:
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


#: sha256 of files already read during the current audit (see :func:`remembered_hashes`),
#: by (device, inode, size, mtime in ns). An audit names each model file in its manifest
#: check, the pre-flight probe and its load; a multi-GB export should be read once.
_SHA256_MEMO: dict[tuple[int, int, int, int], str] | None = None


@contextlib.contextmanager
def remembered_hashes() -> Iterator[None]:
    """Within the block, :func:`file_sha256` reads each unchanged file once.

    Scoped to one audit on purpose: file timestamps are coarse, so a file rewritten in
    place with the same size between two audits must be read again.
    """
    global _SHA256_MEMO
    outer = _SHA256_MEMO
    _SHA256_MEMO = {} if outer is None else outer
    try:
        yield
    finally:
        _SHA256_MEMO = outer


def file_sha256(path: str | Path, *, chunk: int = 1 << 20, role: str = "file") -> str:
    """sha256 of a regular file's bytes (a FIFO or device is refused, never read forever).

    Inside :func:`remembered_hashes`, naming the same unchanged file again costs a
    ``stat``, not another read.
    """
    memo = _SHA256_MEMO
    with open_regular(path, role) as fd:
        st = os.fstat(fd)
        key = (st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns)
        if memo is not None and key in memo:
            return memo[key]
        h = hashlib.sha256()
        while block := os.read(fd, chunk):
            h.update(block)
    digest = h.hexdigest()
    if memo is not None:
        memo[key] = digest
    return digest


def arrays_sha256(arrays: Mapping[str, npt.ArrayLike]) -> str:
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


def as_group_labels(values: Any, name: str) -> GroupLabels:
    """Group labels as integer codes with a name table (missing values become 'nan').

    Integral floats keep integer names (a nullable integer column with gaps is read as
    floats: ``1`` stays ``1``, not ``1.0``); see :mod:`kdaudit.data.labels`.
    """
    if hasattr(values, "to_numpy") and not isinstance(values, np.ndarray):
        values = values.to_numpy(dtype=object)
    arr = values if isinstance(values, GroupLabels) else np.asarray(values)
    if arr.ndim != 1:
        raise InputDataError(
            f"Expected sensitive attribute {name!r} to be 1-D; got shape {arr.shape}."
        )
    if arr.dtype.kind == "V":
        raise InputDataError(
            f"Sensitive attribute {name!r} holds {arr.dtype} values; expected numbers or strings."
        )
    return to_group_labels(arr)


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
    path = Path(text)
    if not path.exists():
        from kdaudit.data import builtin  # the built-in datasets: 6 modules a file never needs

        if name in builtin.BUILTINS:
            return builtin.load_builtin(text, sensitive=sensitive)
        raise InputDataError(
            f"Data file {text!r} does not exist.",
            tip=f"Check the path, or use a built-in dataset: {', '.join(sorted(builtin.BUILTINS))}.",
        )
    from kdaudit.data.parquet_set import is_parquet_set, load_parquet_set, load_whole

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
        return _load_npz(path, sensitive=sensitive)
    if suffix in TABLE_SUFFIXES:
        return _load_table(
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


def _npy_header(fh: Any) -> tuple[tuple[int, ...], np.dtype]:
    version = np.lib.format.read_magic(fh)
    if version == (1, 0):
        shape, _, dtype = np.lib.format.read_array_header_1_0(fh, max_header_size=1 << 16)
    elif version == (2, 0):
        shape, _, dtype = np.lib.format.read_array_header_2_0(fh, max_header_size=1 << 16)
    else:
        raise ValueError(f"unsupported .npy format version {version}")
    return tuple(int(d) for d in shape), np.dtype(dtype)


def _check_array_header(shape: tuple[int, ...], dtype: np.dtype, payload: int, where: str) -> None:
    """Refuse an array whose header claims more data than the file holds, before allocating."""
    if dtype.hasobject:
        raise InputDataError(
            f"Could not read {where}: it holds Python objects (a pickle); kdaudit "
            "does not unpickle data.",
            tip="Save numbers or strings (numpy.savez), not object arrays.",
        )
    need = int(np.prod(shape, dtype=object)) * max(dtype.itemsize, 0)
    if need > payload:
        raise InputDataError(
            f"{where} claims shape {shape} of {dtype} ({need} bytes) but holds only {payload} bytes.",
            tip="The file is truncated or damaged; write it again with numpy.save/savez.",
        )


def open_npy(path: str | Path, role: str) -> np.ndarray:
    """A ``.npy`` file memory-mapped read-only, its header checked against its size first."""
    p = regular_file(path, role)
    where = f"the {role} {str(p)!r}"
    try:
        with open(p, "rb") as fh:
            shape, dtype = _npy_header(fh)
            _check_array_header(shape, dtype, os.fstat(fh.fileno()).st_size - fh.tell(), where)
        return np.load(p, mmap_mode="r", allow_pickle=False)
    except InputDataError:
        raise
    except Exception as exc:  # numpy's header parser raises anything on a damaged header
        raise InputDataError(
            f"Could not read {where} as .npy: {str(exc)[:200]}.",
            tip="Write it with numpy.save; object arrays (pickles) are not accepted.",
        ) from exc


def load_arrays(
    path: str | Path, role: str, *, names: Sequence[str] | None = None
) -> dict[str, np.ndarray]:
    """Arrays of a ``.npz`` (or the one array of a ``.npy``, as ``"arr_0"``), checked first.

    Each member's header is read and compared with the bytes it holds before any data
    is allocated, so a 40-byte file cannot ask for terabytes; pickles are refused.

    Parameters
    ----------
    path : str or Path
        A regular ``.npz`` or ``.npy`` file.
    role : str
        What the file is, for messages ("data file", "embedding"...).
    names : sequence of str, optional
        Read only these members (default: all).

    Raises
    ------
    InputDataError
        Not a readable archive/array, truncated, pickled, or too large for memory.
    """
    p = regular_file(path, role)
    where = f"the {role} {str(p)!r}"
    try:
        if p.suffix.lower() == ".npy" or not zipfile.is_zipfile(p):
            if p.suffix.lower() != ".npy":
                raise ValueError("File is not a zip file")
            with open(p, "rb") as fh:
                shape, dtype = _npy_header(fh)
                _check_array_header(shape, dtype, os.fstat(fh.fileno()).st_size - fh.tell(), where)
            return {"arr_0": np.load(p, allow_pickle=False)}
        with zipfile.ZipFile(p) as zf:
            members = {n[:-4] if n.endswith(".npy") else n: n for n in zf.namelist()}
            wanted = list(members) if names is None else [n for n in names if n in members]
            for key in wanted:
                info = zf.getinfo(members[key])
                with zf.open(info) as fh:
                    shape, dtype = _npy_header(fh)
                    _check_array_header(shape, dtype, info.file_size, f"array {key!r} in {where}")
        with np.load(p, allow_pickle=False) as npz:
            return {k: npz[k] for k in wanted}
    except InputDataError:
        raise
    except MemoryError:
        raise InputDataError(
            f"{where.capitalize()} does not fit in memory.",
            tip="Use a smaller file, or a machine with more memory.",
        ) from None
    except Exception as exc:  # numpy's header parser raises anything (TokenError, SyntaxError...)
        raise InputDataError(
            f"Could not read {where} as {'an .npz archive' if p.suffix.lower() != '.npy' else '.npy'}: "
            f"{str(exc)[:200]}.",
            tip="Write it with numpy.savez / numpy.save; object arrays (pickles) are not accepted.",
        ) from exc


def _load_npz(path: Path, *, sensitive: Sequence[str] | None) -> Dataset:
    arrays = load_arrays(path, "data file")
    if "y" not in arrays:
        raise InputDataError(
            f"Data file {str(path)!r} has no 'y' array; found {sorted(arrays) or 'no arrays'}.",
            tip="Save labels as 'y' (numpy.savez(path, x=..., y=..., sensitive_sex=...)).",
        )
    y = check_labels(arrays["y"], repr(str(path)))
    n = y.shape[0]
    available = [k[len("sensitive_") :] for k in arrays if k.startswith("sensitive_")]
    names = list(sensitive) if sensitive else available
    sens: dict[str, Any] = {}
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
    embedding = arrays.get("embedding")
    for key, arr in [
        ("x", x),
        ("split", split),
        ("embedding", embedding),
        *[(f"sensitive_{k}", v) for k, v in sens.items()],
    ]:
        for sub_key, sub in arr.items() if isinstance(arr, dict) else [(key, arr)]:
            if sub is not None and sub.ndim == 0:
                raise InputDataError(
                    f"Array {sub_key!r} in {str(path)!r} is a scalar; expected one row "
                    f"per sample ({n} rows)."
                )
            if sub is not None and sub.shape[0] != n:
                raise InputDataError(
                    f"Array {sub_key!r} in {str(path)!r} has {sub.shape[0]} rows but 'y' has {n}."
                )
    sha = file_sha256(path)
    extras: dict[str, Any] = {k: v for k, v in arrays.items() if k in {"embedding"}}
    if "class_names" in arrays:  # optional: names of classes 0..n-1, shown instead of numbers
        extras["class_names"] = [str(c) for c in np.asarray(arrays["class_names"]).ravel()]
    return Dataset(
        y_true=y,
        x=x,
        sensitive_features=sens,
        split=split,
        path=str(path),
        sha256=sha,
        # sensitive attributes do not change any model input, so they stay out of the
        # fingerprint and a new choice of attributes reuses cached logits
        fingerprint=fingerprint(sha, kind="npz"),
        label="y",
        extras=extras,
    )


def _load_table(
    path: Path,
    *,
    label: str | None,
    sensitive: Sequence[str] | None,
    features: Sequence[str] | None,
    positive_label: str | None,
    text_column: str | None = None,
    min_group_size: int = 30,
) -> Dataset:
    import pandas as pd

    if path.suffix.lower() in (".parquet", ".pq"):
        require("pyarrow", purpose=f"Reading the Parquet data {str(path)!r}")
    from kdaudit.data.text import (
        TextInputs,
        expand_multilabel,
        is_list_column,
        split_sensitive_names,
    )

    try:
        if path.suffix.lower() == ".csv":
            df = pd.read_csv(path)
        elif path.suffix.lower() in (".jsonl", ".ndjson"):
            df = pd.read_json(path, lines=True, dtype=False)
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
    if text_column is not None and text_column not in df.columns:
        raise UsageError(
            f"Text column {text_column!r} is not in {str(path)!r}; columns: {list(df.columns)[:20]}.",
            tip="Name the column of texts with --text-column COL.",
        )
    members = split_sensitive_names(list(sensitive or []), list(df.columns))
    sensitive = list(dict.fromkeys(col for col, _ in members))
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
        feat_cols = (
            []
            if text_column is not None
            else [c for c in df.columns if c not in excluded and df[c].dtype.kind in "iufb"]
        )
    x: Any = None
    if text_column is not None:
        if features:
            raise UsageError(
                "--features and --text-column both name model inputs; give one of them."
            )
        x = TextInputs.from_values(df[text_column].tolist(), text_column)
    elif feat_cols:
        non_numeric = [c for c in feat_cols if df[c].dtype.kind not in "iufb"]
        if non_numeric:
            raise InputDataError(
                f"Feature columns {non_numeric} in {str(path)!r} are not numeric.",
                tip="Encode them first, or leave them out of --features.",
            )
        x = df[feat_cols].to_numpy(dtype=np.float32)
    sens: dict[str, Any] = {}
    for s in sensitive:
        wanted = [m for col, m in members if col == s]
        values = df[s].tolist()
        if df[s].dtype.kind not in "iufbmM" and is_list_column(values):
            # a list column: one yes/no attribute per member ("target:Women")
            named = None if None in wanted else [m for m in wanted if m is not None]
            sens.update(expand_multilabel(values, s, members=named, min_group_size=min_group_size))
            continue
        if any(m is not None for m in wanted):
            raise UsageError(
                f"--sensitive {s}:MEMBER needs a column of lists; {s!r} holds single values."
            )
        sens[s] = as_group_labels(df[s], s)
    split = as_group_labels(df["split"], "split") if "split" in df.columns else None
    sha = file_sha256(path)
    extras: dict[str, Any] = {}
    if classes is not None:
        extras["class_names"] = classes
    return Dataset(
        y_true=y,
        x=x,
        sensitive_features=sens,
        split=split,
        path=str(path),
        sha256=sha,
        fingerprint=fingerprint(
            sha,
            kind="table",
            label=label,
            sensitive=sensitive,
            features=feat_cols,
            positive_label=positive_label,
            **({"text_column": text_column} if text_column is not None else {}),
        ),
        label=label,
        feature_names=tuple(feat_cols),
        extras=extras,
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
    if not p.exists():
        raise InputDataError(f"Sensitive-attribute file {str(path)!r} does not exist.")
    regular_file(p, "sensitive-attribute file")
    if name in dataset.sensitive_features:
        raise UsageError(
            f"Sensitive attribute {name!r} is given twice.",
            tip="Give each --sensitive-file a new NAME (NAME=PATH).",
        )
    suffix = p.suffix.lower()
    try:
        if suffix == ".npy":
            values = load_arrays(p, "sensitive-attribute file")["arr_0"]
        elif suffix in TABLE_SUFFIXES:
            import pandas as pd

            if suffix != ".csv":
                require("pyarrow", purpose=f"Reading the Parquet file {str(path)!r}")
            df = pd.read_csv(p) if suffix == ".csv" else pd.read_parquet(p)
            if name in df.columns:
                values = df[name].to_numpy()
            elif df.shape[1] == 1:
                values = df.iloc[:, 0].to_numpy()
            else:
                raise InputDataError(
                    f"Sensitive-attribute file {str(path)!r} has {df.shape[1]} columns and none is "
                    f"named {name!r}.",
                    tip="Keep one column, or name it after the attribute.",
                )
        else:
            raise InputDataError(
                f"Unknown extension {suffix!r} for sensitive-attribute file {str(path)!r}.",
                tip="Use .npy, .csv or .parquet.",
            )
    except InputDataError:
        raise
    except Exception as exc:  # pandas/pyarrow parsers raise many types for malformed files
        raise InputDataError(
            f"Could not read sensitive-attribute file {str(path)!r}: {str(exc)[:200]}"
        ) from exc
    groups = as_group_labels(values, name)
    if groups.shape[0] != dataset.n_samples:
        raise InputDataError(
            f"Sensitive-attribute file {str(path)!r} has {groups.shape[0]} rows but the data has "
            f"{dataset.n_samples}.",
            tip="One group label per data row, in the same order.",
        )
    files = dict(dataset.extras.get("sensitive_files", {}))
    files[name] = {"path": str(p), "sha256": file_sha256(p)}
    return dataclasses.replace(
        dataset,
        sensitive_features={**dataset.sensitive_features, name: groups},
        extras={**dataset.extras, "sensitive_files": files},
    )
