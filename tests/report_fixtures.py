"""Realistic report dicts for the report/gate tests (no analysis is run).

:func:`make_report` builds a JSON-native dict shaped like the one ``kdaudit.api``
writes (INTERFACE.md + docs/architecture.md), with every optional section
switchable and hostile strings in group names, class names and file paths.
"""

from __future__ import annotations

import copy
from typing import Any

import numpy as np

SCRIPT = "<script>alert(1)</script>"
IMG = '"><img src=x onerror=alert(1)>'
HOSTILE_STRINGS = (SCRIPT, IMG)

PAIRS_ALL = ("teacher_vs_student", "baseline_vs_student", "teacher_vs_baseline")


def _r(x: float, nd: int = 6) -> float:
    return round(float(x), nd)


def _est(
    rng: np.random.Generator,
    centre: float,
    spread: float,
    *,
    p: bool = False,
    lo: float | None = 0.0,
) -> dict[str, Any]:
    v = centre + rng.normal(0, spread / 4)
    if lo is not None:
        v = max(lo, v)
    out: dict[str, Any] = {"value": _r(v), "ci_low": _r(v - spread), "ci_high": _r(v + spread)}
    if lo is not None:
        out["ci_low"] = max(lo, out["ci_low"])
    if p:
        out["p_value"] = _r(min(1.0, abs(rng.normal(0.2, 0.2))))
    return out


def make_report(
    *,
    n_classes: int = 2,
    baseline: bool = True,
    individual_fairness: bool = True,
    robustness: bool = True,
    temperature_sweep: bool = False,
    gate: bool = False,
    hostile: bool = True,
    multi_run: bool = False,
    skip: tuple[str, ...] = (),
    attributes: tuple[str, ...] | None = None,
    seed: int = 0,
) -> dict[str, Any]:
    """Return a report dict (schema_version "1").

    Parameters
    ----------
    n_classes : int
        2 gives a binary task; more gives one-vs-rest ``per_class`` group fairness.
    baseline, individual_fairness, robustness, temperature_sweep, gate : bool
        Include the baseline role (and its pairs) / each optional section.
    hostile : bool
        Put markup-injection strings into paths, group names and class names.
    multi_run : bool
        Several runs per role: class shift in "multi_run" mode.
    skip : tuple of str
        Analyses named in ``skipped`` and left out ("class_shift", "group_fairness",
        "individual_fairness").
    attributes : tuple of str, optional
        Sensitive attribute names (default: "sex" plus a hostile one when ``hostile``).
    seed : int
        Seed for the made-up numbers.
    """
    rng = np.random.default_rng(seed)
    roles = ["teacher", "student"] + (["baseline"] if baseline else [])
    pairs = [p for p in PAIRS_ALL if all(r in roles for r in p.split("_vs_"))]
    if attributes is None:
        attributes = ("sex", SCRIPT) if hostile else ("sex", "race")
    n_samples = 5000 if n_classes <= 100 else 50_000

    def cls_name(c: int) -> int | str:
        if hostile and c < 2:
            return HOSTILE_STRINGS[c] + f" #{c}"
        return c

    models: dict[str, Any] = {}
    for i, role in enumerate(roles):
        path = f"models/{role}.onnx" if not hostile else f"models/{IMG}{role}.onnx"
        sha = f"{i:x}" * 64
        runs = [{"path": path, "sha256": sha}]
        if multi_run:
            runs += [
                {"path": path.replace(".onnx", f"_seed{s}.onnx"), "sha256": f"{s + 5:x}" * 64}
                for s in range(1, 5)
            ]
        models[role] = {
            "path": path,
            "sha256": sha,
            "format": "onnx",
            "n_classes": n_classes,
            "runs": runs,
            "temperature": 4.0 if role == "student" else None,
            "outputs": "logits",
            "arch": None,
        }

    acc_base = {"teacher": 0.91, "student": 0.885, "baseline": 0.87}
    accuracy = {r: _r(acc_base[r] + rng.normal(0, 0.003)) for r in roles}
    accuracy_delta = {}
    for p in pairs:
        a, b = p.split("_vs_")
        d = accuracy[b] - accuracy[a]
        accuracy_delta[p] = {
            "value": _r(d),
            "ci_low": _r(d - 0.008),
            "ci_high": _r(d + 0.008),
            "p_value": _r(0.001 if abs(d) > 0.01 else 0.3),
        }

    report: dict[str, Any] = {
        "schema_version": "1",
        "kdaudit_version": "0.1.0",
        "created": "2025-01-02T03:04:05Z",
        "models": models,
        "data": {
            "path": "data/eval.npz" if not hostile else f"data/{SCRIPT}.npz",
            "sha256": "ab" * 32,
            "n_samples": n_samples,
            "label": "y",
            "sensitive": list(attributes),
            "fingerprint": "cd" * 8,
            "has_inputs": individual_fairness,
            "has_split": robustness,
        },
        "config": {
            "alpha": 0.05,
            "correction": "fdr_bh",
            "bootstrap": 1000,
            "seed": 0,
            "confidence": 0.95,
            "min_group_size": 30,
            "positive_label": 1,
            "intersectional": False,
            "knn_k": 5,
            "distance": "euclidean",
            "space": "standardized",
            "batch_size": 256,
            "device": "cpu",
            "cache": True,
            "skip": list(skip),
            "runs_used_for_single_run_analyses": 0,
        },
        "accuracy": accuracy,
        "accuracy_delta": accuracy_delta,
        "skipped": {},
        "warnings": [f"group {SCRIPT!r} has only 12 samples"] if hostile else [],
        "provenance": {
            "command_line": (
                f"kdaudit compare models/teacher.onnx models/student.onnx "
                f"--data '{SCRIPT}.npz' --seed 0"
            ),
            "user": "ci" if not hostile else IMG,
            "host": "runner-1",
            "python": "3.11.9",
            "platform": "Linux-6.1-x86_64",
            "packages": {"numpy": "2.1.0", "scipy": "1.14.1", "kdaudit": "0.1.0"},
            "started": "2025-01-02T03:04:00Z",
            "finished": "2025-01-02T03:04:05Z",
        },
    }

    if "class_shift" not in skip:
        cs: dict[str, Any] = {}
        for k, p in enumerate(pairs):
            per_class = []
            n_sig = 0
            n_sig_raw = 0
            for c in range(n_classes):
                n = int(n_samples // n_classes)
                acc_a = float(np.clip(rng.normal(0.9, 0.04), 0, 1))
                shift = rng.normal(0, 0.02) - (0.08 if c % 7 == 3 else 0.0)
                acc_b = float(np.clip(acc_a + shift, 0, 1))
                pv = _r(min(1.0, abs(rng.normal(0, 0.3))) if c % 7 != 3 else 1e-4, 8)
                padj = _r(min(1.0, pv * 3), 8)
                sig = padj < 0.05
                n_sig += sig
                n_sig_raw += pv < 0.05
                row: dict[str, Any] = {
                    "class": cls_name(c),
                    "n": n,
                    "acc_a": _r(acc_a),
                    "acc_b": _r(acc_b),
                    "p_value": pv,
                    "p_adjusted": padj,
                    "significant": bool(sig),
                    "newly_wrong": int(rng.integers(0, 40)),
                    "newly_right": int(rng.integers(0, 30)),
                    "disagreement_rate": _r(rng.uniform(0.01, 0.15)),
                }
                if multi_run:
                    row.update(
                        ratio_mean_a=_r(acc_a / 0.9),
                        ratio_mean_b=_r(acc_b / 0.88),
                        ratio_std_a=_r(0.01),
                        ratio_std_b=_r(0.012),
                    )
                per_class.append(row)
            if n_classes <= 200:
                mat = rng.integers(0, 20, size=(n_classes, n_classes))
            else:  # large and sparse, as a real 1,000-class confusion would be
                mat = rng.integers(0, 20, size=(n_classes, n_classes)) * (
                    rng.random((n_classes, n_classes)) < 0.02
                )
            np.fill_diagonal(mat, 0)
            entry: dict[str, Any] = {
                "test": "welch_t" if multi_run else "mcnemar_exact",
                "mode": "multi_run" if multi_run else "single_run",
                "alpha": 0.05,
                "correction": "fdr_bh",
                "n_significant": int(n_sig),
                "n_significant_uncorrected": int(n_sig_raw),
                "disagreement_rate": _r(0.05 + 0.01 * k),
                "per_class": per_class,
                "disagreement_matrix": mat.astype(int).tolist(),
            }
            if multi_run:
                entry.update(n_runs_a=5, n_runs_b=5)
            cs[p] = entry
        report["class_shift"] = cs
    else:
        report["skipped"]["class_shift"] = "skipped with --skip class_shift"

    if "group_fairness" not in skip:
        gf: dict[str, Any] = {}
        for j, attr in enumerate(attributes):
            groups = (
                ["female", "male", "nonbinary"]
                if j == 0
                else [SCRIPT, IMG, "other"]
                if hostile
                else ["a", "b", "c"]
            )
            entry = {}
            base_dpd = {"teacher": 0.05, "student": 0.08, "baseline": 0.09}
            for role in roles:
                by_group = []
                for g_i, g in enumerate(groups):
                    n = 12 if g_i == 2 else int(n_samples * 0.45)
                    tpr: float | None = _r(rng.uniform(0.7, 0.95))
                    row = {
                        "group": g,
                        "n": n,
                        "selection_rate": _r(rng.uniform(0.3, 0.5)),
                        "tpr": tpr,
                        "fpr": _r(rng.uniform(0.02, 0.1)),
                        "accuracy": _r(rng.uniform(0.8, 0.95)),
                        "small": n < 30,
                    }
                    if g_i == 2 and role == "student":
                        row["tpr"] = None
                        row["undefined_reason"] = "no positive samples in this group"
                    by_group.append(row)
                rd: dict[str, Any] = {
                    "demographic_parity_difference": _est(rng, base_dpd[role], 0.02),
                    "equalized_odds_difference": _est(rng, base_dpd[role] + 0.01, 0.025),
                    "equal_opportunity_difference": _est(rng, base_dpd[role], 0.02),
                    "demographic_parity_ratio": _est(rng, 0.85, 0.05),
                    "worst_group_accuracy": _est(rng, 0.8, 0.03),
                    "by_group": by_group,
                }
                if n_classes > 2:
                    rd["per_class"] = [
                        {
                            "class": cls_name(c),
                            "demographic_parity_difference": _est(rng, 0.04, 0.02),
                            "equalized_odds_difference": _est(rng, 0.05, 0.02),
                        }
                        for c in range(min(n_classes, 1000))
                    ]
                    rd["mean_over_classes"] = {
                        "demographic_parity_difference": _est(rng, 0.03, 0.01),
                        "equalized_odds_difference": _est(rng, 0.04, 0.01),
                    }
                if role == "baseline" and j == 1:
                    rd["demographic_parity_ratio"] = {
                        "value": None,
                        "ci_low": None,
                        "ci_high": None,
                        "undefined_reason": "a group has selection rate 0",
                    }
                entry[role] = rd
            delta = {}
            for p in pairs:
                a, b = p.split("_vs_")
                dd = {}
                for m in ("demographic_parity_difference", "equalized_odds_difference"):
                    v = entry[b][m]["value"] - entry[a][m]["value"]
                    dd[m] = {
                        "value": _r(v),
                        "ci_low": _r(v - 0.015),
                        "ci_high": _r(v + 0.015),
                        "p_value": _r(0.01 if v > 0.015 else 0.4),
                    }
                delta[p] = dd
            entry["delta"] = delta
            entry["groups_flagged"] = [groups[2]]
            gf[attr] = entry
        report["group_fairness"] = gf
    else:
        report["skipped"]["group_fairness"] = "skipped with --skip group_fairness"

    if individual_fairness and "individual_fairness" not in skip:
        ind: dict[str, Any] = {
            "config": {
                "k": 5,
                "space": "standardized",
                "distance": "euclidean",
                "n_pairs": n_samples * 5,
                "n_zero_distance_pairs": 3,
            }
        }
        lip = {"teacher": 0.016, "student": 0.0384, "baseline": 0.0462}
        for role in roles:
            ind[role] = {
                "lipschitz": _est(rng, lip[role], 0.002),
                "consistency": {"value": _r(rng.uniform(0.9, 0.98))},
            }
        ind["student"]["counterfactual"] = {
            "mean_distance": _est(rng, 0.02, 0.005),
            "flip_rate": {"value": 0.013},
        }
        report["individual_fairness"] = ind
    elif not individual_fairness:
        report["skipped"]["individual_fairness"] = "no inputs: every model is a logits file"
    else:
        report["skipped"]["individual_fairness"] = "skipped with --skip individual_fairness"

    if robustness:  # the shape of kdaudit.analysis.robustness.RobustnessResult.to_dict()
        rob: dict[str, Any] = {
            "config": {
                "attribute_name": attributes[0],
                "n_samples": 5000,
                "splits": ["in", "out"],
                "reference_split": "in",
                "reference_split_rule": "recognised in-distribution name",
                "gap_definition": "reference_minus_worst_split",
                "group_definition": "label x attribute",
                "distillability_definition": "(gap(baseline) - gap(student)) / (gap(baseline) - gap(teacher))",
                "contribution_definition": "gap(student) - gap(baseline)",
                "min_group_size": 30,
                "n_bootstrap": 1000,
                "confidence": 0.95,
                "seed": 0,
            }
        }
        for role in roles:
            rob[role] = {
                "accuracy": _est(rng, 0.9, 0.01),
                "gap": _est(rng, 0.12, 0.02),
                "worst_group_accuracy": _est(rng, 0.7, 0.03),
                "worst_group": {
                    "label": 1,
                    "group": SCRIPT if hostile else "b",
                    "n": 40,
                    "accuracy": 0.7,
                    "small": False,
                },
                "by_split": [
                    {"split": "in", "n": 4000, "accuracy": 0.92},
                    {"split": "out" if not hostile else SCRIPT, "n": 1000, "accuracy": 0.8},
                ],
                "by_group": [
                    {"label": lab, "group": g, "n": 500, "accuracy": 0.9, "small": False}
                    for lab in (0, 1)
                    for g in ("a", "b")
                ],
            }
        rob["delta"] = {
            p: {
                k: _est(rng, 0.0, 0.02, p=True, lo=None)
                for k in ("accuracy", "gap", "worst_group_accuracy")
            }
            for p in pairs
        }
        rob["distillability"] = {
            **_est(rng, 0.6, 0.1, lo=None),
            "gap_reduction_teacher": 0.05,
            "gap_reduction_student": 0.03,
            "n_dropped": 0,
        }
        if baseline:
            rob["contribution"] = _est(rng, 0.02, 0.01, p=True, lo=None)
        report["robustness"] = rob

    if temperature_sweep:
        rows = []
        for t in (1, 2, 4, 5, 10, 20, 40):
            rows.append(
                {
                    "temperature": float(t),
                    "path": f"models/student_T{t}.onnx",
                    "accuracy": _r(0.86 + 0.002 * min(t, 10)),
                    "n_sc": int(min(t, 10) * 3),
                    "n_tc": int(30 - min(t, 10) * 2),
                    "demographic_parity_difference": _r(
                        0.09 - 0.003 * min(t, 10) + 0.001 * max(0, t - 10)
                    ),
                    "equalized_odds_difference": _r(
                        0.1 - 0.003 * min(t, 10) + 0.001 * max(0, t - 10)
                    ),
                    "lipschitz": _r(0.045 - 0.001 * min(t, 10)) if individual_fairness else None,
                }
            )
        report["temperature_sweep"] = rows

    if gate:
        report["gate"] = {
            "passed": False,
            "judge": "upper_bound",
            "checks": [
                {
                    "name": "max_accuracy_drop",
                    "value": 0.033,
                    "threshold": 0.02,
                    "passed": False,
                    "judged_on": "upper_bound",
                    "detail": "teacher minus student accuracy, upper CI bound",
                },
                {
                    "name": "max_dpd_increase",
                    "value": 0.004,
                    "threshold": 0.01,
                    "passed": True,
                    "judged_on": "upper_bound",
                    "detail": f"worst attribute {SCRIPT}",
                },
            ],
        }
    return copy.deepcopy(report)


def all_variants() -> dict[str, dict[str, Any]]:
    """Named fixtures covering each optional section on and off."""
    return {
        "binary_full": make_report(temperature_sweep=True, gate=True),
        "binary_minimal": make_report(
            baseline=False, individual_fairness=False, robustness=False, hostile=False
        ),
        "multiclass_10": make_report(n_classes=10, temperature_sweep=True),
        "multiclass_multi_run": make_report(n_classes=10, multi_run=True, gate=True),
        "skip_all": make_report(
            skip=("class_shift", "group_fairness", "individual_fairness"), robustness=False
        ),
        "no_baseline": make_report(baseline=False, n_classes=5),
    }
