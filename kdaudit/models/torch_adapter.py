"""PyTorch models: state_dict/.safetensors + architecture, and (trusted) code-carrying formats.

This is the only module of :mod:`kdaudit.models` that imports torch.

* ``state_dict`` (``.pt``/``.pth``): read with ``torch.load(weights_only=True)``
  always, unless ``trust_code``; the weights go into ``--arch`` (a zoo name, or
  ``module:callable`` with ``trust_code``). A checkpoint dict holding the
  weights under ``state_dict``/``model_state_dict``/``model`` is accepted.
* ``safetensors``: read with safetensors (no pickle at all).
* ``torchscript``, ``torch_export`` (``.pt2``), ``pickle``: only with ``trust_code``
  (checked by :func:`kdaudit.models.loader.load_model` before this module loads).

Models run in ``eval()`` mode under ``torch.inference_mode()`` in float32.
"""

from __future__ import annotations

import hashlib
import importlib
import importlib.util
import inspect
import sys
import warnings
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from kdaudit.device import resolve_device
from kdaudit.errors import InputDataError, ModelLoadError, TrustError, UsageError
from kdaudit.models.base import ModelAdapter, ModelSpec
from kdaudit.models.preprocess import apply_preprocess

__all__ = ["TorchAdapter"]

_CHECKPOINT_KEYS = ("state_dict", "model_state_dict", "model", "net", "weights")


def _resolve_callable(arch: str) -> tuple[Callable[..., Any], str | None]:
    """Import ``module:callable`` (or ``path/to/file.py:callable``); returns it and its source hash."""
    module_name, _, attr = arch.rpartition(":")
    try:
        if module_name.endswith(".py") or "/" in module_name or "\\" in module_name:
            file = Path(module_name)
            spec = importlib.util.spec_from_file_location(f"kdaudit_user_{file.stem}", file)
            if spec is None or spec.loader is None or not file.exists():
                raise ImportError(f"no Python file {module_name!r}")
            module = importlib.util.module_from_spec(spec)
            spec.loader.exec_module(module)
        else:
            if "" not in sys.path and str(Path.cwd()) not in sys.path:
                sys.path.insert(0, str(Path.cwd()))
            module = importlib.import_module(module_name)
        obj: Any = module
        for part in attr.split("."):
            obj = getattr(obj, part)
    except (ImportError, AttributeError, SyntaxError) as exc:
        raise UsageError(
            f"Could not import --arch {arch!r}: {exc}.",
            tip="Give module:callable importable from the current directory (or file.py:callable).",
        ) from exc
    if not callable(obj):
        raise UsageError(f"--arch {arch!r} is not callable.")
    source_hash = None
    try:
        src = inspect.getsourcefile(module)
        if src:
            source_hash = hashlib.sha256(Path(src).read_bytes()).hexdigest()
    except (TypeError, OSError):
        pass
    return obj, source_hash


def _call_builder(
    builder: Callable[..., Any], *, n_classes: int | None, input_shape: tuple[int, ...] | None
) -> Any:
    """Call a user builder, passing ``n_classes``/``input_shape`` when it takes them."""
    kwargs: dict[str, Any] = {}
    try:
        params = inspect.signature(builder).parameters
    except (TypeError, ValueError):
        params = {}  # type: ignore[assignment]
    takes_kwargs = any(p.kind is inspect.Parameter.VAR_KEYWORD for p in params.values())
    for key, value in (
        ("n_classes", n_classes),
        ("num_classes", n_classes),
        ("input_shape", input_shape),
    ):
        if value is not None and (key in params or (takes_kwargs and key != "num_classes")):
            kwargs[key] = value
    return builder(**kwargs)


class TorchAdapter(ModelAdapter):
    """A torch ``nn.Module`` (or TorchScript / exported program) run in fp32.

    With a built-in architecture and no ``input_shape`` in the spec, the module
    is built at the first batch, from the shape of one preprocessed sample.
    """

    def __init__(self, spec: ModelSpec, *, format: str, sha256: str, device: str = "auto") -> None:
        dev = resolve_device(device)
        super().__init__(spec, format=format, sha256=sha256, device_type=dev)
        self.device = torch.device(dev)
        self.module: Any = None
        self._state_dict: dict[str, torch.Tensor] | None = None
        self._builder: Callable[..., Any] | None = None
        self._arch_source_sha256: str | None = None
        if format in {"state_dict", "safetensors"}:
            self._state_dict = self._read_weights()
            self._prepare_arch()
            if self.module is None and (spec.input_shape is not None or not self._is_zoo):
                self._build(spec.input_shape)
        else:
            self._load_code_format()

    # ------------------------------------------------------------------ loading
    def _read_weights(self) -> dict[str, torch.Tensor]:
        path = self.spec.path
        if self.format == "safetensors":
            try:
                from safetensors.torch import load_file

                return dict(load_file(path, device="cpu"))
            except Exception as exc:  # safetensors raises SafetensorError and others
                raise ModelLoadError(
                    f"Could not read the {self.spec.role} model {path!r} as .safetensors: {exc}",
                    tip="The file may be truncated; save it again with safetensors.torch.save_file.",
                ) from exc
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", UserWarning)  # torch's pickle-protocol notices
                obj = torch.load(path, map_location="cpu", weights_only=not self.spec.trust_code)
        except Exception as exc:  # torch raises UnpicklingError, RuntimeError, EOFError...
            text = str(exc)
            refused_by_weights_only = not self.spec.trust_code and (
                "Weights only load failed" in text
                or any(
                    m in text
                    for m in ("Unsupported global", "Unsupported operand", "Unsupported class")
                )
            )
            if refused_by_weights_only:
                raise TrustError(
                    f"The {self.spec.role} model {path!r} holds more than tensors (pickled objects "
                    "or code); kdaudit read it with torch.load(weights_only=True) and refused it "
                    "(--trust-code would allow it).",
                    tip="Save model.state_dict() (or .safetensors) instead, or pass --trust-code "
                    "if you trust this file.",
                ) from exc
            detail = next(
                (line.strip() for line in text.splitlines() if "WeightsUnpickler" in line),
                text.strip().splitlines()[0] if text.strip() else "",
            )
            raise ModelLoadError(
                f"Could not read the {self.spec.role} model {path!r} with torch.load: "
                f"{type(exc).__name__}{': ' + detail if detail else ''}",
                tip="The file may be truncated or not a PyTorch file.",
            ) from exc
        if isinstance(obj, nn.Module):
            if not self.spec.trust_code:  # pragma: no cover - weights_only cannot yield modules
                raise TrustError(f"The {self.spec.role} model {path!r} is a pickled module.")
            self.module = obj
            return {}
        if isinstance(obj, Mapping):
            for key in _CHECKPOINT_KEYS:
                inner = obj.get(key)
                if (
                    isinstance(inner, Mapping)
                    and inner
                    and all(isinstance(v, torch.Tensor) for v in inner.values())
                ):
                    obj = inner
                    break
        if (
            not isinstance(obj, Mapping)
            or not obj
            or not all(isinstance(v, torch.Tensor) for v in obj.values())
        ):
            raise InputDataError(
                f"The {self.spec.role} model {path!r} does not hold a state_dict "
                f"(a mapping of names to tensors); found {type(obj).__name__}.",
                tip="Save model.state_dict() with torch.save, or export the model to ONNX.",
            )
        return {str(k): v for k, v in obj.items()}

    @property
    def _is_zoo(self) -> bool:
        return bool(self.spec.arch) and ":" not in str(self.spec.arch)

    def _prepare_arch(self) -> None:
        if self.module is not None:  # a trusted pickled module saved under .pt
            self._finish_module(self.module)
            return
        arch = self.spec.arch
        if not arch:
            raise UsageError(
                f"The {self.spec.role} model {self.spec.path!r} holds weights only (a state_dict); "
                "kdaudit needs the architecture to put them in (--arch).",
                tip="Pass --arch NAME (mlp, lenet5, resnet20, resnet32, resnet56, resnet8x4...) "
                "or --arch module:callable with --trust-code.",
            )
        if ":" in arch:
            if not self.spec.trust_code:  # also checked in load_model
                raise TrustError(  # pragma: no cover - load_model refuses it first
                    f"--arch {arch!r} imports your code; that needs --trust-code."
                )
            self._builder, self._arch_source_sha256 = _resolve_callable(arch)
        else:
            from kdaudit.models.zoo import ARCHS, build_model

            key = arch.lower()
            if key not in ARCHS:
                build_model(arch, n_classes=2, input_shape=(3, 32, 32))  # raises the UsageError
            self._builder = build_model

    def _infer_n_classes(self, module: nn.Module) -> int | None:
        assert self._state_dict is not None
        last = None
        for mod_name, mod in module.named_modules():
            if isinstance(mod, nn.Linear):
                last = mod_name
        if last is not None and f"{last}.weight" in self._state_dict:
            return int(self._state_dict[f"{last}.weight"].shape[0])
        return None

    def _build(self, input_shape: tuple[int, ...] | None) -> None:
        assert self._builder is not None and self._state_dict is not None
        n_classes = self.spec.n_classes
        try:
            if self._is_zoo:
                from kdaudit.models.zoo import build_model

                if input_shape is None:
                    raise UsageError(f"The input shape of the {self.name} is unknown.")
                if n_classes is None:
                    probe = build_model(str(self.spec.arch), n_classes=2, input_shape=input_shape)
                    n_classes = self._infer_n_classes(probe) or 2
                module = build_model(
                    str(self.spec.arch), n_classes=n_classes, input_shape=input_shape
                )
            else:
                module = _call_builder(self._builder, n_classes=n_classes, input_shape=input_shape)
        except (UsageError, TrustError):
            raise
        except Exception as exc:
            raise ModelLoadError(
                f"Could not build architecture {self.spec.arch!r} for the {self.name}: {exc}",
                tip="Check --arch and the input shape (preprocess 'reshape').",
            ) from exc
        if not isinstance(module, nn.Module):
            raise ModelLoadError(
                f"--arch {self.spec.arch!r} returned {type(module).__name__}, not an nn.Module."
            )
        try:
            module.load_state_dict(self._state_dict, strict=True)
        except RuntimeError as exc:
            lines = str(exc).strip().splitlines()
            detail = " ".join(line.strip() for line in lines[:3])
            raise ModelLoadError(
                f"The weights in {self.spec.path!r} do not fit architecture {self.spec.arch!r} "
                f"(input shape {list(input_shape) if input_shape else '?'}): {detail[:400]}",
                tip="Check --arch, the class count, and the input shape the model was trained on.",
            ) from exc
        self._state_dict = None  # the module holds the weights now
        if self.n_classes is None and n_classes is not None:
            self.n_classes = int(n_classes)
        self._finish_module(module)

    def _load_code_format(self) -> None:
        path = self.spec.path
        if not self.spec.trust_code:  # also checked in load_model, before torch is imported
            raise TrustError(  # pragma: no cover - load_model refuses it first
                f"The {self.spec.role} model {path!r} carries code; pass --trust-code."
            )
        try:
            if self.format == "torchscript":
                module = torch.jit.load(path, map_location="cpu")
            elif self.format == "torch_export":
                module = torch.export.load(path).module()
            else:
                module = torch.load(path, map_location="cpu", weights_only=False)
        except Exception as exc:
            raise ModelLoadError(
                f"Could not load the {self.spec.role} model {path!r} as {self.format}: "
                f"{str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__}",
            ) from exc
        if isinstance(module, Mapping):
            raise UsageError(
                f"The {self.spec.role} model {path!r} holds a state_dict, not a module.",
                tip="Drop --format, and pass --arch.",
            )
        if not callable(module):
            raise ModelLoadError(
                f"The {self.spec.role} model {path!r} holds a {type(module).__name__}, "
                "not a callable model."
            )
        self._finish_module(module)

    def _finish_module(self, module: Any) -> None:
        # exported programs' modules refuse some of these calls; each step is best effort there
        for step in ("float", "to", "eval"):
            method = getattr(module, step, None)
            if method is None:
                continue
            try:
                result = method(self.device) if step == "to" else method()
            except (RuntimeError, NotImplementedError, TypeError):
                if self.format != "torch_export":
                    raise
                continue
            if step != "eval" and result is not None:
                module = result
        self.module = module

    # ------------------------------------------------------------------ running
    def identity(self) -> dict[str, Any]:
        out = super().identity()
        if self._arch_source_sha256:
            out["arch_source_sha256"] = self._arch_source_sha256
        return out

    @property
    def input_dtype(self) -> np.dtype:
        pp = self.spec.preprocess
        return np.dtype(pp.dtype) if pp is not None and pp.dtype else np.dtype(np.float32)

    def _tensor(self, arr: np.ndarray) -> torch.Tensor:
        arr = apply_preprocess(self.spec.preprocess, arr, self.input_dtype)
        return torch.from_numpy(np.ascontiguousarray(arr)).to(self.device)

    def _forward(self, x: np.ndarray | dict[str, np.ndarray]) -> np.ndarray:
        if isinstance(x, dict):
            args: tuple[Any, ...] = ()
            kwargs = {k: self._tensor(v) for k, v in x.items()}
            first = next(iter(kwargs.values()))
        else:
            first = self._tensor(x)
            args, kwargs = (first,), {}
        if self.module is None:
            self._build(tuple(int(s) for s in first.shape[1:]))
        try:
            with torch.inference_mode():
                out = self.module(*args, **kwargs)
        except Exception as exc:
            raise ModelLoadError(
                f"The {self.name} failed to run on a batch of shape {tuple(first.shape)}: "
                f"{str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__}",
                tip="Check the model's preprocessing (reshape/transpose) and input shape.",
            ) from exc
        if isinstance(out, Mapping):
            out = out.get("logits", next(iter(out.values())))
        elif hasattr(out, "logits"):
            out = out.logits
        if isinstance(out, (tuple, list)):
            out = out[0]
        if not isinstance(out, torch.Tensor):
            raise InputDataError(f"The {self.name} returned {type(out).__name__}, not a tensor.")
        return out.detach().to("cpu", torch.float32).numpy()
