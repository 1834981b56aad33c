"""Where a shard's rows come from: one file of a Parquet set, or a row range of one file."""

from __future__ import annotations

import dataclasses
import hashlib
import json
import re
from collections.abc import Sequence
from typing import Any

from kdaudit.data.dataset import Dataset
from kdaudit.errors import UsageError

__all__ = [
    "DEFAULT_SHARD_ROWS",
    "ShardSource",
    "is_driver",
    "open_source",
    "parse_shards",
]

_SHARDS_RE = re.compile(r"^(\d+)(?:-(\d+))?/(\d+)$")
#: rows per shard of single-file data when --shards does not say
DEFAULT_SHARD_ROWS = 65536


def parse_shards(text: str) -> tuple[int, int, int]:
    """``"I-J/N"`` (or ``"I/N"``, or ``"all/N"``) -> ``(I, J, N)``: shards I..J inclusive of N.

    ``all/N`` is every shard of an N-shard layout: what the driver gives after workers
    ran ``I-J/N`` slices, so that it finalizes their entry (see :func:`is_driver`).
    """
    t = text.strip()
    if t.lower().startswith("all/"):
        t = f"0-{int(t[4:]) - 1}/{t[4:]}" if t[4:].isdigit() and int(t[4:]) > 0 else t
    m = _SHARDS_RE.match(t)
    if not m:
        raise UsageError(
            f"--shards expects I-J/N (e.g. 0-3/16), I/N or all/N; got {text!r}.",
            tip="Workers take a slice (0-3/16); the driver takes all/16 (or no --shards).",
        )
    i, j, n = (
        int(m.group(1)),
        int(m.group(2) if m.group(2) is not None else m.group(1)),
        int(m.group(3)),
    )
    if n <= 0 or not 0 <= i <= j < n:
        raise UsageError(
            f"--shards {text!r}: need 0 <= I <= J < N.",
            tip="Shards are numbered from 0; 0-6/7 is all seven of seven.",
        )
    return i, j, n


def is_driver(text: str | None) -> bool:
    """True for no ``--shards`` or ``all/N``: the run that checks every shard and writes
    the manifest. A slice ``I-J/N`` is a worker, even one that covers every shard."""
    return text is None or text.strip().lower().startswith("all/")


@dataclasses.dataclass(frozen=True, slots=True, kw_only=True)
class ShardSource:
    """The data cut into shards.

    For a Parquet set, shard ``i`` is file ``i`` and only that file is read. For any
    other data the file is loaded once and shard ``i`` is a row range.
    """

    path: str
    label: str | None
    sensitive: tuple[str, ...] | None
    features: tuple[str, ...] | None
    bounds: tuple[tuple[int, int], ...]
    pset: Any = None
    dataset: Dataset | None = None

    @property
    def n_shards(self) -> int:
        return len(self.bounds)

    @property
    def n_samples(self) -> int:
        return self.bounds[-1][1]

    def layout_sha256(self) -> str:
        return hashlib.sha256(json.dumps(self.bounds).encode()).hexdigest()

    def fingerprint(self) -> str:
        """The data's identity in cache keys (no rows are read for a Parquet set)."""
        if self.pset is not None:
            from kdaudit.data.parquet_set import set_fingerprint

            return set_fingerprint(
                self.pset, label=self.label, sensitive=self.sensitive, features=self.features
            )
        from kdaudit.engine.cache import dataset_fingerprint

        assert self.dataset is not None
        return dataset_fingerprint(self.dataset)

    def shard(self, index: int) -> tuple[Dataset, int, int]:
        """``(dataset, lo, hi)``: rows ``[lo, hi)`` of ``dataset`` are shard ``index``."""
        if self.pset is not None:
            from kdaudit.data.parquet_set import load_shard

            ds = load_shard(
                self.pset, index, label=self.label, sensitive=self.sensitive, features=self.features
            )
            return ds, 0, ds.n_samples
        assert self.dataset is not None
        lo, hi = self.bounds[index]
        return self.dataset, lo, hi

    def describe(self, shard_dataset: Dataset) -> dict[str, Any]:
        """The report's ``data`` block (whole data set) from any shard's dataset."""
        block = shard_dataset.describe()
        block["n_samples"] = self.n_samples
        return block


def open_source(
    path: str,
    *,
    label: str | None = None,
    sensitive: Sequence[str] | None = None,
    features: Sequence[str] | None = None,
    n_shards: int | None = None,
) -> ShardSource:
    """Cut the data at ``path`` into shards (``n_shards`` checked or chosen).

    Raises
    ------
    UsageError
        ``n_shards`` does not match a Parquet set's file count, or exceeds the rows.
    """
    from kdaudit.data.parquet_set import is_parquet_set, load_parquet_set

    sens = tuple(sensitive) if sensitive else None
    feats = tuple(features) if features else None
    if is_parquet_set(path):
        pset = load_parquet_set(path)
        if n_shards is not None and n_shards != pset.n_shards:
            raise UsageError(
                f"--shards .../{n_shards} does not match the data: {path!r} is a set of "
                f"{pset.n_shards} Parquet files, one shard each.",
                tip=f"Use N = {pset.n_shards}.",
            )
        off = [int(o) for o in pset.offsets]
        bounds = tuple((off[i], off[i + 1]) for i in range(pset.n_shards))
        return ShardSource(
            path=str(path), label=label, sensitive=sens, features=feats, bounds=bounds, pset=pset
        )
    from kdaudit.data.loader import load_dataset

    ds = load_dataset(path, label=label, sensitive=sensitive, features=features)
    n = ds.n_samples
    k = n_shards if n_shards is not None else max(1, -(-n // DEFAULT_SHARD_ROWS))
    if k > n:
        raise UsageError(f"--shards .../{k} asks for more shards than the data has rows ({n}).")
    rows = -(-n // k)
    bounds = tuple((i * rows, min((i + 1) * rows, n)) for i in range(k) if i * rows < n)
    if len(bounds) != k:
        raise UsageError(
            f"{n} rows cannot be cut into {k} non-empty shards of equal size.",
            tip=f"Use N <= {len(bounds)}.",
        )
    return ShardSource(
        path=str(path), label=label, sensitive=sens, features=feats, bounds=bounds, dataset=ds
    )
