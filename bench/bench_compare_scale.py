"""Whole `kdaudit compare` on logits files at scale (issue 3's benchmarks).

Part A (group fairness, binary): N rows, 8 and 64 groups, teacher + student
logits files, B = 1000 paired bootstrap, timed as a subprocess (start-up and
loading included). Baseline: fairlearn doing the same bootstrap, estimated as
the time of ONE fairlearn replicate per model (MetricFrame with DPD and EOD on
N resampled rows) times B times 2 models. Goal: >= 1000x faster, < 20 s total.

Part B (memory): two models with N x C float32 logits each (4 GB per file at
1,000,000 x 1,000), `kdaudit compare` with a sensitive attribute, peak resident
memory of the subprocess. Goal: < 2 GB.

    python bench/bench_compare_scale.py                 # full size (needs ~9 GB disk)
    python bench/bench_compare_scale.py --n 100000 --classes 100   # quick
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np


def write_binary_task(folder: Path, n: int, n_groups: int, seed: int = 0) -> dict[str, Path]:
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 2, n)
    groups = rng.integers(0, n_groups, n)
    np.savez(folder / f"data_g{n_groups}.npz", y=y, sensitive_g=groups)
    out = {"data": folder / f"data_g{n_groups}.npz", "y": y, "groups": groups}
    for name, acc in (("teacher", 0.9), ("student", 0.85)):
        pred = np.where(rng.random(n) < acc + 0.02 * (groups % 3), y, 1 - y)
        logits = rng.normal(scale=0.5, size=(n, 2)).astype(np.float32)
        logits[np.arange(n), pred] += 1.0
        np.save(folder / f"{name}_bin.npy", logits)
        out[name] = folder / f"{name}_bin.npy"
        out[f"pred_{name}"] = logits.argmax(1)
    return out


# The child reports its own high-water mark (VmHWM) on exit. getrusage's ru_maxrss would
# also count what the child inherited at fork, before exec, and survives execve.
_CHILD = """
import atexit, sys
from kdaudit.cli import main
def hwm():
    for line in open('/proc/self/status'):
        if line.startswith('VmHWM:'):
            sys.stderr.write('KDAUDIT_BENCH_VMHWM_KB ' + line.split()[1] + chr(10))
atexit.register(hwm)
sys.exit(main(sys.argv[1:]))
"""


def run_cli(args: list[str]) -> tuple[float, float]:
    """Run kdaudit's CLI in a fresh process; return (wall seconds, its peak RSS in GB)."""
    t0 = time.perf_counter()
    res = subprocess.run([sys.executable, "-c", _CHILD, *args], capture_output=True, text=True)
    wall = time.perf_counter() - t0
    if res.returncode not in (0, 1):
        raise SystemExit(f"kdaudit failed ({res.returncode}): {res.stderr}")
    peak_kb = next(
        (
            int(line.split()[1])
            for line in res.stderr.splitlines()
            if line.startswith("KDAUDIT_BENCH_VMHWM_KB")
        ),
        -1,
    )
    return wall, peak_kb / 1024**2


def fairlearn_replicate(
    y: np.ndarray, pred: np.ndarray, groups: np.ndarray, rng: np.random.Generator
) -> float:
    from fairlearn.metrics import demographic_parity_difference, equalized_odds_difference

    idx = rng.integers(0, y.shape[0], y.shape[0])
    t0 = time.perf_counter()
    demographic_parity_difference(y[idx], pred[idx], sensitive_features=groups[idx])
    equalized_odds_difference(y[idx], pred[idx], sensitive_features=groups[idx])
    return time.perf_counter() - t0


def part_a(folder: Path, n: int, bootstrap: int) -> None:
    print(f"== Part A: group fairness, binary, N = {n:,}, B = {bootstrap}, 2 models")
    for n_groups in (8, 64):
        task = write_binary_task(folder, n, n_groups)
        wall, _ = run_cli(
            [
                "compare",
                str(task["teacher"]),
                str(task["student"]),
                "--data",
                str(task["data"]),
                "--sensitive",
                "g",
                "--bootstrap",
                str(bootstrap),
                "--no-cache",
                "--quiet",
                "--out",
                str(folder / "out_a"),
                "--report-format",
                "json",
            ]
        )
        rng = np.random.default_rng(1)
        per_rep = [
            fairlearn_replicate(task["y"], task[f"pred_{m}"], task["groups"], rng)
            for m in ("teacher", "student")
        ]
        fl_total = sum(per_rep) * bootstrap
        print(
            f"  {n_groups:>2} groups: kdaudit compare (whole CLI run) {wall:6.2f} s | fairlearn: "
            f"{per_rep[0]:.2f} + {per_rep[1]:.2f} s per replicate -> {fl_total:,.0f} s for B = {bootstrap} "
            f"| ratio {fl_total / wall:,.0f}x (goal >= 1000x; total goal < 20 s: "
            f"{'met' if wall < 20 else 'NOT met'})"
        )


def write_big_logits(path: Path, y: np.ndarray, n_classes: int, acc: float, seed: int) -> None:
    rng = np.random.default_rng(seed)
    mm = np.lib.format.open_memmap(path, mode="w+", dtype=np.float32, shape=(y.shape[0], n_classes))
    step = 50_000
    for i in range(0, y.shape[0], step):
        yy = y[i : i + step]
        block = rng.standard_normal((yy.shape[0], n_classes), dtype=np.float32)
        right = rng.random(yy.shape[0]) < acc
        block[np.flatnonzero(right), yy[right]] += 6.0
        mm[i : i + step] = block
    mm.flush()
    del mm


def part_b(folder: Path, n: int, n_classes: int, bootstrap: int) -> None:
    size_gb = n * n_classes * 4 / 1e9
    print(
        f"== Part B: memory, 2 models x {n:,} x {n_classes:,} float32 logits ({size_gb:.1f} GB per file)"
    )
    rng = np.random.default_rng(0)
    y = rng.integers(0, n_classes, n)
    np.savez(folder / "data_big.npz", y=y, sensitive_g=rng.integers(0, 8, n))
    t0 = time.perf_counter()
    write_big_logits(folder / "teacher_big.npy", y, n_classes, 0.8, 1)
    write_big_logits(folder / "student_big.npy", y, n_classes, 0.75, 2)
    print(f"  wrote the logits files in {time.perf_counter() - t0:.0f} s")
    wall, peak = run_cli(
        [
            "compare",
            str(folder / "teacher_big.npy"),
            str(folder / "student_big.npy"),
            "--data",
            str(folder / "data_big.npz"),
            "--sensitive",
            "g",
            "--bootstrap",
            str(bootstrap),
            "--no-cache",
            "--quiet",
            "--out",
            str(folder / "out_b"),
            "--report-format",
            "json",
        ]
    )
    print(
        f"  kdaudit compare: {wall:.1f} s, peak resident memory {peak:.2f} GB "
        f"(goal < 2 GB: {'met' if peak < 2 else 'NOT met'}; input {2 * size_gb:.1f} GB)"
    )


def main() -> None:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--n", type=int, default=1_000_000)
    ap.add_argument("--classes", type=int, default=1000)
    ap.add_argument("--bootstrap", type=int, default=1000)
    ap.add_argument("--part", choices=("a", "b", "both"), default="both")
    ap.add_argument("--dir", help="working folder (default: a temp folder; part B needs ~9 GB)")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory(dir=args.dir) as tmp:
        folder = Path(tmp)
        if args.part in ("a", "both"):
            part_a(folder, args.n, args.bootstrap)
        if args.part in ("b", "both"):
            part_b(folder, args.n, args.classes, args.bootstrap)


if __name__ == "__main__":
    main()
