"""Data at scale: a list of Parquet files, one cache/statistics shard per file.

A *Parquet set* is either

* a folder: every ``*.parquet`` file in it, in name order; or
* a small JSON manifest (``*.json``)::

      {"kdaudit_parquet_set": 1,
       "files": [{"path": "part-000.parquet", "rows": 81234, "sha256": "..."}, ...]}

  with paths relative to the manifest's folder. ``sha256`` is optional; when
  given, the worker that reads a file checks it.

File ``i`` holds rows ``[offsets[i], offsets[i + 1])`` of the whole data set.
Row counts come from the Parquet footers, so knowing the layout reads no rows;
a worker reads (and hashes) only the files of the shards it owns.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from kdaudit.data.dataset import fingerprint, load_table
from kdaudit.errors import InputDataError

__all__ = [
    "SET_SCHEMA",
    "ParquetFile",
    "ParquetSet",
    "is_parquet_set",
    "load_parquet_set",
    "load_shard",
    "load_whole",
    "set_fingerprint",
]

SET_SCHEMA = 1


@dataclasses.dataclass(frozen=True, slots=True, kw_only=True)
class ParquetFile:
    path: str
    rows: int
    size: int
    sha256: str | None = None


@dataclasses.dataclass(frozen=True, slots=True, kw_only=True)
class ParquetSet:
    """The layout of a Parquet set; no rows are read to build it."""

    path: str
    files: tuple[ParquetFile, ...]

    @property
    def n_shards(self) -> int:
        return len(self.files)

    @property
    def offsets(self) -> np.ndarray:
        return np.cumsum([0] + [f.rows for f in self.files]).astype(np.int64)

    @property
    def n_samples(self) -> int:
        return int(self.offsets[-1])

    @property
    def sha256(self) -> str:
        """Identity of the set: names, row counts, sizes and (when known) file hashes."""
        payload = [[Path(f.path).name, f.rows, f.size, f.sha256] for f in self.files]
        return hashlib.sha256(json.dumps(payload, separators=(",", ":")).encode()).hexdigest()


def is_parquet_set(path: str | Path) -> bool:
    """A folder holding ``*.parquet`` files, or a JSON manifest naming them."""
    p = Path(path)
    if p.is_dir():
        return any(p.glob("*.parquet"))
    if p.is_file() and p.suffix.lower() == ".json":
        try:
            head = json.loads(p.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return False
        return isinstance(head, dict) and "kdaudit_parquet_set" in head
    return False


def _footer_rows(path: Path) -> int:
    import pyarrow.parquet as pq

    try:
        return int(pq.ParquetFile(path).metadata.num_rows)
    except Exception as exc:  # pyarrow raises several types for a bad footer
        raise InputDataError(f"Could not read the Parquet footer of {str(path)!r}: {exc}") from exc


def load_parquet_set(path: str | Path) -> ParquetSet:
    """Read the layout of a Parquet set (folder or JSON manifest).

    Raises
    ------
    InputDataError
        No files, a missing file, a manifest that is not valid, a row count that
        disagrees with the file's footer.
    """
    p = Path(path)
    files: list[ParquetFile] = []
    if p.is_dir():
        names = sorted(p.glob("*.parquet"))
        if not names:
            raise InputDataError(f"The folder {str(p)!r} holds no .parquet files.")
        for f in names:
            files.append(ParquetFile(path=str(f), rows=_footer_rows(f), size=f.stat().st_size))
    else:
        try:
            manifest = json.loads(p.read_text(encoding="utf-8"))
            entries = manifest["files"]
            if manifest.get("kdaudit_parquet_set") != SET_SCHEMA or not isinstance(entries, list):
                raise ValueError("expected kdaudit_parquet_set = 1 and a list 'files'")
        except (OSError, ValueError, KeyError, TypeError) as exc:
            raise InputDataError(
                f"{str(p)!r} is not a Parquet-set manifest: {exc}.",
                tip='Write {"kdaudit_parquet_set": 1, "files": [{"path": ..., "rows": ...}, ...]}.',
            ) from exc
        for i, entry in enumerate(entries):
            if not isinstance(entry, dict) or "path" not in entry:
                raise InputDataError(f"Entry {i} of {str(p)!r} has no 'path'.")
            f = Path(entry["path"])
            f = f if f.is_absolute() else p.parent / f
            if not f.is_file():
                raise InputDataError(f"File {str(f)!r} named in {str(p)!r} does not exist.")
            rows = _footer_rows(f)
            if "rows" in entry and int(entry["rows"]) != rows:
                raise InputDataError(
                    f"{str(p)!r} says {str(f)!r} has {entry['rows']} rows; its footer says {rows}.",
                    tip="Regenerate the manifest after changing the files.",
                )
            files.append(
                ParquetFile(
                    path=str(f), rows=rows, size=f.stat().st_size, sha256=entry.get("sha256")
                )
            )
        if not files:
            raise InputDataError(f"The Parquet-set manifest {str(p)!r} lists no files.")
    empty = [f.path for f in files if f.rows == 0]
    if empty:
        raise InputDataError(f"Parquet file(s) with 0 rows in the set {str(p)!r}: {empty[:3]}.")
    return ParquetSet(path=str(p), files=tuple(files))


def set_fingerprint(
    pset: ParquetSet,
    *,
    label: str | None,
    sensitive: Sequence[str] | None,
    features: Sequence[str] | None,
) -> str:
    return fingerprint(
        pset.sha256,
        kind="parquet_set",
        label=label or "y",
        sensitive=list(sensitive or []),
        features=list(features) if features else None,
    )


def load_shard(
    pset: ParquetSet,
    index: int,
    *,
    label: str | None,
    sensitive: Sequence[str] | None,
    features: Sequence[str] | None,
) -> Any:
    """The rows of file ``index`` as a :class:`~kdaudit.data.dataset.Dataset`, with set identity.

    Only this file is read and hashed; a hash given in the manifest must match.
    """
    f = pset.files[index]
    ds = load_table(
        Path(f.path), label=label, sensitive=sensitive, features=features, positive_label=None
    )
    if "class_names" in ds.extras:
        raise InputDataError(
            f"The label column of {f.path!r} is not numeric; a Parquet set needs class indices "
            "0..n_classes-1 so that every file means the same classes.",
            tip="Encode the labels as integers before splitting the data into files.",
        )
    if f.sha256 is not None and ds.sha256 != f.sha256:
        raise InputDataError(
            f"{f.path!r} has sha256 {ds.sha256[:12]}..., the set's manifest says "
            f"{f.sha256[:12]}...; the file changed."
        )
    if ds.n_samples != f.rows:
        raise InputDataError(f"{f.path!r} has {ds.n_samples} rows; its footer said {f.rows}.")
    return dataclasses.replace(
        ds,
        path=pset.path,
        sha256=pset.sha256,
        fingerprint=set_fingerprint(pset, label=label, sensitive=sensitive, features=features),
        extras={**ds.extras, "file_sha256": ds.sha256},
    )


def load_whole(
    pset: ParquetSet,
    *,
    label: str | None,
    sensitive: Sequence[str] | None,
    features: Sequence[str] | None,
) -> Any:
    """Every file of the set concatenated into one Dataset (single-machine use)."""
    parts = [
        load_shard(pset, i, label=label, sensitive=sensitive, features=features)
        for i in range(pset.n_shards)
    ]
    first = parts[0]
    has_x = {p.x is not None for p in parts}
    has_split = {p.split is not None for p in parts}
    if len(has_x) > 1 or len(has_split) > 1:
        raise InputDataError(f"The files of {pset.path!r} do not all have the same columns.")
    x = np.concatenate([p.x for p in parts]) if first.x is not None else None
    split = np.concatenate([p.split for p in parts]) if first.split is not None else None
    return dataclasses.replace(
        first,
        y_true=np.concatenate([p.y_true for p in parts]),
        x=x,
        split=split,
        sensitive_features={
            k: np.concatenate([p.sensitive_features[k] for p in parts])
            for k in first.sensitive_features
        },
        extras={k: v for k, v in first.extras.items() if k != "file_sha256"},
    )
