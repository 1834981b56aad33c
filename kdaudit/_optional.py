"""Optional dependencies: which extra installs which package, and one way to import them.

The core install (``pip install kdaudit``) audits logits files and CSV data. Model
formats, Parquet and training need extras; importing one of their packages goes
through :func:`require`, which turns "not installed" into a
:class:`~kdaudit.errors.MissingDependencyError` (exit code 3) whose tip is the
``pip install`` line that fixes it.
"""

from __future__ import annotations

import importlib
from types import ModuleType

from kdaudit.errors import AuditError, MissingDependencyError

__all__ = ["EXTRAS", "install_tip", "missing_dependency", "require"]

EXTRAS: dict[str, tuple[str, str]] = {
    # top-level module: (distribution on PyPI, kdaudit extra that installs it)
    "onnx": ("onnx", "onnx"),
    "onnxruntime": ("onnxruntime", "onnx"),
    "torch": ("torch", "torch"),
    "safetensors": ("safetensors", "torch"),
    "onnxscript": ("onnxscript", "train"),
    "pyarrow": ("pyarrow", "parquet"),
    "ray": ("ray", "ray"),
    "hnswlib": ("hnswlib", "ann"),
    "tokenizers": ("tokenizers", "text"),
    "transformers": ("transformers", "text"),
}
"""Every optional package kdaudit imports, by top-level module name."""


def install_tip(extra: str) -> str:
    """The one-line fix for a missing extra."""
    return f"pip install 'kdaudit[{extra}]'"


def missing_dependency(
    exc: ImportError, purpose: str | None = None, *, extra: str | None = None
) -> MissingDependencyError | None:
    """A :class:`MissingDependencyError` for ``exc`` if it says an optional package is absent.

    Returns None when ``exc`` is about anything else (a core package, or kdaudit itself):
    that is a broken install or a bug, not a missing extra.
    """
    name = (getattr(exc, "name", None) or "").split(".")[0]
    if not isinstance(exc, ModuleNotFoundError) or name not in EXTRAS:
        return None
    dist, default_extra = EXTRAS[name]
    extra = extra or default_extra
    need = f"{purpose} needs" if purpose else "This needs"
    return MissingDependencyError(
        f"{need} the optional package {dist!r}, which is not installed.",
        tip=f"{install_tip(extra)} (or: pip install {dist})",
    )


def require(module: str, *, purpose: str, extra: str | None = None) -> ModuleType:
    """Import and return ``module`` (a key of :data:`EXTRAS` or one of its submodules).

    Parameters
    ----------
    module : str
        e.g. ``"onnxruntime"`` or ``"safetensors.torch"``.
    purpose : str
        What needs it, starting a sentence: ``"Loading the ONNX teacher model 'm.onnx'"``.
    extra : str, optional
        The extra to suggest when it is missing (default: the one in :data:`EXTRAS`;
        e.g. ``"train"`` for torch when training).

    Raises
    ------
    MissingDependencyError
        The package is not installed (exit code 3; the tip names the extra).
    AuditError
        The package is installed but fails to import (exit code 3).
    """
    top = module.split(".")[0]
    if top not in EXTRAS:
        raise ValueError(f"{top!r} is not an optional dependency of kdaudit")
    try:
        return importlib.import_module(module)
    except ImportError as exc:
        missing = missing_dependency(exc, purpose, extra=extra)
        if missing is not None:
            raise missing from exc
        dist = EXTRAS[top][0]
        raise AuditError(
            f"{purpose} needs {dist!r}, which is installed but failed to import: {exc}",
            tip=f"check that installation: python -c 'import {top}' shows the whole error",
        ) from exc
