"""Sharded audit at scale: single-process compare vs merged per-shard counts vs Ray (issue 11).

A binary audit of N rows (3 models as logits files, 8 groups, B bootstrap
replicates) on a Parquet set of --files files, three ways, side by side:

1. ``kdaudit compare`` on the whole data (the single-process baseline);
2. ``kdaudit stats`` (all shards, one process) + ``kdaudit compare --from-stats``;
3. ``kdaudit stats --ray local`` (a local Ray cluster on this machine's CPUs) +
   ``compare --from-stats``.

Each run is a fresh process; wall time includes start-up. Peak memory is the
largest summed resident set of the process tree (Ray's raylet and workers
included), polled every 0.1 s. The three report.json files must be identical
apart from timing/host fields.

    python bench/bench_distributed.py                  # 10,000,000 rows
    python bench/bench_distributed.py --n 1000000      # quicker
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import numpy as np


def write_task(folder: Path, n: int, n_files: int, seed: int = 0) -> dict[str, Path]:
    import pyarrow as pa
    import pyarrow.parquet as pq

    rng = np.random.default_rng(seed)
    data = folder / "data"
    data.mkdir()
    bounds = np.linspace(0, n, n_files + 1).astype(np.int64)
    names = np.array([f"g{i}" for i in range(8)])
    out = {"data": data}
    models = {
        role: np.lib.format.open_memmap(
            folder / f"{role}.npy", mode="w+", dtype=np.float32, shape=(n, 2)
        )
        for role in ("teacher", "student", "baseline")
    }
    for k in range(n_files):
        lo, hi = int(bounds[k]), int(bounds[k + 1])
        y = rng.integers(0, 2, hi - lo).astype(np.int8)
        g = rng.integers(0, 8, hi - lo)
        pq.write_table(pa.table({"y": y, "g": names[g]}), data / f"part-{k:03d}.parquet")
        for role, acc in (("teacher", 0.9), ("student", 0.85), ("baseline", 0.84)):
            pred = np.where(rng.random(hi - lo) < acc + 0.02 * (g % 3), y, 1 - y)
            block = rng.normal(scale=0.5, size=(hi - lo, 2)).astype(np.float32)
            block[np.arange(hi - lo), pred] += 1.0
            models[role][lo:hi] = block
    for role, mm in models.items():
        mm.flush()
        out[role] = folder / f"{role}.npy"
    del models
    return out


def _tree_rss_kb(root: int) -> int:
    children: dict[int, list[int]] = {}
    rss: dict[int, int] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/status") as fh:
                fields = dict(line.split(":", 1) for line in fh if ":" in line)
        except OSError:
            continue
        pid = int(entry)
        children.setdefault(int(fields.get("PPid", "0").strip()), []).append(pid)
        rss[pid] = int(fields.get("VmRSS", "0 kB").split()[0]) if "VmRSS" in fields else 0
    total, stack = 0, [root]
    while stack:
        pid = stack.pop()
        total += rss.get(pid, 0)
        stack.extend(children.get(pid, []))
    return total


def run(args: list[str]) -> tuple[float, float]:
    """(wall seconds, peak summed RSS of the process tree in GB) of one kdaudit run."""
    env = {**os.environ, "RAY_DEDUP_LOGS": "0"}
    t0 = time.perf_counter()
    proc = subprocess.Popen(
        [sys.executable, "-m", "kdaudit", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )
    peak = 0
    stop = threading.Event()

    def poll() -> None:
        nonlocal peak
        while not stop.is_set():
            peak = max(peak, _tree_rss_kb(proc.pid))
            time.sleep(0.1)

    t = threading.Thread(target=poll, daemon=True)
    t.start()
    _, err = proc.communicate()
    stop.set()
    t.join()
    wall = time.perf_counter() - t0
    if proc.returncode not in (0, 1):
        raise SystemExit(f"kdaudit {' '.join(args[:1])} failed ({proc.returncode}): {err[-2000:]}")
    return wall, peak / 1024**2


def _numbers(path: Path) -> dict:
    rep = json.loads(path.read_text())
    rep.pop("created", None)
    rep.pop("provenance", None)
    return rep


def main() -> None:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--n", type=int, default=10_000_000)
    ap.add_argument("--files", type=int, default=8)
    ap.add_argument("--bootstrap", type=int, default=1000)
    ap.add_argument("--no-ray", action="store_true", help="skip the Ray run")
    ap.add_argument("--dir", help="working folder (default: a temp folder)")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory(dir=args.dir) as tmp:
        folder = Path(tmp)
        t0 = time.perf_counter()
        task = write_task(folder, args.n, args.files)
        print(
            f"wrote {args.n:,} rows in {args.files} Parquet files + 3 logits files in "
            f"{time.perf_counter() - t0:.0f} s"
        )
        models = [str(task["teacher"]), str(task["student"]), "--baseline", str(task["baseline"])]
        stat = [
            "--bootstrap",
            str(args.bootstrap),
            "--no-cache",
            "--quiet",
            "--report-format",
            "json",
        ]
        data = ["--data", str(task["data"]), "--sensitive", "g", "--quiet"]
        rows = []
        wall, peak = run(["compare", *models, *data, *stat, "--out", str(folder / "single")])
        rows.append(("1. compare (single process)", wall, peak, folder / "single"))
        w1, p1 = run(["stats", *models, *data, "--out", str(folder / "s_local")])
        w2, p2 = run(
            [
                "compare",
                "--from-stats",
                str(folder / "s_local"),
                *stat,
                "--out",
                str(folder / "merged"),
            ]
        )
        rows.append(
            (
                f"2. stats ({args.files} shards, 1 proc) {w1:.1f} s + merge {w2:.1f} s",
                w1 + w2,
                max(p1, p2),
                folder / "merged",
            )
        )
        if not args.no_ray:
            w1, p1 = run(
                ["stats", *models, *data, "--ray", "local", "--out", str(folder / "s_ray")]
            )
            w2, p2 = run(
                [
                    "compare",
                    "--from-stats",
                    str(folder / "s_ray"),
                    *stat,
                    "--out",
                    str(folder / "ray"),
                ]
            )
            rows.append(
                (
                    f"3. stats --ray local {w1:.1f} s + merge {w2:.1f} s",
                    w1 + w2,
                    max(p1, p2),
                    folder / "ray",
                )
            )
        base_wall = rows[0][1]
        reference = _numbers(rows[0][3] / "report.json")
        print(
            f"N = {args.n:,} rows, binary, 3 models, 8 groups, B = {args.bootstrap}, "
            f"{os.cpu_count()} CPUs"
        )
        print(f"{'run':58s} {'wall s':>8s} {'peak GB':>8s} {'vs 1.':>7s}  identical numbers")
        for name, wall, peak, out in rows:
            same = _numbers(out / "report.json") == reference
            print(f"{name:58s} {wall:8.1f} {peak:8.2f} {wall / base_wall:6.2f}x  {same}")
        print(
            f"goals: single process < 60 s and < 2 GB: "
            f"{'met' if rows[0][1] < 60 and rows[0][2] < 2 else 'NOT met'}; "
            + (
                f"Ray overhead vs 2. < 30%: {'met' if rows[2][1] < 1.3 * rows[1][1] else 'NOT met'} "
                f"({rows[2][1] / rows[1][1] - 1:+.0%})"
                if len(rows) == 3
                else "Ray not run"
            )
        )


if __name__ == "__main__":
    main()
