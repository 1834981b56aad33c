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
from importlib import resources
from pathlib import Path
from typing import Any

from kdaudit.formatting import count

__all__ = ["DISCLAIMER", "governance_section", "policy_record"]

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


def _models_answer(models: dict[str, Any]) -> str:
    parts = []
    for role, m in models.items():
        runs = m.get("runs") or []
        pre = m.get("preprocess")
        pre_text = (
            "no preprocessing"
            if not pre
            else "preprocessing "
            + json.dumps({k: v for k, v in pre.items() if v is not None}, sort_keys=True)
            + f" ({m.get('preprocess_source', 'given')})"
        )
        outputs = m.get("outputs_resolved") or m.get("outputs")
        parts.append(
            f"{role}: {m.get('path')} (sha256 {str(m.get('sha256'))[:12]}…, {m.get('format')}"
            + (f", {len(runs)} runs" if len(runs) > 1 else "")
            + (
                f", T = {m['temperature']:g}"
                if isinstance(m.get("temperature"), (int, float))
                else ""
            )
            + f"), outputs read as {outputs}, {pre_text}"
        )
    return "; ".join(parts) + "."


def governance_section(report: dict[str, Any]) -> dict[str, Any]:
    """Map a report's evidence to common governance questions.

    Parameters
    ----------
    report : dict
        A report.json dict (the gate, when present, is included in the answers).

    Returns
    -------
    dict
        ``disclaimer`` (str) and ``items``: a list of ``{question, answer, evidence}``
        where ``evidence`` lists the report.json keys that hold the numbers.
    """
    data = report.get("data") or {}
    cfg = report.get("config") or {}
    models = report.get("models") or {}
    skipped = report.get("skipped") or {}
    done = [a for a in ("accuracy", *_ANALYSIS_METHODS) if a in report and a != "accuracy"]
    items: list[dict[str, Any]] = []

    items.append(
        {
            "question": "What was tested?",
            "answer": "A distilled student against its teacher"
            + (" and a non-distilled baseline" if "baseline" in models else "")
            + ": accuracy and "
            + ", ".join(a.replace("_", " ") for a in done)
            + (" across a temperature sweep" if report.get("temperature_sweep") else "")
            + ".",
            "evidence": ["accuracy", "accuracy_delta", *done]
            + (["temperature_sweep"] if report.get("temperature_sweep") else []),
        }
    )
    names = data.get("class_names")
    items.append(
        {
            "question": "On which data?",
            "answer": f"{count(data.get('n_samples'))} rows of {data.get('path')} (sha256 "
            f"{str(data.get('sha256'))[:12]}…), label {data.get('label')!r}"
            + (f" with classes {', '.join(map(str, names))}" if names else "")
            + "; sensitive attributes: "
            + (", ".join(data.get("sensitive") or []) or "none")
            + ".",
            "evidence": ["data"],
        }
    )
    items.append(
        {
            "question": "Which models, with which inputs?",
            "answer": _models_answer(models),
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
    flagged = {
        attr: block.get("groups_flagged") or []
        for attr, block in (report.get("group_fairness") or {}).items()
    }
    n_flagged = sum(len(v) for v in flagged.values())
    items.append(
        {
            "question": "With which uncertainty?",
            "answer": f"{cfg.get('confidence', 0.95):.0%} bootstrap confidence intervals "
            f"(B = {cfg.get('bootstrap')}, seed {cfg.get('seed')}) on every rate and "
            f"change; significance at alpha = {cfg.get('alpha')} with "
            f"{cfg.get('correction')} correction across classes. "
            + (
                f"{n_flagged} group(s) are smaller than {cfg.get('min_group_size')} rows "
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
    gate = report.get("gate")
    if gate:
        checks = gate.get("checks") or []
        failed = [c.get("name") for c in checks if not c.get("release_ok", c.get("passed"))]
        items.append(
            {
                "question": "What was decided, against which criteria?",
                "answer": f"Release gate {gate.get('policy')!r} (sha256 "
                f"{str(gate.get('policy_sha256'))[:12]}…, text in gate.policy_content): "
                f"verdict {gate.get('verdict', 'pass' if gate.get('passed') else 'fail')}"
                f" on {len(checks)} check(s)"
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
    not_done = [f"{k.replace('_', ' ')} ({v})" for k, v in skipped.items()]
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
    prov = report.get("provenance") or {}
    items.append(
        {
            "question": "Can it be reproduced?",
            "answer": f"kdaudit {report.get('kdaudit_version')}, command "
            f"{prov.get('command_line') or '(Python API)'}; model and data files are "
            "identified by sha256, every option and package version is recorded, and "
            "the bootstrap is seeded.",
            "evidence": ["provenance", "config", "models", "data"],
        }
    )
    return {"disclaimer": DISCLAIMER, "items": items}
