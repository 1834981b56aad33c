"""Model specs, the adapter interface and format detection (:func:`~kdaudit.models.loader.load_model` loads).

An adapter turns a model file into a function from a batch of stored inputs
to a ``(batch, n_classes)`` float32 matrix of logits (or log-probabilities).
Format detection reads file headers only: it never unpickles anything, and
neither torch nor onnxruntime is imported until a model of that kind loads.
"""

from __future__ import annotations

import dataclasses
import pickletools
import zipfile
from abc import ABC, abstractmethod
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

import numpy as np

from kdaudit.errors import InputDataError, UsageError
from kdaudit.models.preprocess import Preprocess
from kdaudit.vocab import OUTPUT_KINDS

__all__ = [
    "CODE_FORMATS",
    "FORMATS",
    "OUTPUTS",
    "PROB_FLOOR",
    "PROB_SUM_ATOL",
    "ModelAdapter",
    "ModelSpec",
    "detect_format",
    "looks_like_probs",
    "probs_to_log_probs",
]

if TYPE_CHECKING:
    from kdaudit.arrays import LogitArray
    from kdaudit.data.text import TextInputs

FORMATS = ("onnx", "state_dict", "safetensors", "torchscript", "torch_export", "pickle", "logits")
#: formats that run code from the file when loaded: only with ``--trust-code``
CODE_FORMATS = frozenset({"torchscript", "torch_export", "pickle"})
OUTPUTS = OUTPUT_KINDS
_FORMAT_ALIASES = {
    "pt2": "torch_export",
    "export": "torch_export",
    "torch.export": "torch_export",
    "jit": "torchscript",
    "script": "torchscript",
    "statedict": "state_dict",
    "state-dict": "state_dict",
    "weights": "state_dict",
    "npy": "logits",
    "npz": "logits",
    "pkl": "pickle",
}
_TORCH_SUFFIXES = {".pt", ".pth", ".bin", ".ckpt", ".pkl", ".pickle", ".tar"}
#: what may appear as a pickle global in a plain state_dict / checkpoint (torch.save output)
_STATE_DICT_GLOBALS = {
    "collections": {"OrderedDict"},
    "torch._utils": None,  # _rebuild_tensor_v2, _rebuild_parameter, ...
    "torch._tensor": {"_rebuild_from_type_v2"},
    "torch": None,  # FloatStorage & co, dtypes, Size, device
    "_codecs": {"encode"},
    "builtins": {"set", "frozenset", "slice", "complex"},
}
#: log of this is the floor of converted probabilities (log 0 would be -inf)
PROB_FLOOR = float(np.finfo(np.float32).tiny)
#: "auto" outputs: a batch whose rows are in [0, 1] and sum to 1 within this is probabilities
PROB_SUM_ATOL = 1e-3


@dataclasses.dataclass(frozen=True)
class ModelSpec:
    """What the user said about one model.

    Parameters
    ----------
    path : str
        Model file: ``.onnx``, ``.safetensors``, ``.pt``/``.pth``, ``.pt2``, ``.npy``/``.npz``.
    role : str
        ``teacher``, ``student``, ``baseline`` (used in messages).
    format : str, optional
        Override of the format detected from the file (one of :data:`FORMATS`).
    arch : str, optional
        Built-in architecture name (``resnet20``...) or ``module:callable``
        (imports user code: needs ``trust_code``), for state_dict/safetensors files.
    preprocess : Preprocess, optional
        Input preprocessing.
    outputs : {"logits", "probs", "auto"}
        What the model outputs; probabilities become log-probabilities. ``auto``
        treats a batch as probabilities when every value lies in [0, 1] and
        every row sums to 1 within 1e-3.
    trust_code : bool
        Allow formats that execute code when loaded (TorchScript, torch.export,
        pickled modules, ``module:callable`` architectures).
    temperature : float, optional
        Distillation temperature; informational.
    input_shape : tuple of int, optional
        Shape of one preprocessed sample for built-in architectures; inferred
        from the data when absent.
    n_classes : int, optional
        Output width for built-in architectures; inferred from the weights when absent.
    tokenizer : str, optional
        Text models: ``tokenizer.json`` (or its folder) to use instead of the one beside the model.
    max_length : int, optional
        Text models: longest token sequence fed (longer texts are truncated); default from
        the tokenizer's or model's config.
    """

    path: str
    role: str = "model"
    format: str | None = None
    arch: str | None = None
    preprocess: Preprocess | None = None
    outputs: str = "logits"
    trust_code: bool = False
    temperature: float | None = None
    input_shape: tuple[int, ...] | None = None
    n_classes: int | None = None
    tokenizer: str | None = None
    max_length: int | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "path", str(self.path))
        if self.outputs not in OUTPUTS:
            raise UsageError(
                f"outputs for the {self.role} must be one of {', '.join(OUTPUTS)}; got {self.outputs!r}."
            )
        if isinstance(self.preprocess, dict):
            object.__setattr__(self, "preprocess", Preprocess.from_dict(self.preprocess))
        if self.input_shape is not None:
            object.__setattr__(self, "input_shape", tuple(int(s) for s in self.input_shape))
        if self.n_classes is not None and int(self.n_classes) < 1:
            raise UsageError(f"n_classes for the {self.role} must be >= 1; got {self.n_classes}.")


class ModelAdapter(ABC):
    """One loaded model.

    Attributes
    ----------
    spec : ModelSpec
    path : Path
    format : str
        One of :data:`FORMATS`.
    sha256 : str
        Hash of the model file's bytes.
    is_logits_file : bool
        True for precomputed logits (use :meth:`logits`, not :meth:`predict_batch`).
    n_classes : int or None
        Output width, once known (from the graph, the weights or a first batch).
    device_type : {"cpu", "cuda"}
        Where the model runs.
    precision : str
        Numeric precision of inference (``"fp32"``).
    """

    is_logits_file: bool = False
    precision: str = "fp32"
    #: a batch dimension fixed in the model (e.g. 1), or None when dynamic
    fixed_batch: int | None = None
    #: rows per model call when --batch-size is not given (None: from the input size)
    default_batch: int | None = None
    #: whether the adapter tokenizes texts itself (``Dataset.x`` a TextInputs)
    reads_text: bool = False

    def __init__(
        self, spec: ModelSpec, *, format: str, sha256: str, device_type: str = "cpu"
    ) -> None:
        self.spec = spec
        self.path = Path(spec.path)
        self.format = format
        self.sha256 = sha256
        self.device_type = device_type
        self.n_classes: int | None = spec.n_classes
        self._saw_probs = spec.outputs == "probs"

    @property
    def name(self) -> str:
        role = "" if self.spec.role == "model" else f"{self.spec.role} "
        return f"{role}model {str(self.path)!r}"

    @property
    def output_kind(self) -> str:
        """``"log_probs"`` when outputs were (declared or detected as) probabilities."""
        return "log_probs" if self._saw_probs else "logits"

    def identity(self) -> dict[str, Any]:
        """Everything that determines this model's outputs, for logit-cache keys."""
        pp = self.spec.preprocess
        return {
            "sha256": self.sha256,
            "format": self.format,
            "arch": self.spec.arch,
            "preprocess": pp.to_dict() if pp is not None else None,
            "outputs": self.spec.outputs,
            "input_shape": list(self.spec.input_shape) if self.spec.input_shape else None,
            "n_classes": self.spec.n_classes,
        }

    def describe(self) -> dict[str, Any]:
        """The ``models.ROLE`` block of report.json."""
        return {
            "path": str(self.path),
            "sha256": self.sha256,
            "format": self.format,
            "n_classes": self.n_classes,
            "outputs": self.spec.outputs,
            "arch": self.spec.arch,
        }

    def predict_batch(self, x: np.ndarray | dict[str, np.ndarray] | TextInputs) -> np.ndarray:
        """Run the model on stored inputs.

        Parameters
        ----------
        x : ndarray of shape (batch, ...) or dict of name -> such arrays, or TextInputs
            Inputs as stored in the dataset; preprocessing happens here. Texts only
            reach adapters that tokenize them (``reads_text``).

        Returns
        -------
        ndarray of shape (batch, n_classes), float32
            Logits, or log-probabilities when the model outputs probabilities.
        """
        n = _batch_len(x)
        if not self.reads_text and _is_text(x):
            raise InputDataError(
                f"The data holds texts but the {self.name} takes numeric inputs.",
                tip="A text model is a Hugging Face folder, or an ONNX graph with input_ids and a "
                "tokenizer.json beside it (or --<role>-tokenizer).",
            )
        # past the check, texts reach only reads_text adapters, whose _forward takes them
        out = self._finish(self._forward(cast("np.ndarray | dict[str, np.ndarray]", x)))
        if out.shape[0] != n:
            raise InputDataError(
                f"The {self.name} returned {out.shape[0]} rows for a batch of {n} inputs.",
                tip="Check that the model's first output is (batch, n_classes).",
            )
        return out

    def block_rows(self, batch_size: int) -> int:
        """Rows the engine hands :meth:`predict_batch` at once, for ``batch_size`` rows per model call."""
        return int(batch_size)

    @abstractmethod
    def _forward(self, x: np.ndarray | dict[str, np.ndarray]) -> np.ndarray:
        """Raw first output of the model for a batch of stored inputs."""

    def logits(self) -> LogitArray:
        """Precomputed logits (logits files only)."""
        raise UsageError(f"The {self.name} is not a logits file; run it with compute_logits().")

    def close(self) -> None:  # noqa: B027 - optional hook, a no-op by default
        """Release sessions/memory (optional)."""

    def _finish(self, out: Any) -> np.ndarray:
        arr = np.asarray(out)
        if arr.ndim > 2 and int(np.prod(arr.shape[1:-1])) == 1:
            arr = arr.reshape(arr.shape[0], arr.shape[-1])
        if arr.ndim != 2:
            raise InputDataError(
                f"Expected the {self.name} to output (batch, n_classes); got shape {arr.shape}.",
                tip="A binary model with one output column must output two columns (logits of both classes).",
            )
        if arr.dtype.kind not in "fiub":
            raise InputDataError(f"The {self.name} outputs {arr.dtype} values; expected numbers.")
        arr = np.asarray(arr, dtype=np.float32)
        if self.n_classes is None:
            self.n_classes = int(arr.shape[1])
        elif arr.shape[1] != self.n_classes:
            raise InputDataError(
                f"The {self.name} output {arr.shape[1]} classes; expected {self.n_classes}.",
            )
        if self.spec.outputs == "probs" or (self.spec.outputs == "auto" and looks_like_probs(arr)):
            self._saw_probs = True
            arr = probs_to_log_probs(arr)
        return arr


def looks_like_probs(block: np.ndarray) -> bool:
    """The ``outputs = "auto"`` rule: every value in [0, 1], every row sums to 1 (atol 1e-3).

    Applied per batch. Logits rarely satisfy it by chance; where they do, the
    conversion does not change argmax, and softmax of log-probabilities gives
    the same probabilities back, so a wrong guess is harmless for the audit.
    """
    if block.size == 0 or not np.all(np.isfinite(block)):
        return False
    if block.min() < 0.0 or block.max() > 1.0 + PROB_SUM_ATOL:
        return False
    return bool(np.all(np.abs(block.sum(axis=1, dtype=np.float64) - 1.0) <= PROB_SUM_ATOL))


def probs_to_log_probs(block: np.ndarray) -> np.ndarray:
    """``log(max(p, tiny))`` as float32 (finite, so 0 probabilities stay usable)."""
    return np.log(np.clip(np.asarray(block, dtype=np.float32), PROB_FLOOR, None))


def _is_text(x: Any) -> bool:
    from kdaudit.data.text import TextInputs

    return isinstance(x, TextInputs)


def _batch_len(x: np.ndarray | dict[str, np.ndarray] | TextInputs) -> int:
    if isinstance(x, dict):
        return int(next(iter(x.values())).shape[0]) if x else 0
    return int(np.asarray(x).shape[0])


# --------------------------------------------------------------------------- detection


def _pickle_globals(stream: Any) -> set[tuple[str, str]]:
    """(module, name) of every global one pickle references, read with pickletools (no code runs)."""
    found: set[tuple[str, str]] = set()
    strings: list[str] = []
    for op, arg, _ in pickletools.genops(stream):
        if op.name == "GLOBAL" or op.name == "INST":
            module, _, name = str(arg).partition(" ")
            found.add((module, name))
        elif op.name == "STACK_GLOBAL":
            if len(strings) >= 2:
                found.add((strings[-2], strings[-1]))
            else:
                found.add(("?", "?"))
        elif isinstance(arg, str):
            strings.append(arg)
    return found


def _only_state_dict_globals(found: set[tuple[str, str]]) -> bool:
    for module, name in found:
        allowed = _STATE_DICT_GLOBALS.get(module, set())
        if module not in _STATE_DICT_GLOBALS:
            return False
        if allowed is not None and name not in allowed:
            return False
        if (
            module == "torch"
            and name[:1].islower()
            and name
            not in {
                "device",
                "float32",
                "float16",
                "bfloat16",
                "float64",
                "int64",
                "int32",
                "int8",
                "uint8",
                "bool",
            }
        ):
            return False
    return True


_LEGACY_TORCH_MAGIC = 0x1950A86A20F9469CFC6C


def _sniff_torch_file(path: Path) -> str:
    """Classify a .pt/.pth file as torchscript, state_dict or pickle from its bytes alone."""
    try:
        if zipfile.is_zipfile(path):
            with zipfile.ZipFile(path) as zf:
                names = zf.namelist()
                if any(n.endswith("/constants.pkl") or "/code/" in n for n in names):
                    return "torchscript"
                data = [n for n in names if n.endswith("data.pkl")]
                if not data:
                    return "pickle"
                with zf.open(data[0]) as fh:
                    found = _pickle_globals(fh)
            return "state_dict" if _only_state_dict_globals(found) else "pickle"
        with open(path, "rb") as fh:
            found = _pickle_globals(fh)
            if not found:
                # legacy torch.save: magic number, protocol, sys info, then the object
                fh.seek(0)
                first = pickletools.genops(fh)
                values = [arg for _, arg, _ in first if isinstance(arg, int)]
                if _LEGACY_TORCH_MAGIC in values:
                    for _ in range(3):
                        found = _pickle_globals(fh)
        return "state_dict" if _only_state_dict_globals(found) else "pickle"
    except Exception:  # a damaged zip or pickle stream may raise anything while sniffed
        # not a pickle at all: let the weights-only loader report what it is
        return "state_dict"


def detect_format(path: str | Path, override: str | None = None) -> str:
    """Format of a model file, from ``override`` or its extension (and header for .pt).

    Parameters
    ----------
    path : str or Path
        The model file.
    override : str, optional
        ``--format``; one of :data:`FORMATS` (aliases such as ``pt2`` accepted).

    Returns
    -------
    str
        One of ``onnx``, ``state_dict``, ``safetensors``, ``torchscript``,
        ``torch_export``, ``pickle``, ``logits``.
    """
    if override:
        key = str(override).lower()
        key = _FORMAT_ALIASES.get(key, key)
        if key not in FORMATS:
            raise UsageError(
                f"Unknown model format {override!r}; expected one of {', '.join(FORMATS)}."
            )
        return key
    p = Path(path)
    suffix = p.suffix.lower()
    if suffix == ".onnx":
        return "onnx"
    if suffix == ".safetensors":
        return "safetensors"
    if suffix in {".npy", ".npz"}:
        return "logits"
    if suffix == ".pt2":
        return "torch_export"
    if suffix in _TORCH_SUFFIXES:
        return _sniff_torch_file(p) if p.is_file() else "state_dict"
    raise InputDataError(
        f"Unknown model file extension {suffix or '(none)'!r} for {str(path)!r}.",
        tip="Use .onnx, .safetensors, .pt/.pth, .pt2 or .npy/.npz logits, or name the format with --format.",
    )
