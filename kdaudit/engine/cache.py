"""The on-disk logit cache.

Layout::

    <root>/<key>/manifest.json
    <root>/<key>/shard-00000.npy      rows [0, shard_rows)
    <root>/<key>/shard-00001.npy      rows [shard_rows, 2 * shard_rows)
    ...

``key`` is the sha256 of (model identity: file-bytes hash, format, arch,
preprocessing, outputs; dataset fingerprint; device type; precision; cache
schema version). Each shard is a float32 ``.npy`` of shape ``(rows, n_classes)``.

Writing: a shard is filled in a temp file in the entry folder (batch by
batch, through a memory map, so memory stays bounded), flushed and fsync'd,
hashed, then moved into place with ``os.replace`` and recorded in the
manifest, which is itself replaced atomically. The replace + manifest update
runs under an advisory ``flock`` on ``<key>/.lock``, so two processes writing
the same entry serialise there and the manifest always describes the file on
disk; readers take no lock (replaced files are never seen half-written).

Verification on read: always the cheap checks (file size equals the manifest's,
the ``.npy`` header gives dtype float32 and shape ``(rows, n_classes)``), plus
the full sha256 of every shard while the entry is at most ``verify_bytes``
(1 GiB by default: hashing runs at about 1 GB/s, a small cost next to the
inference that produced the shard, and it catches same-size corruption).
Larger entries get the full hash from :meth:`LogitCache.verify`
(``kdaudit cache verify``). A shard failing a check is deleted and
recomputed, with a :class:`~kdaudit.errors.KDAuditWarning`.

Finished shards survive an interrupted run: the next run computes only the
missing ones.
"""

from __future__ import annotations

import contextlib
import hashlib
import itertools
import json
import os
import re
import shutil
import stat
import sys
import tempfile
import time
import warnings
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import numpy.typing as npt

from kdaudit._clock import utc_now
from kdaudit.arrays import LogitArray
from kdaudit.errors import CacheError, InputDataError, KDAuditError, KDAuditWarning, UsageError
from kdaudit.hashing import file_sha256

__all__ = [
    "CACHE_SCHEMA_VERSION",
    "DEFAULT_SHARD_ROWS",
    "DEFAULT_VERIFY_BYTES",
    "MANIFEST",
    "MAX_MANIFEST_BYTES",
    "SHARD_DTYPE",
    "STALE_TEMP_S",
    "LogitCache",
    "ShardWriter",
    "SidecarShardWriter",
    "checked_sidecar",
    "dataset_fingerprint",
    "default_cache_dir",
    "open_entry_dir",
    "shard_name",
    "sidecar_name",
    "sidecar_shard_writer",
    "write_manifest_from_sidecars",
]

if TYPE_CHECKING:
    from kdaudit.data.dataset import Dataset
    from kdaudit.models.base import ModelAdapter

CACHE_SCHEMA_VERSION = 1
MANIFEST = "manifest.json"
SHARD_DTYPE = np.dtype("<f4")
DEFAULT_SHARD_ROWS = 65536
DEFAULT_VERIFY_BYTES = 1 << 30
#: temp files untouched this long belong to killed writers
STALE_TEMP_S = 24 * 3600.0
_KEY_RE = re.compile(r"^[0-9a-f]{64}$")
#: a manifest lists one small record per shard; anything bigger is not ours
MAX_MANIFEST_BYTES = 64 << 20


def default_cache_dir() -> Path:
    """``$KDAUDIT_CACHE_DIR`` if set, else the platform's user cache directory.

    That is ``$XDG_CACHE_HOME/kdaudit`` (``~/.cache/kdaudit`` when unset) on Linux,
    ``~/Library/Caches/kdaudit`` on macOS and ``%LOCALAPPDATA%\\kdaudit\\Cache`` on
    Windows, as :func:`platformdirs.user_cache_path` defines them.
    """
    env = os.environ.get("KDAUDIT_CACHE_DIR")
    if env:
        return Path(env).expanduser()
    import platformdirs

    return platformdirs.user_cache_path("kdaudit", appauthor=False)


def shard_name(index: int) -> str:
    return f"shard-{index:05d}.npy"


def _fsync_dir(path: Path) -> None:
    if sys.platform.startswith("win"):
        return
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def _atomic_write_bytes(path: Path, data: bytes) -> None:
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
    _fsync_dir(path.parent)


@contextlib.contextmanager
def _locked(entry: Path) -> Iterator[None]:
    """An exclusive advisory lock on ``entry/.lock`` (a no-op where flock does not exist)."""
    try:
        import fcntl
    except ImportError:  # Windows: atomic replaces still keep files whole
        yield
        return
    flags = os.O_RDWR | os.O_CREAT | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_NONBLOCK", 0)
    fd = os.open(entry / ".lock", flags, 0o644)  # never follows a planted symlink, never blocks
    try:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            raise OSError(f"{entry / '.lock'} is not a regular file")
        fcntl.flock(fd, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fd, fcntl.LOCK_UN)
    finally:
        os.close(fd)


class ShardWriter:
    """Fills one shard batch by batch; see :meth:`LogitCache.shard_writer`."""

    def __init__(self, cache: LogitCache, key: str, index: int, rows: int) -> None:
        self.cache, self.key, self.index, self.rows = cache, key, index, rows
        self.entry = cache.entry_dir(key)
        self.tmp: Path | None = None
        self._mm: np.memmap | None = None
        self.filled = 0

    def write(self, offset: int, block: np.ndarray) -> None:
        """Write ``block`` (shape (batch, n_classes)) at row ``offset`` of the shard."""
        block = np.asarray(block, dtype=SHARD_DTYPE)
        if self._mm is None:
            fd, name = tempfile.mkstemp(
                dir=self.entry, prefix=f".{shard_name(self.index)}.", suffix=".tmp"
            )
            os.close(fd)
            self.tmp = Path(name)
            self._mm = np.lib.format.open_memmap(
                self.tmp, mode="w+", dtype=SHARD_DTYPE, shape=(self.rows, int(block.shape[1]))
            )
        if block.shape[1] != self._mm.shape[1]:
            raise ValueError(
                f"n_classes changed within a shard: {block.shape[1]} vs {self._mm.shape[1]}"
            )
        self._mm[offset : offset + block.shape[0]] = block
        self.filled += int(block.shape[0])

    def _seal(self) -> tuple[Path, dict[str, Any]]:
        """Flush and fsync the filled temp file; return it with its shard record."""
        if self._mm is None or self.tmp is None:
            raise ValueError("empty shard")
        if self.filled != self.rows:
            raise ValueError(f"shard {self.index} got {self.filled} rows; expected {self.rows}")
        n_classes = int(self._mm.shape[1])
        self._mm.flush()
        self._mm = None  # unmap before hashing/replacing (needed on Windows)
        with open(self.tmp, "r+b") as fh:
            os.fsync(fh.fileno())
        record = {
            "file": shard_name(self.index),
            "rows": self.rows,
            "n_classes": n_classes,
            "dtype": SHARD_DTYPE.str,
            "size": self.tmp.stat().st_size,
            "sha256": file_sha256(self.tmp, role="cache shard"),
            "created": utc_now(),
        }
        return self.tmp, record

    def _commit(self) -> Path:
        tmp, record = self._seal()
        n_classes = record["n_classes"]
        final = self.entry / shard_name(self.index)
        with _locked(self.entry):
            manifest = self.cache.read_manifest(self.key)
            if manifest is None:
                raise CacheError(
                    f"The cache entry {self.entry} lost its manifest while being written."
                )
            os.replace(tmp, final)
            self.tmp = None
            _fsync_dir(self.entry)
            manifest["shards"][str(self.index)] = record
            manifest["n_classes"] = manifest.get("n_classes") or n_classes
            manifest["complete"] = len(manifest["shards"]) == manifest["n_shards"]
            manifest["updated"] = utc_now()
            self.cache._write_manifest(self.key, manifest)
        return final

    def _abort(self) -> None:
        self._mm = None
        if self.tmp is not None:
            with contextlib.suppress(OSError):
                os.unlink(self.tmp)
            self.tmp = None


class LogitCache:
    """Row-sharded logits on disk, keyed by what determines them.

    Parameters
    ----------
    root : Path
        Cache folder (created on first write).
    shard_rows : int
        Rows per shard file; shard ``i`` holds rows ``[i * shard_rows, (i + 1) * shard_rows)``.
    verify_bytes : int
        Entries up to this size get every shard's sha256 checked on each read
        (larger ones: size and header only; full check with :meth:`verify`).
    """

    def __init__(
        self,
        root: str | Path,
        *,
        shard_rows: int = DEFAULT_SHARD_ROWS,
        verify_bytes: int = DEFAULT_VERIFY_BYTES,
    ) -> None:
        if int(shard_rows) <= 0:
            raise UsageError(f"shard_rows must be positive; got {shard_rows}.")
        self.root = Path(root).expanduser()
        self.shard_rows = int(shard_rows)
        self.verify_bytes = int(verify_bytes)

    def __repr__(self) -> str:
        return f"LogitCache({str(self.root)!r}, shard_rows={self.shard_rows})"

    # ------------------------------------------------------------------ keys and layout
    def key(
        self, model: ModelAdapter, dataset: Dataset, *, device_type: str, precision: str = "fp32"
    ) -> str:
        """sha256 of everything that determines the logits of ``model`` on ``dataset``."""
        payload = {
            "schema": CACHE_SCHEMA_VERSION,
            "model": model.identity(),
            "data": dataset_fingerprint(dataset),
            "device_type": device_type,
            "precision": precision,
        }
        text = json.dumps(payload, sort_keys=True, default=str, separators=(",", ":"))
        return hashlib.sha256(text.encode()).hexdigest()

    def entry_dir(self, key: str) -> Path:
        return self.root / key

    def n_shards(self, n_samples: int) -> int:
        return max(1, -(-int(n_samples) // self.shard_rows))

    def shard_range(self, index: int, n_samples: int) -> tuple[int, int]:
        """Rows ``[start, stop)`` of shard ``index``."""
        start = index * self.shard_rows
        return start, min(start + self.shard_rows, int(n_samples))

    def shard_path(self, key: str, index: int) -> Path:
        return self.entry_dir(key) / shard_name(index)

    # ------------------------------------------------------------------ manifest
    def read_manifest(self, key: str) -> dict[str, Any] | None:
        """The entry's manifest, or None when absent or damaged (see :meth:`manifest_problem`)."""
        manifest, _ = self._read_manifest(key)
        return manifest

    def manifest_problem(self, key: str) -> str | None:
        """What is wrong with the entry's manifest ("missing", "not JSON"...), or None if valid."""
        return self._read_manifest(key)[1]

    def _read_manifest(self, key: str) -> tuple[dict[str, Any] | None, str | None]:
        """(manifest, None) when valid, else (None, what is wrong).

        Only a regular file (no symlink, FIFO or device) of valid JSON matching the
        cache-manifest schema (kdaudit/schemas/cache_manifest.json) for this very key counts.
        """
        from kdaudit.safety import check_depth
        from kdaudit.validation import problems

        path = self.entry_dir(key) / MANIFEST
        try:
            st = os.lstat(path)
        except FileNotFoundError:
            return None, "manifest missing"
        except OSError as exc:
            return None, f"manifest unreadable ({exc.strerror or exc})"
        if not stat.S_ISREG(st.st_mode):
            return None, "manifest is not a regular file"
        if st.st_size > MAX_MANIFEST_BYTES:
            return None, f"manifest is {st.st_size} bytes (a kdaudit manifest is far smaller)"
        try:
            fd = os.open(
                path, os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_NONBLOCK", 0)
            )
            with os.fdopen(fd, "rb") as fh:
                text = fh.read(MAX_MANIFEST_BYTES + 1).decode("utf-8")
            check_depth(text, "manifest")
            data = json.loads(text)
        except (OSError, ValueError, KDAuditError, RecursionError) as exc:
            return None, f"manifest is not valid JSON ({str(exc)[:80]})"
        found = problems(data, "cache_manifest")
        if found:
            return None, f"manifest does not match the cache schema ({found[0]})"
        if data["key"] != key:
            return None, "manifest belongs to another entry (key mismatch)"
        n, rows_per, n_shards = data["n_samples"], data["shard_rows"], data["n_shards"]
        if "row_bounds" in data:  # a sharded entry (kdaudit infer --shards): uneven shards
            bounds = [tuple(b) for b in data["row_bounds"]]
            contiguous = all(a[1] == b[0] for a, b in itertools.pairwise(bounds))
            if (
                len(bounds) != n_shards
                or bounds[0][0] != 0
                or bounds[-1][1] != n
                or not contiguous
                or any(stop <= start for start, stop in bounds)
                or rows_per != max(stop - start for start, stop in bounds)
            ):
                return None, f"manifest's row_bounds do not cut {n} rows into {n_shards} shards"
            sizes = [stop - start for start, stop in bounds]
        elif n_shards != max(1, -(-n // rows_per)):
            return None, f"manifest says {n_shards} shards for {n} rows of {rows_per}"
        else:
            sizes = [min(rows_per, n - i * rows_per) for i in range(n_shards)]
        for idx, record in data["shards"].items():
            i = int(idx)
            if i >= n_shards or record["rows"] != sizes[i] or record["file"] != shard_name(i):
                return None, f"manifest record of shard {idx} does not fit the entry"
        return data, None

    def _write_manifest(self, key: str, manifest: dict[str, Any]) -> None:
        text = json.dumps(manifest, indent=1, sort_keys=True)
        _atomic_write_bytes(self.entry_dir(key) / MANIFEST, text.encode("utf-8"))

    def begin(
        self, key: str, *, n_samples: int, meta: dict[str, Any] | None = None
    ) -> dict[str, Any]:
        """Open (or create) an entry for ``n_samples`` rows; returns its manifest.

        An existing manifest from another schema, shard size or row count is
        replaced (its shards are deleted). Raises :class:`CacheError` when the
        cache folder cannot be written.
        """
        entry = self.entry_dir(key)
        try:
            entry.mkdir(parents=True, exist_ok=True)
            with _locked(entry):
                manifest, problem = self._read_manifest(key)
                if problem is not None and problem != "manifest missing":
                    warnings.warn(
                        f"Logit cache entry {entry} has a damaged manifest ({problem}); "
                        "its logits are recomputed.",
                        KDAuditWarning,
                        stacklevel=3,
                    )
                    for old in entry.glob("shard-*.npy"):
                        with contextlib.suppress(OSError):
                            old.unlink()
                    with contextlib.suppress(OSError):
                        (entry / MANIFEST).unlink()
                if manifest is not None and (
                    manifest.get("schema_version") != CACHE_SCHEMA_VERSION
                    or manifest.get("shard_rows") != self.shard_rows
                    or manifest.get("n_samples") != int(n_samples)
                ):
                    for old in entry.glob("shard-*.npy"):
                        old.unlink()
                    manifest = None
                _remove_stale_temp_files(entry)
                if manifest is None:
                    manifest = {
                        "schema_version": CACHE_SCHEMA_VERSION,
                        "key": key,
                        "created": utc_now(),
                        "updated": utc_now(),
                        "n_samples": int(n_samples),
                        "n_classes": None,
                        "dtype": SHARD_DTYPE.str,
                        "shard_rows": self.shard_rows,
                        "n_shards": self.n_shards(n_samples),
                        "complete": False,
                        "shards": {},
                        **(meta or {}),
                    }
                    self._write_manifest(key, manifest)
        except OSError as exc:
            raise CacheError(
                f"The logit cache folder {str(self.root)!r} is not usable: {exc.strerror or exc}.",
                tip="Pass a writable --cache-dir (or set KDAUDIT_CACHE_DIR), or use --no-cache.",
            ) from exc
        return manifest

    # ------------------------------------------------------------------ shards
    @contextlib.contextmanager
    def shard_writer(self, key: str, index: int, rows: int) -> Iterator[ShardWriter]:
        """Context manager filling shard ``index`` (``rows`` rows); commits on success.

        On an exception the temp file is removed and nothing is recorded.
        """
        writer = ShardWriter(self, key, index, rows)
        try:
            yield writer
            writer._commit()
        except OSError as exc:
            writer._abort()
            raise CacheError(
                f"Could not write to the logit cache {str(self.root)!r}: {exc.strerror or exc}.",
                tip="Check free space and permissions, pass another --cache-dir, or use --no-cache.",
            ) from exc
        except BaseException:
            writer._abort()
            raise

    def _check_shard(self, path: Path, record: dict[str, Any], *, full: bool) -> np.ndarray | str:
        """The memory-mapped shard, or a string saying what is wrong with it."""
        try:
            st = os.lstat(path)
        except OSError:
            return "missing"
        if not stat.S_ISREG(st.st_mode):  # a planted symlink or FIFO is never read
            return "not a regular file"
        size = st.st_size
        if size != record.get("size"):
            return f"size {size} bytes, manifest says {record.get('size')}"
        try:
            arr = np.load(path, mmap_mode="r", allow_pickle=False)
        except (ValueError, OSError, EOFError) as exc:
            return f"unreadable ({exc})"
        if arr.dtype != SHARD_DTYPE or arr.shape != (record.get("rows"), record.get("n_classes")):
            return (
                f"dtype/shape {arr.dtype}{arr.shape}, manifest says "
                f"float32({record.get('rows')}, {record.get('n_classes')})"
            )
        if full:
            try:
                digest = file_sha256(path, role="cache shard")
            except InputDataError as exc:  # replaced by a FIFO or removed since the lstat
                return f"unreadable ({exc})"
            if digest != record.get("sha256"):
                return "sha256 mismatch"
        return arr

    def _full_check(self, manifest: dict[str, Any]) -> bool:
        total = sum(int(r.get("size", 0)) for r in manifest["shards"].values())
        return total <= self.verify_bytes

    def load_shard(
        self,
        key: str,
        index: int,
        *,
        manifest: dict[str, Any] | None = None,
        full: bool | None = None,
    ) -> np.ndarray | None:
        """Shard ``index`` memory-mapped and verified, or None when it is not finished.

        A shard failing verification is deleted (with a warning) and None returned,
        so the caller recomputes it.
        """
        manifest = manifest if manifest is not None else self.read_manifest(key)
        if manifest is None:
            return None
        record = manifest["shards"].get(str(index))
        if record is None:
            return None
        path = self.shard_path(key, index)
        result = self._check_shard(
            path, record, full=self._full_check(manifest) if full is None else full
        )
        if isinstance(result, np.ndarray):
            return result
        warnings.warn(
            f"Logit cache shard {path} is corrupt or truncated ({result}); recomputing it.",
            KDAuditWarning,
            stacklevel=2,
        )
        self._drop_shard(key, index, record)
        return None

    def _drop_shard(self, key: str, index: int, record: dict[str, Any]) -> None:
        entry = self.entry_dir(key)
        try:
            with _locked(entry):
                manifest = self.read_manifest(key)
                # another process may have rewritten the shard meanwhile: drop only what we checked
                if manifest is not None and manifest["shards"].get(str(index)) == record:
                    del manifest["shards"][str(index)]
                    manifest["complete"] = False
                    manifest["updated"] = utc_now()
                    self._write_manifest(key, manifest)
                    with contextlib.suppress(OSError):
                        self.shard_path(key, index).unlink()
        except OSError as exc:
            raise CacheError(f"Could not repair the logit cache entry {entry}: {exc}.") from exc

    def load(self, key: str) -> LogitArray | None:
        """The whole entry as a :class:`LogitArray` of memory-mapped shards, if complete and valid."""
        manifest = self.read_manifest(key)
        if manifest is None or not manifest.get("complete"):
            return None
        full = self._full_check(manifest)
        shards = []
        for i in range(int(manifest["n_shards"])):
            arr = self.load_shard(key, i, manifest=manifest, full=full)
            if arr is None:
                return None
            shards.append(arr)
        return LogitArray(shards, kind=manifest.get("kind", "logits"))

    # ------------------------------------------------------------------ housekeeping
    def _entry_dirs(self) -> list[Path]:
        """Folders named like a key (real folders: symlinks are never followed)."""
        if not self.root.is_dir():
            return []
        try:
            return sorted(
                p
                for p in self.root.iterdir()
                if _KEY_RE.match(p.name) and p.is_dir() and not p.is_symlink()
            )
        except OSError as exc:
            raise CacheError(
                f"Cannot list the logit cache {str(self.root)!r}: {exc.strerror or exc}.",
                tip="Check the folder's permissions, or pass another --cache-dir.",
            ) from exc

    @staticmethod
    def _entry_size(entry: Path) -> int:
        size = 0
        with contextlib.suppress(OSError):
            for f in entry.iterdir():
                with contextlib.suppress(OSError):
                    st = os.lstat(f)
                    if stat.S_ISREG(st.st_mode):
                        size += st.st_size
        return size

    def _workers_only(self, entry: Path, problem: str | None) -> bool:
        """An entry that sharded workers wrote (shards and sidecars) and no driver has
        finalized yet: a valid partial entry, not a damaged one (docs/scale.md)."""
        if problem != "manifest missing":
            return False
        with contextlib.suppress(OSError):
            return any(f.is_file() for f in entry.glob("shard-*.json"))
        return False

    def entries(self) -> list[dict[str, Any]]:
        """One summary per entry (for ``kdaudit cache ls``), oldest first.

        Keys: key, path, model_path, model_format, data_path, device_type,
        n_samples (also as ``rows``), n_classes, n_shards, shards_done, complete,
        status ("complete" or "partial"), size_bytes, created.
        """
        out = []
        for entry in self._entry_dirs():
            manifest, problem = self._read_manifest(entry.name)
            manifest = manifest or {}
            size = self._entry_size(entry)
            workers = self._workers_only(entry, problem)
            if (
                workers
            ):  # sidecars only: the driver (`kdaudit infer ... --shards all/N`) finishes it
                problem = None
            model = manifest.get("model", {}) or {}
            data = manifest.get("data", {}) or {}
            out.append(
                {
                    "key": entry.name,
                    "path": str(entry),
                    "model_path": model.get("path"),
                    "model_format": model.get("format"),
                    "data_path": data.get("path"),
                    "device_type": manifest.get("device_type"),
                    "n_samples": manifest.get("n_samples"),
                    "n_classes": manifest.get("n_classes"),
                    "n_shards": manifest.get("n_shards"),
                    "shards_done": len(manifest.get("shards", {})),
                    "complete": bool(manifest.get("complete", False)),
                    "status": (
                        "damaged"
                        if problem
                        else "partial (workers; no manifest until the driver runs)"
                        if workers
                        else "complete"
                        if manifest.get("complete")
                        else "partial"
                    ),
                    "problem": problem,
                    "rows": manifest.get("n_samples"),
                    "size_bytes": size,
                    "created": manifest.get("created"),
                }
            )
        return sorted(out, key=lambda e: (e["created"] or "", e["key"]))

    def clear(self) -> int:
        """Delete every entry kdaudit made; returns how many.

        Only ``<64 hex>`` folders holding a valid kdaudit manifest for their own key are
        removed; anything else (a foreign folder, a damaged entry) is left in place with a
        warning, since the cache owns only what it made.
        """
        removed = 0
        for entry in self._entry_dirs():
            problem = self.manifest_problem(entry.name)
            if self._workers_only(entry, problem):
                warnings.warn(
                    f"Left {entry} in place: sharded workers' output without a manifest yet "
                    "(the driver, `kdaudit infer ... --shards all/N`, writes it); delete it "
                    "yourself if it is no longer needed.",
                    KDAuditWarning,
                    stacklevel=2,
                )
                continue
            if problem is not None:
                warnings.warn(
                    f"Left {entry} in place: not a valid kdaudit cache entry ({problem}); "
                    "delete it yourself if it is yours.",
                    KDAuditWarning,
                    stacklevel=2,
                )
                continue
            try:
                shutil.rmtree(entry)
            except OSError as exc:
                raise CacheError(
                    f"Could not delete cache entry {entry}: {exc.strerror or exc}."
                ) from exc
            removed += 1
        return removed

    def verify(self, key: str | None = None) -> list[str]:
        """Check every shard's sha256 (all entries, or one); returns one line per problem.

        Bad shards are dropped from their entry so that the next run recomputes them.
        """
        problems = []
        keys = [key] if key is not None else [p.name for p in self._entry_dirs()]
        for k in keys:
            manifest, problem = self._read_manifest(k)
            if manifest is None and self._workers_only(self.entry_dir(k), problem):
                continue  # workers' shards awaiting their driver: checked when it runs
            if manifest is None:
                problems.append(f"{k}: damaged entry: {problem}; it is recomputed when next used")
                continue
            for idx, record in sorted(manifest["shards"].items(), key=lambda kv: int(kv[0])):
                result = self._check_shard(self.shard_path(k, int(idx)), record, full=True)
                if not isinstance(result, np.ndarray):
                    problems.append(f"{k}/{shard_name(int(idx))}: {result}")
                    self._drop_shard(k, int(idx), record)
        return problems


def _remove_stale_temp_files(entry: Path, *, older_than_s: float = STALE_TEMP_S) -> None:
    """Delete temp files left by killed writers (live writers' files are younger)."""
    now = time.time()
    for tmp in entry.glob(".*.tmp"):
        with contextlib.suppress(OSError):
            if now - tmp.stat().st_mtime > older_than_s:
                tmp.unlink()


def dataset_fingerprint(dataset: Dataset) -> str:
    """The dataset's fingerprint; for in-memory datasets without one, a hash of its arrays."""
    if dataset.fingerprint:
        return dataset.fingerprint
    if dataset.sha256:
        return dataset.sha256
    from kdaudit.hashing import arrays_sha256

    arrays: dict[str, npt.ArrayLike] = {"y": dataset.y_true}
    if isinstance(dataset.x, dict):
        arrays.update({f"x_{k}": v for k, v in dataset.x.items()})
    elif dataset.x is not None:
        arrays["x"] = dataset.x
    return arrays_sha256(arrays)


# --------------------------------------------------------------------------- distributed writers
# Workers on shared storage never touch the manifest: each finished shard gets a small
# sidecar record beside it (``shard-00003.json``), and only the driver, after checking
# every sidecar against its shard, writes the entry's manifest (no lock needed).


def sidecar_name(index: int) -> str:
    return f"shard-{index:05d}.json"


class SidecarShardWriter(ShardWriter):
    """A :class:`ShardWriter` that commits to a sidecar record instead of the manifest."""

    def __init__(
        self, cache: LogitCache, key: str, index: int, rows: int, extra: dict[str, Any]
    ) -> None:
        super().__init__(cache, key, index, rows)
        self.extra = dict(extra)

    def _commit(self) -> Path:
        tmp, sealed = self._seal()
        record = {**self.extra, **sealed}
        sidecar = self.entry / sidecar_name(self.index)
        with contextlib.suppress(FileNotFoundError):
            sidecar.unlink()  # a stale record must never describe the new file
        final = self.entry / shard_name(self.index)
        os.replace(tmp, final)
        self.tmp = None
        _atomic_write_bytes(sidecar, json.dumps(record, indent=1, sort_keys=True).encode("utf-8"))
        return final


def open_entry_dir(cache: LogitCache, key: str) -> Path:
    """Create the entry folder (no manifest); CacheError when the cache is not writable."""
    entry = cache.entry_dir(key)
    try:
        entry.mkdir(parents=True, exist_ok=True)
        _remove_stale_temp_files(entry)
    except OSError as exc:
        raise CacheError(
            f"The logit cache folder {str(cache.root)!r} is not usable: {exc.strerror or exc}.",
            tip="Pass a writable --cache-dir (or set KDAUDIT_CACHE_DIR).",
        ) from exc
    return entry


@contextlib.contextmanager
def sidecar_shard_writer(
    cache: LogitCache, key: str, index: int, rows: int, extra: dict[str, Any]
) -> Iterator[SidecarShardWriter]:
    """Fill shard ``index`` of entry ``key`` and record it in its sidecar (not the manifest)."""
    writer = SidecarShardWriter(cache, key, index, rows, extra)
    try:
        yield writer
        writer._commit()
    except OSError as exc:
        writer._abort()
        raise CacheError(
            f"Could not write to the logit cache {str(cache.root)!r}: {exc.strerror or exc}.",
            tip="Check free space and permissions, or pass another --cache-dir.",
        ) from exc
    except BaseException:
        writer._abort()
        raise


def checked_sidecar(
    cache: LogitCache, key: str, index: int, *, expect: dict[str, Any]
) -> dict[str, Any] | None:
    """The sidecar record of shard ``index`` when it and its shard are whole, else None.

    ``expect`` holds fields the record must carry (rows, start, stop, ...). The shard's
    sha256 is always checked. A damaged shard (or a record that does not match) is
    deleted with a warning, so the caller recomputes it.
    """
    entry = cache.entry_dir(key)
    sidecar = entry / sidecar_name(index)
    try:
        record = json.loads(sidecar.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return None
    except (OSError, ValueError):
        record = None
    problem = None
    if not isinstance(record, dict):
        problem = "unreadable sidecar record"
    else:
        wrong = [k for k, v in expect.items() if record.get(k) != v]
        if wrong:
            problem = f"sidecar disagrees on {', '.join(wrong)}"
        else:
            result = cache._check_shard(entry / shard_name(index), record, full=True)
            if not isinstance(result, np.ndarray):
                problem = result
    if problem is None:
        return record
    warnings.warn(
        f"Logit cache shard {entry / shard_name(index)} is damaged ({problem}); recomputing it.",
        KDAuditWarning,
        stacklevel=2,
    )
    for f in (sidecar, entry / shard_name(index)):
        with contextlib.suppress(OSError):
            f.unlink()
    return None


def write_manifest_from_sidecars(
    cache: LogitCache,
    key: str,
    records: dict[int, dict[str, Any]],
    *,
    n_shards: int,
    meta: dict[str, Any],
    row_bounds: Sequence[tuple[int, int]] | None = None,
) -> dict[str, Any]:
    """The driver's step: the entry's manifest from checked sidecar records (atomic replace).

    Shards are uneven (``row_bounds``: ``[start, stop)`` of every shard, from the data's
    layout, or from the records when every shard has one), so ``shard_rows`` is the
    largest shard's rows. The manifest is a valid cache manifest (schema
    ``cache_manifest``) also while shards are missing.
    """
    shards = {
        str(i): {
            k: records[i][k]
            for k in ("file", "rows", "n_classes", "dtype", "size", "sha256", "created")
        }
        for i in sorted(records)
    }
    classes = {int(r["n_classes"]) for r in records.values()}
    if len(classes) > 1:
        raise CacheError(
            f"The shards of cache entry {key[:12]} disagree on n_classes: {sorted(classes)}.",
            tip="Delete the entry (kdaudit cache clear) and recompute it.",
        )
    old = cache.read_manifest(key) or {}
    if row_bounds is None:
        if sorted(records) != list(range(n_shards)):
            raise CacheError(
                f"Cache entry {key[:12]}: the rows of missing shards are unknown.",
                tip="Pass the data's row_bounds.",
            )
        row_bounds = [(records[i]["start"], records[i]["stop"]) for i in range(n_shards)]
    bounds = [[int(a), int(b)] for a, b in row_bounds]
    if len(bounds) != n_shards or any(
        [int(r["start"]), int(r["stop"])] != bounds[i] for i, r in records.items()
    ):
        raise CacheError(
            f"The shard records of cache entry {key[:12]} disagree with its row layout.",
            tip="Delete the entry (kdaudit cache clear) and recompute it.",
        )
    manifest = {
        "schema_version": CACHE_SCHEMA_VERSION,
        "key": key,
        "created": old.get("created", utc_now()),
        "updated": utc_now(),
        "n_samples": bounds[-1][1],
        "n_classes": classes.pop() if classes else None,
        "dtype": SHARD_DTYPE.str,
        "shard_rows": max(b - a for a, b in bounds),
        "row_bounds": bounds,
        "n_shards": int(n_shards),
        "complete": len(records) == n_shards,
        "shards": shards,
        **meta,
    }
    try:
        cache._write_manifest(key, manifest)
    except OSError as exc:
        raise CacheError(f"Could not write the manifest of cache entry {key[:12]}: {exc}.") from exc
    return manifest
