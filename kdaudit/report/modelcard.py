"""A model-card style export of the quantitative analysis (model_card.json).

Field names follow Google's Model Card Toolkit (MCT) JSON schema where they fit:
``model_details``, ``quantitative_analysis.performance_metrics[{type, value, slice,
confidence_interval: {lower_bound, upper_bound}}]``, ``considerations``. Unlike
MCT, which stores numbers as strings, values here stay JSON numbers (fractions)
so that machines can read them without parsing; ``value`` is ``null`` when
undefined and ``description`` then says why. Every number is copied from the
report dict.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from kdaudit.auditresult import AuditResult, as_result

__all__ = ["model_card"]

_ROLES = ("teacher", "student", "baseline")


def _metric(
    type_: str,
    est: Any,
    slice_: str,
    description: str | None = None,
) -> dict[str, Any]:
    if not isinstance(est, dict):
        est = {"value": est}
    out: dict[str, Any] = {"type": type_, "value": est.get("value"), "slice": slice_}
    if est.get("ci_low") is not None and est.get("ci_high") is not None:
        out["confidence_interval"] = {"lower_bound": est["ci_low"], "upper_bound": est["ci_high"]}
    if est.get("estimate") is not None and est.get("estimate") != est.get("value"):
        out["estimate"] = est["estimate"]  # noise-corrected; ``value`` is the plug-in number
    if est.get("p_value") is not None:
        out["p_value"] = est["p_value"]
    notes = [n for n in (description, est.get("undefined_reason")) if n]
    if notes:
        out["description"] = "; ".join(notes)
    return out


def model_card(result: AuditResult | Mapping[str, Any]) -> dict[str, Any]:
    """Build the model-card dict for an audit result.

    Slices are named ``"overall"``, ``"ATTRIBUTE"`` (a group-fairness gap over that
    attribute's groups), ``"ATTRIBUTE=GROUP"`` (one group) and ``"class=C"``; every
    metric ``type`` is prefixed with its model role (``student/accuracy``) or pair
    (``teacher_vs_student/accuracy_delta``).

    Parameters
    ----------
    result : AuditResult or dict
        The audit result, or a JSON-native report dict (schema_version "1").

    Returns
    -------
    dict
        JSON-native model card.
    """
    report = as_result(result).to_dict()  # still read by key: the model card's own layout
    models = report.get("models") or {}
    student = models.get("student") or {}
    metrics: list[dict[str, Any]] = []
    for role, acc in (report.get("accuracy") or {}).items():
        metrics.append(_metric(f"{role}/accuracy", acc, "overall"))
    for pair, d in (report.get("accuracy_delta") or {}).items():
        metrics.append(
            _metric(f"{pair}/accuracy_delta", d, "overall", "B minus A, paired bootstrap")
        )
    for pair, cs in (report.get("class_shift") or {}).items():
        metrics.append(
            _metric(
                f"{pair}/n_significant_classes",
                cs.get("n_significant"),
                "overall",
                f"{cs.get('test')}, {cs.get('correction')}, alpha {cs.get('alpha')}",
            )
        )
        metrics.append(_metric(f"{pair}/disagreement_rate", cs.get("disagreement_rate"), "overall"))
    for attr, entry in (report.get("group_fairness") or {}).items():
        for role in _ROLES:
            rd = entry.get(role)
            if not isinstance(rd, dict):
                continue
            for key in (
                "demographic_parity_difference",
                "equalized_odds_difference",
                "equal_opportunity_difference",
                "demographic_parity_ratio",
                "worst_group_accuracy",
            ):
                if key in rd:
                    metrics.append(_metric(f"{role}/{key}", rd[key], str(attr)))
            for g in rd.get("by_group") or []:
                for key in ("accuracy", "selection_rate", "tpr", "fpr"):
                    if key in g:
                        m = _metric(
                            f"{role}/{key}",
                            g[key],
                            f"{attr}={g.get('group')}",
                            "fewer samples than min_group_size" if g.get("small") else None,
                        )
                        if g[key] is None and g.get("undefined_reason"):
                            m["description"] = g["undefined_reason"]
                        ci = g.get(f"{key}_ci")
                        if isinstance(ci, list) and len(ci) == 2:
                            m["confidence_interval"] = {
                                "lower_bound": ci[0],
                                "upper_bound": ci[1],
                                "method": "wilson",
                            }
                        m["n"] = g.get("n")
                        metrics.append(m)
        for pair, d in (entry.get("delta") or {}).items():
            for key, est in d.items():
                metrics.append(
                    _metric(f"{pair}/{key}_delta", est, str(attr), "B minus A, paired bootstrap")
                )
    ind = report.get("individual_fairness") or {}
    for role in _ROLES:
        if isinstance(ind.get(role), dict):
            metrics.append(
                _metric(
                    f"{role}/individual_fairness_lipschitz", ind[role].get("lipschitz"), "overall"
                )
            )
            metrics.append(_metric(f"{role}/consistency", ind[role].get("consistency"), "overall"))
    data = report.get("data") or {}
    gate = report.get("gate")
    return {
        "schema_version": "0.0.2",
        "model_details": {
            "name": student.get("path"),
            "overview": "Knowledge-distilled student audited against its teacher"
            + (" and a non-distilled baseline" if "baseline" in models else "")
            + " by kdaudit.",
            "version": {"name": student.get("sha256"), "date": report.get("created")},
            "references": [{"reference": m.get("path")} for m in models.values()],
        },
        "model_parameters": {
            "data": [
                {
                    "name": data.get("path"),
                    "sha256": data.get("sha256"),
                    "n_samples": data.get("n_samples"),
                    "sensitive": data.get("sensitive") or [],
                }
            ],
        },
        "quantitative_analysis": {"performance_metrics": metrics},
        "considerations": {
            "fairness_assessment": [
                {
                    "group_at_risk": f"{attr}={g}",
                    "benefits": None,
                    "harms": "estimates unreliable: fewer samples than min_group_size",
                    "mitigation_strategy": None,
                }
                for attr, e in (report.get("group_fairness") or {}).items()
                for g in e.get("groups_flagged") or []
            ],
        },
        "kdaudit": {
            "kdaudit_version": report.get("kdaudit_version"),
            "report_schema_version": report.get("schema_version"),
            "models": {
                r: {"path": m.get("path"), "sha256": m.get("sha256")} for r, m in models.items()
            },
            "config": report.get("config"),
            "gate": gate,
            "governance": report.get("governance"),
            "provenance": report.get("provenance"),
        },
    }
