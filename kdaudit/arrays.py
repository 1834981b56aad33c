"""Logits on disk or in memory, read in chunks (the data type every layer above models shares).

A :class:`LogitArray` is a list of row shards (each an ndarray or a read-only
``np.memmap``) of shape ``(rows_i, n_classes)``; together they form an
``(n_samples, n_classes)`` matrix that is never materialised unless asked for.
Analyzers take predictions (argmax) or probability rows from it, chunk by chunk,
so memory stays bounded by the chunk size, not by the file size.

Adapters (:mod:`kdaudit.models`) return it, the engine caches it and the analyzers read it,
so it lives below all of them; it imports nothing from kdaudit but :mod:`kdaudit.errors`.
"""

from __future__ import annotations

import mmap
from collections.abc import Iterator, Sequence

import numpy as np

from kdaudit.errors import InputDataError

__all__ = ["DEFAULT_CHUNK_BYTES", "DEFAULT_CHUNK_ROWS", "LogitArray", "softmax"]

DEFAULT_CHUNK_ROWS = 65536
# a block is bounded in bytes, not rows: 65,536 rows of 1,000 classes would be 262 MB
DEFAULT_CHUNK_BYTES = 16 << 20


class LogitArray:
    """Row-sharded logits (or log-probabilities) of one model.

    Parameters
    ----------
    shards : sequence of ndarray, each of shape (rows_i, n_classes)
        Consecutive row blocks; memory-mapped arrays stay memory-mapped.
    kind : {"logits", "log_probs"}
        What the values are. Both give the same argmax and softmax.
    """

    def __init__(self, shards: Sequence[np.ndarray], *, kind: str = "logits") -> None:
        if not shards:
            raise InputDataError("Expected at least one block of logits; got none.")
        n_classes = {int(s.shape[1]) if s.ndim == 2 else -1 for s in shards}
        if len(n_classes) != 1 or -1 in n_classes:
            raise InputDataError(
                f"Expected 2-D logit blocks with one class count; got shapes {[s.shape for s in shards]}."
            )
        self.shards = list(shards)
        self.kind = kind
        self.n_classes = n_classes.pop()
        self.offsets = np.cumsum([0] + [int(s.shape[0]) for s in self.shards])
        self.n_samples = int(self.offsets[-1])

    @classmethod
    def from_array(cls, array: np.ndarray, *, kind: str = "logits") -> LogitArray:
        return cls([array], kind=kind)

    @property
    def shape(self) -> tuple[int, int]:
        return (self.n_samples, self.n_classes)

    def __len__(self) -> int:
        return self.n_samples

    def default_chunk_rows(self) -> int:
        """Rows per block so that one float32 block stays near DEFAULT_CHUNK_BYTES."""
        return int(
            min(DEFAULT_CHUNK_ROWS * 16, max(256, DEFAULT_CHUNK_BYTES // (4 * self.n_classes)))
        )

    def chunks(
        self, chunk_rows: int | None = None, *, native: bool = False
    ) -> Iterator[tuple[int, np.ndarray]]:
        """Yield ``(start_row, block)`` with blocks of at most ``chunk_rows`` rows, as float32.

        ``chunk_rows`` defaults to :meth:`default_chunk_rows` (about 16 MB per block).
        ``native=True`` yields the values in their stored dtype (no rounding).

        A memory-mapped shard is read through a short-lived map of just that block, so
        the pages of a multi-GB file leave the process's resident set as the scan moves on
        (slicing one long-lived map would keep every page touched so far resident).
        """
        chunk_rows = chunk_rows or self.default_chunk_rows()
        for offset, shard in zip(self.offsets[:-1], self.shards, strict=True):
            for i in range(0, shard.shape[0], chunk_rows):
                yield (
                    int(offset + i),
                    _read_block(
                        shard,
                        i,
                        min(i + chunk_rows, shard.shape[0]),
                        None if native else np.float32,
                    ),
                )

    def predictions(self, chunk_rows: int | None = None) -> np.ndarray:
        """Argmax per row, shape (n_samples,), int64, taken in the stored dtype.

        float64 or large integer logits are not rounded to float32 first: a margin
        of 1 between logits near 2**28 is a tie in float32 but not in the file.
        Ties are broken by the lower class index (``numpy.argmax``).
        """
        out = np.empty(self.n_samples, dtype=np.int64)
        for start, block in self.chunks(chunk_rows, native=True):
            out[start : start + block.shape[0]] = block.argmax(axis=1)
        return out

    def rows(self, index: np.ndarray) -> np.ndarray:
        """Rows at ``index`` (any order), shape (len(index), n_classes).

        float32 when every shard is stored in float32 or narrower floats; else
        float64, so float64 and integer logits keep their margins (exact for
        integers up to 2**53).
        """
        index = np.asarray(index, dtype=np.int64)
        out = np.empty((index.shape[0], self.n_classes), dtype=self.value_dtype)
        shard_of = np.searchsorted(self.offsets, index, side="right") - 1
        for s in np.unique(shard_of):
            sel = np.flatnonzero(shard_of == s)
            local = index[sel] - self.offsets[s]
            order = np.argsort(local, kind="stable")  # sorted reads are kinder to memmaps
            out[sel[order]] = np.asarray(self.shards[s][local[order]], dtype=out.dtype)
        return out

    @property
    def value_dtype(self) -> np.dtype:
        """float32 if every shard is float32/float16, else float64 (what :meth:`rows` returns)."""
        narrow = all(np.dtype(s.dtype) in (np.float32, np.float16) for s in self.shards)
        return np.dtype(np.float32 if narrow else np.float64)

    def probabilities(self, index: np.ndarray | None = None) -> np.ndarray:
        """Softmax of the rows at ``index`` (all rows if None), float64."""
        block = self.rows(np.arange(self.n_samples)) if index is None else self.rows(index)
        return softmax(block)

    def to_numpy(self) -> np.ndarray:
        """The whole matrix in memory (small data only)."""
        return np.concatenate([np.asarray(s, dtype=np.float32) for s in self.shards], axis=0)

    def check_finite(self, name: str, chunk_rows: int | None = None) -> None:
        """Raise InputDataError naming the first row with NaN or inf."""
        for start, block in self.chunks(chunk_rows, native=True):  # 1e39 is finite in float64
            bad = ~np.isfinite(block)
            if self.kind == "log_probs":
                bad &= ~np.isneginf(block)  # log(0) is a legal log-probability
            if bad.any():
                row = start + int(np.flatnonzero(bad.any(axis=1))[0])
                raise InputDataError(
                    f"The {name} outputs contain NaN or inf (first at row {row}).",
                    tip="Check the model export and the input preprocessing.",
                )


def _read_block(
    shard: np.ndarray, start: int, stop: int, dtype: type | None = np.float32
) -> np.ndarray:
    filename = getattr(shard, "filename", None)
    # only a whole-file map (its base is the mmap itself) has a trustworthy .offset; views inherit it
    if (
        isinstance(shard, np.memmap)
        and filename
        and isinstance(shard.base, mmap.mmap)
        and shard.flags.c_contiguous
    ):
        row_bytes = shard.dtype.itemsize * int(shard.shape[1])
        block = np.memmap(
            filename,
            dtype=shard.dtype,
            mode="r",
            offset=shard.offset + start * row_bytes,
            shape=(stop - start, int(shard.shape[1])),
        )
        out = np.array(block, dtype=dtype)
        del block  # unmaps: those pages no longer count against this process
        return out
    return np.asarray(shard[start:stop], dtype=dtype)


def softmax(logits: np.ndarray) -> np.ndarray:
    z = np.asarray(logits, dtype=np.float64)
    z = z - z.max(axis=1, keepdims=True)
    np.exp(z, out=z)
    z /= z.sum(axis=1, keepdims=True)
    return z
