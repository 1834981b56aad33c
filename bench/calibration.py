"""Calibration harness for kdaudit's group-fairness statistics (issue 8, item 7).

One command runs null and power simulations per metric and prints, side by side,
the noise-aware method kdaudit now reports (``p_value``, ``ci_low``/``ci_high``:
unbiased squared gaps, studentized max-T test, basic bootstrap interval) and the
naive percentile bootstrap it used before (kept in reports as ``percentile_ci``;
its test is "the percentile interval excludes 0"):

* false-alarm rate of the teacher-vs-student DPD/EOD change (p <= 0.05) under
  coin-flip attributes with a teacher far more accurate than the student, and
  under "equal fairness, different accuracy";
* how often the default gate's DPD/EOD check returns ``fail`` in those nulls;
* coverage of the true change and of the true per-model value;
* power against planted DPD/EOD increases of 2-10 pp.

    python bench/calibration.py            # full (a few minutes per scenario on 1 core)
    python bench/calibration.py --quick    # fewer runs, smaller B
    python bench/calibration.py --runs 400 --only null_binary_95_80

Each scenario draws rows from a known population, so the truth of every metric
is known in closed form (``Scenario.truth``).
"""

from __future__ import annotations

import argparse
import dataclasses
import sys
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from kdaudit.analysis.group_fairness import group_fairness
from kdaudit.gate import evaluate_gate, load_policy

ALPHA = 0.05
METRICS = ("demographic_parity_difference", "equalized_odds_difference")
SHORT = {"demographic_parity_difference": "DPD", "equalized_odds_difference": "EOD"}


@dataclasses.dataclass(frozen=True)
class Model:
    """Binary: per-group TPR/FPR. Multi-class: per-group accuracy (errors uniform)."""

    tpr: tuple[float, ...] = ()
    fpr: tuple[float, ...] = ()
    acc: tuple[float, ...] = ()


@dataclasses.dataclass(frozen=True)
class Scenario:
    name: str
    n: int
    n_classes: int
    group_p: tuple[float, ...]
    teacher: Model
    student: Model
    prevalence: float = 0.5  # binary: P(y = 1), the same in every group

    def draw(
        self, rng: np.random.Generator
    ) -> tuple[np.ndarray, dict[str, np.ndarray], np.ndarray]:
        n = self.n
        g = rng.choice(len(self.group_p), size=n, p=np.asarray(self.group_p))
        if self.n_classes == 2:
            y = (rng.random(n) < self.prevalence).astype(np.int64)
        else:
            y = rng.integers(0, self.n_classes, n)
        preds = {}
        for role, m in (("teacher", self.teacher), ("student", self.student)):
            u = rng.random(n)
            if self.n_classes == 2:
                rate = np.where(y == 1, np.asarray(m.tpr)[g], np.asarray(m.fpr)[g])
                preds[role] = (u < rate).astype(np.int64)
            else:
                wrong = (y + rng.integers(1, self.n_classes, n)) % self.n_classes
                preds[role] = np.where(u < np.asarray(m.acc)[g], y, wrong)
        return y, preds, np.array([f"g{i}" for i in range(len(self.group_p))])[g]

    def truth(self, m: Model) -> dict[str, float]:
        """Population DPD, EOD (worst class for multi-class) and worst-group accuracy."""
        if self.n_classes == 2:
            tpr, fpr = np.asarray(m.tpr), np.asarray(m.fpr)
            sel = tpr * self.prevalence + fpr * (1 - self.prevalence)
            acc = tpr * self.prevalence + (1 - fpr) * (1 - self.prevalence)
            eod = max(np.ptp(tpr), np.ptp(fpr))
            return {
                "demographic_parity_difference": float(np.ptp(sel)),
                "equalized_odds_difference": float(eod),
                "worst_group_accuracy": float(acc.min()),
            }
        acc = np.asarray(m.acc)
        k = self.n_classes
        # one-vs-rest class c: TPR = acc, FPR = (1 - acc) / (k - 1), selection = 1 / k
        fpr = (1 - acc) / (k - 1)
        sel = acc / k + (k - 1) / k * fpr
        return {
            "demographic_parity_difference": float(np.ptp(sel)),
            "equalized_odds_difference": float(max(np.ptp(acc), np.ptp(fpr))),
            "worst_group_accuracy": float(acc.min()),
        }


def _bin(tpr: float, fpr: float, groups: int) -> Model:
    return Model(tpr=(tpr,) * groups, fpr=(fpr,) * groups)


def _mc(acc: float, groups: int) -> Model:
    return Model(acc=(acc,) * groups)


def _eq(groups: int) -> tuple[float, ...]:
    return (1.0 / groups,) * groups


def planted(delta: float, n: int = 4000) -> Scenario:
    """Binary 95% vs 80%, two coin-flip groups; the student's TPR and FPR rise by
    ``delta`` in one group, so its DPD and EOD rise by ``delta``."""
    return Scenario(
        f"planted_{round(delta * 100)}pp",
        n,
        2,
        (0.5, 0.5),
        _bin(0.95, 0.05, 2),
        Model(tpr=(0.80, 0.80 + delta), fpr=(0.20, 0.20 + delta)),
    )


SCENARIOS: dict[str, Callable[[], Scenario]] = {
    # --- coin-flip attributes (no group effect), teacher far more accurate (the acceptance nulls)
    "null_10class_99_83_n10000": lambda: Scenario(
        "null_10class_99_83_n10000", 10_000, 10, _eq(2), _mc(0.99, 2), _mc(0.83, 2)
    ),
    "null_binary_95_80_n4000": lambda: Scenario(
        "null_binary_95_80_n4000", 4000, 2, _eq(2), _bin(0.95, 0.05, 2), _bin(0.80, 0.20, 2)
    ),
    "null_10class_4groups_n2000": lambda: Scenario(
        "null_10class_4groups_n2000", 2000, 10, _eq(4), _mc(0.99, 4), _mc(0.83, 4)
    ),
    "null_binary_8groups_n4000": lambda: Scenario(
        "null_binary_8groups_n4000", 4000, 2, _eq(8), _bin(0.95, 0.05, 8), _bin(0.80, 0.20, 8)
    ),
    "null_binary_small_groups_40": lambda: Scenario(
        "null_binary_small_groups_40",
        4000,
        2,
        (0.98, 0.01, 0.01),
        _bin(0.95, 0.05, 3),
        _bin(0.80, 0.20, 3),
    ),
    # --- equal fairness, different accuracy: both models have the same true gaps (5 pp TPR)
    "equalgap_binary_n4000": lambda: Scenario(
        "equalgap_binary_n4000",
        4000,
        2,
        _eq(2),
        Model(tpr=(0.95, 0.90), fpr=(0.05, 0.05)),
        Model(tpr=(0.80, 0.75), fpr=(0.20, 0.20)),
    ),
    "equalgap_10class_n10000": lambda: Scenario(
        "equalgap_10class_n10000",
        10_000,
        10,
        _eq(2),
        Model(acc=(0.99, 0.94)),
        Model(acc=(0.83, 0.78)),
    ),
    # --- real changes (power; coverage of the true change away from 0)
    **{f"planted_{d}pp": (lambda d=d: planted(d / 100)) for d in (2, 4, 6, 8, 10)},
}
NULLS = [k for k in SCENARIOS if not k.startswith("planted")]


def run_scenario(
    sc: Scenario, runs: int, n_bootstrap: int, seed: int
) -> dict[str, dict[str, float]]:
    """Rates over ``runs`` simulated audits, per metric."""
    policy = load_policy("default")
    t_truth, s_truth = sc.truth(sc.teacher), sc.truth(sc.student)
    rng = np.random.default_rng(seed)
    stats: dict[str, dict[str, list[float]]] = {m: {} for m in (*METRICS, "worst_group_accuracy")}

    def add(metric: str, key: str, hit: bool) -> None:
        stats[metric].setdefault(key, []).append(float(hit))

    for r in range(runs):
        y, preds, s = sc.draw(rng)
        res = group_fairness(
            y,
            preds,
            s,
            n_classes=sc.n_classes,
            pairs=[("teacher", "student")],
            n_bootstrap=n_bootstrap,
            seed=r,
            min_group_size=0,
        )
        d = res.to_dict()
        report = {"group_fairness": {"attr": d}, "accuracy_delta": {}}
        gate = evaluate_gate(report, policy).to_dict()
        verdict = {c["name"]: c["verdict"] for c in gate["checks"]}
        for metric in (*METRICS, "worst_group_accuracy"):
            delta = d["delta"]["teacher_vs_student"][metric]
            truth = s_truth[metric] - t_truth[metric]
            if delta.get("p_value") is None:
                continue
            add(metric, "new_reject", delta["p_value"] <= ALPHA)
            lo, hi = delta["percentile_ci"]
            add(metric, "naive_reject", lo > 0 or hi < 0)
            add(metric, "new_cover", delta["ci_low"] - 1e-12 <= truth <= delta["ci_high"] + 1e-12)
            add(metric, "naive_cover", lo - 1e-12 <= truth <= hi + 1e-12)
            st = d["student"][metric]
            add(
                metric,
                "new_cover_student",
                st["ci_low"] - 1e-12 <= s_truth[metric] <= st["ci_high"] + 1e-12,
            )
            plo, phi = st["percentile_ci"]
            add(metric, "naive_cover_student", plo - 1e-12 <= s_truth[metric] <= phi + 1e-12)
            add(
                metric,
                "ci_holds_estimate",
                delta["ci_low"] <= delta["estimate"] <= delta["ci_high"]
                and st["ci_low"] <= st["estimate"] <= st["ci_high"],
            )
            key = {
                "demographic_parity_difference": "max_dpd_increase",
                "equalized_odds_difference": "max_eod_increase",
            }.get(metric)
            if key is not None and key in verdict:
                add(metric, "gate_fail", verdict[key] == "fail")
                add(metric, "gate_pass", verdict[key] == "pass")
    return {m: {k: float(np.mean(v)) for k, v in kv.items()} for m, kv in stats.items() if kv}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--quick", action="store_true", help="60 runs per scenario, B = 300")
    ap.add_argument("--runs", type=int, default=None, help="runs per scenario (default 400)")
    ap.add_argument("--bootstrap", type=int, default=None, help="B per audit (default 500)")
    ap.add_argument("--only", nargs="*", default=None, help="scenario names (default: all)")
    ap.add_argument("--seed", type=int, default=2026)
    args = ap.parse_args(argv)
    runs = args.runs or (60 if args.quick else 400)
    b = args.bootstrap or (300 if args.quick else 500)
    names = args.only or list(SCENARIOS)
    unknown = [x for x in names if x not in SCENARIOS]
    if unknown:
        ap.error(f"unknown scenario(s) {unknown}; known: {', '.join(SCENARIOS)}")
    mc = 1.96 * np.sqrt(0.05 * 0.95 / runs)
    print(
        f"# kdaudit calibration: {runs} runs per scenario, B = {b}, alpha = {ALPHA} "
        f"(Monte Carlo error of a 5% rate: +-{mc:.3f})"
    )
    print(
        "| scenario | metric | reject p<=.05 new | naive | delta CI coverage new | naive "
        "| student CI coverage new | naive | gate fail | gate pass | CI holds estimate |"
    )
    print("|---|---|---|---|---|---|---|---|---|---|---|")
    for i, name in enumerate(names):
        sc = SCENARIOS[name]()
        t0 = time.perf_counter()
        out = run_scenario(sc, runs, b, args.seed + 1000 * i)
        for metric, r in out.items():

            def f(k: str, r: dict[str, float] = r) -> str:
                return "" if k not in r else f"{r[k]:.3f}"

            print(
                f"| {name} | {SHORT.get(metric, 'WGA')} | {f('new_reject')} | {f('naive_reject')} "
                f"| {f('new_cover')} | {f('naive_cover')} | {f('new_cover_student')} "
                f"| {f('naive_cover_student')} | {f('gate_fail')} | {f('gate_pass')} "
                f"| {f('ci_holds_estimate')} |"
            )
        print(f"<!-- {name}: {time.perf_counter() - t0:.0f} s -->", file=sys.stderr)
        sys.stdout.flush()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
