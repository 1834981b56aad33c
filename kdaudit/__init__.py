"""kdaudit: audit already-distilled models for fairness and bias.

The Python API mirrors the CLI: :func:`compare` and :func:`audit` return a
:class:`~kdaudit.api.Report` that writes report.json, report.html and summary.md.
"""

from kdaudit._version import __version__
from kdaudit.api import AuditOptions, Report, audit, compare
from kdaudit.data import Dataset, load_dataset

__all__ = ["AuditOptions", "Dataset", "Report", "__version__", "audit", "compare", "load_dataset"]
