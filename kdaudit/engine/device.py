"""Compatibility path: device choice lives in :mod:`kdaudit.device` (below the models).

Import it from there; this name is kept for code written against ``kdaudit.engine.device``.
"""

from kdaudit.device import CPU_EP, CUDA_EP, cuda_available, onnx_providers, resolve_device

__all__ = ["CPU_EP", "CUDA_EP", "cuda_available", "onnx_providers", "resolve_device"]
