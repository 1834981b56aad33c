"""Reports produced by the real analyzers (kdaudit.compare) on small seeded data.

Renderer tests use these instead of hand-written dicts, so every field a page shows
has the exact shape the analyzers write. Models are logits files (``.npy``) built
from the labels with controlled accuracy, so each scenario's outcome is known:

* ``"pass"``: the student is the teacher with a few flipped predictions;
* ``"fail"``: the student loses accuracy, most of it in one group (DPD/EOD rise);
* ``"inconclusive"``: few rows and a modest drop: intervals straddle the margins.
"""

from __future__ import annotations

import copy
import functools
import tempfile
from pathlib import Path
from typing import Any

import numpy as np

import kdaudit
from kdaudit.api import AuditOptions
from kdaudit.gate import Policy

SCRIPT = "<script>alert(1)</script>"
POLICY = {
    "max_accuracy_drop": 0.02,
    "max_dpd_increase": 0.05,
    "max_eod_increase": 0.05,
    "max_significant_classes": 0,
}
_SIZES = {"pass": 1200, "fail": 1200, "inconclusive": 160}


def _logits(
    y: np.ndarray, wrong: np.ndarray, n_classes: int, rng: np.random.Generator
) -> np.ndarray:
    """Logits whose argmax is y, except where ``wrong`` (then another class)."""
    pred = y.copy()
    shift = rng.integers(1, n_classes, size=y.shape[0])
    pred[wrong] = (y[wrong] + shift[wrong]) % n_classes
    z = rng.normal(0.0, 0.5, size=(y.shape[0], n_classes))
    z[np.arange(y.shape[0]), pred] += 3.0
    return z.astype(np.float32)


def _write_task(
    root: Path, scenario: str, n_classes: int, seed: int, hostile: bool, sweep: int
) -> dict[str, Any]:
    rng = np.random.default_rng(seed)
    n = _SIZES[scenario]
    x = rng.normal(size=(n, 4)).astype(np.float32)
    y = rng.integers(0, n_classes, size=n)
    group_b = "B" if not hostile else f"B {SCRIPT}"
    sex = np.where(rng.random(n) < 0.4, group_b, "A")
    split = np.where(rng.random(n) < 0.5, "id", "ood")
    np.savez(root / "eval.npz", x=x, y=y, sensitive_sex=sex, split=split)
    in_b = sex == group_b
    teacher_wrong = rng.random(n) < 0.08
    if scenario == "pass":
        student_wrong = teacher_wrong ^ (rng.random(n) < 0.004)
    elif scenario == "fail":
        student_wrong = teacher_wrong | (rng.random(n) < np.where(in_b, 0.25, 0.02))
    else:
        student_wrong = teacher_wrong | (rng.random(n) < np.where(in_b, 0.05, 0.01))
    baseline_wrong = rng.random(n) < 0.12
    paths: dict[str, Any] = {"data": root / "eval.npz"}
    for role, wrong in (
        ("teacher", teacher_wrong),
        ("student", student_wrong),
        ("baseline", baseline_wrong),
    ):
        np.save(root / f"{role}.npy", _logits(y, wrong, n_classes, rng))
        paths[role] = root / f"{role}.npy"
    paths["sweep"] = []
    for i, t in enumerate((1.0, 2.0, 4.0, 8.0, 16.0)[:sweep]):
        wrong = teacher_wrong | (rng.random(n) < 0.02 + 0.01 * i)
        np.save(root / f"student_T{t:g}.npy", _logits(y, wrong, n_classes, rng))
        paths["sweep"].append((t, root / f"student_T{t:g}.npy"))
    return paths


@functools.cache
def _cached(
    scenario: str, n_classes: int, seed: int, hostile: bool, sweep: int, gate: bool
) -> dict[str, Any]:
    root = Path(tempfile.mkdtemp(prefix=f"kdaudit-real-{scenario}-"))
    p = _write_task(root, scenario, n_classes, seed, hostile, sweep)
    options = AuditOptions(bootstrap=200, seed=seed, cache_dir=str(root / "cache"), use_cache=False)
    report = kdaudit.compare(
        str(p["teacher"]),
        str(p["student"]),
        baseline=str(p["baseline"]),
        data=str(p["data"]),
        sensitive=["sex"],
        options=options,
        sweep=[(t, str(m)) for t, m in p["sweep"]],
        policy=Policy.from_dict(POLICY, source="tests") if gate else None,
    )
    return report.data


def real_report(
    scenario: str = "fail",
    *,
    n_classes: int = 2,
    seed: int = 0,
    hostile: bool = False,
    sweep: int = 0,
    gate: bool = True,
) -> dict[str, Any]:
    """A report.json dict from kdaudit.compare on generated data (a fresh deep copy).

    Parameters
    ----------
    scenario : {"pass", "fail", "inconclusive"}
    n_classes : int
    seed : int
    hostile : bool
        Put a markup-injection string into a group name.
    sweep : int
        Number of extra students (temperatures 1, 2, 4, ...) for the sweep view.
    gate : bool
        Judge with :data:`POLICY` through the real gate.
    """
    return copy.deepcopy(_cached(scenario, n_classes, seed, hostile, sweep, gate))


def new_shape_gate(
    gate: dict[str, Any], report: dict[str, Any], *, on_inconclusive: str = "fail"
) -> dict[str, Any]:
    """The gate in CONTRACT.md's three-way shape, as gate.py will write it.

    Used until the gate emits ``verdict``/``sentence`` itself: a check passes when the
    interval's upper end is within the margin, fails when its lower end is beyond it,
    and is inconclusive otherwise. The sentences are deliberately distinct from the
    renderers' own wording so tests can see that they are reused verbatim.
    """
    out = copy.deepcopy(gate)
    verdicts = []
    for c in out["checks"]:
        lo = hi = c.get("value")
        metric = {
            "max_dpd_increase": "demographic_parity_difference",
            "max_eod_increase": "equalized_odds_difference",
        }.get(c["name"])
        if c["name"] == "max_accuracy_drop":
            d = report["accuracy_delta"]["teacher_vs_student"]
            lo, hi = -d["ci_high"], -d["ci_low"]
        elif metric:
            attr, entry = next(iter(report["group_fairness"].items()))
            d = entry["delta"]["teacher_vs_student"][metric]
            lo, hi = d["ci_low"], d["ci_high"]
            c["attribute"] = attr
        if lo is None:
            verdict = "fail"
        elif hi <= c["threshold"]:
            verdict = "pass"
        elif lo > c["threshold"]:
            verdict = "fail"
        else:
            verdict = "inconclusive"
        c.update(
            verdict=verdict,
            ci_low=lo,
            ci_high=hi,
            min_detectable=0.031,
            rows_needed=4200 if verdict == "inconclusive" else None,
            passed=verdict == "pass",
            release_ok=verdict == "pass"
            or (verdict == "inconclusive" and on_inconclusive == "pass"),
            sentence=f"GATE-SENTENCE {c['name']} judged {verdict} <&> 'quoted'",
        )
        verdicts.append(verdict)
    overall = (
        "fail" if "fail" in verdicts else "inconclusive" if "inconclusive" in verdicts else "pass"
    )
    out.update(
        verdict=overall,
        on_inconclusive=on_inconclusive,
        passed=overall == "pass",
        release_ok=overall == "pass" or (overall == "inconclusive" and on_inconclusive == "pass"),
        family={"method": "holm", "alpha": 0.05, "n_checks": len(verdicts), "note": "test"},
    )
    return out
