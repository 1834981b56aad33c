"""Every closed vocabulary of kdaudit, defined once.

The API's ``Literal`` types, the CLI's ``choices``, the JSON schemas' ``enum`` lists
and the analyzers' checks all come from here (``tests/test_vocab.py`` checks that the
schemas agree). Add a new value here and nowhere else.

This module imports nothing from kdaudit and nothing heavy: every layer may use it.
"""

from __future__ import annotations

from typing import Final, Literal, get_args

__all__ = [
    "ANALYSES",
    "CORRECTIONS",
    "DEVICES",
    "DISTANCES",
    "METRIC_DISTANCES",
    "ON_INCONCLUSIVE",
    "OUTPUT_KINDS",
    "PAIRS",
    "REQUIRED_ROLES",
    "ROLES",
    "SCHEMA_VERSION",
    "VERDICTS",
    "Analysis",
    "Correction",
    "Device",
    "Distance",
    "MetricDistance",
    "OnInconclusive",
    "OutputKind",
    "Role",
    "Verdict",
]

#: Version of report.json's schema (kdaudit/report/schema.json); bump on a breaking change.
SCHEMA_VERSION: Final = "1"

Role = Literal["teacher", "student", "baseline"]
#: The three models of an audit, in report order (teacher first, baseline last).
ROLES: Final[tuple[Role, ...]] = get_args(Role)
#: The roles every audit needs; the baseline (non-distilled student) is optional.
REQUIRED_ROLES: Final[tuple[Role, ...]] = ("teacher", "student")
#: Model pairs compared, as (reference, compared) — the student against each reference.
PAIRS: Final[tuple[tuple[Role, Role], ...]] = (
    ("teacher", "student"),
    ("baseline", "student"),
    ("teacher", "baseline"),
)

Correction = Literal["fdr_bh", "holm", "none"]
#: Multiple-testing corrections across classes (Benjamini-Hochberg FDR, Holm, none).
CORRECTIONS: Final[tuple[Correction, ...]] = get_args(Correction)

Device = Literal["auto", "cpu", "cuda"]
#: Where inference runs; "auto" takes CUDA when present and says so when it falls back.
DEVICES: Final[tuple[Device, ...]] = get_args(Device)

MetricDistance = Literal["euclidean", "cosine"]
#: Distances the neighbour search implements.
METRIC_DISTANCES: Final[tuple[MetricDistance, ...]] = get_args(MetricDistance)
Distance = Literal["euclidean", "cosine", "auto"]
#: Distances a user may ask for ("auto": cosine for embeddings, euclidean otherwise).
DISTANCES: Final[tuple[Distance, ...]] = get_args(Distance)

Verdict = Literal["pass", "fail", "inconclusive"]
#: Outcomes of a release-gate check and of the whole gate.
VERDICTS: Final[tuple[Verdict, ...]] = get_args(Verdict)

OnInconclusive = Literal["fail", "pass"]
#: What an inconclusive gate does to the exit code.
ON_INCONCLUSIVE: Final[tuple[OnInconclusive, ...]] = get_args(OnInconclusive)

OutputKind = Literal["logits", "probs", "auto"]
#: What a model's outputs are; "auto" decides from the values (rows summing to 1 -> probs).
OUTPUT_KINDS: Final[tuple[OutputKind, ...]] = get_args(OutputKind)

Analysis = Literal["class_shift", "group_fairness", "individual_fairness", "robustness"]
#: The analyses an audit runs; each may be skipped (``--skip``, ``[analysis] skip``).
ANALYSES: Final[tuple[Analysis, ...]] = get_args(Analysis)
