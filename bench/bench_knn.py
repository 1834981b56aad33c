"""Does kdaudit's own exact kNN (kdaudit/analysis/neighbors.py) earn its place?

Side by side on the same data, in one process, at the same thread count:

* kdaudit: ``knn_graph(x, k=5)`` -- blocked float32 GEMM, candidates re-ranked exactly
  in float64, self excluded by index, ties broken by index;
* baseline: scikit-learn's ``NearestNeighbors(n_neighbors=k + 1, algorithm="brute")``
  ``.fit(x).kneighbors(x)`` with the row itself dropped (what kdaudit would call
  instead); its float32 distances come from the ``|a|^2 - 2ab + |b|^2`` expansion,
  so near-ties are decided by float32 rounding;
* the same on float64 input (``--float64``): what scikit-learn needs to approach
  kdaudit's exact order (float64 distances; ties still not broken by index).

Sizes: 10,000 and 50,000 rows x 64 features (float32, Gaussian), k = 5, euclidean and
cosine. Figures: median process CPU seconds (wall in brackets) over ``--repeats``
runs, the ratio sklearn / kdaudit (> 1: kdaudit is faster), and how often the two
return the same neighbour set (they may differ on near-ties, where float32 rounding
decides for sklearn and float64 for kdaudit).

    python bench/bench_knn.py                 # 10k and 50k x 64, 2 threads
    python bench/bench_knn.py --sizes 5000 --repeats 1
"""

from __future__ import annotations

import argparse
import os
import statistics
import time

import numpy as np
from sklearn.neighbors import NearestNeighbors
from threadpoolctl import threadpool_limits

from kdaudit.analysis.neighbors import knn_graph


def timed(repeats: int, fn, *args, **kwargs) -> tuple[float, float, object]:
    """(median CPU s, median wall s, last result) of ``fn(*args, **kwargs)``."""
    cpus, walls, out = [], [], None
    for _ in range(repeats):
        w0, c0 = time.perf_counter(), time.process_time()
        out = fn(*args, **kwargs)
        walls.append(time.perf_counter() - w0)
        cpus.append(time.process_time() - c0)
    return statistics.median(cpus), statistics.median(walls), out


def sklearn_knn(x: np.ndarray, k: int, metric: str) -> tuple[np.ndarray, np.ndarray]:
    dist, idx = (
        NearestNeighbors(n_neighbors=k + 1, algorithm="brute", metric=metric).fit(x).kneighbors(x)
    )
    # drop the row itself (first unless an exact duplicate ties with it)
    n = x.shape[0]
    keep = idx != np.arange(n)[:, None]
    keep[keep.sum(axis=1) > k, -1] = False
    return idx[keep].reshape(n, k), dist[keep].reshape(n, k)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--sizes", type=int, nargs="+", default=[10_000, 50_000])
    ap.add_argument("--d", type=int, default=64)
    ap.add_argument("--k", type=int, default=5)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument(
        "--threads",
        type=int,
        default=min(2, os.cpu_count() or 1),
        help="BLAS and OpenMP threads for both (default 2)",
    )
    ap.add_argument("--metrics", nargs="+", default=["euclidean", "cosine"])
    ap.add_argument("--float64", action="store_true", help="also time scikit-learn on float64")
    args = ap.parse_args()

    rng = np.random.default_rng(0)
    print(
        f"k = {args.k}, {args.d} features, float32; {args.threads} BLAS/OpenMP threads each; "
        f"median of {args.repeats} runs after a warm-up; CPU s (wall s)"
    )
    print(
        f"{'n':>7} {'metric':<9} {'kdaudit knn_graph':>20} {'sklearn brute':>20} "
        f"{'sklearn/kdaudit':>16} {'same neighbours':>16}"
    )
    with threadpool_limits(limits=args.threads):
        for n in args.sizes:
            x = rng.normal(size=(n, args.d)).astype(np.float32)
            for metric in args.metrics:
                warm = x[: min(n, 2000)]
                knn_graph(warm, k=args.k, metric=metric)
                sklearn_knn(warm, args.k, metric)
                kd_cpu, kd_wall, graph = timed(args.repeats, knn_graph, x, k=args.k, metric=metric)
                sk_cpu, sk_wall, (sk_idx, _) = timed(args.repeats, sklearn_knn, x, args.k, metric)
                same = np.mean(
                    np.all(np.sort(graph.indices, axis=1) == np.sort(sk_idx, axis=1), axis=1)
                )
                print(
                    f"{n:>7} {metric:<9} {kd_cpu:>11.3f} ({kd_wall:6.3f}) "
                    f"{sk_cpu:>11.3f} ({sk_wall:6.3f}) {sk_cpu / kd_cpu:>8.2f}x CPU "
                    f"{100 * same:>14.3f} %"
                )
                print(f"{'':>17} wall ratio sklearn/kdaudit: {sk_wall / kd_wall:.2f}x")
                if args.float64:
                    x64 = x.astype(np.float64)
                    s64_cpu, s64_wall, _ = timed(args.repeats, sklearn_knn, x64, args.k, metric)
                    print(
                        f"{'':>17} sklearn on float64: {s64_cpu:.3f} ({s64_wall:.3f}), "
                        f"{s64_cpu / kd_cpu:.2f}x kdaudit's CPU"
                    )


if __name__ == "__main__":
    main()
