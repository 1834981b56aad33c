"""Load a model file as an adapter: :func:`load_model` picks the adapter by format.

The adapters (:mod:`~kdaudit.models.onnx_adapter`, :mod:`~kdaudit.models.torch_adapter`,
:mod:`~kdaudit.models.logits_adapter`, :mod:`~kdaudit.models.text`) import
:mod:`~kdaudit.models.base`; this module imports them, so no adapter imports its loader.
torch and onnxruntime still load only with the first model of their kind.
"""

from __future__ import annotations

import warnings
from pathlib import Path
from typing import Any

import numpy as np

from kdaudit._optional import require
from kdaudit.errors import InputDataError, KDAuditWarning, TrustError, UsageError
from kdaudit.hashing import file_sha256
from kdaudit.models.base import CODE_FORMATS, ModelAdapter, ModelSpec, detect_format
from kdaudit.models.logits_adapter import LogitsFileAdapter
from kdaudit.models.text import TextModelAdapter, is_hf_directory, load_hf_directory, wrap_onnx_text
from kdaudit.safety import regular_file

__all__ = ["load_model", "model_embedding"]


def load_model(spec: ModelSpec, *, device: str = "auto") -> ModelAdapter:
    """Load a model file as an adapter.

    Parameters
    ----------
    spec : ModelSpec
        The file and what is known about it.
    device : {"auto", "cpu", "cuda"}
        Where to run it (ignored for logits files).

    Raises
    ------
    InputDataError
        Missing file, unknown extension, bad logits file (exit 2).
    TrustError
        A code-carrying format (or ``module:callable`` arch) without ``trust_code`` (exit 2).
    UsageError
        A state_dict without ``arch``; ``cuda`` unavailable (exit 2).
    ModelLoadError
        A file that would not load (exit 3).
    """
    path = Path(spec.path)
    if not path.exists() and not path.is_symlink():
        raise InputDataError(
            f"The {spec.role} model file {spec.path!r} does not exist.", tip="Check the path."
        )
    if path.is_dir():
        if is_hf_directory(path):
            return load_hf_directory(spec, device=device)
        raise InputDataError(
            f"The {spec.role} model path {spec.path!r} is a directory without config.json; expected a "
            "model file or a Hugging Face model folder."
        )
    regular_file(path, f"{spec.role} model file")  # no FIFO, device (/dev/zero) or directory
    fmt = detect_format(path, spec.format)
    if fmt == "logits":
        return LogitsFileAdapter(spec)
    if fmt in CODE_FORMATS and not spec.trust_code:
        what = {
            "torchscript": "a TorchScript archive",
            "torch_export": "a torch.export (.pt2) program",
            "pickle": "a pickled Python object (not a plain state_dict)",
        }[fmt]
        raise TrustError(
            f"The {spec.role} model {spec.path!r} is {what}; loading it runs code stored in the file, "
            "so kdaudit refuses it without --trust-code.",
            tip="Pass --trust-code if you trust this file, or export the model to ONNX or a "
            "state_dict/.safetensors used with --arch.",
        )
    if spec.arch and ":" in spec.arch and not spec.trust_code:
        raise TrustError(
            f"--arch {spec.arch!r} imports your code (module:callable); that needs --trust-code.",
            tip="Pass --trust-code, or use a built-in architecture name.",
        )
    sha = file_sha256(path)
    if fmt == "onnx":
        if spec.arch:
            warnings.warn(
                f"--arch {spec.arch!r} is ignored for the ONNX {spec.role} model.",
                KDAuditWarning,
                stacklevel=2,
            )
        purpose = f"Loading the ONNX {spec.role} model {spec.path!r}"
        require("onnxruntime", purpose=purpose)
        require("onnx", purpose=purpose)
        from kdaudit.models.onnx_adapter import OnnxAdapter

        return wrap_onnx_text(OnnxAdapter(spec, sha256=sha, device=device), spec)
    require("torch", purpose=f"Loading the {spec.role} model {spec.path!r} ({fmt})")
    if fmt == "safetensors":
        require("safetensors.torch", purpose=f"Loading the {spec.role} model {spec.path!r}")
    from kdaudit.models.torch_adapter import TorchAdapter

    return TorchAdapter(spec, format=fmt, sha256=sha, device=device)


def model_embedding(dataset: Any, role: str, models: Any, *, device: str = "auto") -> np.ndarray:
    """The pooled hidden state (:meth:`TextModelAdapter.embed_texts`) of ``role``'s first model.

    Returns float32 of shape (n_samples, hidden), the neighbour space of individual fairness.
    """
    from kdaudit.data.text import TextInputs

    if role not in models:
        raise UsageError(
            f"--embedding-model {role!r}: no such model in this audit; give one of "
            f"{', '.join(models)}."
        )
    if not isinstance(dataset.x, TextInputs):
        raise UsageError("--embedding-model needs text data (--text-column COL).")
    adapter = load_model(models[role][0], device=device)
    if not isinstance(adapter, TextModelAdapter):
        raise UsageError(f"--embedding-model {role!r}: the {adapter.name} is not a text model.")
    return adapter.embed_texts(dataset.x.tolist())
