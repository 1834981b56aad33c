"""kdaudit: audit already-distilled models for fairness and bias.

The Python API mirrors the CLI: :func:`compare` and :func:`audit` return a
:class:`~kdaudit.api.Report` that writes report.json, report.html and summary.md.
"""

from kdaudit.safety import offline_environment

offline_environment()  # before anything imports onnxruntime: no telemetry file under $HOME

from kdaudit._version import __version__  # noqa: E402
from kdaudit.api import AuditOptions, Report, audit, compare  # noqa: E402
from kdaudit.data import Dataset, load_dataset  # noqa: E402

__all__ = ["AuditOptions", "Dataset", "Report", "__version__", "audit", "compare", "load_dataset"]
