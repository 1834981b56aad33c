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

from kdaudit.auditresult import (
    AuditResult,
    DataInfo,
    Estimate,
    GroupRates,
    JsonMap,
    Node,
    as_result,
    thaw,
)
from kdaudit.vocab import ROLES

__all__ = ["model_card"]

_FAIRNESS_METRICS = (
    "demographic_parity_difference",
    "equalized_odds_difference",
    "equal_opportunity_difference",
    "demographic_parity_ratio",
    "worst_group_accuracy",
)


def _metric(
    type_: str,
    est: Any,
    slice_: str,
    description: str | None = None,
) -> dict[str, Any]:
    """One performance metric from an estimate record (or a bare number)."""
    if isinstance(est, JsonMap):  # an estimate kept verbatim (a key the records do not type)
        est = Estimate.from_dict(est.to_dict())
    if not isinstance(est, Estimate):
        est = Estimate(value=est, key_order=("value",))
    out: dict[str, Any] = {"type": type_, "value": thaw(est.value), "slice": slice_}
    if est.ci_low is not None and est.ci_high is not None:
        out["confidence_interval"] = {"lower_bound": est.ci_low, "upper_bound": est.ci_high}
    if est.estimate is not None and est.estimate != est.value:
        out["estimate"] = est.estimate  # noise-corrected; ``value`` is the plug-in number
    if est.p_value is not None:
        out["p_value"] = est.p_value
    notes = [n for n in (description, est.undefined_reason) if n]
    if notes:
        out["description"] = "; ".join(notes)
    return out


def _group_metrics(role: str, attr: str, g: GroupRates) -> list[dict[str, Any]]:
    out = []
    for key in ("accuracy", "selection_rate", "tpr", "fpr"):
        if not g.has(key):
            continue
        value = getattr(g, key)
        m = _metric(
            f"{role}/{key}",
            value,
            f"{attr}={g.group}",
            "fewer samples than min_group_size" if g.small else None,
        )
        if value is None and g.undefined_reason:
            m["description"] = g.undefined_reason
        ci = getattr(g, f"{key}_ci")
        if isinstance(ci, tuple) and len(ci) == 2:
            m["confidence_interval"] = {
                "lower_bound": ci[0],
                "upper_bound": ci[1],
                "method": "wilson",
            }
        m["n"] = g.n
        out.append(m)
    return out


def _json(node: Node | None) -> Any:
    return None if node is None else node.to_dict()


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
    r = as_result(result)
    student = r.models.of("student")
    metrics: list[dict[str, Any]] = []
    for acc in r.accuracy:
        metrics.append(_metric(f"{acc.role}/accuracy", acc.value, "overall"))
    for d in r.accuracy_delta:
        metrics.append(
            _metric(f"{d.pair}/accuracy_delta", d, "overall", "B minus A, paired bootstrap")
        )
    for cs in r.class_shift:
        metrics.append(
            _metric(
                f"{cs.pair}/n_significant_classes",
                cs.n_significant,
                "overall",
                f"{cs.test}, {cs.correction}, alpha {cs.alpha}",
            )
        )
        metrics.append(_metric(f"{cs.pair}/disagreement_rate", cs.disagreement_rate, "overall"))
    for entry in r.group_fairness:
        attr = entry.attribute
        for role in ROLES:
            rd = entry.role(role)
            if rd is None:
                continue
            for key in _FAIRNESS_METRICS:
                if rd.has(key):
                    metrics.append(_metric(f"{role}/{key}", rd.metric(key), attr))
            for g in rd.by_group:
                metrics += _group_metrics(role, attr, g)
        for delta in entry.delta:
            for key, est in delta.fields_in_order():
                metrics.append(
                    _metric(f"{delta.pair}/{key}_delta", est, attr, "B minus A, paired bootstrap")
                )
    ind = r.individual_fairness
    for role in ROLES:
        numbers = None if ind is None else ind.role(role)
        if numbers is not None:
            metrics.append(
                _metric(f"{role}/individual_fairness_lipschitz", numbers.lipschitz, "overall")
            )
            metrics.append(_metric(f"{role}/consistency", numbers.consistency, "overall"))
    data = r.data if r.data is not None else DataInfo()
    return {
        "schema_version": "0.0.2",
        "model_details": {
            "name": None if student is None else student.path,
            "overview": "Knowledge-distilled student audited against its teacher"
            + (" and a non-distilled baseline" if "baseline" in r.models else "")
            + " by kdaudit.",
            "version": {"name": None if student is None else student.sha256, "date": r.created},
            "references": [{"reference": m.path} for m in r.models],
        },
        "model_parameters": {
            "data": [
                {
                    "name": data.path,
                    "sha256": data.sha256,
                    "n_samples": data.n_samples,
                    "sensitive": list(data.sensitive or ()),
                }
            ],
        },
        "quantitative_analysis": {"performance_metrics": metrics},
        "considerations": {
            "fairness_assessment": [
                {
                    "group_at_risk": f"{e.attribute}={g}",
                    "benefits": None,
                    "harms": "estimates unreliable: fewer samples than min_group_size",
                    "mitigation_strategy": None,
                }
                for e in r.group_fairness
                for g in e.groups_flagged or ()
            ],
        },
        "kdaudit": {
            "kdaudit_version": r.kdaudit_version,
            "report_schema_version": r.schema_version,
            "models": {m.role: {"path": m.path, "sha256": m.sha256} for m in r.models},
            "config": _json(r.config),
            "gate": _json(r.gate),
            "governance": _json(r.governance),
            "provenance": _json(r.provenance),
        },
    }
