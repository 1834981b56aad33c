"""Layers that hold: the import contract, lazy built-in datasets, one helper per job.

The contract itself lives in pyproject.toml ([tool.importlinter]) and runs in ``make lint``;
it runs here too so that a plain ``pytest`` catches an upward import or a cycle.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from kdaudit.data import builtin
from kdaudit.data.loader import load_dataset
from kdaudit.errors import UsageError

REPO = Path(__file__).resolve().parents[1]


def _run_python(code: str) -> dict:
    res = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        cwd=REPO,
        env={**os.environ, "PYTHONPATH": str(REPO)},
        timeout=300,
    )
    assert res.returncode == 0, res.stderr
    return json.loads(res.stdout.strip().splitlines()[-1])


# --------------------------------------------------------------------------- the contract


def test_import_contracts_hold(tmp_path: Path) -> None:
    lint = shutil.which("lint-imports", path=str(Path(sys.executable).parent))
    if lint is None:
        pytest.skip("import-linter is not installed (it comes with the 'dev' extra)")
    res = subprocess.run(
        [lint, "--no-cache"],
        capture_output=True,
        text=True,
        cwd=REPO,
        env={**os.environ, "PYTHONPATH": str(REPO)},
        timeout=300,
    )
    assert res.returncode == 0, res.stdout[-4000:] + res.stderr[-2000:]
    assert "0 broken" in res.stdout


def test_contract_names_every_layer_of_the_issue() -> None:
    import tomllib

    config = tomllib.loads((REPO / "pyproject.toml").read_text())["tool"]["importlinter"]
    layers = next(c for c in config["contracts"] if c["id"] == "layers")
    assert layers["exhaustive"] is True  # a new module must be placed, not slip through
    order = [re.split(r"\s*[|:]\s*", layer) for layer in layers["layers"]]
    index = {name.strip("()"): i for i, names in enumerate(order) for name in names}
    # top first: cli above api above report/gate above the audit above analysis ... above data
    chain = ["cli", "api", "gate", "auditing", "analysis", "engine", "models", "data", "arrays"]
    assert [index[n] for n in chain] == sorted(index[n] for n in chain)
    assert index["report"] == index["gate"]
    assert len({index[n] for n in chain}) == len(chain)


# --------------------------------------------------------------------------- cheap imports


def test_version_imports_neither_numpy_nor_the_api() -> None:
    got = _run_python(
        """
import contextlib, io, json, sys
from kdaudit.cli import main
with contextlib.redirect_stdout(io.StringIO()) as out:
    try:
        code = main(["--version"])
    except SystemExit as exc:
        code = exc.code
print(json.dumps({"code": code, "out": out.getvalue(),
                  "numpy": "numpy" in sys.modules, "api": "kdaudit.api" in sys.modules}))
"""
    )
    assert got["code"] in (0, None)
    assert got["out"].startswith("kdaudit ")
    assert got["numpy"] is False and got["api"] is False


# --------------------------------------------------------------------------- built-in datasets


def test_every_builtin_names_a_loader() -> None:
    assert set(builtin.BUILTINS) == {
        "adult",
        "compas",
        "german",
        "hatexplain",
        "tabular",
        "textsynth",
        "trifeature",
    }
    for name in builtin.BUILTINS:
        loader = builtin.builtin_loader(name)
        assert callable(loader) and loader.__name__.startswith("load_"), name


def test_builtins_load_only_the_module_asked_for() -> None:
    got = _run_python(
        """
import json, sys
from kdaudit.data import load_dataset
before = sorted(m for m in sys.modules if m.startswith("kdaudit.data."))
ds = load_dataset("tabular:80")
after = sorted(m for m in sys.modules if m.startswith("kdaudit.data."))
print(json.dumps({"before": before, "after": after, "n": ds.n_samples}))
"""
    )
    assert got["n"] == 80
    for module in ("trifeature", "realworld", "hatexplain", "text_synth"):
        assert f"kdaudit.data.{module}" not in got["after"], module
    assert "kdaudit.data.tabular" not in got["before"] and "kdaudit.data.tabular" in got["after"]


def test_unknown_builtin_is_a_usage_error_naming_the_known_ones() -> None:
    with pytest.raises(UsageError, match=r"Unknown built-in dataset 'nope'.*tabular.*trifeature"):
        builtin.load_builtin("nope")


def test_a_broken_dataset_module_surfaces_as_its_own_error(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # the module cannot be imported at all (as when a dependency of it is missing)
    monkeypatch.delitem(sys.modules, "kdaudit.data.trifeature", raising=False)
    monkeypatch.setitem(sys.modules, "kdaudit.data.trifeature", None)
    with pytest.raises(ImportError, match=r"kdaudit\.data\.trifeature"):
        load_dataset("trifeature:10")


def test_a_bug_in_a_dataset_module_is_not_unknown_dataset(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    (tmp_path / "kdaudit_buggy_dataset.py").write_text(
        "def load_buggy(arg, sensitive):\n    return undefined_name\n"
    )
    (tmp_path / "kdaudit_broken_dataset.py").write_text("raise RuntimeError('broken at import')\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.setitem(builtin.BUILTINS, "buggy", "kdaudit_buggy_dataset:load_buggy")
    monkeypatch.setitem(builtin.BUILTINS, "broken", "kdaudit_broken_dataset:load_broken")
    with pytest.raises(NameError, match="undefined_name"):
        load_dataset("buggy")
    with pytest.raises(RuntimeError, match="broken at import"):
        load_dataset("broken:5")
    sys.modules.pop("kdaudit_buggy_dataset", None)


# --------------------------------------------------------------------------- one helper each


def test_one_file_hash_serves_data_models_and_cache(tmp_path: Path) -> None:
    import kdaudit.data.dataset as dataset
    import kdaudit.engine.cache as cache
    import kdaudit.hashing as hashing
    import kdaudit.models.loader as loader
    import kdaudit.models.text as text

    path = tmp_path / "blob.bin"
    path.write_bytes(os.urandom(3 << 20) + b"tail")
    assert hashing.file_sha256(path) == hashlib.sha256(path.read_bytes()).hexdigest()
    for module in (dataset, cache, loader, text):
        assert module.file_sha256 is hashing.file_sha256, module.__name__


def test_one_timestamp_format() -> None:
    from kdaudit._clock import utc_now

    before = dt.datetime.now(dt.UTC).replace(microsecond=0)
    stamp = utc_now()
    after = dt.datetime.now(dt.UTC)
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", stamp), stamp
    parsed = dt.datetime.fromisoformat(stamp.replace("Z", "+00:00"))
    assert before <= parsed <= after


def test_old_engine_paths_are_the_same_objects() -> None:
    import kdaudit.arrays as arrays
    import kdaudit.device as device
    from kdaudit.engine import LogitArray, resolve_device
    from kdaudit.engine import device as engine_device
    from kdaudit.engine import logits as engine_logits

    assert engine_logits.LogitArray is arrays.LogitArray is LogitArray
    assert engine_logits.softmax is arrays.softmax
    assert engine_device.resolve_device is device.resolve_device is resolve_device
    assert engine_device.onnx_providers is device.onnx_providers
    import kdaudit.progress as progress
    from kdaudit.engine import progress as engine_progress

    assert engine_progress.progress_bar is progress.progress_bar


def test_the_trainer_uses_the_one_device_rule() -> None:
    pytest.importorskip("torch")
    import kdaudit.device as device
    import kdaudit.train.trainer as trainer

    # one rule, returning "cpu"/"cuda"; the trainer wraps it in torch.device where it needs one
    assert trainer.resolve_device is device.resolve_device
