"""The Trifeature temperature study: small in the default run, full marked slow."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import onnxruntime as ort
import pytest

from kdaudit.data import load_dataset
from kdaudit.train.export import read_manifest
from kdaudit.train.study import run_study
from kdaudit.train.trainer import apply_preprocess


def _accuracy(onnx_path: str, x: np.ndarray, y: np.ndarray, spec: dict) -> float:
    sess = ort.InferenceSession(onnx_path, providers=["CPUExecutionProvider"])
    logits = sess.run(None, {sess.get_inputs()[0].name: apply_preprocess(x, spec)})[0]
    return float(np.mean(logits.argmax(1) == y))


def _check_layout(res: dict, temps: list[float]) -> None:
    assert sorted(res["students"]) == temps
    assert Path(res["data"]).is_file()
    for path in [res["teacher"], res["baseline"], *res["students"].values()]:
        assert Path(path).is_file() and path.endswith(".onnx")
    assert read_manifest(res["manifests"]["teacher"])["arch"] == "resnet20"
    assert read_manifest(res["manifests"]["baseline"])["soft_weight"] == 0.0
    for t, mpath in res["manifests"]["students"].items():
        man = read_manifest(mpath)
        assert man["temperature"] == t and man["arch"] == "lenet5" and man["role"] == "student"
        assert man["preprocess"] == res["preprocess"]
    ds = load_dataset(res["data"])
    assert set(ds.sensitive_features) == {"color", "texture"}
    # the manifests' accuracies are reproduced from the ONNX files on the written npz
    acc = _accuracy(res["baseline"], ds.x, ds.y_true, res["preprocess"])
    assert acc == pytest.approx(res["accuracy"]["baseline"], abs=0.005)


@pytest.mark.slow  # trains teacher, baselines and students: 19-76 s on 2 shared cores
def test_small_study(tmp_path: Path) -> None:
    res = run_study(tmp_path, small=True, quiet=True, temperatures=(1, 4))
    _check_layout(res, [1.0, 4.0])
    study = json.loads((tmp_path / "study.json").read_text())
    assert study["config"]["small"] is True
    # several seeds per baseline and temperature (multi-run tests, error bars); one teacher
    seeds = study["config"]["seeds"]
    assert len(seeds) >= 2 and len(res["runs"]["teacher"]) == 1
    assert len(res["runs"]["baseline"]) == len(seeds)
    for t, paths in res["runs"]["students"].items():
        assert len(paths) == len(seeds) and paths[0] == res["students"][t]
        seeds_seen = [read_manifest(Path(p).with_suffix(".json"))["seed"] for p in paths]
        assert seeds_seen == seeds
        assert len(study["run_accuracy"]["students"][f"{t:g}"]) == len(seeds)


@pytest.mark.slow
def test_full_study(tmp_path: Path) -> None:
    res = run_study(tmp_path, quiet=True)
    _check_layout(res, [1.0, 2.0, 4.0, 8.0])
    acc = res["accuracy"]
    assert acc["teacher"] > acc["baseline"] + 0.05  # the teacher is clearly better
    assert max(acc["students"].values()) > acc["baseline"]  # KD helps at some T
    assert all(len(p) >= 3 for p in res["runs"]["students"].values())
