"""Device choice: ``auto`` | ``cpu`` | ``cuda``, without importing torch.

A CUDA device is detected through the driver library (``libcuda``), or through
torch when torch is already imported, so that auditing ONNX models never pays
for importing torch.

Models (adapters), the engine and the trainer choose devices here; it sits below them all.
"""

from __future__ import annotations

import ctypes
import functools
import sys

from kdaudit.errors import UsageError
from kdaudit.vocab import DEVICES

__all__ = ["CPU_EP", "CUDA_EP", "cuda_available", "onnx_providers", "resolve_device"]

CUDA_EP = "CUDAExecutionProvider"
CPU_EP = "CPUExecutionProvider"


@functools.lru_cache(maxsize=1)
def _driver_has_cuda_device() -> bool:
    for name in ("libcuda.so.1", "libcuda.so", "nvcuda.dll", "libcuda.dylib"):
        try:
            lib = ctypes.CDLL(name)
        except OSError:
            continue
        try:
            if lib.cuInit(0) != 0:
                return False
            count = ctypes.c_int(0)
            return lib.cuDeviceGetCount(ctypes.byref(count)) == 0 and count.value > 0
        except (AttributeError, OSError):
            return False
    return False


def cuda_available() -> bool:
    """True when a CUDA device can be used (torch's view when torch is loaded)."""
    torch = sys.modules.get("torch")
    if torch is not None and hasattr(torch, "cuda"):
        return bool(torch.cuda.is_available())
    return _driver_has_cuda_device()


def _check(device: str) -> str:
    value = str(device).lower()
    if value not in DEVICES:
        raise UsageError(f"Unknown device {device!r}; expected one of {', '.join(DEVICES)}.")
    return value


def resolve_device(device: str = "auto") -> str:
    """Resolve a requested device to ``"cpu"`` or ``"cuda"``.

    Parameters
    ----------
    device : {"auto", "cpu", "cuda"}
        ``auto`` picks CUDA when a device is visible, else the CPU.

    Raises
    ------
    UsageError
        For an unknown name, or ``cuda`` when no CUDA device is available (exit 2).
    """
    value = _check(device)
    if value == "cpu":
        return "cpu"
    has_cuda = cuda_available()
    if value == "cuda" and not has_cuda:
        raise UsageError(
            "--device cuda was requested but no CUDA device is available.",
            tip="Use --device cpu (or auto), or check the NVIDIA driver and CUDA_VISIBLE_DEVICES.",
        )
    return "cuda" if has_cuda else "cpu"


def onnx_providers(device: str = "auto") -> list[str]:
    """onnxruntime execution providers to name explicitly for ``device``.

    ``auto`` gives ``[CUDA, CPU]`` when a CUDA device is visible and the
    installed onnxruntime has the CUDA provider, else ``[CPU]``; ``cuda`` raises
    :class:`~kdaudit.errors.UsageError` when either is missing.
    """
    value = _check(device)
    if value == "cpu":
        return [CPU_EP]
    import onnxruntime as ort

    has_ep = CUDA_EP in ort.get_available_providers()
    if value == "cuda":
        resolve_device("cuda")
        if not has_ep:
            raise UsageError(
                "--device cuda was requested but this onnxruntime has no CUDA execution provider.",
                tip="Install onnxruntime-gpu, or use --device cpu.",
            )
        return [CUDA_EP, CPU_EP]
    if has_ep and cuda_available():
        return [CUDA_EP, CPU_EP]
    return [CPU_EP]
