"""How many of kdaudit's deliberate ``raise`` statements the default test suite runs.

Goal (issue 12, item 7): at least 90% of the deliberate raise lines run in the default
test suite (``pytest -m 'not slow'``), so that every error message a user can meet is
exercised at least once.

One command runs the default suite under coverage.py (xdist workers and the CLI
subprocesses the tests start are measured too, through coverage's ``patch = subprocess``),
then walks kdaudit/ with the ``ast`` module and prints ``covered / total`` and every
never-run raise line, grouped by file.

Which raises count (the rule):

* counted ("deliberate"): every ``raise EXPR`` -- ``raise SomeError(msg)``,
  ``raise SomeError(msg) from exc`` (translating a library's exception into kdaudit's
  one-line error is deliberate: the user meets that message), ``raise saved_error``;
* not counted: a bare ``raise`` (re-raises the exception being handled; it writes no
  message of its own);
* counted separately ("pragma"): a raise whose own lines, or the header line of a
  statement enclosing it, carry ``# pragma: no cover`` (coverage.py's own exclusion
  marker). Each such line must say why it cannot run (``# pragma: no cover - <reason>``);
  the list is printed so it stays short and honest.

A raise is "covered" when coverage.py saw its first line execute.

    python bench/raise_coverage.py                 # full default suite, -n 2 workers
    python bench/raise_coverage.py -n 1 --keep .raise-cov/base
    python bench/raise_coverage.py --tests tests/test_negative_config.py --keep .raise-cov/neg
    python bench/raise_coverage.py --report .raise-cov/base .raise-cov/neg   # union, no run
    python bench/raise_coverage.py -- --durations=25   # extra pytest arguments after --

Measured on 2 shared cores (issue 12): before the negative tests (commit 45b8f81)
186 / 504 = 36.9%; after tests/test_negative_*.py and tests/test_seeded_bugs.py
448 / 494 = 90.7% (13 raises excluded by pragma, each with its reason). A full run
takes about 6-10 minutes on 2 busy cores.
"""

from __future__ import annotations

import argparse
import ast
import os
import subprocess
import sys
import tempfile
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
PACKAGE = REPO / "kdaudit"
GOAL = 0.90
PRAGMA = "pragma: no cover"


@dataclass(frozen=True, slots=True)
class RaiseSite:
    path: Path
    line: int
    text: str
    pragma: bool


def raise_sites(package: Path = PACKAGE) -> list[RaiseSite]:
    """Every ``raise EXPR`` statement under ``package`` (bare re-raises left out)."""
    sites: list[RaiseSite] = []
    for path in sorted(package.rglob("*.py")):
        source = path.read_text(encoding="utf-8")
        lines = source.splitlines()
        tree = ast.parse(source, filename=str(path))
        parents: dict[ast.AST, ast.AST] = {}
        for node in ast.walk(tree):
            for child in ast.iter_child_nodes(node):
                parents[child] = node
        for node in ast.walk(tree):
            if not isinstance(node, ast.Raise) or node.exc is None:
                continue
            end = node.end_lineno or node.lineno
            own = any(PRAGMA in lines[i - 1] for i in range(node.lineno, end + 1))
            enclosing = False
            up = parents.get(node)
            while up is not None and not enclosing:
                if isinstance(up, ast.stmt | ast.ExceptHandler):
                    enclosing = PRAGMA in lines[up.lineno - 1]
                up = parents.get(up)
            sites.append(
                RaiseSite(
                    path=path,
                    line=node.lineno,
                    text=lines[node.lineno - 1].strip(),
                    pragma=own or enclosing,
                )
            )
    return sites


def run_suite(data_file: Path, jobs: int, tests: list[str], extra: list[str]) -> int:
    """Run pytest under coverage.py, writing (combined) data to ``data_file``."""
    data_file.parent.mkdir(parents=True, exist_ok=True)
    # not "<data file>.*": `coverage combine` would try to read it as a data file
    rc_file = data_file.parent / f"raise-coverage-{data_file.name}.rc"
    rc_file.write_text(
        "[run]\n"
        f"source = {PACKAGE}\n"
        "parallel = True\n"
        "patch = subprocess\n"
        f"data_file = {data_file}\n",
        encoding="utf-8",
    )
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([str(REPO), *filter(None, [env.get("PYTHONPATH")])])
    env["COVERAGE_RCFILE"] = str(rc_file)
    cmd = [sys.executable, "-m", "coverage", "run", f"--rcfile={rc_file}", "-m", "pytest"]
    cmd += ["-q", "-p", "no:cacheprovider", *(["-n", str(jobs)] if jobs > 1 else [])]
    cmd += [*tests, *extra]
    print("running:", " ".join(cmd), flush=True)
    pytest_rc = subprocess.call(cmd, cwd=REPO, env=env)
    subprocess.call(
        [sys.executable, "-m", "coverage", "combine", f"--rcfile={rc_file}", "-q"],
        cwd=REPO,
        env=env,
    )
    return pytest_rc


def executed_lines(data_files: Iterable[Path]) -> dict[str, set[int]]:
    """File path -> lines executed, the union over ``data_files``."""
    import coverage

    seen: dict[str, set[int]] = {}
    for data_file in data_files:
        data = coverage.CoverageData(basename=str(data_file))
        data.read()
        for name in data.measured_files():
            seen.setdefault(os.path.realpath(name), set()).update(data.lines(name) or ())
    return seen


def report(sites: list[RaiseSite], seen: dict[str, set[int]]) -> float:
    """Print the figure and the never-run lines; return the covered share."""
    counted = [s for s in sites if not s.pragma]
    pragma = [s for s in sites if s.pragma]

    def ran(site: RaiseSite) -> bool:
        return site.line in seen.get(os.path.realpath(site.path), set())

    missed = [s for s in counted if not ran(s)]
    covered = len(counted) - len(missed)
    share = covered / len(counted) if counted else 1.0
    by_file: dict[Path, list[RaiseSite]] = {}
    for site in missed:
        by_file.setdefault(site.path, []).append(site)
    print(f"\nnever-run deliberate raises ({len(missed)}), by file:")
    for path, group in sorted(by_file.items(), key=lambda kv: (-len(kv[1]), str(kv[0]))):
        print(f"  {path.relative_to(REPO)} ({len(group)})")
        for site in sorted(group, key=lambda s: s.line):
            print(f"    {site.line:5d}  {site.text[:90]}")
    print(f"\nexcluded with '# {PRAGMA}' ({len(pragma)}):")
    for site in pragma:
        print(f"  {site.path.relative_to(REPO)}:{site.line}  {site.text[:90]}")
    status = "goal met" if share >= GOAL else "below goal"
    print(
        f"\ndeliberate raise lines run by the tests: {covered} / {len(counted)} "
        f"= {share:.1%} (goal {GOAL:.0%}: {status}); "
        f"{len(pragma)} excluded by pragma; bare re-raises not counted"
    )
    return share


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("-n", "--jobs", type=int, default=2, help="pytest-xdist workers")
    parser.add_argument(
        "--tests", nargs="+", default=[], help="test files/ids (default: the suite)"
    )
    parser.add_argument(
        "--keep", type=Path, help="keep the coverage data in this file (default: temporary)"
    )
    parser.add_argument(
        "--report", type=Path, nargs="+", help="only report from these data files (union)"
    )
    parser.add_argument("pytest_args", nargs="*", help="after --: extra pytest arguments")
    args = parser.parse_args(argv)
    sites = raise_sites()
    if args.report:
        report(sites, executed_lines(args.report))
        return 0
    with tempfile.TemporaryDirectory(prefix="kdaudit-raisecov-") as tmp:
        data_file = args.keep.resolve() if args.keep else Path(tmp) / "coverage.data"
        pytest_rc = run_suite(data_file, args.jobs, args.tests, args.pytest_args)
        report(sites, executed_lines([data_file]))
    if pytest_rc not in (0, 5):
        print(f"note: pytest exited {pytest_rc} (failing tests); the figure is still valid")
    return 0


if __name__ == "__main__":
    sys.exit(main())
