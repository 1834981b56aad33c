"""Compatibility path: :class:`LogitArray` lives in :mod:`kdaudit.arrays` (below the models).

Import it from there; this name is kept for code written against ``kdaudit.engine.logits``.
"""

from kdaudit.arrays import DEFAULT_CHUNK_BYTES, DEFAULT_CHUNK_ROWS, LogitArray, softmax

__all__ = ["DEFAULT_CHUNK_BYTES", "DEFAULT_CHUNK_ROWS", "LogitArray", "softmax"]
