"""Approximate kNN for individual fairness (issue 11): library choice and the 1M-row run.

Part A (choice): faiss-cpu (IndexHNSWFlat), hnswlib and pynndescent on the same
N_A x 64 data (16 intrinsic dimensions + noise, like a learned embedding):
build + query time for k = 5, recall@5 against exact neighbours of 1,000 rows,
and installed size. Libraries that are not installed are skipped.

Part B (scale): what an audit of 1,000,000 x 64 rows runs for individual
fairness (anchored: 100,000 hash-drawn anchors, their neighbours among all
rows by kdaudit's HNSW graph, with its measured recall@5; three models),
wall and CPU seconds; with --all-rows also every row's neighbours (what
--anchors 0 runs); beside exact and ANN all-rows graphs on a 100,000-row subset.
Goals: < 2 min on 2 cores, recall@5 >= 0.95.

Part C (parameters): kdaudit's ann_graph at several (shards, M, ef_construction,
ef_search) on a 200,000-row subset: time against recall@5 for 10,000 query rows.

    python bench/bench_ann.py                  # parts A and B
    python bench/bench_ann.py --part b --all-rows
    python bench/bench_ann.py --part c --settings 2,16,40,48 2,16,60,48
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import time
from pathlib import Path

import numpy as np


def make_embedding(n: int, dim: int = 64, intrinsic: int = 16, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    basis = rng.normal(size=(intrinsic, dim)).astype(np.float32)
    z = rng.normal(size=(n, intrinsic)).astype(np.float32)
    return (z @ basis + 0.1 * rng.normal(size=(n, dim)).astype(np.float32)).astype(np.float32)


def installed_mb(*packages: str) -> float:
    total = 0
    for pkg in packages:
        spec = importlib.util.find_spec(pkg)
        if spec is None or spec.origin is None:
            continue
        root = Path(spec.origin)
        root = root.parent if root.name == "__init__.py" else root
        paths = [root, *list(root.parent.glob(f"{pkg}*.libs"))] if root.is_dir() else [root]
        for p in paths:
            files = p.rglob("*") if p.is_dir() else [p]
            total += sum(f.stat().st_size for f in files if f.is_file())
    return total / 1e6


def run_hnswlib(x: np.ndarray, k: int):
    import hnswlib

    idx = hnswlib.Index(space="l2", dim=x.shape[1])
    idx.init_index(max_elements=x.shape[0], M=16, ef_construction=100, random_seed=0)
    idx.set_num_threads(os.cpu_count() or 1)
    idx.add_items(x)
    idx.set_ef(64)
    return idx.knn_query(x, k=k + 1)[0]


def run_faiss(x: np.ndarray, k: int):
    import faiss

    idx = faiss.IndexHNSWFlat(x.shape[1], 16)
    idx.hnsw.efConstruction = 100
    idx.add(x)
    idx.hnsw.efSearch = 64
    return idx.search(x, k + 1)[1]


def run_pynndescent(x: np.ndarray, k: int):
    from pynndescent import NNDescent

    index = NNDescent(x, n_neighbors=max(15, k + 1), random_state=0, n_jobs=os.cpu_count())
    return index.neighbor_graph[0][:, : k + 1]


def recall(found: np.ndarray, x: np.ndarray, k: int, n_q: int = 1000) -> float:
    from kdaudit.analysis.ann import exact_neighbours

    rows = np.linspace(0, x.shape[0] - 1, n_q).astype(np.int64)
    truth = exact_neighbours(x, rows, k=k)
    hits = 0
    for r, t in zip(rows, truth, strict=True):
        f = [j for j in found[r] if j != r][:k]
        hits += len(set(f) & set(t.tolist()))
    return hits / (n_q * k)


def part_a(n: int, k: int) -> None:
    x = make_embedding(n)
    print(f"== Part A: {n:,} x 64, k = {k}, {os.cpu_count()} CPUs")
    print(f"{'library':14s} {'build+query s':>14s} {'recall@5':>9s} {'installed MB':>13s}")
    for name, fn, pkgs in (
        ("hnswlib", run_hnswlib, ["hnswlib"]),
        ("faiss-cpu", run_faiss, ["faiss"]),
        ("pynndescent", run_pynndescent, ["pynndescent", "numba", "llvmlite"]),
    ):
        if importlib.util.find_spec(pkgs[0]) is None:
            print(f"{name:14s} not installed")
            continue
        if name == "pynndescent":  # numba compiles on first use: warm up outside the timing
            run_pynndescent(x[:2000], k)
        t0 = time.perf_counter()
        found = fn(x, k)
        wall = time.perf_counter() - t0
        print(
            f"{name:14s} {wall:14.1f} {recall(np.asarray(found), x, k):9.3f} {installed_mb(*pkgs):13.0f}"
        )


def timed(fn, *args, **kwargs):
    """(wall s, process CPU s, result)."""
    w, c = time.perf_counter(), time.process_time()
    out = fn(*args, **kwargs)
    return time.perf_counter() - w, time.process_time() - c, out


def part_b(n: int, k: int, subset: int, all_rows: bool) -> None:
    """What an audit of n rows runs: anchored individual fairness over HNSW neighbours."""
    from kdaudit.analysis.anchored import DEFAULT_ANCHORS, anchored_individual_fairness
    from kdaudit.analysis.ann import approximate_graph
    from kdaudit.analysis.neighbors import knn_graph

    x = make_embedding(n)
    rng = np.random.default_rng(1)
    w = rng.normal(size=(x.shape[1],)).astype(np.float32) / 8
    logits = {
        role: np.stack(
            [np.zeros(n, np.float32), x @ w + s * rng.normal(size=n).astype(np.float32)], 1
        )
        for role, s in (("teacher", 0.1), ("student", 0.3), ("baseline", 0.4))
    }
    print(
        f"== Part B: individual fairness on {n:,} x 64 (k = {k}, 3 models), "
        f"{os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.1f}"
    )
    wall, cpu, res = timed(
        anchored_individual_fairness,
        x,
        logits,
        n_anchors=DEFAULT_ANCHORS,
        k=k,
        metric="euclidean",
        space="embedding",
        pairs=[("teacher", "student")],
    )
    nb = res["config"]["anchors"]["neighbors"]
    rec = nb.get("recall_at_k") or float("nan")
    print(
        f"  audit default ({res['config']['anchors']['count']:,} anchors, HNSW {nb.get('params')}): "
        f"{wall:.1f} s wall, {cpu:.1f} s CPU, recall@{k} = {rec:.3f} on "
        f"{nb.get('recall_queries')} anchors (goals: < 120 s "
        f"{'met' if wall < 120 else 'NOT met'}, >= 0.95 {'met' if rec >= 0.95 else 'NOT met'})"
    )
    if all_rows:
        wall, cpu, g = timed(approximate_graph, x, k=k, metric="euclidean", space="embedding")
        print(
            f"  every row's neighbours (--anchors 0): {wall:.1f} s wall, {cpu:.1f} s CPU, "
            f"recall@{k} = {g.ann['recall_at_k']:.3f}"
        )
    xs = x[:subset]
    exact_wall, exact_cpu, _ = timed(knn_graph, xs, k=k)
    ann_wall, ann_cpu, _ = timed(approximate_graph, xs, k=k, metric="euclidean", space="embedding")
    print(
        f"  every row on {subset:,} rows: exact {exact_wall:.1f} s ({exact_cpu:.1f} CPU), "
        f"ANN {ann_wall:.1f} s ({ann_cpu:.1f} CPU); exact at {n:,} rows would take about "
        f"{exact_cpu * (n / subset) ** 2:,.0f} CPU s (quadratic)"
    )


def part_c(n: int, k: int, settings: list[str], n_queries: int) -> None:
    """HNSW parameters: build and query cost against recall@k, on n rows."""
    from kdaudit.analysis.ann import ann_graph, recall_at_k

    x = make_embedding(n)
    queries = np.arange(0, n, max(1, n // n_queries))
    print(
        f"== Part C: HNSW parameters on {n:,} x 64, k = {k}, {queries.shape[0]:,} query rows, "
        f"{os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.1f}"
    )
    print(f"{'shards,M,ef_c,ef':>18s} {'wall s':>8s} {'CPU s':>8s} {'recall@k':>9s}")
    for setting in settings:
        shards, m, efc, ef = (int(v) for v in setting.split(","))
        wall, cpu, (graph, _) = timed(
            ann_graph,
            x,
            k=k,
            m=m,
            ef_construction=efc,
            ef_search=ef,
            shards=shards,
            queries=queries,
        )
        rec, _ = recall_at_k(graph, x, rows=queries)
        print(f"{setting:>18s} {wall:8.1f} {cpu:8.1f} {rec:9.4f}")


def main() -> None:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--part", choices=("a", "b", "c", "both"), default="both")
    ap.add_argument("--n-a", type=int, default=200_000)
    ap.add_argument("--n", type=int, default=1_000_000)
    ap.add_argument("--subset", type=int, default=100_000)
    ap.add_argument("--k", type=int, default=5)
    ap.add_argument("--all-rows", action="store_true", help="part B: also every row's neighbours")
    ap.add_argument("--n-c", type=int, default=200_000)
    ap.add_argument(
        "--settings",
        nargs="+",
        default=["1,16,100,64", "2,16,100,64", "2,16,40,48", "2,16,60,48", "2,12,60,48"],
        help="part C: shards,M,ef_construction,ef_search",
    )
    args = ap.parse_args()
    if args.part in ("a", "both"):
        part_a(args.n_a, args.k)
    if args.part in ("b", "both"):
        part_b(args.n, args.k, args.subset, args.all_rows)
    if args.part == "c":
        part_c(args.n_c, args.k, args.settings, 10_000)


if __name__ == "__main__":
    main()
