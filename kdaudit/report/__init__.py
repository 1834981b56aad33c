"""Renderers of a finished audit: JSON, HTML, Markdown, model card, JUnit.

Nothing here computes a statistic: every number shown is a typed field of the
:class:`~kdaudit.auditresult.AuditResult` (built from the dict that
:func:`kdaudit.auditing.run.assemble_report` returns).
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
