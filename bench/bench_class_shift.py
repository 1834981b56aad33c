"""Benchmark: class-wise shift on 50,000 samples x 1,000 classes x 3 pairs (goal < 1 s).

Times ``class_shift`` (exact McNemar per class, BH correction, the 1000 x 1000
disagreement matrix) for the three pairs, including ``to_dict()``, and, side
by side, a straightforward baseline: a Python loop over classes calling
statsmodels' exact McNemar and a ``pandas.crosstab`` for the matrix.

Usage::

    python bench/bench_class_shift.py
    python bench/bench_class_shift.py --n 10000 --classes 100
"""

from __future__ import annotations

import argparse
import time

import numpy as np


def make_data(n: int, n_classes: int, seed: int = 0):
    rng = np.random.default_rng(seed)
    y = rng.integers(0, n_classes, size=n)

    def model(acc: float) -> np.ndarray:
        return np.where(rng.random(n) < acc, y, rng.integers(0, n_classes, size=n))

    return y, {"teacher": model(0.76), "student": model(0.69), "baseline": model(0.68)}


def baseline(y, a, b, n_classes):
    import pandas as pd
    from statsmodels.stats.contingency_tables import mcnemar
    from statsmodels.stats.multitest import multipletests

    p = []
    for c in range(n_classes):
        m = y == c
        ra, rb = a[m] == c, b[m] == c
        table = [[np.sum(ra & rb), np.sum(ra & ~rb)], [np.sum(~ra & rb), np.sum(~ra & ~rb)]]
        p.append(mcnemar(table, exact=True).pvalue if table[0][1] + table[1][0] else 1.0)
    multipletests(p, method="fdr_bh")
    pd.crosstab(a, b).reindex(index=range(n_classes), columns=range(n_classes), fill_value=0)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=50_000)
    parser.add_argument("--classes", type=int, default=1000)
    args = parser.parse_args()

    from kdaudit.analysis.class_shift import class_shift

    y, preds = make_data(args.n, args.classes)
    pairs = [("teacher", "student"), ("baseline", "student"), ("teacher", "baseline")]
    class_shift(y[:100], y[:100], y[:100], n_classes=args.classes)  # warm-up

    t0 = time.perf_counter()
    for a, b in pairs:
        class_shift(y, preds[a], preds[b], n_classes=args.classes).to_dict()
    ours = time.perf_counter() - t0

    t0 = time.perf_counter()
    baseline(y, preds["teacher"], preds["student"], args.classes)
    theirs = (time.perf_counter() - t0) * len(pairs)

    print(f"{args.n:,} samples x {args.classes:,} classes x {len(pairs)} pairs")
    print(
        f"kdaudit class_shift (+ to_dict): {ours:.3f} s   goal < 1 s: {'met' if ours < 1 else 'MISSED'}"
    )
    print(f"loop baseline (statsmodels + pandas, 1 pair x 3): {theirs:.2f} s")
    print(f"speed-up: {theirs / ours:.0f}x")


if __name__ == "__main__":
    main()
