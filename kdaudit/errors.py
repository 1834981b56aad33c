"""Every exception kdaudit raises on purpose.

The CLI maps these families to exit codes in one place (``kdaudit.cli``):

* :class:`UsageError`, :class:`InputDataError` -> 2 (the user can fix the input)
* :class:`ModelLoadError`, :class:`CacheError`, :class:`AuditError` -> 3 (could not audit)
* anything else -> 4 (a bug)

This module imports nothing from kdaudit.
"""

from __future__ import annotations

__all__ = [
    "AuditError",
    "CacheError",
    "InputDataError",
    "KDAuditError",
    "KDAuditWarning",
    "MissingDependencyError",
    "ModelLoadError",
    "TrustError",
    "UsageError",
]


class KDAuditError(Exception):
    """Base class. ``tip`` is an optional one-line hint shown after the message."""

    exit_code = 4

    def __init__(self, message: str, *, tip: str | None = None) -> None:
        super().__init__(message)
        self.tip = tip


class UsageError(KDAuditError):
    """A bad flag, option value or config entry."""

    exit_code = 2


class InputDataError(KDAuditError):
    """Input files that exist but cannot be used: missing columns, bad shapes, NaN logits..."""

    exit_code = 2


class TrustError(InputDataError):
    """A model format that carries code, opened without ``--trust-code``."""


class AuditError(KDAuditError):
    """The audit could not be carried out for a reason outside the user's input."""

    exit_code = 3


class ModelLoadError(AuditError):
    """A model file would not load or run."""


class CacheError(AuditError):
    """The logit cache is unusable (not writable, not a cache directory...)."""


class KDAuditWarning(UserWarning):
    """Legal but ill-defined cases: an empty group, one group only, no positives..."""


class MissingDependencyError(AuditError):
    """An optional package (an extra such as ``kdaudit[onnx]``) is needed but not installed."""
