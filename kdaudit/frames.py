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

from kdaudit.auditresult import (
    AuditResult,
    Estimate,
    JsonMap,
    ModelRun,
    Node,
    as_result,
    thaw,
)
from kdaudit.vocab import ROLES

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


def _scalar(value: Any) -> Any:
    """JSON scalars as they are; lists and objects as compact JSON text (one cell each)."""
    if isinstance(value, (Node, JsonMap, tuple, list, dict)):
        return json.dumps(thaw(value), sort_keys=True, separators=(",", ":"))
    return value


def _items(record: Node | JsonMap) -> list[tuple[str, Any]]:
    if isinstance(record, JsonMap):
        return list(record.items())
    return record.fields_in_order()


def _flat(record: Node | JsonMap, prefix: str = "") -> dict[str, Any]:
    """One level of nesting flattened with ``_`` (``noise_floor.value`` -> ``noise_floor_value``)."""
    out: dict[str, Any] = {}
    for key, value in _items(record):
        name = f"{prefix}{key}"
        if isinstance(value, (Node, JsonMap)) and not prefix:
            out.update(_flat(value, prefix=f"{name}_"))
        elif (
            isinstance(value, tuple)
            and len(value) == 2
            and name.endswith("_ci")
            and all(v is None or isinstance(v, (int, float)) for v in value)
        ):
            out[f"{name}_low"], out[f"{name}_high"] = value
        else:
            out[name] = _scalar(value)
    return out


def _estimates(block: Node, *, skip: str | None = None, **keys: Any) -> Iterable[dict[str, Any]]:
    """Rows for every ``metric -> {value, ci_low, ...}`` entry of ``block``."""
    for metric, est in block.fields_in_order():
        if metric != skip and _is_estimate(est):
            yield {**keys, "metric": metric, **_flat(est)}


def _is_estimate(value: Any) -> bool:
    if isinstance(value, Estimate):
        return value.has("value")
    return isinstance(value, JsonMap) and "value" in value


def _class_name(names: tuple[str, ...] | None, k: Any) -> Any:
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
    r = as_result(result)
    names = None if r.data is None else r.data.class_names
    rows: dict[str, list[dict[str, Any]]] = {name: [] for name in FRAME_NAMES}

    for model in r.models:
        runs = model.runs or (ModelRun(path=model.path, sha256=model.sha256),)
        for i, run in enumerate(runs):
            rows["models"].append(
                {
                    "role": model.role,
                    "run": i,
                    "path": run.path,
                    "sha256": run.sha256,
                    "format": model.format,
                    "n_classes": model.n_classes,
                    "outputs": model.outputs,
                    "outputs_resolved": model.outputs_resolved,
                    "temperature": model.temperature,
                    "arch": model.arch,
                    "preprocess": _scalar(model.preprocess),
                    "preprocess_source": model.preprocess_source,
                }
            )
    for acc in r.accuracy:
        rows["accuracy"].append({"role": acc.role, "accuracy": acc.value})
    for est in r.accuracy_delta:
        rows["accuracy_delta"].append({"pair": est.pair, **_flat(est)})

    for res in r.class_shift:
        rows["class_shift_summary"].append(
            {
                "pair": res.pair,
                **{
                    k: _scalar(v)
                    for k, v in res.fields_in_order()
                    if k not in ("per_class", "disagreement_matrix")
                },
            }
        )
        for rec in res.per_class:
            rows["class_shift"].append(
                {
                    "pair": res.pair,
                    "test": res.test,
                    "class_name": _class_name(names, rec.class_),
                    **_flat(rec),
                }
            )

    for block in r.group_fairness:
        attr = block.attribute
        for role in [k for k in block.key_order if k in ROLES]:
            rb = block.role(role)
            if rb is None:
                continue
            rows["fairness"].extend(_estimates(rb, attribute=attr, role=role))
            for g in rb.by_group:
                rows["by_group"].append({"attribute": attr, "role": role, **_flat(g)})
            for per_class in rb.per_class:
                k = per_class.class_
                rows["fairness_per_class"].extend(
                    _estimates(
                        per_class,
                        skip="class",
                        attribute=attr,
                        role=role,
                        **{"class": k, "class_name": _class_name(names, k)},
                    )
                )
        for deltas in block.delta:
            rows["fairness_delta"].extend(_estimates(deltas, attribute=attr, pair=deltas.pair))

    ind = r.individual_fairness
    if ind is not None:
        for role in [k for k in ind.key_order if k in ROLES]:
            numbers = ind.role(role)
            if numbers is not None:
                rows["individual"].extend(_estimates(numbers, role=role))
        for ind_delta in ind.delta:
            rows["individual_delta"].extend(_estimates(ind_delta, pair=ind_delta.pair))

    rob = r.robustness
    if rob is not None:
        for role in [k for k in rob.key_order if k in ROLES]:
            block_r = rob.role(role)
            if block_r is None:
                continue
            rows["robustness"].extend(_estimates(block_r, role=role))
            for grp in block_r.by_group:
                rows["robustness_groups"].append({"role": role, **_flat(grp)})
        for rdelta in rob.delta:
            rows["robustness_delta"].extend(_estimates(rdelta, pair=rdelta.pair))
        for key, value in (
            ("distillability", rob.distillability),
            ("contribution", rob.contribution),
        ):
            if value is not None and _is_estimate(value):
                rows["robustness"].append({"role": "student", "metric": key, **_flat(value)})

    for point in r.temperature_sweep:
        rows["sweep"].append(_flat(point))
    for check in r.gate.checks if r.gate is not None else ():
        rows["gate_checks"].append(_flat(check))
    for finding in r.sanity:
        rows["sanity"].append(_flat(finding))
    for message in r.warnings:
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
