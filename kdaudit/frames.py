"""A report as tidy pandas tables: one row per observation, one column per variable.

:func:`report_frames` turns a report.json dict into named DataFrames (the same numbers,
nothing recomputed), for notebooks, spreadsheets (``--report-format csv``) and joins
with a user's own data. Every frame is long ("tidy"): e.g. ``fairness`` has one row per
(attribute, role, metric), so filtering and pivoting need no knowledge of the JSON layout.

Frames (present when the report has the section):

``models``
    one row per model run: role, run, path, sha256, format, outputs (as given and as
    resolved), temperature, preprocessing.
``accuracy``
    one row per role.
``accuracy_delta``
    one row per pair: value, estimate, CI, p-value.
``class_shift_summary``, ``class_shift``
    one row per pair; one row per (pair, class).
``fairness``, ``fairness_delta``, ``fairness_per_class``, ``by_group``
    group fairness per (attribute, role, metric); per (attribute, pair, metric); per
    (attribute, role, class, metric); per (attribute, role, group).
``individual``, ``individual_delta``
    individual fairness per (role, metric) and (pair, metric).
``robustness``, ``robustness_delta``, ``robustness_groups``
    per (role, metric), (pair, metric) and (role, label, group).
``sweep``
    one row per temperature-sweep row; an interval ``<metric>_ci`` becomes
    ``<metric>_ci_low`` and ``<metric>_ci_high``.
``gate_checks``
    one row per gate check.
``sanity``, ``warnings``
    one row per sanity finding; one row per warning.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from typing import Any

from kdaudit.auditresult import AuditResult, as_result

__all__ = ["FRAME_NAMES", "report_frames"]

FRAME_NAMES = (
    "models",
    "accuracy",
    "accuracy_delta",
    "class_shift_summary",
    "class_shift",
    "fairness",
    "fairness_delta",
    "fairness_per_class",
    "by_group",
    "individual",
    "individual_delta",
    "robustness",
    "robustness_delta",
    "robustness_groups",
    "sweep",
    "gate_checks",
    "sanity",
    "warnings",
)
_ROLES = ("teacher", "student", "baseline")


def _scalar(value: Any) -> Any:
    """JSON scalars as they are; lists and dicts as compact JSON text (one cell each)."""
    if isinstance(value, (dict, list, tuple)):
        return json.dumps(value, sort_keys=True, separators=(",", ":"))
    return value


def _flat(record: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    """One level of nesting flattened with ``_`` (``noise_floor.value`` -> ``noise_floor_value``)."""
    out: dict[str, Any] = {}
    for key, value in record.items():
        name = f"{prefix}{key}"
        if isinstance(value, Mapping) and not prefix:
            out.update(_flat(value, prefix=f"{name}_"))
        elif (
            isinstance(value, (list, tuple))
            and len(value) == 2
            and name.endswith("_ci")
            and all(v is None or isinstance(v, (int, float)) for v in value)
        ):
            out[f"{name}_low"], out[f"{name}_high"] = value
        else:
            out[name] = _scalar(value)
    return out


def _is_estimate(value: Any) -> bool:
    return isinstance(value, Mapping) and "value" in value


def _estimates(block: Mapping[str, Any], **keys: Any) -> Iterable[dict[str, Any]]:
    """Rows for every ``metric -> {value, ci_low, ...}`` entry of ``block``."""
    for metric, est in block.items():
        if _is_estimate(est):
            yield {**keys, "metric": metric, **_flat(est)}


def _class_name(names: list[str] | None, k: Any) -> Any:
    if names is None or not isinstance(k, int) or not 0 <= k < len(names):
        return None
    return names[k]


def _frame(rows: list[dict[str, Any]], first: Iterable[str] = ()) -> Any:
    import pandas as pd

    frame = pd.DataFrame(rows)
    lead = [c for c in first if c in frame.columns]
    return frame[lead + [c for c in frame.columns if c not in lead]]


def report_frames(result: AuditResult | Mapping[str, Any]) -> dict[str, Any]:
    """Tidy DataFrames of a report's results.

    Parameters
    ----------
    result : AuditResult or mapping
        The audit result (``Report.result``), or a report.json dict.

    Returns
    -------
    dict of str -> pandas.DataFrame
        The frames listed in the module docstring, in that order; a section the report
        does not have gives no frame. Numbers are copied from the report unchanged
        (fractions, not percent).
    """
    report = as_result(result).to_dict()  # the tables flatten report.json's own layout
    names = (report.get("data") or {}).get("class_names")
    rows: dict[str, list[dict[str, Any]]] = {name: [] for name in FRAME_NAMES}

    for role, block in (report.get("models") or {}).items():
        runs = block.get("runs") or [{"path": block.get("path"), "sha256": block.get("sha256")}]
        for i, run in enumerate(runs):
            rows["models"].append(
                {
                    "role": role,
                    "run": i,
                    "path": run.get("path"),
                    "sha256": run.get("sha256"),
                    "format": block.get("format"),
                    "n_classes": block.get("n_classes"),
                    "outputs": block.get("outputs"),
                    "outputs_resolved": block.get("outputs_resolved"),
                    "temperature": block.get("temperature"),
                    "arch": block.get("arch"),
                    "preprocess": _scalar(block.get("preprocess")),
                    "preprocess_source": block.get("preprocess_source"),
                }
            )
    for role, acc in (report.get("accuracy") or {}).items():
        rows["accuracy"].append({"role": role, "accuracy": acc})
    for pair, est in (report.get("accuracy_delta") or {}).items():
        rows["accuracy_delta"].append({"pair": pair, **_flat(est)})

    for pair, res in (report.get("class_shift") or {}).items():
        rows["class_shift_summary"].append(
            {
                "pair": pair,
                **{
                    k: _scalar(v)
                    for k, v in res.items()
                    if k not in ("per_class", "disagreement_matrix")
                },
            }
        )
        for rec in res.get("per_class", []):
            rows["class_shift"].append(
                {
                    "pair": pair,
                    "test": res.get("test"),
                    "class_name": _class_name(names, rec.get("class")),
                    **_flat(rec),
                }
            )

    for attr, block in (report.get("group_fairness") or {}).items():
        for role in [r for r in block if r in _ROLES]:
            rb = block[role]
            rows["fairness"].extend(_estimates(rb, attribute=attr, role=role))
            for g in rb.get("by_group", []):
                rows["by_group"].append({"attribute": attr, "role": role, **_flat(g)})
            for rec in rb.get("per_class") or []:
                k = rec.get("class")
                rows["fairness_per_class"].extend(
                    _estimates(
                        {m: v for m, v in rec.items() if m != "class"},
                        attribute=attr,
                        role=role,
                        **{"class": k, "class_name": _class_name(names, k)},
                    )
                )
        for pair, deltas in (block.get("delta") or {}).items():
            rows["fairness_delta"].extend(_estimates(deltas, attribute=attr, pair=pair))

    ind = report.get("individual_fairness") or {}
    for role in [r for r in ind if r in _ROLES]:
        rows["individual"].extend(_estimates(ind[role], role=role))
    for pair, deltas in (ind.get("delta") or {}).items():
        rows["individual_delta"].extend(_estimates(deltas, pair=pair))

    rob = report.get("robustness") or {}
    for role in [r for r in rob if r in _ROLES]:
        rows["robustness"].extend(_estimates(rob[role], role=role))
        for g in rob[role].get("by_group", []):
            rows["robustness_groups"].append({"role": role, **_flat(g)})
    for pair, deltas in (rob.get("delta") or {}).items():
        rows["robustness_delta"].extend(_estimates(deltas, pair=pair))
    for key in ("distillability", "contribution"):
        if _is_estimate(rob.get(key)):
            rows["robustness"].append({"role": "student", "metric": key, **_flat(rob[key])})

    for row in report.get("temperature_sweep") or []:
        rows["sweep"].append(_flat(row))
    for check in (report.get("gate") or {}).get("checks", []):
        rows["gate_checks"].append(_flat(check))
    for finding in report.get("sanity") or []:
        rows["sanity"].append(_flat(finding))
    for message in report.get("warnings") or []:
        rows["warnings"].append({"message": message})

    first = {
        "fairness": ("attribute", "role", "metric", "value", "estimate", "ci_low", "ci_high"),
        "fairness_delta": (
            "attribute",
            "pair",
            "metric",
            "value",
            "estimate",
            "ci_low",
            "ci_high",
            "p_value",
        ),
        "fairness_per_class": ("attribute", "role", "class", "class_name", "metric", "value"),
        "by_group": ("attribute", "role", "group", "n"),
        "class_shift": ("pair", "class", "class_name"),
        "sweep": ("temperature",),
        "gate_checks": ("name", "verdict", "passed"),
    }
    return {name: _frame(r, first.get(name, ())) for name, r in rows.items() if r}
