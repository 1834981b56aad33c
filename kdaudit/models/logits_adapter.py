"""Precomputed logits: ``.npy`` (memory-mapped) or ``.npz`` with an array ``logits``."""

from __future__ import annotations

import zipfile
from typing import Any

import numpy as np

from kdaudit.arrays import LogitArray
from kdaudit.data.dataset import load_arrays, open_npy
from kdaudit.errors import InputDataError, UsageError
from kdaudit.hashing import file_sha256
from kdaudit.models.base import (
    PROB_FLOOR,
    ModelAdapter,
    ModelSpec,
    looks_like_probs,
    probs_to_log_probs,
)

__all__ = ["LogitsFileAdapter"]


class LogitsFileAdapter(ModelAdapter):
    """A ``(n_samples, n_classes)`` matrix stored on disk.

    ``.npy`` files are opened with ``mmap_mode='r'`` (never fully read);
    ``.npz`` archives are read into memory (zip members cannot be mapped).
    Pickled (object) arrays are refused. With ``outputs = "probs"`` (or
    ``"auto"`` and a first block of probability rows) the values are converted
    to log-probabilities in memory.
    """

    is_logits_file = True

    def __init__(self, spec: ModelSpec) -> None:
        super().__init__(spec, format="logits", sha256=file_sha256(spec.path), device_type="cpu")
        self._array = self._open()
        n_samples, n_classes = self._array.shape
        if self.n_classes is not None and n_classes != self.n_classes:
            raise InputDataError(
                f"The {self.name} has {n_classes} classes; expected {self.n_classes}."
            )
        self.n_classes = int(n_classes)
        self.n_samples = int(n_samples)

    def _open(self) -> np.ndarray:
        path = self.spec.path
        try:
            if self.path.suffix.lower() == ".npz":
                arrays = load_arrays(path, f"{self.spec.role} logits file", names=["logits"])
                if "logits" not in arrays:
                    with zipfile.ZipFile(path) as zf:
                        found = sorted(n.removesuffix(".npy") for n in zf.namelist())
                    raise InputDataError(
                        f"The {self.name} (.npz) has no array named 'logits'; "
                        f"found {found or 'no arrays'}.",
                        tip="Save it with numpy.savez(path, logits=array).",
                    )
                arr = arrays["logits"]
            else:
                arr = open_npy(path, f"{self.spec.role} logits file")
        except InputDataError:
            raise
        except Exception as exc:  # numpy/zipfile parsers raise many types on damaged files
            raise InputDataError(
                f"Could not read the {self.name} as logits: {exc}.",
                tip="Write logits with numpy.save (.npy) or numpy.savez(path, logits=...); "
                "object arrays are not accepted.",
            ) from exc
        if not isinstance(arr, np.ndarray):
            raise InputDataError(  # pragma: no cover - np.load of .npy/.npz members gives arrays
                f"The {self.name} does not hold a single array of logits."
            )
        if arr.ndim != 2 or arr.shape[0] < 1 or arr.shape[1] < 2:
            raise InputDataError(
                f"Expected the {self.name} to hold logits of shape (n_samples, n_classes) with "
                f"n_classes >= 2; got shape {arr.shape}.",
                tip="A binary model's single logit z can be stored as two columns [-z/2, z/2].",
            )
        if arr.dtype.kind not in "fiu":
            raise InputDataError(f"The {self.name} holds {arr.dtype} values; expected numbers.")
        return arr

    def identity(self) -> dict[str, Any]:
        return {"sha256": self.sha256, "format": "logits", "outputs": self.spec.outputs}

    def _forward(self, x: np.ndarray | dict[str, np.ndarray]) -> np.ndarray:
        raise UsageError(f"The {self.name} is a logits file; it takes no inputs. Use logits().")

    def logits(self) -> LogitArray:
        """The stored matrix, shape (n_samples, n_classes), as a :class:`LogitArray`."""
        arr = self._array
        convert = self.spec.outputs == "probs" or (
            self.spec.outputs == "auto"
            and looks_like_probs(np.asarray(arr[:1024], dtype=np.float32))
        )
        if convert:
            self._saw_probs = True
            # float64 probabilities stay float64: close probabilities must not tie in float32
            wide = arr.dtype == np.float64
            out = np.empty(arr.shape, dtype=np.float64 if wide else np.float32)
            step = LogitArray.from_array(out).default_chunk_rows()  # the same byte budget as reads
            for start in range(0, arr.shape[0], step):
                block = arr[start : start + step]
                out[start : start + step] = (
                    np.log(np.clip(np.asarray(block, dtype=np.float64), PROB_FLOOR, None))
                    if wide
                    else probs_to_log_probs(block)
                )
            return LogitArray([out], kind="log_probs")
        return LogitArray([arr], kind="logits")
