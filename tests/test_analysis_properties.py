"""Properties stated once and checked over every analyzer (scikit-learn's test_common style).

* shuffling rows changes nothing (every analyzer reduces rows to cells, so even
  the seeded bootstrap is unchanged);
* renaming groups changes no point value (group-aware analyzers);
* identical teacher and student give zero shift, zero deltas and p = 1.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable
from typing import Any

import numpy as np
import pytest

from kdaudit.analysis.accuracy import accuracy_analysis
from kdaudit.analysis.class_shift import class_shift, class_shift_multirun
from kdaudit.analysis.group_fairness import group_fairness
from kdaudit.errors import KDAuditWarning

N_CLASSES = 4
PAIRS = [("teacher", "student"), ("baseline", "student")]


def _data(seed: int = 0, n: int = 800) -> dict[str, Any]:
    rng = np.random.default_rng(seed)
    y = rng.integers(0, N_CLASSES, size=n)
    s = rng.choice(np.array(["g1", "g2", "g3"]), size=n)

    def model(acc: float) -> np.ndarray:
        return np.where(rng.random(n) < acc, y, rng.integers(0, N_CLASSES, size=n))

    return {
        "y": y,
        "s": s,
        "preds": {"teacher": model(0.85), "student": model(0.7), "baseline": model(0.65)},
        "runs_t": [model(a) for a in (0.85, 0.83, 0.86)],
        "runs_s": [model(a) for a in (0.7, 0.72, 0.69)],
    }


def _quiet(fn: Callable[[], Any]) -> Any:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", KDAuditWarning)
        return fn()


Analyzer = Callable[[dict[str, Any]], dict[str, Any]]

ANALYZERS: dict[str, Analyzer] = {
    "accuracy": lambda d: accuracy_analysis(
        d["y"], d["preds"], pairs=PAIRS, n_bootstrap=100
    ).to_dict(),
    "class_shift": lambda d: class_shift(
        d["y"], d["preds"]["teacher"], d["preds"]["student"], n_classes=N_CLASSES
    ).to_dict(),
    "class_shift_multirun": lambda d: class_shift_multirun(
        d["y"], d["runs_t"], d["runs_s"], n_classes=N_CLASSES
    ).to_dict(),
    "group_fairness_multiclass": lambda d: _quiet(
        lambda: group_fairness(
            d["y"], d["preds"], d["s"], n_classes=N_CLASSES, pairs=PAIRS, n_bootstrap=100
        ).to_dict()
    ),
    "group_fairness_binary": lambda d: _quiet(
        lambda: group_fairness(
            d["y"] % 2,
            {k: v % 2 for k, v in d["preds"].items()},
            d["s"],
            n_classes=2,
            pairs=PAIRS,
            n_bootstrap=100,
        ).to_dict()
    ),
}
GROUP_AWARE = ["group_fairness_multiclass", "group_fairness_binary"]


def _permuted(d: dict[str, Any], perm: np.ndarray) -> dict[str, Any]:
    return {
        "y": d["y"][perm],
        "s": d["s"][perm],
        "preds": {k: v[perm] for k, v in d["preds"].items()},
        "runs_t": [r[perm] for r in d["runs_t"]],
        "runs_s": [r[perm] for r in d["runs_s"]],
    }


@pytest.mark.parametrize("name", list(ANALYZERS))
def test_shuffling_rows_changes_nothing(name: str) -> None:
    d = _data()
    perm = np.random.default_rng(1).permutation(d["y"].shape[0])
    assert ANALYZERS[name](d) == ANALYZERS[name](_permuted(d, perm))


def _values(tree: Any, path: str = "") -> dict[str, Any]:
    """Every leaf called ``value`` (point estimates), keyed by path, group names dropped."""
    out: dict[str, Any] = {}
    if isinstance(tree, dict):
        for k, v in tree.items():
            if k in ("by_group", "groups_flagged"):
                continue
            out.update(_values(v, f"{path}/{k}"))
    elif isinstance(tree, list):
        for i, v in enumerate(tree):
            out.update(_values(v, f"{path}[{i}]"))
    elif path.endswith("/value"):
        out[path] = tree
    return out


@pytest.mark.parametrize("name", GROUP_AWARE)
def test_renaming_groups_changes_no_point_value(name: str) -> None:
    d = _data()
    renamed = dict(d, s=np.array([{"g1": "z", "g2": "a", "g3": "m"}[x] for x in d["s"]]))
    a, b = _values(ANALYZERS[name](d)), _values(ANALYZERS[name](renamed))
    assert a.keys() == b.keys() and len(a) > 10
    for k in a:
        assert a[k] == pytest.approx(b[k], abs=1e-14), k


def _identical(d: dict[str, Any]) -> dict[str, Any]:
    t = d["preds"]["teacher"]
    return dict(
        d,
        preds={"teacher": t, "student": t.copy(), "baseline": t.copy()},
        runs_s=[r.copy() for r in d["runs_t"]],
    )


@pytest.mark.parametrize("name", list(ANALYZERS))
def test_identical_teacher_and_student_give_no_change(name: str) -> None:
    out = ANALYZERS[name](_identical(_data()))
    if name.startswith("class_shift"):
        assert out["n_significant"] == out["n_significant_uncorrected"] == 0
        assert all(r["p_value"] == pytest.approx(1.0) for r in out["per_class"])
        assert not np.any(out["disagreement_matrix"])
        if name == "class_shift":
            assert out["disagreement_rate"] == 0.0
            assert all(r["newly_wrong"] == r["newly_right"] == 0 for r in out["per_class"])
        # multi-run disagreement averages over all (run of A, run of B) combinations,
        # so different seeds of the same recipe still disagree: that is by design
        return
    deltas = out["accuracy_delta"] if name == "accuracy" else out["delta"]
    estimates = [
        e for pair in deltas.values() for e in (pair.values() if "value" not in pair else [pair])
    ]
    assert len(estimates) >= 2
    for est in estimates:
        assert est["value"] == 0.0 and est["p_value"] == 1.0
        if name == "accuracy":
            # Newcombe's score interval: no discordant row in n still allows a small change
            assert -0.01 < est["ci_low"] < 0.0 < est["ci_high"] < 0.01
        else:
            assert est["ci_low"] == est["ci_high"] == 0.0
