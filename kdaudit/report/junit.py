"""JUnit XML of the gate's checks (``--junit FILE``): one testcase per check."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

from kdaudit.report.writer import write_text_atomic

__all__ = ["junit_xml", "write_junit"]


def _text(x: Any) -> str:
    # XML 1.0 cannot hold most control characters even escaped: drop them
    return "".join(ch for ch in str(x) if ch in "\t\n\r" or ord(ch) >= 0x20)


def junit_xml(gate: dict[str, Any], *, suite_name: str = "kdaudit.gate") -> str:
    """Build the JUnit XML text for a gate dict (``GateResult.to_dict()`` or report["gate"]).

    Failed checks get a ``<failure>`` element; checks that could not be evaluated
    also carry ``<system-out>`` with the reason. Every string is XML-escaped by
    :mod:`xml.etree.ElementTree`.
    """
    checks = gate.get("checks") or []
    n_fail = sum(1 for c in checks if not c.get("passed"))
    suites = ET.Element("testsuites", name="kdaudit", tests=str(len(checks)),
                        failures=str(n_fail), errors="0")
    suite = ET.SubElement(suites, "testsuite", name=suite_name, tests=str(len(checks)),
                          failures=str(n_fail), errors="0", skipped="0")
    props = ET.SubElement(suite, "properties")
    ET.SubElement(props, "property", name="judge", value=_text(gate.get("judge", "upper_bound")))
    ET.SubElement(props, "property", name="passed", value=str(bool(gate.get("passed"))).lower())
    for c in checks:
        case = ET.SubElement(suite, "testcase", classname=suite_name,
                             name=_text(c.get("name")), time="0")
        value, threshold = c.get("value"), c.get("threshold")
        summary = (f"{c.get('name')}: judged value {value} "
                   f"({c.get('judged_on', 'point')}) vs threshold {threshold}")
        if not c.get("passed"):
            fail = ET.SubElement(case, "failure", message=_text(summary), type="GateCheckFailed")
            fail.text = _text(c.get("detail") or summary)
        if c.get("evaluated") is False or c.get("detail"):
            out = ET.SubElement(case, "system-out")
            out.text = _text(c.get("detail") or "")
    ET.indent(suites)
    return '<?xml version="1.0" encoding="UTF-8"?>\n' + ET.tostring(
        suites, encoding="unicode") + "\n"


def write_junit(gate: dict[str, Any], path: Path | str) -> Path:
    """Write the gate's checks as JUnit XML to ``path`` atomically; return the path."""
    return write_text_atomic(Path(path), junit_xml(gate))
