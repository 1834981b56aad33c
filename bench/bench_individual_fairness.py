"""Benchmark: kdaudit's kNN graph + consistency vs AIF360's algorithm and sklearn brute force.

Default size: 50,000 rows x 64 features, k = 5 (METHODS.md 3).

* kdaudit: ``knn_graph`` (blocked float32 GEMM, exact re-ranking) plus the
  consistency of binary predictions from the graph (vectorized).
* (a) AIF360's ``BinaryLabelDatasetMetric.consistency``, reimplemented
  exactly: ``NearestNeighbors(n_neighbors=5, algorithm='ball_tree')`` fitted on
  the features, ``kneighbors`` of every row, then a Python loop over rows.
  The ball-tree query is far too slow to run on every row at 50k x 64 (about
  223 s measured elsewhere), so it is fitted on ALL rows and queried on a
  subsample of ``--aif360-rows`` rows; the query and the loop scale linearly
  in the number of queried rows, so the full time is estimated as
  ``fit + (query + loop) * n / rows``. This is stated in the output.

Times are process CPU seconds (steadier than wall time on a shared machine;
with one BLAS/OpenMP thread the two agree when the machine is idle), with
wall seconds beside them. Set ``OPENBLAS_NUM_THREADS`` / ``OMP_NUM_THREADS``
to compare at equal thread counts.
* (b) scikit-learn's brute-force ``NearestNeighbors`` (``kneighbors`` of all
  rows, k + 1 neighbours since the row itself comes first).

Usage::

    python bench/bench_individual_fairness.py            # 50,000 x 64
    python bench/bench_individual_fairness.py --n 5000   # a quick run
"""

from __future__ import annotations

import argparse
import os
import time

import numpy as np
from sklearn.neighbors import NearestNeighbors

from kdaudit.analysis.individual_fairness import DEFAULT_SPARE, individual_fairness
from kdaudit.analysis.neighbors import knn_graph


class Timer:
    """Wall-clock and process CPU seconds (CPU time is steadier on a shared machine)."""

    def __enter__(self) -> Timer:
        self.wall0, self.cpu0 = time.perf_counter(), time.process_time()
        return self

    def __exit__(self, *exc: object) -> None:
        self.wall = time.perf_counter() - self.wall0
        self.cpu = time.process_time() - self.cpu0


def kdaudit_consistency(x: np.ndarray, yhat: np.ndarray, logits: np.ndarray) -> tuple[Timer, float]:
    with Timer() as t:
        graph = knn_graph(x, k=5)
        res = individual_fairness(
            graph, {"student": logits}, predictions={"student": yhat}, n_bootstrap=0
        )
    return t, float(res.roles["student"].consistency.value)


def kdaudit_with_intervals(x: np.ndarray, logits: np.ndarray) -> tuple[Timer, Timer, object]:
    """The audit's path: graph with spare neighbours, three models, grouped-jackknife intervals."""
    roles = {"teacher": logits, "student": logits[:, ::-1] * 0.5, "baseline": logits * 2.0}
    with Timer() as tg:
        graph = knn_graph(x, k=5, spare=DEFAULT_SPARE)
    with Timer() as ta:
        res = individual_fairness(
            graph, roles, pairs=[("teacher", "student"), ("baseline", "student")], n_bootstrap=1000
        )
    return tg, ta, res


def aif360_consistency(x: np.ndarray, yhat: np.ndarray, rows: int) -> tuple[float, float, float]:
    """AIF360's algorithm: (estimated full CPU s, measured CPU s, consistency on the subsample)."""
    n = x.shape[0]
    rows = min(rows, n)
    with Timer() as fit:
        nbrs = NearestNeighbors(n_neighbors=5, algorithm="ball_tree").fit(x)
    y = yhat.astype(np.float64).reshape(-1, 1)  # AIF360 keeps labels as a column
    with Timer() as rest:
        _, indices = nbrs.kneighbors(x[:rows])
        consistency = 0.0
        for i in range(rows):
            consistency += np.abs(y[i] - np.mean(y[indices[i]]))
        consistency = 1.0 - consistency / rows
    return (
        fit.cpu + rest.cpu * n / rows,
        fit.cpu + rest.cpu,
        float(np.asarray(consistency).ravel()[0]),
    )


def sklearn_brute(x: np.ndarray) -> Timer:
    with Timer() as t:
        NearestNeighbors(n_neighbors=6, algorithm="brute").fit(x).kneighbors(x)
    return t


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--n", type=int, default=50_000, help="rows (default 50,000)")
    ap.add_argument("--d", type=int, default=64, help="features (default 64)")
    ap.add_argument(
        "--aif360-rows",
        type=int,
        default=2_000,
        help="rows queried with AIF360's algorithm before scaling linearly",
    )
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()

    rng = np.random.default_rng(args.seed)
    x = rng.normal(size=(args.n, args.d)).astype(np.float32)
    w = rng.normal(size=args.d)
    logits = np.column_stack([np.zeros(args.n), x @ w]).astype(np.float32)
    yhat = logits.argmax(axis=1)

    threads = (
        os.environ.get("OPENBLAS_NUM_THREADS") or os.environ.get("OMP_NUM_THREADS") or "default"
    )
    print(f"data: {args.n} x {args.d} float32, k = 5, BLAS threads: {threads}")

    print(
        "times are process CPU seconds (wall seconds in brackets), each after a warm-up run "
        "on 1,000 rows"
    )
    warm = min(1000, args.n)
    kdaudit_consistency(x[:warm], yhat[:warm], logits[:warm])
    sklearn_brute(x[:warm])

    t_kd, c_kd = kdaudit_consistency(x, yhat, logits)
    print(
        f"kdaudit knn_graph + consistency:  {t_kd.cpu:8.2f} s ({t_kd.wall:.2f})   "
        f"consistency = {c_kd:.6f}"
    )

    tg, ta, res = kdaudit_with_intervals(x, logits)
    ln = res.roles["teacher"].lipschitz_normalized
    print(
        f"kdaudit audit path, 3 models:      {tg.cpu + ta.cpu:8.2f} s ({tg.wall + ta.wall:.2f})   "
        f"= graph with {DEFAULT_SPARE} spare neighbours {tg.cpu:.2f} s + I(f), consistency and "
        f"{res.config.n_groups}-group jackknife intervals {ta.cpu:.2f} s; teacher normalized "
        f"I(f) {ln.value:.4f} [{ln.ci_low:.4f}, {ln.ci_high:.4f}]"
    )
    print(
        f"  ratio to the graph + consistency without intervals: {(tg.cpu + ta.cpu) / t_kd.cpu:.2f}x"
    )

    t_sk = sklearn_brute(x)
    print(f"sklearn NearestNeighbors(brute):  {t_sk.cpu:8.2f} s ({t_sk.wall:.2f})   (kNN only)")

    est, measured, c_sub = aif360_consistency(x, yhat, args.aif360_rows)
    rows = min(args.aif360_rows, args.n)
    print(
        f"AIF360 consistency algorithm:     {est:8.2f} s   ESTIMATED: ball_tree fit on all "
        f"{args.n} rows, kneighbors + Python loop on {rows} rows ({measured:.2f} s measured), "
        f"scaled linearly to {args.n} rows; consistency on that subsample = {c_sub:.6f}"
    )
    sub = knn_graph(x, k=5).indices[:rows, :4]
    c_kd_sub = float(np.mean((1 + (yhat[sub] == yhat[:rows, None]).sum(axis=1)) / 5))
    print(f"  check: kdaudit's consistency on the same {rows} rows = {c_kd_sub:.6f}")

    print(f"speed-up vs AIF360 (estimated):   {est / t_kd.cpu:8.1f}x   (goal >= 20x)")
    print(
        f"speed-up vs sklearn brute:        {t_sk.cpu / t_kd.cpu:8.2f}x   (goal >= 1x; "
        f"wall {t_sk.wall / t_kd.wall:.2f}x)"
    )


if __name__ == "__main__":
    main()
