"""Benchmark: kdaudit's vectorized group-fairness bootstrap vs a fairlearn bootstrap.

Binary task, two models (teacher, student), one sensitive attribute with 8 and
with 64 groups, B bootstrap replicates. kdaudit computes DPD, EOD, EOpp, DP
ratio and worst-group accuracy with CIs for both models plus the paired
deltas, in one call. The fairlearn baseline is the same row bootstrap done the
usual way: per replicate and model, resample the rows and build one
``MetricFrame`` (selection rate, TPR, FPR) to get DPD and EOD. One such
replicate per model is timed (median of a few) and multiplied by B.

Usage::

    python bench/bench_group_fairness.py            # N = 1,000,000, B = 1000
    python bench/bench_group_fairness.py --n 100000 --bootstrap 200
"""

from __future__ import annotations

import argparse
import statistics
import time
import warnings

import numpy as np


def make_data(n: int, n_groups: int, seed: int = 0):
    rng = np.random.default_rng(seed)
    names = np.array([f"group_{i:02d}" for i in range(n_groups)])
    g = rng.integers(0, n_groups, size=n)
    s = names[g]
    y = (rng.random(n) < 0.3 + 0.4 * g / max(n_groups - 1, 1)).astype(np.int64)
    teacher = np.where(rng.random(n) < 0.9, y, 1 - y)
    student = np.where(rng.random(n) < 0.8 - 0.1 * g / max(n_groups - 1, 1), y, 1 - y)
    return y, {"teacher": teacher, "student": student}, s


def fairlearn_replicate(y, pred, s, rng) -> tuple[float, float]:
    from fairlearn.metrics import (
        MetricFrame,
        false_positive_rate,
        selection_rate,
        true_positive_rate,
    )

    idx = rng.integers(0, y.shape[0], size=y.shape[0])
    mf = MetricFrame(
        metrics={"sel": selection_rate, "tpr": true_positive_rate, "fpr": false_positive_rate},
        y_true=y[idx],
        y_pred=pred[idx],
        sensitive_features=s[idx],
    )
    diff = mf.difference(method="between_groups")
    return float(diff["sel"]), float(max(diff["tpr"], diff["fpr"]))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=1_000_000, help="rows (default 1,000,000)")
    parser.add_argument("--bootstrap", type=int, default=1000, help="replicates B (default 1000)")
    parser.add_argument("--groups", type=int, nargs="+", default=[8, 64])
    parser.add_argument("--fairlearn-reps", type=int, default=1, help="timed fairlearn replicates")
    args = parser.parse_args()

    from kdaudit.analysis.group_fairness import group_fairness

    print(f"N = {args.n:,} rows, binary, 2 models, B = {args.bootstrap}")
    print(f"{'groups':>6} {'kdaudit s':>10} {'fairlearn s (est.)':>19} {'speed-up':>10}")
    for n_groups in args.groups:
        y, preds, s = make_data(args.n, n_groups)
        # warm-up on a small slice (imports, first-call overheads)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            group_fairness(
                y[:1000],
                {k: v[:1000] for k, v in preds.items()},
                s[:1000],
                n_classes=2,
                pairs=[("teacher", "student")],
                n_bootstrap=10,
            )
            t0 = time.perf_counter()
            res = group_fairness(
                y,
                preds,
                s,
                n_classes=2,
                pairs=[("teacher", "student")],
                n_bootstrap=args.bootstrap,
                seed=0,
            )
            ours = time.perf_counter() - t0

        rng = np.random.default_rng(1)
        fairlearn_replicate(y[:1000], preds["teacher"][:1000], s[:1000], rng)  # warm-up
        per_model = []
        for pred in preds.values():
            times = []
            for _ in range(args.fairlearn_reps):
                t0 = time.perf_counter()
                fairlearn_replicate(y, pred, s, rng)
                times.append(time.perf_counter() - t0)
            per_model.append(statistics.median(times))
        theirs = sum(per_model) * args.bootstrap
        dpd = res.roles["student"].demographic_parity_difference
        print(
            f"{n_groups:>6} {ours:>10.3f} {theirs:>19.1f} {theirs / ours:>9.0f}x"
            f"   (student DPD {dpd.value:.4f} [{dpd.ci_low:.4f}, {dpd.ci_high:.4f}];"
            f" fairlearn one replicate/model {statistics.mean(per_model):.3f} s)"
        )
    print("goal: >= 1000x")


if __name__ == "__main__":
    main()
