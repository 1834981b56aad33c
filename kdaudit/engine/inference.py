"""Batched inference: stored inputs -> model adapter -> a :class:`LogitArray`.

Batches stream from the dataset through the adapter (which preprocesses
them) into either an in-memory array or, with a :class:`LogitCache`, the
shard files of a cache entry, so memory stays bounded by one batch of inputs
plus one shard of outputs.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from kdaudit.arrays import LogitArray
from kdaudit.data.dataset import Dataset
from kdaudit.device import resolve_device
from kdaudit.engine.cache import LogitCache
from kdaudit.errors import InputDataError, UsageError
from kdaudit.models.base import ModelAdapter
from kdaudit.progress import progress_bar

__all__ = ["AUTO_BATCH_BYTES", "compute_logits", "default_batch_size", "infer_shard"]

#: automatic batch size: about this many bytes of (float32) input per batch ...
AUTO_BATCH_BYTES = 32 << 20
#: ... within these bounds
AUTO_BATCH_MIN, AUTO_BATCH_MAX = 1, 1024


def _sample_bytes(dataset: Dataset) -> int:
    x = dataset.x
    arrays = list(x.values()) if isinstance(x, dict) else [x] if x is not None else []
    total = 0
    for a in arrays:
        # preprocessing usually casts to float32: count at least 4 bytes per value
        total += int(np.prod(a.shape[1:], dtype=np.int64)) * max(4, a.dtype.itemsize)
    return max(total, 1)


def default_batch_size(model: ModelAdapter, dataset: Dataset) -> int:
    """Rows per batch when ``--batch-size`` is not given.

    About 32 MiB of (float32) input per batch, as a power of two between 1 and
    1024: 1024 rows of tabular data or 32x32x3 images, 32 rows of 224x224x3 images. A batch
    dimension fixed in the model (``fixed_batch`` > 1) rounds it to a multiple.
    """
    if model.default_batch:
        return int(model.default_batch)
    rows = AUTO_BATCH_BYTES // _sample_bytes(dataset)
    rows = int(min(max(rows, AUTO_BATCH_MIN), AUTO_BATCH_MAX))
    rows = 1 << (rows.bit_length() - 1)
    k = model.fixed_batch
    if k and k > 1:
        rows = max(k, rows // k * k)
    return rows


def _check_batch_size(batch_size: int | None) -> None:
    if batch_size is not None and (
        not isinstance(batch_size, (int, np.integer)) or batch_size <= 0
    ):
        raise UsageError(f"--batch-size must be a positive integer; got {batch_size!r}.")


def _batches(
    model: ModelAdapter, dataset: Dataset, start: int, stop: int, batch_size: int, name: str
) -> Any:
    """Yield ``(offset_from_start, logits_block)`` for rows ``[start, stop)``."""
    for lo in range(start, stop, batch_size):
        hi = min(lo + batch_size, stop)
        block = model.predict_batch(dataset.inputs(lo, hi))
        if block.shape[0] != hi - lo:
            raise InputDataError(
                f"The {name} returned {block.shape[0]} rows for a batch of {hi - lo}.",
            )
        bad = ~np.isfinite(block)
        if bad.any():
            row = lo + int(np.flatnonzero(bad.any(axis=1))[0])
            raise InputDataError(
                f"The {name} outputs contain NaN or inf (first at row {row}).",
                tip="Check the model export and the input preprocessing.",
            )
        yield lo - start, block


def _check_output(logits: LogitArray, dataset: Dataset, name: str) -> LogitArray:
    if logits.n_samples != dataset.n_samples:
        raise InputDataError(
            f"The {name} gives {logits.n_samples} rows of logits but the data has "
            f"{dataset.n_samples} rows.",
            tip="Logits files must hold one row per data row, in the same order.",
        )
    logits.check_finite(name)
    return logits


def _meta(model: ModelAdapter, dataset: Dataset) -> dict[str, Any]:
    return {
        "model": {
            "path": str(model.path),
            "sha256": model.sha256,
            "format": model.format,
            "arch": model.spec.arch,
            "outputs": model.spec.outputs,
            "preprocess": model.identity().get("preprocess"),
        },
        "data": {
            "path": dataset.path,
            "sha256": dataset.sha256,
            "fingerprint": dataset.fingerprint,
        },
        "device_type": model.device_type,
        "precision": model.precision,
        "kind": "log_probs" if model.spec.outputs == "probs" else "logits",
    }


def _cache_key(model: ModelAdapter, dataset: Dataset, cache: LogitCache) -> str:
    return cache.key(model, dataset, device_type=model.device_type, precision=model.precision)


def infer_shard(
    model: ModelAdapter,
    dataset: Dataset,
    cache: LogitCache,
    shard_index: int,
    *,
    batch_size: int | None = None,
    on_rows: Callable[[int], None] | None = None,
) -> Path:
    """Compute one cache shard (rows ``[i * shard_rows, (i + 1) * shard_rows)``) and store it.

    Independent of other shards, so shards can be spread over workers. A shard
    already finished and valid is not recomputed.

    Parameters
    ----------
    model : ModelAdapter
    dataset : Dataset
    cache : LogitCache
    shard_index : int
    batch_size : int, optional
        Rows per model call (default: :func:`default_batch_size`).
    on_rows : callable, optional
        Called with the number of rows after each batch (progress).

    Returns
    -------
    Path
        The shard file.
    """
    _check_batch_size(batch_size)
    if model.is_logits_file:
        raise UsageError(f"The {model.name} is a logits file; there is nothing to infer.")
    n = dataset.n_samples
    if not 0 <= shard_index < cache.n_shards(n):
        raise UsageError(f"Shard index {shard_index} is out of range (0..{cache.n_shards(n) - 1}).")
    dataset.inputs(0, 0)  # raises InputDataError when the data has no inputs
    key = _cache_key(model, dataset, cache)
    manifest = cache.begin(key, n_samples=n, meta=_meta(model, dataset))
    if cache.load_shard(key, shard_index, manifest=manifest) is not None:
        return cache.shard_path(key, shard_index)
    bs = model.block_rows(batch_size or default_batch_size(model, dataset))
    return _write_shard(model, dataset, cache, key, shard_index, bs, model.name, on_rows)


def _write_shard(
    model: ModelAdapter,
    dataset: Dataset,
    cache: LogitCache,
    key: str,
    index: int,
    batch_size: int,
    name: str,
    on_rows: Callable[[int], None] | None,
) -> Path:
    start, stop = cache.shard_range(index, dataset.n_samples)
    with cache.shard_writer(key, index, stop - start) as writer:
        for offset, block in _batches(model, dataset, start, stop, batch_size, name):
            writer.write(offset, block)
            if on_rows is not None:
                on_rows(block.shape[0])
    return cache.shard_path(key, index)


def compute_logits(
    model: ModelAdapter,
    dataset: Dataset,
    *,
    batch_size: int | None = None,
    device: str = "auto",
    cache: LogitCache | None = None,
    progress: bool = False,
    name: str = "model",
) -> LogitArray:
    """Logits of ``model`` on every row of ``dataset``.

    Parameters
    ----------
    model : ModelAdapter
        A loaded model (a logits file is returned as is, after checks).
    dataset : Dataset
        Evaluation data; ``dataset.x`` is needed unless ``model`` is a logits file.
    batch_size : int, optional
        Rows per model call; default from the input size (:func:`default_batch_size`).
    device : {"auto", "cpu", "cuda"}
        Checked against the device the model was loaded on (``load_model`` decides
        where it runs); ``cuda`` without a CUDA device raises UsageError.
    cache : LogitCache, optional
        Read finished shards from it and write new ones to it (None: no cache).
    progress : bool
        Show a progress bar (only when stderr is a terminal).
    name : str
        How messages name the model (e.g. its role).

    Returns
    -------
    LogitArray of shape (n_samples, n_classes)
        Float32 logits (or log-probabilities), memory-mapped when cached.

    Raises
    ------
    UsageError
        ``batch_size <= 0``; a device mismatch.
    InputDataError
        Wrong row count, NaN/inf outputs, no inputs in the data.
    CacheError
        The cache folder is not usable.
    """
    _check_batch_size(batch_size)
    # callers may pass a bare role ("teacher") or a full description naming the file
    label = (
        name
        if name and str(model.path) in name
        else f"{name or model.spec.role} model {str(model.path)!r}"
    )
    if device != "auto":
        wanted = resolve_device(device)
        if not model.is_logits_file and wanted != model.device_type:
            raise UsageError(
                f"The {label} was loaded on {model.device_type} but device {device!r} was requested.",
                tip="Pass the same device to load_model and compute_logits.",
            )
    if model.is_logits_file:
        return _check_output(model.logits(), dataset, label)
    n = dataset.n_samples
    dataset.inputs(0, 0)  # raises InputDataError when the data has no inputs
    # rows handed to the adapter at once (a text model sorts them by length inside)
    bs = model.block_rows(batch_size or default_batch_size(model, dataset))
    if cache is None:
        return _check_output(
            _compute_in_memory(model, dataset, bs, label, progress), dataset, label
        )

    key = _cache_key(model, dataset, cache)
    hit = cache.load(key)
    if hit is not None and hit.n_samples == n:
        return _check_output(hit, dataset, label)
    manifest = cache.begin(key, n_samples=n, meta=_meta(model, dataset))
    n_shards = cache.n_shards(n)
    shards: list[np.ndarray | None] = [
        cache.load_shard(key, i, manifest=manifest) for i in range(n_shards)
    ]
    done = sum(int(s.shape[0]) for s in shards if s is not None)
    with progress_bar(n, desc=name, enabled=progress, initial=done) as bar:
        for i, shard in enumerate(shards):
            if shard is None:
                _write_shard(model, dataset, cache, key, i, bs, label, bar.update)
    result = cache.load(key)
    if result is None:  # a concurrent writer replaced a shard between our write and read
        result = LogitArray(
            [
                np.load(cache.shard_path(key, i), mmap_mode="r", allow_pickle=False)
                for i in range(n_shards)
            ],
            kind=model.output_kind,
        )
    return _check_output(result, dataset, label)


def _compute_in_memory(
    model: ModelAdapter, dataset: Dataset, batch_size: int, label: str, progress: bool
) -> LogitArray:
    n = dataset.n_samples
    out: np.ndarray | None = None
    with progress_bar(n, desc=label, enabled=progress) as bar:
        for offset, block in _batches(model, dataset, 0, n, batch_size, label):
            if out is None:
                out = np.empty((n, block.shape[1]), dtype=np.float32)
            out[offset : offset + block.shape[0]] = block
            bar.update(block.shape[0])
    assert out is not None
    return LogitArray([out], kind=model.output_kind)
