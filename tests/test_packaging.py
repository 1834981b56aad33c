"""The wheel holds every package of kdaudit/ and every data file the code reads.

pyproject.toml lists packages by name (templates/ is mapped into kdaudit.templates), so a
new subpackage that is not added there works from a checkout and is missing from an
installed kdaudit. This builds the wheel (no network: --no-deps, no build isolation) and
checks its contents against the source tree.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import tomllib
import zipfile
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
PACKAGE = REPO / "kdaudit"


def _source_packages() -> set[str]:
    return {".".join(p.parent.relative_to(REPO).parts) for p in PACKAGE.rglob("__init__.py")} | {
        "kdaudit.templates"
    }


def test_pyproject_lists_every_package() -> None:
    listed = set(
        tomllib.loads((REPO / "pyproject.toml").read_text())["tool"]["setuptools"]["packages"]
    )
    assert _source_packages() == listed, (
        f"missing from pyproject.toml: {sorted(_source_packages() - listed)}; "
        f"listed but absent: {sorted(listed - _source_packages())}"
    )


def test_wheel_holds_every_module_and_data_file(tmp_path: Path) -> None:
    # build from a copy: setuptools writes build/ and *.egg-info beside the sources
    src = tmp_path / "src"
    for name in ("kdaudit", "templates"):
        shutil.copytree(REPO / name, src / name, ignore=shutil.ignore_patterns("__pycache__"))
    for name in ("pyproject.toml", "README.md", "LICENSE"):
        if (REPO / name).exists():
            shutil.copy2(REPO / name, src / name)
    res = subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "wheel",
            "--no-deps",
            "--no-build-isolation",
            "-q",
            "-w",
            str(tmp_path),
            str(src),
        ],
        capture_output=True,
        text=True,
        timeout=600,
        cwd=src,
    )
    if res.returncode != 0:
        pytest.skip(f"cannot build a wheel here: {res.stderr.strip()[-300:]}")
    (wheel,) = tmp_path.glob("kdaudit-*.whl")
    names = set(zipfile.ZipFile(wheel).namelist())
    want = {p.relative_to(REPO).as_posix() for p in PACKAGE.rglob("*.py")}
    want |= {p.relative_to(REPO).as_posix() for p in PACKAGE.rglob("*.json")}
    want |= {p.relative_to(REPO).as_posix() for p in PACKAGE.rglob("*.toml")}
    want |= {
        f"kdaudit/templates/{p.name}"
        for p in (REPO / "templates").iterdir()
        if p.suffix in (".j2", ".css", ".html")
    }
    want.add("kdaudit/py.typed")
    want = {w for w in want if "/templates/" not in w or w.startswith("kdaudit/templates/")}
    assert not want - names, f"not in the wheel: {sorted(want - names)[:20]}"
