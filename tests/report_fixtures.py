"""Report dicts for the report/gate tests, produced by the real audit.

:func:`make_report` runs :func:`kdaudit.compare` on seeded arrays (logits files built
from the labels with a controlled error rate, written to a temporary folder), so every
field a renderer or the gate reads has exactly the shape the analyzers write: there is
no hand-kept copy of the report's layout to drift. Each optional section is switched by
what the audit is given (a baseline, inputs, a split, sweep students, a policy, several
runs, ``--skip``), and ``hostile`` puts markup-injection strings where data strings
reach the pages: group names, class names, an attribute name and the file paths.

Results are cached per argument set (an audit takes well under a second at these
sizes); every call returns a fresh deep copy.
"""

from __future__ import annotations

import copy
import functools
import tempfile
import warnings
from pathlib import Path
from typing import Any

import numpy as np

import kdaudit
from kdaudit.api import AuditOptions
from kdaudit.errors import KDAuditWarning
from kdaudit.gate import Policy

SCRIPT = "<script>alert(1)</script>"
IMG = '"><img src=x onerror=alert(1)>'
HOSTILE_STRINGS = (SCRIPT, IMG)

PAIRS_ALL = ("teacher_vs_student", "baseline_vs_student", "teacher_vs_baseline")
#: The policy of ``gate=True``: the student below fails it on accuracy and EOD.
POLICY = {
    "max_accuracy_drop": 0.02,
    "max_dpd_increase": 0.05,
    "max_eod_increase": 0.05,
    "max_significant_classes": 0,
    "max_lipschitz_increase": 0.005,
}
_TINY = 6  # rows of a group with no positive label, never predicted positive


def _logits(y: np.ndarray, wrong: np.ndarray, n_classes: int, rng: np.random.Generator) -> Any:
    """Logits whose argmax is ``y`` except where ``wrong`` (then another class)."""
    pred = y.copy()
    shift = rng.integers(1, n_classes, size=y.shape[0])
    pred[wrong] = (y[wrong] + shift[wrong]) % n_classes
    z = rng.normal(0.0, 0.5, size=(y.shape[0], n_classes))
    z[np.arange(y.shape[0]), pred] += 3.0
    return z.astype(np.float32)


@functools.cache
def _audit(
    n_classes: int,
    baseline: bool,
    individual_fairness: bool,
    robustness: bool,
    temperature_sweep: bool,
    gate: bool,
    hostile: bool,
    multi_run: bool,
    skip: tuple[str, ...],
    attributes: tuple[str, ...] | None,
    seed: int,
) -> dict[str, Any]:
    rng = np.random.default_rng(seed)
    folder = f"kdaudit-fixture-{IMG}-" if hostile else "kdaudit-fixture-"
    root = Path(tempfile.mkdtemp(prefix=folder))
    n = 2000 if n_classes >= 100 else 900
    y = rng.integers(0, n_classes, size=n)
    if attributes is None:
        attributes = ("sex", IMG) if hostile else ("sex",)
    group_b = f"B {SCRIPT}" if hostile else "B"
    arrays: dict[str, Any] = {"y": y}
    in_b = np.zeros(n, dtype=bool)
    for i, attr in enumerate(attributes):
        groups = np.where(rng.random(n) < 0.4, group_b, "A").astype(object)
        if i == 0:
            in_b = groups == group_b
            if n_classes == 2:  # a tiny group: no positive label, never predicted positive
                groups[:_TINY] = "tiny"
                y[:_TINY] = 0
        arrays[f"sensitive_{attr}"] = groups.astype(str)
    if individual_fairness:
        arrays["x"] = rng.normal(size=(n, 4)).astype(np.float32)
    if robustness:
        arrays["split"] = np.where(rng.random(n) < 0.5, "id", "ood")
    np.savez(root / "eval.npz", **arrays)

    teacher_wrong = rng.random(n) < 0.08
    teacher_wrong[:_TINY] = False
    # the student loses accuracy, most of it in group B: accuracy and EOD get worse
    student_wrong = teacher_wrong | (rng.random(n) < np.where(in_b, 0.2, 0.02))
    student_wrong[:_TINY] = False
    baseline_wrong = rng.random(n) < 0.12
    baseline_wrong[:_TINY] = False
    runs = 2 if multi_run else 1
    paths: dict[str, list[str]] = {}
    roles = [("teacher", teacher_wrong), ("student", student_wrong)]
    if baseline:
        roles.append(("baseline", baseline_wrong))
    for role, wrong in roles:
        paths[role] = []
        for k in range(runs):
            flip = wrong ^ (rng.random(n) < 0.01) if k else wrong
            flip[:_TINY] = False
            path = root / f"{role}_{k}.npy"
            np.save(path, _logits(y, flip, n_classes, rng))
            paths[role].append(str(path))
    sweep = []
    if temperature_sweep:
        for i, t in enumerate((1.0, 2.0, 4.0)):
            wrong = teacher_wrong | (rng.random(n) < 0.02 + 0.02 * i)
            wrong[:_TINY] = False
            path = root / f"student_T{t:g}.npy"
            np.save(path, _logits(y, wrong, n_classes, rng))
            sweep.append((t, str(path)))
    class_names = None
    if hostile and n_classes <= 20:
        class_names = tuple(f"c{k} {SCRIPT}" if k == 0 else f"c{k}" for k in range(n_classes))
    options = AuditOptions(
        bootstrap=30 if n_classes >= 100 else 100,
        seed=seed,
        use_cache=False,
        skip=frozenset(skip) | ({"robustness"} if not robustness else set()),
        class_names=class_names,
    )
    with warnings.catch_warnings():  # the tiny group's notes are in the report
        warnings.simplefilter("ignore", KDAuditWarning)
        report = _compare(paths, baseline, multi_run, root, attributes, options, sweep, gate)
    return report.data


def _compare(
    paths: dict[str, list[str]],
    baseline: bool,
    multi_run: bool,
    root: Path,
    attributes: tuple[str, ...],
    options: AuditOptions,
    sweep: list[tuple[float, str]],
    gate: bool,
) -> Any:
    return kdaudit.compare(
        paths["teacher"] if multi_run else paths["teacher"][0],
        paths["student"] if multi_run else paths["student"][0],
        baseline=(paths["baseline"] if multi_run else paths["baseline"][0]) if baseline else None,
        data=str(root / "eval.npz"),
        sensitive=list(attributes),
        options=options,
        sweep=sweep or None,
        policy=Policy.from_dict(POLICY, source="tests") if gate else None,
    )


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
    """A report.json dict written by the real audit on seeded arrays (a fresh copy).

    Parameters
    ----------
    n_classes : int
        2 gives a binary task (with a tiny group that has no positives); more gives
        one-vs-rest ``per_class`` group fairness.
    baseline : bool
        Audit a non-distilled baseline too (its pairs appear).
    individual_fairness : bool
        Give the data inputs ``x``; without them individual fairness is skipped with
        a note (every model is a logits file).
    robustness : bool
        Give the data a ``split`` array (in/out of distribution).
    temperature_sweep : bool
        Three sweep students (T = 1, 2, 4).
    gate : bool
        Judge the report with :data:`POLICY` (the student fails it).
    hostile : bool
        Markup-injection strings in group, class and attribute names and the paths.
    multi_run : bool
        Two runs per role: class shift in "multi_run" mode.
    skip : tuple of str
        Analyses to skip (``AuditOptions.skip``).
    attributes : tuple of str, optional
        Sensitive attribute names (default: "sex", plus a hostile one when ``hostile``).
    seed : int
        Seed of the data, the models and the bootstrap.
    """
    return copy.deepcopy(
        _audit(
            n_classes,
            baseline,
            individual_fairness,
            robustness,
            temperature_sweep,
            gate,
            hostile,
            multi_run,
            tuple(skip),
            None if attributes is None else tuple(attributes),
            seed,
        )
    )


def all_variants() -> dict[str, dict[str, Any]]:
    """Named reports covering each optional section on and off."""
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
