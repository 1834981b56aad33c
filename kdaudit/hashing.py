"""sha256 of files and of arrays: the one place kdaudit hashes content.

Datasets, model files, cache shards and stats files are all hashed here, so a file
named twice in one audit is read once (:func:`remembered_hashes`) and a FIFO or device
is refused, never read forever. Imports nothing from kdaudit but :mod:`kdaudit.safety`.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
from collections.abc import Iterator, Mapping
from pathlib import Path

import numpy as np
import numpy.typing as npt

from kdaudit.safety import open_regular

__all__ = ["arrays_sha256", "file_sha256", "remembered_hashes"]

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
