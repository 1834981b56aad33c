"""Every closed vocabulary is defined once (kdaudit/vocab.py): the JSON schemas must agree.

A schema ``enum`` that drifts from the tuple the code checks against would let report.json
validate values the code never writes (or reject ones it does). Each test names the schema
location it reads, so a moved key fails here, loudly, rather than being skipped.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from kdaudit import vocab

KDAUDIT = Path(vocab.__file__).resolve().parent


def _schema(name: str) -> dict[str, Any]:
    path = KDAUDIT / "report" / "schema.json" if name == "report" else KDAUDIT / "schemas" / name
    return json.loads(path.read_text(encoding="utf-8"))


def _at(schema: dict[str, Any], pointer: str) -> Any:
    """The node at a JSON pointer such as ``/$defs/role/enum``."""
    node: Any = schema
    for part in pointer.strip("/").split("/"):
        node = node[part]
    return node


# (schema file, JSON pointer of the enum, the vocabulary it must equal)
ENUMS = [
    ("report", "/$defs/role/enum", vocab.ROLES),
    ("report", "/properties/config/properties/correction/enum", vocab.CORRECTIONS),
    ("report", "/$defs/class_shift_pair/properties/correction/enum", vocab.CORRECTIONS),
    ("report", "/$defs/gate/properties/verdict/enum", vocab.VERDICTS),
    ("report", "/$defs/gate/properties/checks/items/properties/verdict/enum", vocab.VERDICTS),
    ("report", "/$defs/gate/properties/on_inconclusive/enum", vocab.ON_INCONCLUSIVE),
    ("audit_config.json", "/properties/analysis/properties/correction/enum", vocab.CORRECTIONS),
    ("audit_config.json", "/properties/analysis/properties/distance/enum", vocab.DISTANCES),
    ("audit_config.json", "/properties/analysis/properties/embedding_model/enum", vocab.ROLES),
    ("audit_config.json", "/properties/engine/properties/device/enum", vocab.DEVICES),
    ("policy.json", "/properties/on_inconclusive/enum", vocab.ON_INCONCLUSIVE),
    ("audit_config.json", "/properties/analysis/properties/skip/items/enum", vocab.ANALYSES),
    # null: a manifest may leave the kind to the audit
    ("model_manifest.json", "/properties/outputs/enum", (*vocab.OUTPUT_KINDS, None)),
]


@pytest.mark.parametrize(
    ("schema", "pointer", "expected"), ENUMS, ids=[f"{s}{p}" for s, p, _ in ENUMS]
)
def test_schema_enum_equals_vocabulary(
    schema: str, pointer: str, expected: tuple[str, ...]
) -> None:
    got = _at(_schema(schema), pointer)
    assert len(got) == len(set(got)), f"{schema}{pointer} repeats a value: {got}"
    assert set(got) == set(expected), f"{schema}{pointer} = {got}; kdaudit.vocab says {expected}"


def test_roles_in_report_order() -> None:
    # report.json, the HTML page and the CLI list the models in this order
    assert list(_at(_schema("report"), "/$defs/role/enum")) == list(vocab.ROLES)
    assert vocab.ROLES == ("teacher", "student", "baseline")


def test_pairs_and_required_roles() -> None:
    report = _schema("report")
    assert list(_at(report, "/$defs/pair/enum")) == [f"{a}_vs_{b}" for a, b in vocab.PAIRS]
    assert set(_at(report, "/properties/models/required")) == set(vocab.REQUIRED_ROLES)
    assert set(_at(_schema("audit_config.json"), "/properties/models/properties")) == set(
        vocab.ROLES
    )
    assert all(a in vocab.ROLES and b in vocab.ROLES and a != b for a, b in vocab.PAIRS)
    assert set(vocab.REQUIRED_ROLES) < set(vocab.ROLES)


def test_schema_version() -> None:
    assert _at(_schema("report"), "/properties/schema_version/const") == vocab.SCHEMA_VERSION


def test_metric_distances_are_the_concrete_distances() -> None:
    # "auto" is resolved before the neighbour search, which implements the rest
    assert set(vocab.DISTANCES) == set(vocab.METRIC_DISTANCES) | {"auto"}


def test_code_checks_use_the_vocabulary() -> None:
    from kdaudit import device
    from kdaudit.errors import UsageError

    for name in vocab.DEVICES:
        if name != "cuda":  # may be absent on this machine
            assert device.resolve_device(name) in ("cpu", "cuda")
    with pytest.raises(UsageError, match="auto, cpu, cuda"):
        device.resolve_device("tpu")
