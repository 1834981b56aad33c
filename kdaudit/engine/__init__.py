"""Batched inference, device choice and the on-disk logit cache."""

from kdaudit.arrays import LogitArray
from kdaudit.device import onnx_providers, resolve_device
from kdaudit.engine.cache import LogitCache, default_cache_dir
from kdaudit.engine.inference import compute_logits, default_batch_size, infer_shard

__all__ = [
    "LogitArray",
    "LogitCache",
    "compute_logits",
    "default_batch_size",
    "default_cache_dir",
    "infer_shard",
    "onnx_providers",
    "resolve_device",
]
