"""Approximate kNN for individual fairness (issue 11): library choice and the 1M-row run.

Part A (choice): faiss-cpu (IndexHNSWFlat), hnswlib and pynndescent on the same
N_A x 64 data (16 intrinsic dimensions + noise, like a learned embedding):
build + query time for k = 5, recall@5 against exact neighbours of 1,000 rows,
and installed size. Libraries that are not installed are skipped.

Part B (scale): kdaudit's ANN graph (hnswlib) on 1,000,000 x 64 with its
recall@5, beside kdaudit's exact graph on a 100,000-row subset.
Goals: ANN < 2 min on 2 cores, recall@5 >= 0.95.

    python bench/bench_ann.py                  # both parts
    python bench/bench_ann.py --part a --n-a 100000
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


def part_b(n: int, k: int, subset: int) -> None:
    from kdaudit.analysis.ann import ann_graph, recall_at_k
    from kdaudit.analysis.neighbors import knn_graph

    x = make_embedding(n)
    print(f"== Part B: kdaudit ANN graph on {n:,} x 64 (k = {k}) beside exact on {subset:,} rows")
    t0 = time.perf_counter()
    graph, _info = ann_graph(x, k=k)
    wall = time.perf_counter() - t0
    rec, m = recall_at_k(graph, x, n_queries=1000)
    print(
        f"  ANN (hnswlib M=16, ef_c=100, ef=64): {wall:.1f} s, recall@{k} = {rec:.3f} on {m} rows "
        f"(goals: < 120 s {'met' if wall < 120 else 'NOT met'}, >= 0.95 {'met' if rec >= 0.95 else 'NOT met'})"
    )
    xs = x[:subset]
    t0 = time.perf_counter()
    knn_graph(xs, k=k)
    exact_wall = time.perf_counter() - t0
    t0 = time.perf_counter()
    ann_graph(xs, k=k)
    ann_sub = time.perf_counter() - t0
    print(
        f"  on {subset:,} rows: exact {exact_wall:.1f} s, ANN {ann_sub:.1f} s ({exact_wall / ann_sub:.1f}x); "
        f"exact at {n:,} rows would take about {exact_wall * (n / subset) ** 2:,.0f} s (quadratic)"
    )


def main() -> None:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--part", choices=("a", "b", "both"), default="both")
    ap.add_argument("--n-a", type=int, default=200_000)
    ap.add_argument("--n", type=int, default=1_000_000)
    ap.add_argument("--subset", type=int, default=100_000)
    ap.add_argument("--k", type=int, default=5)
    args = ap.parse_args()
    if args.part in ("a", "both"):
        part_a(args.n_a, args.k)
    if args.part in ("b", "both"):
        part_b(args.n, args.k, args.subset)


if __name__ == "__main__":
    main()
