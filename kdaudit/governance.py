"""The compliance record: what a reviewer needs to trust or repeat an audit.

* :func:`policy_record` -- the gate policy's full text and its sha256, so a verdict can
  be traced to the exact thresholds that produced it (a file name alone can change).
* :func:`governance_section` -- report.json ``governance``: the report's evidence mapped
  to the questions reviews of automated decisions commonly ask (what was tested, on which
  data and models, by which method, with which uncertainty, what was decided, what was
  not covered, how to reproduce it). It points at report fields; it computes nothing and
  makes no claim of legal or regulatory compliance.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING, Any

from kdaudit.auditresult import (
    AuditConfig,
    AuditResult,
    ByKey,
    DataInfo,
    JsonMap,
    ModelInfo,
    as_result,
)
from kdaudit.formatting import count

if TYPE_CHECKING:  # the gate loads only when a policy is applied (a plain compare has none)
    from kdaudit.gate import Policy

__all__ = ["DISCLAIMER", "governance_section", "judge_result", "policy_record"]

DISCLAIMER = (
    "This section maps the evidence in this report to questions that model-risk and "
    "AI-governance reviews commonly ask. It is a record of what was measured, not a "
    "statement that any law, regulation or standard is satisfied; that judgement "
    "belongs to the people accountable for the model."
)

_ANALYSIS_METHODS = {
    "accuracy": "accuracy per model; changes between models with a paired bootstrap CI "
    "and p-value (the same resampled rows for both models)",
    "class_shift": "per-class accuracy change: exact McNemar test on paired predictions "
    "(one run per model) or Welch's t-test on per-run accuracy ratios "
    "(several runs), with a multiple-comparison correction",
    "group_fairness": "demographic parity and equalized odds differences between groups "
    "(fairlearn's definitions; one-vs-rest per class for multi-class "
    "tasks) with bootstrap CIs, and paired-bootstrap tests of their "
    "change between models",
    "individual_fairness": "how differently a model treats similar inputs: total "
    "variation between predictions of k nearest neighbours per "
    "unit of input distance, and kNN consistency",
    "robustness": "accuracy per split and per (label, group) cell, the gap between "
    "average and worst group, and how much of the teacher's gap the "
    "student keeps",
}


def policy_record(policy: Any) -> dict[str, Any]:
    """The policy's text and sha256, for ``gate.policy_content`` / ``gate.policy_sha256``.

    Parameters
    ----------
    policy : Policy
        A loaded gate policy. For a TOML file or a shipped policy the exact file text is
        recorded; for a policy built from a mapping (an audit config's ``[gate]`` table)
        its settings as canonical JSON.

    Returns
    -------
    dict
        ``policy_content`` (str), ``policy_format`` (``"toml"`` or ``"json"``) and
        ``policy_sha256`` (hex digest of the UTF-8 bytes of ``policy_content``).
    """
    from kdaudit.gate import SHIPPED_POLICIES

    source = getattr(policy, "source", None)
    text, fmt = None, "toml"
    if source:
        path = Path(source)
        try:
            if path.is_file():
                text = path.read_text(encoding="utf-8")
            elif source in SHIPPED_POLICIES:
                text = (
                    resources.files("kdaudit.policies")
                    .joinpath(f"{source}.toml")
                    .read_text("utf-8")
                )
        except (OSError, UnicodeDecodeError):
            text = None
    if text is None:
        settings = {k: v for k, v in policy.to_dict().items() if k != "source" and v is not None}
        text, fmt = json.dumps(settings, sort_keys=True, indent=2) + "\n", "json"
    return {
        "policy_content": text,
        "policy_format": fmt,
        "policy_sha256": hashlib.sha256(text.encode("utf-8")).hexdigest(),
    }


def _models_answer(models: ByKey[ModelInfo]) -> str:
    parts = []
    for m in models:
        pre = m.preprocess.to_dict() if isinstance(m.preprocess, JsonMap) else m.preprocess
        source = m.preprocess_source if m.has("preprocess_source") else "given"
        pre_text = (
            "no preprocessing"
            if not pre
            else "preprocessing "
            + json.dumps({k: v for k, v in pre.items() if v is not None}, sort_keys=True)
            + f" ({source})"
        )
        outputs = m.outputs_resolved or m.outputs
        t = m.temperature
        parts.append(
            f"{m.role}: {m.path} (sha256 {str(m.sha256)[:12]}…, {m.format}"
            + (f", {len(m.runs)} runs" if len(m.runs) > 1 else "")
            + (f", T = {t:g}" if isinstance(t, (int, float)) and not isinstance(t, bool) else "")
            + f"), outputs read as {outputs}, {pre_text}"
        )
    return "; ".join(parts) + "."


def governance_section(report: AuditResult | Mapping[str, Any]) -> dict[str, Any]:
    """Map a report's evidence to common governance questions.

    Parameters
    ----------
    report : AuditResult or dict
        The audit result or a report.json dict (the gate, when present, is included in
        the answers).

    Returns
    -------
    dict
        ``disclaimer`` (str) and ``items``: a list of ``{question, answer, evidence}``
        where ``evidence`` lists the report.json keys that hold the numbers.
    """
    r = as_result(report)
    data = r.data if r.data is not None else DataInfo()
    cfg = r.config if r.config is not None else AuditConfig()
    done = [a for a in _ANALYSIS_METHODS if a != "accuracy" and r.has(a)]
    items: list[dict[str, Any]] = []

    items.append(
        {
            "question": "What was tested?",
            "answer": "A distilled student against its teacher"
            + (" and a non-distilled baseline" if "baseline" in r.models else "")
            + ": accuracy and "
            + ", ".join(a.replace("_", " ") for a in done)
            + (" across a temperature sweep" if r.temperature_sweep else "")
            + ".",
            "evidence": ["accuracy", "accuracy_delta", *done]
            + (["temperature_sweep"] if r.temperature_sweep else []),
        }
    )
    names = data.class_names
    items.append(
        {
            "question": "On which data?",
            "answer": f"{count(data.n_samples)} rows of {data.path} (sha256 "
            f"{str(data.sha256)[:12]}…), label {data.label!r}"
            + (f" with classes {', '.join(map(str, names))}" if names else "")
            + "; sensitive attributes: "
            + (", ".join(data.sensitive or ()) or "none")
            + ".",
            "evidence": ["data"],
        }
    )
    items.append(
        {
            "question": "Which models, with which inputs?",
            "answer": _models_answer(r.models),
            "evidence": ["models"],
        }
    )
    items.append(
        {
            "question": "By which method?",
            "answer": " ".join(
                f"{a.replace('_', ' ').capitalize()}: {_ANALYSIS_METHODS[a]}."
                for a in ("accuracy", *done)
            ),
            "evidence": ["config"],
        }
    )
    n_flagged = sum(len(block.groups_flagged or ()) for block in r.group_fairness)
    confidence = cfg.confidence if cfg.has("confidence") else 0.95
    items.append(
        {
            "question": "With which uncertainty?",
            "answer": f"{confidence:.0%} bootstrap confidence intervals "
            f"(B = {cfg.bootstrap}, seed {cfg.seed}) on every rate and "
            f"change; significance at alpha = {cfg.alpha} with "
            f"{cfg.correction} correction across classes. "
            + (
                f"{n_flagged} group(s) are smaller than {cfg.min_group_size} rows "
                "(or have that few positives/negatives for TPR/FPR) and are flagged. "
                if n_flagged
                else ""
            )
            + "Intervals cover sampling noise of this evaluation set, not a shift to "
            "other data.",
            "evidence": [
                "config",
                "group_fairness.*.groups_flagged",
                "group_fairness.*.*.by_group[].small_for",
            ],
        }
    )
    gate = r.gate
    if gate is not None and (gate.key_order or gate.extra):
        failed = [
            c.name for c in gate.checks if not (c.release_ok if c.has("release_ok") else c.passed)
        ]
        verdict = gate.verdict if gate.has("verdict") else ("pass" if gate.passed else "fail")
        items.append(
            {
                "question": "What was decided, against which criteria?",
                "answer": f"Release gate {gate.policy!r} (sha256 "
                f"{str(gate.policy_sha256)[:12]}…, text in gate.policy_content): "
                f"verdict {verdict}"
                f" on {len(gate.checks)} check(s)"
                + (f"; not passed: {', '.join(map(str, failed))}" if failed else "")
                + ".",
                "evidence": ["gate"],
            }
        )
    else:
        items.append(
            {
                "question": "What was decided, against which criteria?",
                "answer": "No release gate was applied; the report records numbers only.",
                "evidence": [],
            }
        )
    not_done = [f"{k.analysis.replace('_', ' ')} ({k.reason})" for k in r.skipped]
    items.append(
        {
            "question": "What was not covered?",
            "answer": ("Skipped: " + "; ".join(not_done) + ". " if not_done else "")
            + "Only the attributes listed were examined; groups not recorded in the "
            "data, other data distributions and downstream use are outside this "
            "audit.",
            "evidence": ["skipped", "warnings"],
        }
    )
    command = None if r.provenance is None else r.provenance.command_line
    items.append(
        {
            "question": "Can it be reproduced?",
            "answer": f"kdaudit {r.kdaudit_version}, command "
            f"{command or '(Python API)'}; model and data files are "
            "identified by sha256, every option and package version is recorded, and "
            "the bootstrap is seeded.",
            "evidence": ["provenance", "config", "models", "data"],
        }
    )
    return {"disclaimer": DISCLAIMER, "items": items}


def judge_result(result: AuditResult, policy: Policy) -> AuditResult:
    """A new result: ``result`` judged by ``policy`` (``gate`` and ``governance`` set).

    The gate records the policy's text and sha256 beside its verdict; the governance
    section is rebuilt so that it cites the verdict.
    """
    from kdaudit.gate import evaluate_gate

    gate = {**evaluate_gate(result, policy).to_dict(), **policy_record(policy)}
    judged = result.with_section("gate", gate)
    return judged.with_section("governance", governance_section(judged))
