"""Renderers of a finished report dict: JSON, HTML, Markdown, model card, JUnit.

Nothing here computes a statistic: every number shown is a field of the report
dict built by :mod:`kdaudit.api`.
"""

from __future__ import annotations

from kdaudit.report.schema import ReportSchemaError, load_schema, schema_text, validate_report
from kdaudit.report.writer import FORMATS, read_report, write_report

__all__ = [
    "FORMATS",
    "ReportSchemaError",
    "load_schema",
    "read_report",
    "schema_text",
    "validate_report",
    "write_report",
]
