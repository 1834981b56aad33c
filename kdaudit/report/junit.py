"""JUnit XML of the gate's checks (``--junit FILE``): one testcase per check."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from kdaudit.auditresult import GateRecord
from kdaudit.report.words import counts_as_pass, gate_view
from kdaudit.report.writer import write_text_atomic

__all__ = ["junit_xml", "write_junit"]


def _text(x: Any) -> str:
    # XML 1.0 cannot hold most control characters even escaped: drop them
    return "".join(ch for ch in str(x) if ch in "\t\n\r" or ord(ch) >= 0x20)


def junit_xml(gate: GateRecord | Mapping[str, Any], *, suite_name: str = "kdaudit.gate") -> str:
    """Build the JUnit XML text for a gate (``report.gate``, or a gate dict).

    Failed checks (and inconclusive ones that count as failures) get a ``<failure>``
    whose message is the check's sentence (the same words as report.html, summary.md
    and ``kdaudit gate``); inconclusive checks that pass under ``on_inconclusive =
    "pass"`` are ``<skipped>``; every check's sentence is in its ``<system-out>``. Every
    string is XML-escaped by :mod:`xml.etree.ElementTree`.
    """
    record = gate if isinstance(gate, GateRecord) else GateRecord.from_dict(gate)
    view = gate_view(record)
    checks = view.checks if view is not None else ()
    n_fail = sum(1 for c in checks if not c.release_ok)
    n_skip = sum(1 for c in checks if c.release_ok and c.verdict == "inconclusive")
    suites = ET.Element(
        "testsuites", name="kdaudit", tests=str(len(checks)), failures=str(n_fail), errors="0"
    )
    suite = ET.SubElement(
        suites,
        "testsuite",
        name=suite_name,
        tests=str(len(checks)),
        failures=str(n_fail),
        errors="0",
        skipped=str(n_skip),
    )
    props = ET.SubElement(suite, "properties")
    judge = record.judge if record.has("judge") else "upper_bound"
    ET.SubElement(props, "property", name="judge", value=_text(judge))
    ET.SubElement(props, "property", name="passed", value=str(bool(record.passed)).lower())
    ET.SubElement(props, "property", name="release_ok", value=str(counts_as_pass(record)).lower())
    ET.SubElement(
        props, "property", name="verdict", value=_text(view.verdict if view is not None else "")
    )
    ET.SubElement(
        props,
        "property",
        name="on_inconclusive",
        value=_text(view.on_inconclusive if view is not None else "fail"),
    )
    for c in checks:
        case = ET.SubElement(
            suite, "testcase", classname=suite_name, name=_text(c.check.name), time="0"
        )
        sentence = _text(c.sentence)
        if not c.release_ok:
            kind = "GateCheckInconclusive" if c.verdict == "inconclusive" else "GateCheckFailed"
            fail = ET.SubElement(case, "failure", message=sentence, type=kind)
            fail.text = _text(c.detail or sentence)
        elif c.verdict == "inconclusive":
            ET.SubElement(case, "skipped", message=sentence)
        out = ET.SubElement(case, "system-out")
        detail = _text(c.detail) if c.detail else ""
        out.text = sentence + (f"\n{detail}" if detail and detail != sentence else "")
    ET.indent(suites)
    return (
        '<?xml version="1.0" encoding="UTF-8"?>\n' + ET.tostring(suites, encoding="unicode") + "\n"
    )


def write_junit(gate: GateRecord | Mapping[str, Any], path: Path | str) -> Path:
    """Write the gate's checks as JUnit XML to ``path`` atomically; return the path."""
    return write_text_atomic(Path(path), junit_xml(gate))
