"""Export: ONNX logits equal torch logits (dynamic batch), safetensors, manifest."""

from __future__ import annotations

import json

import numpy as np
import onnxruntime as ort
import pytest
import torch

from kdaudit.errors import InputDataError, ModelLoadError
from kdaudit.models.zoo import build_model
from kdaudit.train.export import (
    MANIFEST_FORMAT,
    export_model,
    export_onnx,
    load_safetensors,
    read_manifest,
)


@pytest.mark.parametrize(
    ("arch", "shape"), [("lenet5", (3, 32, 32)), ("resnet20", (3, 32, 32)), ("mlp", (12,))]
)
def test_onnx_round_trip(
    tmp_path, rng: np.random.Generator, arch: str, shape: tuple[int, ...]
) -> None:
    torch.manual_seed(0)
    model = build_model(arch, n_classes=10, input_shape=shape)
    model.train()  # export must switch to eval on its own copy
    x = rng.normal(size=(9, *shape)).astype(np.float32)
    info = export_onnx(model, tmp_path / "m.onnx", check_input=x)
    assert info["max_abs_diff"] <= 1e-5 and info["max_scaled_diff"] <= 1e-5
    assert model.training  # the caller's model is untouched
    sess = ort.InferenceSession(str(tmp_path / "m.onnx"), providers=["CPUExecutionProvider"])
    assert sess.get_inputs()[0].shape[0] == "batch"
    for n in (1, 5, 17):
        xb = rng.normal(size=(n, *shape)).astype(np.float32)
        with torch.no_grad():
            ref = model.eval()(torch.from_numpy(xb)).numpy()
        got = sess.run(None, {sess.get_inputs()[0].name: xb})[0]
        assert np.max(np.abs(got - ref)) <= 1e-5


def test_check_failure_raises(tmp_path, rng: np.random.Generator) -> None:
    model = build_model("mlp", n_classes=3, input_shape=(4,))
    with pytest.raises(ModelLoadError, match="disagrees"):
        export_onnx(
            model,
            tmp_path / "m.onnx",
            check_input=rng.normal(size=(4, 4)).astype(np.float32),
            atol=-1.0,
        )


def test_export_model_writes_three_files(tmp_path, rng: np.random.Generator) -> None:
    torch.manual_seed(1)
    model = build_model("lenet5", n_classes=10, input_shape=(3, 32, 32))
    x = rng.normal(size=(4, 3, 32, 32)).astype(np.float32)
    man = export_model(
        model,
        tmp_path,
        "student_T4_seed0",
        check_input=x,
        manifest={
            "role": "student",
            "arch": "lenet5",
            "temperature": 4.0,
            "metrics": {"eval_accuracy": np.float64(0.5)},
        },
    )
    for ext in ("onnx", "safetensors", "json"):
        assert (tmp_path / f"student_T4_seed0.{ext}").is_file()
    on_disk = json.loads((tmp_path / "student_T4_seed0.json").read_text())
    assert on_disk == man | {"metrics": {"eval_accuracy": 0.5}}
    assert on_disk["format"] == MANIFEST_FORMAT
    assert len(on_disk["files"]["onnx"]["sha256"]) == 64
    assert read_manifest(tmp_path / "student_T4_seed0.onnx")["temperature"] == 4.0
    other = load_safetensors(
        build_model("lenet5", n_classes=10, input_shape=(3, 32, 32)),
        tmp_path / "student_T4_seed0.safetensors",
    )
    for k, v in model.state_dict().items():
        assert torch.equal(v, other.state_dict()[k])


def test_read_manifest_errors(tmp_path) -> None:
    with pytest.raises(InputDataError, match="No kdaudit manifest"):
        read_manifest(tmp_path / "x.onnx")
    (tmp_path / "y.json").write_text('{"format": "other"}')
    with pytest.raises(InputDataError, match="not a kdaudit model manifest"):
        read_manifest(tmp_path / "y.onnx")
