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


def _tree(root: int) -> dict[int, tuple[int, float]]:
    """{pid: (resident kB, CPU seconds so far)} of ``root`` and all its descendants."""
    children: dict[int, list[int]] = {}
    info: dict[int, tuple[int, float]] = {}
    tick = os.sysconf("SC_CLK_TCK")
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as fh:
                stat = fh.read()
        except OSError:
            continue
        fields = stat[stat.rindex(")") + 2 :].split()
        pid = int(entry)
        children.setdefault(int(fields[1]), []).append(pid)
        # rss in pages (field 24), utime + stime in ticks (fields 14, 15)
        info[pid] = (
            int(fields[21]) * os.sysconf("SC_PAGE_SIZE") // 1024,
            (int(fields[11]) + int(fields[12])) / tick,
        )
    out, stack = {}, [root]
    while stack:
        pid = stack.pop()
        if pid in info:
            out[pid] = info[pid]
        stack.extend(children.get(pid, []))
    return out


def run(args: list[str]) -> tuple[float, float, float]:
    """(wall s, CPU s of the process tree, peak summed RSS of the tree in GB) of one kdaudit run.

    The tree is polled every 0.1 s (Ray's raylet, GCS and workers included): CPU time is
    the sum over every process seen of its last reading, so it does not depend on how
    busy the machine is, unlike wall time.
    """
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
    cpu: dict[int, float] = {}
    stop = threading.Event()

    def poll() -> None:
        nonlocal peak
        while not stop.is_set():
            tree = _tree(proc.pid)
            peak = max(peak, sum(rss for rss, _ in tree.values()))
            cpu.update({pid: c for pid, (_, c) in tree.items()})
            time.sleep(0.1)

    t = threading.Thread(target=poll, daemon=True)
    t.start()
    _, err = proc.communicate()
    stop.set()
    t.join()
    wall = time.perf_counter() - t0
    if proc.returncode not in (0, 1):
        raise SystemExit(f"kdaudit {' '.join(args[:1])} failed ({proc.returncode}): {err[-2000:]}")
    return wall, sum(cpu.values()), peak / 1024**2


def _numbers(path: Path) -> dict:
    """The report without what may differ between runs: times, host, the command line."""
    rep = json.loads(path.read_text())
    rep.pop("created", None)
    rep.pop("provenance", None)
    for item in rep.get("governance", {}).get("items", []):
        if "provenance" in item.get("evidence", []):  # quotes the provenance's command line
            item["answer"] = None
    return rep


def _differ(a: object, b: object, path: str = "") -> list[str]:
    """Paths where two JSON values differ (at most 5)."""
    if isinstance(a, dict) and isinstance(b, dict):
        out = []
        for key in sorted(set(a) | set(b)):
            out += _differ(a.get(key), b.get(key), f"{path}.{key}" if path else key)
        return out[:5]
    return [] if a == b else [path]


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
        wall, cpu, peak = run(["compare", *models, *data, *stat, "--out", str(folder / "single")])
        rows.append(("1. compare (single process)", wall, cpu, peak, folder / "single"))
        merge = ["compare", "--from-stats", "OUT", *stat, "--out"]
        for name, extra in (
            ("2. stats (1 proc)", []),
            ("3. stats --ray local", ["--ray", "local"]),
        ):
            if extra and args.no_ray:
                continue
            tag = "s_ray" if extra else "s_local"
            w1, c1, p1 = run(["stats", *models, *data, *extra, "--out", str(folder / tag)])
            cmd = [str(folder / tag) if a == "OUT" else a for a in merge]
            w2, c2, p2 = run([*cmd, str(folder / f"{tag}_report")])
            rows.append(
                (
                    f"{name} {w1:.1f} s ({c1:.1f} CPU) + merge {w2:.1f} s ({c2:.1f} CPU)",
                    w1 + w2,
                    c1 + c2,
                    max(p1, p2),
                    folder / f"{tag}_report",
                )
            )
        base_wall = rows[0][1]
        reference = _numbers(rows[0][4] / "report.json")
        load = os.getloadavg()[0]
        print(
            f"N = {args.n:,} rows, binary, 3 models, 8 groups, B = {args.bootstrap}, "
            f"{os.cpu_count()} CPUs, load average {load:.1f} at the end"
        )
        print(f"{'run':70s} {'wall s':>7s} {'CPU s':>7s} {'peak GB':>8s} {'vs 1.':>6s}  identical")
        for name, wall, cpu, peak, out in rows:
            numbers = _numbers(out / "report.json")
            same = numbers == reference
            if not same:
                name += " [differs: " + ", ".join(_differ(numbers, reference)) + "]"
            print(f"{name:70s} {wall:7.1f} {cpu:7.1f} {peak:8.2f} {wall / base_wall:5.2f}x  {same}")
        print(
            f"goals: single process < 60 s and < 2 GB: "
            f"{'met' if rows[0][1] < 60 and rows[0][3] < 2 else 'NOT met'}; "
            + (
                # the goal: Ray on the local CPUs vs the single process (1.)
                f"Ray vs 1. (single process): wall {rows[2][1] / rows[0][1] - 1:+.0%} (goal < +30%: "
                f"{'met' if rows[2][1] < 1.3 * rows[0][1] else 'NOT met'}); "
                f"vs 2. (the same sharded path in one process): wall "
                f"{rows[2][1] / rows[1][1] - 1:+.0%}, CPU {rows[2][2] / rows[1][2] - 1:+.0%}"
                if len(rows) == 3
                else "Ray not run"
            )
        )


if __name__ == "__main__":
    main()
