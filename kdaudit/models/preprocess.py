"""Per-model input preprocessing: what runs on stored inputs before a model sees them.

Steps, applied to a batch of shape ``(batch, *sample_shape)``:

1. cast to the model input's dtype (``dtype`` overrides it). Integer inputs
   (token ids) stay integers and skip the numeric steps 2 and 5;
2. multiply by ``scale``;
3. ``transpose`` the axes of one sample (e.g. ``(2, 0, 1)``: HWC -> CHW);
4. ``reshape`` one sample (e.g. ``(784,)`` or ``(1, 28, 28)``);
5. ``(x - mean) / std`` with scalars, or one value per channel along
   ``channel_axis`` of the (reshaped) sample: 0 for CHW, -1 for HWC.

This module imports neither torch nor onnxruntime.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from kdaudit.errors import InputDataError, UsageError

__all__ = ["Preprocess", "apply_preprocess"]

_KEYS = ("scale", "mean", "std", "transpose", "reshape", "channel_axis", "dtype")
_LAYOUTS = {"nchw": 0, "chw": 0, "nhwc": -1, "hwc": -1}

Number = float | int
Stat = float | tuple[float, ...]


def _as_stat(value: Any, name: str) -> Stat | None:
    if value is None:
        return None
    if isinstance(value, (list, tuple, np.ndarray)):
        out = tuple(float(v) for v in np.asarray(value, dtype=np.float64).ravel())
        if not out:
            raise UsageError(
                f"Preprocess {name!r} is an empty list; give a number or one per channel."
            )
        return out[0] if len(out) == 1 else out
    try:
        return float(value)
    except (TypeError, ValueError) as exc:
        raise UsageError(
            f"Preprocess {name!r} must be a number or a list of numbers; got {value!r}."
        ) from exc


def _as_axes(value: Any, name: str) -> tuple[int, ...] | None:
    if value is None:
        return None
    if isinstance(value, (int, np.integer)):
        value = [value]
    try:
        return tuple(int(v) for v in value)
    except (TypeError, ValueError) as exc:
        raise UsageError(f"Preprocess {name!r} must be a list of integers; got {value!r}.") from exc


@dataclasses.dataclass(frozen=True)
class Preprocess:
    """A preprocessing spec for one model's inputs.

    Parameters
    ----------
    scale : float, optional
        Multiplier applied first (e.g. ``1/255``).
    mean, std : float or tuple of float, optional
        Normalisation ``(x - mean) / std``; a tuple gives one value per channel.
    transpose : tuple of int, optional
        Axes permutation of one sample, e.g. ``(2, 0, 1)`` for HWC -> CHW.
    reshape : tuple of int, optional
        Shape of one sample after the transpose, e.g. ``(784,)``; ``-1`` allowed once.
    channel_axis : int
        Axis of one (reshaped) sample holding channels for per-channel mean/std:
        0 (CHW, default) or -1 (HWC).
    dtype : str, optional
        Cast to this dtype instead of the model input's dtype.
    """

    scale: float | None = None
    mean: Stat | None = None
    std: Stat | None = None
    transpose: tuple[int, ...] | None = None
    reshape: tuple[int, ...] | None = None
    channel_axis: int = 0
    dtype: str | None = None

    def __post_init__(self) -> None:
        # normalise lists to tuples so the spec stays hashable and JSON-stable
        object.__setattr__(self, "mean", _as_stat(self.mean, "mean"))
        object.__setattr__(self, "std", _as_stat(self.std, "std"))
        object.__setattr__(self, "transpose", _as_axes(self.transpose, "transpose"))
        object.__setattr__(self, "reshape", _as_axes(self.reshape, "reshape"))
        if self.scale is not None:
            object.__setattr__(self, "scale", float(self.scale))
        std = self.std if isinstance(self.std, tuple) else (self.std,)
        if any(s is not None and (s == 0 or not math.isfinite(s)) for s in std):
            raise UsageError(f"Preprocess 'std' must be finite and non-zero; got {self.std!r}.")
        if self.transpose is not None and sorted(self.transpose) != list(
            range(len(self.transpose))
        ):
            raise UsageError(
                f"Preprocess 'transpose' must be a permutation of the sample axes 0..k-1; "
                f"got {list(self.transpose)}.",
                tip="Axes are those of one sample, without the batch axis: HWC -> CHW is [2, 0, 1].",
            )
        if self.reshape is not None and sum(1 for s in self.reshape if s == -1) > 1:
            raise UsageError(
                f"Preprocess 'reshape' may contain -1 at most once; got {list(self.reshape)}."
            )
        if self.dtype is not None:
            try:
                np.dtype(self.dtype)
            except TypeError as exc:
                raise UsageError(
                    f"Preprocess 'dtype' {self.dtype!r} is not a numpy dtype."
                ) from exc

    @classmethod
    def from_dict(cls, data: Mapping[str, Any] | None) -> Preprocess | None:
        """Build a spec from a config table; ``None`` or ``{}`` gives ``None``.

        ``layout = "NCHW" | "NHWC"`` is accepted as a synonym for ``channel_axis`` 0 / -1.
        Unknown keys raise :class:`~kdaudit.errors.UsageError`.
        """
        if not data:
            return None
        if not isinstance(data, Mapping):
            raise UsageError(f"A preprocess spec must be a table; got {type(data).__name__}.")
        from kdaudit.validation import validate

        validate(dict(data), "preprocess", "(preprocess)")
        data = dict(data)
        layout = data.pop("layout", None)
        unknown = sorted(set(data) - set(_KEYS))
        if unknown:
            raise UsageError(  # pragma: no cover - the preprocess schema (validate above) refuses unknown keys first
                f"Unknown preprocess key(s) {unknown}; known: {', '.join((*_KEYS, 'layout'))}.",
            )
        if layout is not None:
            if str(layout).lower() not in _LAYOUTS:
                raise UsageError(  # pragma: no cover - the schema's layout enum refuses it first
                    f"Preprocess 'layout' must be NCHW or NHWC; got {layout!r}."
                )
            data.setdefault("channel_axis", _LAYOUTS[str(layout).lower()])
        if "channel_axis" in data:
            data["channel_axis"] = int(data["channel_axis"])
        return cls(**data)

    def to_dict(self) -> dict[str, Any]:
        """JSON-native form (part of logit-cache keys and report.json)."""
        out: dict[str, Any] = {}
        for key in _KEYS:
            value = getattr(self, key)
            out[key] = list(value) if isinstance(value, tuple) else value
        return out

    def sample_shape(self, shape: Sequence[int]) -> tuple[int, ...]:
        """Shape of one sample after preprocessing, given the stored sample shape."""
        dummy = np.empty((0, *shape), dtype=np.float32)
        return tuple(self._layout(dummy).shape[1:])

    def _layout(self, x: np.ndarray) -> np.ndarray:
        if self.transpose is not None:
            if len(self.transpose) != x.ndim - 1:
                raise InputDataError(
                    f"Preprocess 'transpose' {list(self.transpose)} has {len(self.transpose)} axes "
                    f"but one input sample has shape {tuple(x.shape[1:])}.",
                    tip="Give the axes of one sample, without the batch axis.",
                )
            x = x.transpose((0, *(a + 1 for a in self.transpose)))
        if self.reshape is not None:
            try:
                x = x.reshape((x.shape[0], *self.reshape))
            except ValueError as exc:
                raise InputDataError(
                    f"Cannot reshape input samples of shape {tuple(x.shape[1:])} to "
                    f"{list(self.reshape)} (preprocess 'reshape').",
                    tip="The new shape must hold the same number of values as one sample.",
                ) from exc
        return x

    def _channel_stat(self, value: Stat, x: np.ndarray, name: str) -> np.ndarray | float:
        if not isinstance(value, tuple):
            return value
        ndim = x.ndim - 1
        axis = self.channel_axis if self.channel_axis >= 0 else ndim + self.channel_axis
        if not 0 <= axis < ndim or x.shape[1 + axis] != len(value):
            raise InputDataError(
                f"Preprocess {name!r} has {len(value)} values but axis {self.channel_axis} of one "
                f"sample (shape {tuple(x.shape[1:])}) has "
                f"{x.shape[1 + axis] if 0 <= axis < ndim else 'no such axis'} channels.",
                tip="Set channel_axis = 0 for CHW samples or -1 for HWC samples.",
            )
        shape = [1] * x.ndim
        shape[1 + axis] = len(value)
        return np.asarray(value, dtype=x.dtype).reshape(shape)

    def apply(self, batch: np.ndarray, input_dtype: Any = np.float32) -> np.ndarray:
        """Preprocess a batch.

        Parameters
        ----------
        batch : ndarray of shape (batch, *stored_sample_shape)
            Inputs as stored in the data.
        input_dtype : numpy dtype
            The model input's dtype (from the ONNX graph; float32 for torch).

        Returns
        -------
        ndarray of shape (batch, *model_sample_shape), C-contiguous
        """
        return _apply(self, batch, input_dtype)


def _apply(spec: Preprocess | None, batch: np.ndarray, input_dtype: Any) -> np.ndarray:
    try:
        dtype = np.dtype(spec.dtype if spec is not None and spec.dtype else input_dtype)
    except TypeError:
        raise UsageError(  # pragma: no cover - Preprocess() already refuses a bad dtype
            f"Preprocess 'dtype' {getattr(spec, 'dtype', None)!r} is not a numpy dtype name.",
            tip='Use e.g. dtype = "float32" or "int64".',
        ) from None
    x = np.asarray(batch)
    if x.dtype.kind not in "biuf":
        raise InputDataError(
            f"The stored inputs have dtype {x.dtype}; a model takes numbers.",
            tip="Encode the inputs as numbers (float32, or integer token ids).",
        )
    if x.dtype != dtype:
        if dtype.kind in "iu" and x.dtype.kind == "f" and not np.all(np.isfinite(x)):
            raise InputDataError("Integer model inputs contain NaN or inf in the data.")
        x = x.astype(dtype)
    if spec is None:
        return np.ascontiguousarray(x)
    numeric = dtype.kind in "fc"
    if numeric and spec.scale is not None:
        x = x * dtype.type(spec.scale)
    x = spec._layout(x)
    if numeric and spec.mean is not None:
        x = x - spec._channel_stat(spec.mean, x, "mean")
    if numeric and spec.std is not None:
        x = x / spec._channel_stat(spec.std, x, "std")
    return np.ascontiguousarray(x, dtype=dtype)


def apply_preprocess(spec: Preprocess | None, batch: np.ndarray, input_dtype: Any) -> np.ndarray:
    """``spec.apply(batch, input_dtype)``, or just the cast when ``spec`` is None."""
    return _apply(spec, batch, input_dtype)
