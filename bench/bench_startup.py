"""Start-up cost of a small audit: `kdaudit compare` of two 10,000-row logits files.

Goal (issue 12): under 1.0 s wall on 2 cores; it took ~2.2 s before the lean-install
work. Most of that was imports: statsmodels (and pandas with it) for BH/Holm,
scipy.stats for two distribution functions, matplotlib.pyplot on import of the
Markdown renderer, importlib.metadata for the version, a metaschema check per run.

Where the rest went (issue 12 item 5; ``python -X importtime``, cProfile, and CPU
seconds per phase measured inside the process, medians of 3, load average 4-9;
phases overlap the collector's share):

    CPU seconds                                  before (45b8f81)   after
    imports: cli, api, writer, schema, html         0.134           0.134
    audit (api.compare; scipy.special ~0.1 of it)   0.198           0.198
    validate report.json (jsonschema import)        0.061           0.037
    import figures (matplotlib + font list)         0.319           0.225
    draw 5 figures (report.html)                    0.440           0.317
    jinja2: compile 13 templates                    0.077           0
    garbage collector (inside the phases above)     0.160           0.058
    total inside the process                        1.286           0.918

* The computation itself is small: the audit with 1,000 bootstrap replicates takes
  0.03 s once imported; the rest is imports (~0.45 s) and drawing figures (~0.3 s).
* matplotlib's font list: kdaudit's private config folder (no font cache under $HOME)
  meant a fresh font list per run: 61 AFM metric files parsed, every system font read,
  ``fc-list`` run (0.09 s). The command line now seeds that folder with matplotlib's
  own TrueType fonts only (kdaudit.safety.bundled_fonts_only): figures use DejaVu Sans,
  which ships with matplotlib, so the page is the same bytes (tests/test_startup.py).
* Every figure was drawn twice at savefig: ``tight_layout()`` leaves a placeholder
  layout engine behind, for which matplotlib makes a discarded dry-run draw. Dropping
  the engine after layout halves the drawing at savefig; same SVG bytes.
* jinja2 compiled report.html's 13 templates to Python in every process; they are
  compiled ahead of time now (kdaudit/report/_compiled, kdaudit.report.precompile),
  used only while their key (source + jinja2 version + settings) matches.
* Python's collector ran ~300 times (threshold 700) and re-scanned the objects the
  imports create; the command line raises the young threshold (kdaudit._startup).
* A compare without --policy/--junit of data files no longer imports kdaudit.gate,
  report.junit or the six built-in dataset modules.
* Measuring: with ``PYTHONDONTWRITEBYTECODE`` set (as on the shared machine), every
  run compiled kdaudit from source (~0.1 s) where an installed package has ``.pyc``
  files; the runs here write bytecode to a temporary ``PYTHONPYCACHEPREFIX``.
* Left (not kdaudit's to cut without changing output): matplotlib's own import
  (~0.2 s, mplot3d and widgets included), drawing (text layout for tight_layout and
  again for SVG), scipy.special (~0.1 s: its array-API shim touches every numpy
  attribute, importing numpy.f2py and numpy.testing), jsonschema (~0.04 s),
  ``platform.platform()`` running ``uname -p`` and importlib.metadata in provenance.

Whole process, this script (7 runs each, load average 5-7 on 2 shared cores):
before 1.53 s CPU (best wall 1.29 s), after 1.15 s CPU (best wall 0.96 s): 1.34x.

All sides run in fresh subprocesses, interleaved, pinned to at most 2 CPUs:

* current:  this source tree;
* before:   kdaudit at ``--before-rev`` (default 45b8f81, before the work above);
* baseline: kdaudit as it was at ``--baseline-rev`` (default 0eda431, the commit before
  the lean-install work), extracted with ``git archive`` into a temporary folder. Without
  git, the baseline is simulated: this tree with the old eager imports done first.

Figures: median and best wall seconds, median CPU seconds (user + system, less sensitive
to other load on the machine), and the ratios to current. Also ``kdaudit --version``.

    python bench/bench_startup.py                  # 10,000 rows, 7 runs each
    python bench/bench_startup.py --n 400 --repeats 3
"""

from __future__ import annotations

import argparse
import os
import resource
import statistics
import subprocess
import sys
import tarfile
import tempfile
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
GOAL_S = 1.0
# what the code before the lean-install work imported on this path (the simulated baseline)
OLD_IMPORTS = (
    "import importlib.metadata, statsmodels.stats.multitest, scipy.stats, "
    "matplotlib.pyplot, jsonschema"
)


def write_inputs(folder: Path, n: int, seed: int = 0) -> list[str]:
    """Binary labels, one sensitive attribute (4 groups), teacher and student logits (float32)."""
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 2, n)
    np.savez(folder / "data.npz", y=y, sensitive_region=rng.integers(0, 4, n))
    for role, acc in (("teacher", 0.9), ("student", 0.85)):
        pred = np.where(rng.random(n) < acc, y, 1 - y)
        logits = rng.normal(scale=0.5, size=(n, 2)).astype(np.float32)
        logits[np.arange(n), pred] += 1.0
        np.save(folder / f"{role}.npy", logits)
    return [
        "compare",
        str(folder / "teacher.npy"),
        str(folder / "student.npy"),
        "--data",
        str(folder / "data.npz"),
        "--sensitive",
        "region",
        "--no-cache",
        "--quiet",
    ]


def baseline_tree(rev: str, into: Path) -> Path | None:
    """The kdaudit package at ``rev`` under ``into``, or None without git or that commit."""
    root = into / f"kdaudit-{rev}"
    archive = into / f"{rev}.tar"
    try:
        subprocess.run(
            [
                "git",
                "-C",
                str(REPO),
                "archive",
                "--format=tar",
                "-o",
                str(archive),
                rev,
                "kdaudit",
                "templates",
            ],
            check=True,
            capture_output=True,
        )
    except (OSError, subprocess.CalledProcessError):
        return None
    with tarfile.open(archive) as tar:
        tar.extractall(root, filter="tar")
    # the wheel ships templates/ as kdaudit.templates; put them there, or an installed
    # (editable) kdaudit would supply its own, newer templates to the old code
    (root / "templates").rename(root / "kdaudit" / "templates")
    return root


def _pin() -> None:
    cpus = sorted(os.sched_getaffinity(0))
    os.sched_setaffinity(0, cpus[:2])


def timed(
    tree: Path, argv: list[str], prelude: str = "", pycache: Path | None = None
) -> tuple[float, float]:
    """Run ``kdaudit ARGV`` from ``tree`` in a fresh interpreter: (wall s, CPU s).

    With ``pycache``, compiled bytecode is written to and read from that folder, as an
    installed package has its ``.pyc`` files (``PYTHONDONTWRITEBYTECODE``, set on some
    machines, would otherwise make every run compile kdaudit from source: ~0.1 s).
    """
    code = f"{prelude}\nimport sys\nfrom kdaudit.cli import main\nsys.exit(main(sys.argv[1:]))"
    env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    env["PYTHONPATH"] = str(tree)
    if pycache is not None:
        env["PYTHONPYCACHEPREFIX"] = str(pycache)
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.perf_counter()
    # cwd outside both trees: `python -c` puts the working directory first on sys.path
    res = subprocess.run(
        [sys.executable, "-c", code, *argv],
        env=env,
        capture_output=True,
        text=True,
        cwd=tempfile.gettempdir(),
        preexec_fn=_pin if hasattr(os, "sched_setaffinity") else None,
    )
    wall = time.perf_counter() - t0
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if res.returncode not in (0, 1):
        raise SystemExit(f"kdaudit failed in {tree} ({res.returncode}): {res.stderr[-2000:]}")
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return wall, cpu


def summary(label: str, runs: list[tuple[float, float]]) -> tuple[float, float]:
    walls = [w for w, _ in runs]
    cpus = [c for _, c in runs]
    med_wall, med_cpu = statistics.median(walls), statistics.median(cpus)
    print(
        f"  {label:<28} wall median {med_wall:6.3f} s  best {min(walls):6.3f} s   "
        f"CPU median {med_cpu:6.3f} s"
    )
    return med_wall, med_cpu


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--n", type=int, default=10_000, help="rows (default 10000)")
    ap.add_argument("--repeats", type=int, default=7, help="runs per side (default 7)")
    ap.add_argument("--baseline-rev", default="0eda431", help="git revision of the baseline")
    ap.add_argument(
        "--before-rev",
        default="45b8f81",
        help="git revision before the start-up profile work (issue 12 item 5); '' skips it",
    )
    args = ap.parse_args()

    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        pycache = work / "pycache"
        argv = write_inputs(work, args.n)
        sides: dict[str, tuple[Path, str]] = {"current": (REPO, "")}
        before = baseline_tree(args.before_rev, work) if args.before_rev else None
        if before is not None:
            sides[f"before (kdaudit@{args.before_rev})"] = (before, "")
        base = baseline_tree(args.baseline_rev, work)
        if base is None:
            base_label = "baseline (simulated imports)"
            sides[base_label] = (REPO, OLD_IMPORTS)
        else:
            base_label = f"baseline (kdaudit@{args.baseline_rev})"
            sides[base_label] = (base, "")
        cpus = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
        print(
            f"kdaudit compare, two {args.n:,}-row logits files, 1 sensitive attribute, "
            f"default bootstrap; {args.repeats} runs each, on {min(2, cpus or 1)} CPUs; "
            f"load average {os.getloadavg()[0]:.1f}"
        )

        for side, (tree, pre) in sides.items():  # warm the page cache, write the .pyc files
            timed(tree, [*argv, "--out", str(work / f"warm-{side[:4]}")], pre, pycache)
        compare_runs: dict[str, list[tuple[float, float]]] = {s: [] for s in sides}
        import_runs: dict[str, list[tuple[float, float]]] = {s: [] for s in sides}
        for i in range(args.repeats):  # interleaved, so drifting load hits all sides alike
            for side, (tree, pre) in sides.items():
                out = work / f"out-{side[:4]}-{i}"
                compare_runs[side].append(timed(tree, [*argv, "--out", str(out)], pre, pycache))
                import_runs[side].append(timed(tree, ["--version"], pre, pycache))

        print("\n`kdaudit compare` (whole process: start, imports, audit, report.html/json/md)")
        cur = summary("current", compare_runs["current"])
        others = {side: summary(side, compare_runs[side]) for side in sides if side != "current"}
        for side, old in others.items():
            print(
                f"  ratio {side.split(' ')[0]} / current: wall {old[0] / cur[0]:.2f}x, "
                f"CPU {old[1] / cur[1]:.2f}x"
            )
        verdict = "met" if cur[0] < GOAL_S else "NOT met"
        print(f"  goal: median wall < {GOAL_S:.1f} s -> {verdict} ({cur[0]:.3f} s)")

        print("\n`kdaudit --version` (start-up and imports only)")
        cur_i = summary("current", import_runs["current"])
        for side in others:
            old_i = summary(side, import_runs[side])
            print(f"  ratio {side.split(' ')[0]} / current: wall {old_i[0] / cur_i[0]:.2f}x")
    return 0


if __name__ == "__main__":
    sys.exit(main())
