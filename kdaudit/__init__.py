"""kdaudit: audit already-distilled models for fairness and bias.

The Python API mirrors the CLI: :func:`compare` and :func:`audit` return a
:class:`~kdaudit.api.Report` that writes report.json, report.html and summary.md.

``import kdaudit`` is cheap: the names below load their modules (numpy and the
rest) on first use, so ``kdaudit --version`` or ``import kdaudit.errors`` pay
for nothing else.
"""

from __future__ import annotations

import importlib
import os as _os
from typing import TYPE_CHECKING, Any

from kdaudit._version import __version__

# before anything imports onnxruntime: no telemetry file under $HOME (see kdaudit.safety)
_os.environ.setdefault("ORT_DISABLE_TELEMETRY", "1")

if TYPE_CHECKING:
    from kdaudit.api import AuditOptions, Report, audit, compare
    from kdaudit.auditresult import AuditResult
    from kdaudit.data import Dataset, load_dataset
    from kdaudit.metrics import (
        class_accuracy_shift,
        consistency_score,
        demographic_parity_difference,
        demographic_parity_ratio,
        equal_opportunity_difference,
        equalized_odds_difference,
        fairness_difference,
        individual_fairness,
        paired_accuracy_difference,
        worst_group_accuracy,
    )

__all__ = [
    "AuditOptions",
    "AuditResult",
    "Dataset",
    "Report",
    "__version__",
    "audit",
    "class_accuracy_shift",
    "compare",
    "consistency_score",
    "demographic_parity_difference",
    "demographic_parity_ratio",
    "equal_opportunity_difference",
    "equalized_odds_difference",
    "fairness_difference",
    "individual_fairness",
    "load_dataset",
    "paired_accuracy_difference",
    "worst_group_accuracy",
]

# public name -> module that defines it
_LAZY = {
    "AuditOptions": "kdaudit.api",
    "AuditResult": "kdaudit.auditresult",
    "Report": "kdaudit.api",
    "audit": "kdaudit.api",
    "compare": "kdaudit.api",
    "Dataset": "kdaudit.data",
    "load_dataset": "kdaudit.data",
    "class_accuracy_shift": "kdaudit.metrics",
    "consistency_score": "kdaudit.metrics",
    "demographic_parity_difference": "kdaudit.metrics",
    "demographic_parity_ratio": "kdaudit.metrics",
    "equal_opportunity_difference": "kdaudit.metrics",
    "equalized_odds_difference": "kdaudit.metrics",
    "fairness_difference": "kdaudit.metrics",
    "individual_fairness": "kdaudit.metrics",
    "paired_accuracy_difference": "kdaudit.metrics",
    "worst_group_accuracy": "kdaudit.metrics",
}


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'kdaudit' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value  # later lookups skip this function
    return value


def __dir__() -> list[str]:
    return sorted(__all__)
