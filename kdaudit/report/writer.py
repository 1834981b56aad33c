"""Write a report dict to disk: report.json, report.html, summary.md (a model card, CSV tables).

All files are rendered into a temporary folder beside ``out_dir`` first and moved
into place only when every one succeeded; report.json is moved last, so a
report.json in ``out_dir`` always comes with the other files of the same run.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import Any

from kdaudit.auditresult import AuditResult, as_result
from kdaudit.errors import InputDataError, UsageError
from kdaudit.vocab import SCHEMA_VERSION

__all__ = ["FORMATS", "dumps_report", "read_report", "write_report", "write_text_atomic"]

#: format name -> file name. "json" is always written last.
FORMATS: dict[str, str] = {
    "html": "report.html",
    "md": "summary.md",
    "modelcard": "model_card.json",
    "csv": "csv",  # a folder: one <frame>.csv per tidy table of kdaudit.frames
    "json": "report.json",
}


def dumps_report(report: AuditResult | Mapping[str, Any]) -> str:
    """Serialise a report as report.json text (UTF-8, 2-space indent, no NaN)."""
    if isinstance(report, AuditResult):
        report = report.to_dict()  # the one place a result becomes JSON
    return json.dumps(report, indent=2, ensure_ascii=False, allow_nan=False) + "\n"


def _render(fmt: str, report: AuditResult) -> str:
    if fmt == "json":
        return dumps_report(report.to_dict())
    if fmt == "html":
        from kdaudit.report.html import render_html

        return render_html(report, validate=False)
    if fmt == "md":
        from kdaudit.report.markdown import render_summary

        return render_summary(report)
    from kdaudit.report.modelcard import model_card

    return json.dumps(model_card(report), indent=2, ensure_ascii=False, allow_nan=False) + "\n"


def write_text_atomic(path: Path, text: str) -> Path:
    """Write ``text`` to ``path`` through a temporary file in the same folder and a rename."""
    path = Path(path)
    if path.is_dir():
        raise UsageError(f"cannot write {path}: it is a directory; give a file path")
    parent = path.parent if str(path.parent) else Path(".")
    if parent.exists() and not parent.is_dir():
        raise UsageError(f"cannot write {path}: {parent} is a file, not a directory")
    parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline="\n") as fh:
            fh.write(text)
        os.chmod(tmp, 0o666 & ~_umask())  # mkstemp makes 0600; a report is an ordinary file
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def write_report(
    report: AuditResult | Mapping[str, Any],
    out_dir: Path,
    *,
    formats: Iterable[str] = ("json", "html", "md"),
    validate: Callable[[dict[str, Any]], None] | None = None,
) -> dict[str, Path]:
    """Validate a report dict and write it in the requested formats.

    Parameters
    ----------
    report : AuditResult or dict
        The audit result, or a JSON-native report dict (its schema: ``kdaudit schema``;
        layout: docs/architecture.md).
    out_dir : Path
        Folder to write into; created (with parents) when missing. Existing files of
        the same names are replaced; other files are left alone.
    formats : iterable of str
        Any of ``"json"`` (report.json), ``"html"`` (report.html), ``"md"``
        (summary.md), ``"modelcard"`` (model_card.json), ``"csv"`` (a ``csv/`` folder
        with one file per tidy table of :func:`kdaudit.frames.report_frames`).
    validate : callable, optional
        Replaces the schema check (:func:`kdaudit.report.schema.validate_report`).

    Returns
    -------
    dict of str to Path
        Format name -> path of the file written.

    Raises
    ------
    UsageError
        ``out_dir`` is an existing file, or an unknown format was asked for.
    kdaudit.report.schema.ReportSchemaError
        The report does not match the schema (a bug in kdaudit); nothing is written.
    """
    out_dir = Path(out_dir)
    wanted = list(dict.fromkeys(formats))
    unknown = [f for f in wanted if f not in FORMATS]
    if unknown:
        raise UsageError(
            f"unknown report format(s) {', '.join(map(repr, unknown))}; known: {', '.join(FORMATS)}"
        )
    if out_dir.exists() and not out_dir.is_dir():
        raise UsageError(
            f"output folder {str(out_dir)!r} is an existing file, not a directory",
            tip="give --out a folder path (it is created when missing)",
        )
    for parent in out_dir.parents:
        if parent.exists() and not parent.is_dir():
            raise UsageError(
                f"cannot create output folder {str(out_dir)!r}: {str(parent)!r} is a file"
            )
    if "csv" in wanted and (out_dir / FORMATS["csv"]).is_file():
        raise UsageError(
            f"cannot write CSV tables: {str(out_dir / FORMATS['csv'])!r} is a file",
            tip="remove it or choose another --out",
        )
    if validate is None:
        from kdaudit.report.schema import validate_report

        validate = validate_report
    result = as_result(report)
    validate(result.to_dict())

    order = [f for f in FORMATS if f in wanted]  # json last
    parent = out_dir.parent if str(out_dir.parent) else Path(".")
    try:
        parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise UsageError(f"cannot create output folder {str(out_dir)!r}: {exc}") from exc
    staging = Path(tempfile.mkdtemp(dir=parent, prefix=f".{out_dir.name}.tmp-"))
    written: dict[str, Path] = {}
    try:
        for fmt in order:  # render everything before anything reaches out_dir
            if fmt == "csv":
                _render_csv(result, staging / FORMATS[fmt])
                continue
            (staging / FORMATS[fmt]).write_text(
                _render(fmt, result), encoding="utf-8", newline="\n"
            )
        out_dir.mkdir(parents=True, exist_ok=True)
        for fmt in order:
            target = out_dir / FORMATS[fmt]
            if fmt == "csv":
                _move_csv(staging / FORMATS[fmt], target)
            else:
                os.replace(staging / FORMATS[fmt], target)
            written[fmt] = target
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return written


def _render_csv(report: AuditResult, folder: Path) -> None:
    from kdaudit.frames import report_frames

    folder.mkdir()
    for name, frame in report_frames(report).items():
        frame.to_csv(folder / f"{name}.csv", index=False, lineterminator="\n")


def _move_csv(staged: Path, target: Path) -> None:
    """Replace the tables of a previous run in ``target`` (other files there are left alone)."""
    from kdaudit.frames import FRAME_NAMES

    target.mkdir(exist_ok=True)
    new = {p.name for p in staged.iterdir()}
    for name in FRAME_NAMES:  # a table this report does not have must not survive from an older one
        if f"{name}.csv" not in new:
            (target / f"{name}.csv").unlink(missing_ok=True)
    for name in sorted(new):
        os.replace(staged / name, target / name)


def read_report(path: Path, *, validate: bool = True) -> dict[str, Any]:
    """Read a report.json (for ``kdaudit gate REPORT.json``).

    Raises
    ------
    UsageError
        The file does not exist or is a directory.
    InputDataError
        Not JSON, or (with ``validate``) not a schema_version "1" report.
    """
    from kdaudit.validation import load_json
    from kdaudit.validation import validate as validate_kind

    path = Path(path)
    if not path.exists():
        raise UsageError(f"report file {str(path)!r} does not exist")
    if path.is_dir():
        raise UsageError(f"{str(path)!r} is a directory; give the path of a report.json")
    report = load_json(path, "gate_report", role="report", check=False)
    if not isinstance(report, dict):
        raise InputDataError(
            f"{str(path)!r} holds a JSON {type(report).__name__}, not a kdaudit report object"
        )
    if validate:
        # the keys the gate reads, typed first (named key paths), then the full schema
        validate_kind(report, "gate_report", repr(str(path)), error=InputDataError)
        from kdaudit.report.schema import ReportSchemaError, validate_report

        version = report.get("schema_version")
        if version != SCHEMA_VERSION:
            raise InputDataError(
                f"{str(path)!r} has schema_version {version!r}; "
                f'this kdaudit reads "{SCHEMA_VERSION}"'
            )
        try:
            validate_report(report)
        except ReportSchemaError as exc:  # the user's file, not kdaudit's bug: one line
            errs = list(getattr(exc, "errors", None) or [str(exc)])
            more = f" (and {len(errs) - 1} more problem(s))" if len(errs) > 1 else ""
            raise InputDataError(
                f"{str(path)!r} is not a valid kdaudit report: {errs[0]}{more}.",
                tip="Give 'kdaudit gate' a report.json written by kdaudit (schema_version \"1\").",
            ) from exc
    return report
