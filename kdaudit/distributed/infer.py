"""``kdaudit infer``: logits of one model, shard by shard, into the logit cache.

Workers (``--shards I-J/N``) write ``shard-i.npy`` and its sidecar record
``shard-i.json`` (rows, dtype, sha256, row range, model and data identity) and never
touch the manifest. The driver (no ``--shards``) computes whatever is still missing
or damaged, checks every sidecar against its shard, and only then writes the
entry's manifest; so nothing needs a lock on shared or network storage, and a
re-run is the resume.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

import numpy as np

from kdaudit.distributed.sources import ShardSource
from kdaudit.engine.cache import (
    CACHE_SCHEMA_VERSION,
    LogitCache,
    checked_sidecar,
    open_entry_dir,
    shard_name,
    sidecar_shard_writer,
    write_manifest_from_sidecars,
)
from kdaudit.errors import InputDataError, UsageError
from kdaudit.hashing import remembered_hashes
from kdaudit.progress import progress_bar

__all__ = [
    "InferSummary",
    "ensure_shard",
    "entry_key",
    "finalize_entry",
    "load_adapter",
    "load_adapter_with_manifest",
    "prepare_infer",
    "run_infer",
    "shard_predictions",
]


def load_adapter(spec: Any, *, device: str = "auto") -> Any:
    """Load a model as ``compare`` does (the ``kdaudit train`` manifest beside it included)."""
    return load_adapter_with_manifest(spec, device=device)[0]


def load_adapter_with_manifest(
    spec: Any, *, device: str = "auto"
) -> tuple[Any, Any, dict[str, Any] | None]:
    """``(adapter, spec with manifest values, manifest or None)``."""
    from kdaudit.auditing.acquire import _with_manifest
    from kdaudit.models.loader import load_model

    spec, manifest = _with_manifest(spec)
    return load_model(spec, device=device), spec, manifest


def entry_key(adapter: Any, source: ShardSource) -> str:
    """The cache key of this model on this data *with this shard layout*.

    The layout is part of the key: an entry cut into 7 uneven shards never shares
    files with the 65,536-row layout of ``compare``'s own cache.
    """
    payload = {
        "schema": CACHE_SCHEMA_VERSION,
        "model": adapter.identity(),
        "data": source.fingerprint(),
        "device_type": adapter.device_type,
        "precision": adapter.precision,
        "row_bounds": source.layout_sha256(),
    }
    text = json.dumps(payload, sort_keys=True, default=str, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()


def _expect(source: ShardSource, key: str, index: int) -> dict[str, Any]:
    start, stop = source.bounds[index]
    return {
        "key": key,
        "index": index,
        "start": start,
        "stop": stop,
        "rows": stop - start,
        "n_shards": source.n_shards,
    }


def ensure_shard(
    adapter: Any,
    source: ShardSource,
    cache: LogitCache,
    key: str,
    index: int,
    *,
    batch_size: int | None = None,
    on_rows: Callable[[int], None] | None = None,
) -> Path:
    """Shard ``index`` of the entry, computed unless a whole one (sha256 checked) is there."""
    from kdaudit.engine.inference import _batches, default_batch_size

    expect = _expect(source, key, index)
    if checked_sidecar(cache, key, index, expect=expect) is not None:
        if on_rows is not None:
            on_rows(expect["rows"])
        return cache.shard_path(key, index)
    ds, lo, hi = source.shard(index)
    ds.inputs(0, 0)  # InputDataError when the data has no inputs
    bs = batch_size or default_batch_size(adapter, ds)
    extra = {**expect, "model_sha256": adapter.sha256, "data_fingerprint": source.fingerprint()}
    with sidecar_shard_writer(cache, key, index, hi - lo, extra) as writer:
        for offset, block in _batches(adapter, ds, lo, hi, bs, adapter.name):
            writer.write(offset, block)
            if on_rows is not None:
                on_rows(block.shape[0])
        writer.extra["kind"] = adapter.output_kind
    return cache.shard_path(key, index)


def _meta(adapter: Any, source: ShardSource) -> dict[str, Any]:
    return {
        "model": {
            "path": str(adapter.path),
            "sha256": adapter.sha256,
            "format": adapter.format,
            "arch": adapter.spec.arch,
            "outputs": adapter.spec.outputs,
            "preprocess": adapter.identity().get("preprocess"),
        },
        "data": {"path": source.path, "fingerprint": source.fingerprint()},
        "device_type": adapter.device_type,
        "precision": adapter.precision,
    }


@dataclasses.dataclass(frozen=True, slots=True, kw_only=True)
class InferSummary:
    key: str
    entry: str
    shards: list[int]
    complete: bool | None  # None: a worker run (no manifest written)


def run_infer(
    spec: Any,
    source: ShardSource,
    cache: LogitCache,
    *,
    shards: Iterable[int] | None = None,
    device: str = "auto",
    batch_size: int | None = None,
    progress: bool = False,
) -> InferSummary:
    """Worker (``shards`` given) or driver (``shards=None``: every shard, then the manifest).

    Raises
    ------
    UsageError
        The model is a logits file.
    InputDataError
        The data has no inputs; model outputs are NaN/inf or of the wrong length.
    CacheError
        The cache folder is not writable.
    """
    # the driver checks every shard's sha256 twice (before computing, then to finalize):
    # each unchanged file is read once per run
    with remembered_hashes():
        adapter, key = prepare_infer(spec, source, cache, device=device)
        entry = cache.entry_dir(key)
        indices = list(range(source.n_shards)) if shards is None else list(shards)
        total = sum(source.bounds[i][1] - source.bounds[i][0] for i in indices)
        desc = f"infer {Path(str(adapter.path)).name}"
        with progress_bar(total, desc=desc, enabled=progress) as bar:
            for i in indices:
                ensure_shard(
                    adapter, source, cache, key, i, batch_size=batch_size, on_rows=bar.update
                )
        if shards is not None:
            return InferSummary(key=key, entry=str(entry), shards=indices, complete=None)
        manifest = finalize_entry(adapter, source, cache, key)
    return InferSummary(
        key=key, entry=str(entry), shards=indices, complete=bool(manifest["complete"])
    )


def prepare_infer(
    spec: Any, source: ShardSource, cache: LogitCache, *, device: str = "auto"
) -> tuple[Any, str]:
    """Load the model once (what one worker or actor holds); ``(adapter, entry key)``."""
    adapter = load_adapter(spec, device=device)
    if adapter.is_logits_file:
        raise UsageError(
            f"The {adapter.name} is a logits file; there is nothing to infer.",
            tip="Pass a model (.onnx, .safetensors ...); logits files are read directly.",
        )
    key = entry_key(adapter, source)
    open_entry_dir(cache, key)
    return adapter, key


def finalize_entry(
    adapter: Any, source: ShardSource, cache: LogitCache, key: str
) -> dict[str, Any]:
    """The driver's step: check every sidecar against its shard, then write the manifest."""
    records = {}
    for i in range(source.n_shards):
        rec = checked_sidecar(cache, key, i, expect=_expect(source, key, i))
        if rec is not None:
            records[i] = rec
    kinds = {r.get("kind", "logits") for r in records.values()}
    meta = {**_meta(adapter, source), "kind": "log_probs" if "log_probs" in kinds else "logits"}
    return write_manifest_from_sidecars(
        cache, key, records, n_shards=source.n_shards, meta=meta, row_bounds=source.bounds
    )


def shard_predictions(
    adapter: Any,
    source: ShardSource,
    cache: LogitCache | None,
    key: str | None,
    index: int,
    *,
    batch_size: int | None = None,
    on_rows: Callable[[int], None] | None = None,
) -> tuple[np.ndarray, int]:
    """``(predicted class of every row of shard index, n_classes)``; inferred into the cache if needed."""
    start, stop = source.bounds[index]
    if adapter.is_logits_file:
        la = adapter.logits()
        if la.n_samples != source.n_samples:
            raise InputDataError(
                f"The {adapter.name} gives {la.n_samples} rows of logits but the data has "
                f"{source.n_samples} rows.",
                tip="Logits files must hold one row per data row, in the same order.",
            )
        out = np.empty(stop - start, dtype=np.int64)
        step = la.default_chunk_rows()
        for lo in range(start, stop, step):
            hi = min(lo + step, stop)
            block = la.rows(np.arange(lo, hi))
            bad = ~np.isfinite(block)
            if la.kind == "log_probs":
                bad &= ~np.isneginf(block)
            if bad.any():
                row = lo + int(np.flatnonzero(bad.any(axis=1))[0])
                raise InputDataError(
                    f"The {adapter.name} outputs contain NaN or inf (first at row {row})."
                )
            out[lo - start : hi - start] = block.argmax(axis=1)
        if on_rows is not None:
            on_rows(stop - start)
        return out, la.n_classes
    if cache is None or key is None:
        raise UsageError("Models that need inference need a --cache-dir for their shards.")
    path = ensure_shard(adapter, source, cache, key, index, batch_size=batch_size, on_rows=on_rows)
    arr = np.load(path, mmap_mode="r", allow_pickle=False)
    if arr.shape[0] != stop - start:
        raise InputDataError(
            f"Shard {shard_name(index)} of {adapter.name} has {arr.shape[0]} rows; "
            f"expected {stop - start}."
        )
    from kdaudit.arrays import LogitArray

    return LogitArray([arr]).predictions(), int(arr.shape[1])
