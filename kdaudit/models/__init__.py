"""Model adapters: ONNX, PyTorch (state_dict/.safetensors + architecture), logits files.

Importing this package imports neither torch nor onnxruntime; they load with
the first model of their kind (:func:`load_model`).
"""

from kdaudit.models.base import (
    CODE_FORMATS,
    FORMATS,
    ModelAdapter,
    ModelSpec,
    detect_format,
)
from kdaudit.models.loader import load_model
from kdaudit.models.preprocess import Preprocess

__all__ = [
    "CODE_FORMATS",
    "FORMATS",
    "ModelAdapter",
    "ModelSpec",
    "Preprocess",
    "detect_format",
    "load_model",
]
