"""The lean core install: what an audit of logits files imports, a cheap ``import kdaudit``,
missing extras as one-line errors with the pip command, the platform cache directory."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import kdaudit
from kdaudit import _optional
from kdaudit._startup import GC_THRESHOLDS
from kdaudit.cli import COMMANDS, main
from kdaudit.engine.cache import default_cache_dir
from kdaudit.errors import AuditError, MissingDependencyError

REPO = Path(__file__).resolve().parents[1]

# optional (extras), test-only and other heavy packages: none may load while auditing
# logits files (each costs 0.1-1 s of start-up; bench/bench_startup.py)
NOT_FOR_LOGITS = (
    "torch",
    "torchvision",
    "onnx",
    "onnxruntime",
    "onnxscript",
    "safetensors",
    "pandas",
    "pyarrow",
    "polars",
    "statsmodels",
    "sklearn",
    "fairlearn",
    "scipy.stats",
    "scipy.optimize",
    "scipy.linalg",
    "transformers",
    "tokenizers",
    "datasets",
    "ray",
    "numba",
    "sympy",
    "matplotlib.pyplot",
)
# kdaudit's own modules that a compare without --policy/--junit, of files, does not need
# (kdaudit.data.builtin itself is only the name -> "module:function" table: cheap)
NOT_FOR_A_PLAIN_COMPARE = (
    "kdaudit.gate",
    "kdaudit.report.junit",
    "kdaudit.data.realworld",
    "kdaudit.data.trifeature",
    "kdaudit.data.text_synth",
    "kdaudit.data.hatexplain",
    "kdaudit.data.tabular",
)


def _run_python(code: str, *args: str, env: dict[str, str] | None = None) -> dict:
    res = subprocess.run(
        [sys.executable, "-c", code, *args],
        capture_output=True,
        text=True,
        cwd=REPO,
        env={**(os.environ if env is None else env), "PYTHONPATH": str(REPO)},
        timeout=300,
    )
    assert res.returncode == 0, res.stderr
    return json.loads(res.stdout.strip().splitlines()[-1])


@pytest.fixture
def logits_files(tmp_path: Path, rng: np.random.Generator) -> dict[str, Path]:
    n = 300
    y = rng.integers(0, 2, n)
    np.savez(tmp_path / "data.npz", y=y, sensitive_sex=rng.integers(0, 2, n))
    out = {"data": tmp_path / "data.npz"}
    for role in ("teacher", "student"):
        logits = rng.normal(size=(n, 2)).astype(np.float32)
        logits[np.arange(n), y] += 1.0
        np.save(tmp_path / f"{role}.npy", logits)
        out[role] = tmp_path / f"{role}.npy"
    return out


def test_auditing_logits_files_imports_no_extra(logits_files, tmp_path: Path) -> None:
    code = """
import gc, json, os, sys
spawned = []
sys.addaudithook(lambda ev, a: spawned.append(os.path.basename(str(a[0])))
                 if ev == "subprocess.Popen" else None)
from kdaudit.cli import main
code = main(sys.argv[2:])
names = set(sys.argv[1].split(","))
heavy = sorted(m for m in sys.modules
               if m in names or m.split(".")[0] in names or m.rsplit(".", 1)[0] in names)
import matplotlib
from matplotlib import font_manager
data = os.path.realpath(matplotlib.get_data_path())
fm = font_manager.fontManager
print(json.dumps({"code": code, "heavy": heavy, "mpl": "matplotlib" in sys.modules,
                  "pyplot": "matplotlib.pyplot" in sys.modules, "spawned": spawned,
                  "afm": len(fm.afmlist), "ttf": [f.fname for f in fm.ttflist],
                  "data": data, "gc": gc.get_threshold()}))
"""
    out = tmp_path / "report"
    env = {k: v for k, v in os.environ.items() if k != "MPLCONFIGDIR"}  # kdaudit's own folder
    got = _run_python(
        code,
        ",".join(NOT_FOR_LOGITS + NOT_FOR_A_PLAIN_COMPARE),
        "compare",
        str(logits_files["teacher"]),
        str(logits_files["student"]),
        "--data",
        str(logits_files["data"]),
        "--out",
        str(out),
        "--no-cache",
        "--bootstrap",
        "50",
        "--quiet",
        env=env,
    )
    assert got["code"] == 0
    assert got["heavy"] == []
    assert got["mpl"]  # the HTML page has figures: matplotlib loads to draw them
    assert not got["pyplot"]  # ...through its object API; pyplot's global state is not needed
    assert (out / "report.html").is_file() and (out / "summary.md").is_file()
    # matplotlib's font list holds its own TrueType fonts only: no AFM metrics parsed, no
    # system font read, no fc-list (nor any other program) run to find fonts
    assert got["afm"] == 0 and got["ttf"]
    assert all(os.path.realpath(f).startswith(got["data"]) for f in got["ttf"]), got["ttf"]
    assert "fc-list" not in got["spawned"], got["spawned"]
    assert tuple(got["gc"]) == GC_THRESHOLDS  # a short run does not re-scan imports 300 times


def test_import_kdaudit_is_cheap_and_names_resolve() -> None:
    code = """
import json, sys
import kdaudit
before = sorted(m for m in sys.modules if m.startswith('kdaudit') or m in ('numpy', 'scipy'))
import kdaudit.report.markdown  # the summary renderer draws no figure
mpl = 'matplotlib' in sys.modules
print(json.dumps({"before": before, "mpl_after_markdown": mpl}))
"""
    got = _run_python(code)
    assert got["before"] == ["kdaudit", "kdaudit._version"]
    assert got["mpl_after_markdown"] is False
    from kdaudit.api import AuditOptions, Report, audit, compare
    from kdaudit.data import Dataset, load_dataset

    assert kdaudit.compare is compare and kdaudit.audit is audit and kdaudit.Report is Report
    assert kdaudit.AuditOptions is AuditOptions and kdaudit.Dataset is Dataset
    assert kdaudit.load_dataset is load_dataset
    assert isinstance(kdaudit.__version__, str) and kdaudit.__version__
    assert set(kdaudit.__all__) <= set(dir(kdaudit))
    with pytest.raises(AttributeError, match="no attribute 'nonsense'"):
        _ = kdaudit.nonsense


def test_py_typed_is_shipped() -> None:
    assert (REPO / "kdaudit" / "py.typed").is_file()
    assert '"kdaudit" = ["py.typed"]' in (REPO / "pyproject.toml").read_text()


# -------------------------------------------------------------- missing extras
def _block(monkeypatch: pytest.MonkeyPatch, *modules: str) -> None:
    """Make ``import MODULE`` fail as it does when the package is not installed."""
    for name in list(sys.modules):
        if name.split(".")[0] in modules:
            monkeypatch.delitem(sys.modules, name)
    for name in modules:
        monkeypatch.setitem(sys.modules, name, None)


@pytest.mark.parametrize(
    ("blocked", "model_suffix", "data_suffix", "extra"),
    [
        ("onnxruntime", ".onnx", ".npz", "onnx"),
        ("onnx", ".onnx", ".npz", "onnx"),
        ("torch", ".safetensors", ".npz", "torch"),
        ("safetensors", ".safetensors", ".npz", "torch"),
        ("pyarrow", ".npy", ".parquet", "parquet"),
    ],
)
def test_missing_extra_is_exit_3_with_the_pip_line(
    blocked, model_suffix, data_suffix, extra, logits_files, tmp_path, monkeypatch, capsys
) -> None:
    model = logits_files["teacher"]
    if model_suffix != ".npy":
        model = tmp_path / f"teacher{model_suffix}"
        model.write_bytes(b"never read: the missing package is found first")
    data = logits_files["data"]
    if data_suffix == ".parquet":
        data = tmp_path / "data.parquet"
        data.write_bytes(b"PAR1 never read")
    _block(monkeypatch, blocked)
    code = main(
        [
            "compare",
            str(model),
            str(logits_files["student"]),
            "--data",
            str(data),
            "--arch",
            "mlp-small",
            "--out",
            str(tmp_path / "out"),
            "--no-cache",
            "--quiet",
        ]
    )
    err = capsys.readouterr().err
    assert code == 3, err
    lines = err.strip().splitlines()
    assert lines[0].startswith("kdaudit: error: ") and repr(blocked) in lines[0]
    assert lines[1] == f"tip: pip install 'kdaudit[{extra}]' (or: pip install {blocked})"
    assert "Traceback" not in err
    assert not (tmp_path / "out").exists()


def test_missing_extra_for_training(monkeypatch, tmp_path, capsys) -> None:
    _block(monkeypatch, "torch")
    assert main(["demo", "--small", "--quiet", "--out", str(tmp_path / "demo")]) == 3
    assert "tip: pip install 'kdaudit[train]'" in capsys.readouterr().err


def test_cli_maps_any_missing_optional_import_to_exit_3(monkeypatch, capsys) -> None:
    def needs_onnxscript(args):
        raise ModuleNotFoundError("No module named 'onnxscript'", name="onnxscript")

    monkeypatch.setitem(COMMANDS, "schema", needs_onnxscript)
    assert main(["schema"]) == 3
    assert "kdaudit[train]" in capsys.readouterr().err

    def needs_core(args):  # a core package missing is a broken install: still a bug report
        raise ModuleNotFoundError("No module named 'numpy'", name="numpy")

    monkeypatch.setitem(COMMANDS, "schema", needs_core)
    assert main(["schema"]) == 4


def test_require(monkeypatch) -> None:
    assert _optional.require("onnx", purpose="x").__name__ == "onnx"
    with pytest.raises(ValueError, match="not an optional dependency"):
        _optional.require("numpy", purpose="x")
    _block(monkeypatch, "torch")
    with pytest.raises(
        MissingDependencyError, match="Training needs the optional package 'torch'"
    ) as exc:
        _optional.require("torch", purpose="Training", extra="train")
    assert exc.value.tip == "pip install 'kdaudit[train]' (or: pip install torch)"
    assert exc.value.exit_code == 3

    def broken(name):  # installed, but its import fails (a broken wheel, a missing .so)
        raise ImportError(
            "libfoo.so: cannot open shared object file", name="onnx.onnx_cpp2py_export"
        )

    monkeypatch.setattr(_optional.importlib, "import_module", broken)
    with pytest.raises(AuditError, match="installed but failed to import") as exc2:
        _optional.require("onnx", purpose="Loading")
    assert not isinstance(exc2.value, MissingDependencyError)


def test_every_optional_import_is_in_an_extra() -> None:
    """Each package of EXTRAS is declared in that extra of pyproject.toml."""
    import tomllib

    extras = tomllib.loads((REPO / "pyproject.toml").read_text())["project"][
        "optional-dependencies"
    ]

    def names(extra: str) -> set[str]:
        out: set[str] = set()
        for req in extras[extra]:
            name = req.split(">")[0].split("=")[0].split("[")[0].strip()
            if name == "kdaudit":
                for inner in req.split("[")[1].rstrip("]").split(","):
                    out |= names(inner.strip())
            else:
                out.add(name)
        return out

    for module, (dist, extra) in _optional.EXTRAS.items():
        assert dist in names(extra), (module, extra)
        assert dist in names("dev"), module
    deps = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["dependencies"]
    core = {d.split(">")[0].strip() for d in deps}
    assert not core & {
        "torch",
        "onnx",
        "onnxruntime",
        "safetensors",
        "pyarrow",
        "statsmodels",
        "scikit-learn",
        "fairlearn",
    }


# ---------------------------------------------------------------- cache directory
def test_default_cache_dir_follows_platform_conventions(monkeypatch, tmp_path) -> None:
    monkeypatch.delenv("KDAUDIT_CACHE_DIR", raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    import platformdirs

    assert default_cache_dir() == platformdirs.user_cache_path("kdaudit", appauthor=False)
    if sys.platform.startswith("linux"):
        assert default_cache_dir() == tmp_path / "xdg" / "kdaudit"
    monkeypatch.setenv("KDAUDIT_CACHE_DIR", str(tmp_path / "mine"))
    assert default_cache_dir() == tmp_path / "mine"
