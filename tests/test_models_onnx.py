"""The ONNX adapter on tiny graphs built with onnx.helper (no torch needed)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper

from kdaudit.device import onnx_providers
from kdaudit.errors import InputDataError, ModelLoadError, UsageError
from kdaudit.models import ModelSpec, Preprocess, detect_format, load_model

W = np.arange(12, dtype=np.float32).reshape(4, 3) / 10 - 0.5
B = np.array([0.1, -0.2, 0.3], dtype=np.float32)


def _save(graph: onnx.GraphProto, path: Path) -> Path:
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    onnx.checker.check_model(model)
    onnx.save(model, path)
    return path


def linear_onnx(
    path: Path,
    *,
    batch: int | str = "N",
    softmax: bool = False,
    input_type: int = TensorProto.FLOAT,
) -> Path:
    """y = x @ W + b (optionally softmax), x of shape (batch, 4)."""
    nodes = [
        helper.make_node("Cast", ["x"], ["xf"], to=TensorProto.FLOAT),
        helper.make_node("MatMul", ["xf", "W"], ["xw"]),
        helper.make_node("Add", ["xw", "B"], ["z"]),
    ]
    out = "z"
    if softmax:
        nodes.append(helper.make_node("Softmax", ["z"], ["p"], axis=1))
        out = "p"
    graph = helper.make_graph(
        nodes,
        "linear",
        [helper.make_tensor_value_info("x", input_type, [batch, 4])],
        [helper.make_tensor_value_info(out, TensorProto.FLOAT, [batch, 3])],
        initializer=[numpy_helper.from_array(W, "W"), numpy_helper.from_array(B, "B")],
    )
    return _save(graph, path)


EMB = (np.arange(20 * 3, dtype=np.float32).reshape(20, 3) % 7) / 7


def text_onnx(path: Path) -> Path:
    """sum over tokens of emb[input_ids] * attention_mask: two int64 inputs (N, L)."""
    nodes = [
        helper.make_node("Gather", ["E", "input_ids"], ["e"], axis=0),  # (N, L, 3)
        helper.make_node("Cast", ["attention_mask"], ["m"], to=TensorProto.FLOAT),
        helper.make_node("Unsqueeze", ["m", "ax2"], ["m3"]),  # (N, L, 1)
        helper.make_node("Mul", ["e", "m3"], ["em"]),
        helper.make_node("ReduceSum", ["em", "ax1"], ["logits"], keepdims=0),  # (N, 3)
    ]
    graph = helper.make_graph(
        nodes,
        "text",
        [
            helper.make_tensor_value_info("input_ids", TensorProto.INT64, ["N", "L"]),
            helper.make_tensor_value_info("attention_mask", TensorProto.INT64, ["N", "L"]),
        ],
        [helper.make_tensor_value_info("logits", TensorProto.FLOAT, ["N", 3])],
        initializer=[
            numpy_helper.from_array(EMB, "E"),
            numpy_helper.from_array(np.array([2], dtype=np.int64), "ax2"),
            numpy_helper.from_array(np.array([1], dtype=np.int64), "ax1"),
        ],
    )
    return _save(graph, path)


def test_linear_onnx_matches_numpy(tmp_path, rng):
    model = load_model(ModelSpec(str(linear_onnx(tmp_path / "m.onnx"))), device="cpu")
    x = rng.normal(size=(7, 4))  # float64 in the data: cast to the graph's float32
    got = model.predict_batch(x)
    assert got.dtype == np.float32 and got.shape == (7, 3)
    np.testing.assert_allclose(got, x.astype(np.float32) @ W + B, rtol=1e-5, atol=1e-6)
    assert model.n_classes == 3 and model.format == "onnx" and model.device_type == "cpu"
    assert model.providers == ["CPUExecutionProvider"]
    assert model.describe()["sha256"] == model.sha256 and len(model.sha256) == 64


def test_fixed_batch_of_one_runs_row_by_row(tmp_path, rng):
    model = load_model(ModelSpec(str(linear_onnx(tmp_path / "b1.onnx", batch=1))), device="cpu")
    assert model.fixed_batch == 1
    x = rng.normal(size=(5, 4)).astype(np.float32)
    np.testing.assert_allclose(model.predict_batch(x), x @ W + B, rtol=1e-5, atol=1e-6)


def test_fixed_batch_of_four_pads_the_last_piece(tmp_path, rng):
    model = load_model(ModelSpec(str(linear_onnx(tmp_path / "b4.onnx", batch=4))), device="cpu")
    x = rng.normal(size=(6, 4)).astype(np.float32)
    got = model.predict_batch(x)
    assert got.shape == (6, 3)
    np.testing.assert_allclose(got, x @ W + B, rtol=1e-5, atol=1e-6)


def test_multi_input_integer_ids(tmp_path, rng):
    model = load_model(
        ModelSpec(str(text_onnx(tmp_path / "text.onnx")), preprocess=Preprocess(scale=0.5)),
        device="cpu",
    )
    assert [d for _, _, d in model.inputs] == [np.dtype(np.int64)] * 2
    ids = rng.integers(0, 20, size=(6, 5)).astype(np.int32)
    mask = (rng.random((6, 5)) > 0.3).astype(np.int64)
    got = model.predict_batch({"input_ids": ids, "attention_mask": mask})
    hand = (EMB[ids] * mask[:, :, None]).sum(axis=1)
    np.testing.assert_allclose(
        got, hand, rtol=1e-5, atol=1e-6
    )  # ids not scaled: integers skip numerics
    with pytest.raises(InputDataError, match="x_attention_mask"):
        model.predict_batch({"input_ids": ids})
    with pytest.raises(InputDataError, match="2 inputs"):
        model.predict_batch(ids)


def test_probs_declared_and_auto(tmp_path, rng):
    path = str(linear_onnx(tmp_path / "p.onnx", softmax=True))
    x = rng.normal(size=(8, 4)).astype(np.float32)
    z = x @ W + B
    log_p = z - np.log(np.exp(z).sum(axis=1, keepdims=True))
    for outputs in ("probs", "auto"):
        model = load_model(ModelSpec(path, outputs=outputs), device="cpu")
        np.testing.assert_allclose(model.predict_batch(x), log_p, rtol=1e-4, atol=1e-5)
        assert model.output_kind == "log_probs"
    # logits stay logits under "auto"
    plain = load_model(
        ModelSpec(str(linear_onnx(tmp_path / "l.onnx")), outputs="auto"), device="cpu"
    )
    np.testing.assert_allclose(plain.predict_batch(x), z, rtol=1e-5, atol=1e-6)
    assert plain.output_kind == "logits"


def test_probs_with_zeros_stay_finite(tmp_path):
    from kdaudit.models.base import probs_to_log_probs

    out = probs_to_log_probs(np.array([[1.0, 0.0, 0.0]], dtype=np.float32))
    assert np.all(np.isfinite(out)) and out[0, 0] == 0.0


def test_input_dtype_read_from_graph(tmp_path, rng):
    model = load_model(
        ModelSpec(str(linear_onnx(tmp_path / "d.onnx", input_type=TensorProto.DOUBLE))),
        device="cpu",
    )
    assert model.inputs[0][2] == np.float64


def test_wrong_sample_shape_is_an_input_error(tmp_path, rng):
    model = load_model(ModelSpec(str(linear_onnx(tmp_path / "m.onnx"))), device="cpu")
    with pytest.raises(InputDataError, match=r"shape \[4\]"):
        model.predict_batch(rng.normal(size=(3, 5)))


@pytest.mark.parametrize("content", [b"", b"not an onnx model at all", None])
def test_corrupt_onnx_is_a_model_load_error(tmp_path, content):
    path = tmp_path / "bad.onnx"
    if content is None:  # truncated real model
        good = linear_onnx(tmp_path / "good.onnx").read_bytes()
        content = good[: len(good) // 2]
    path.write_bytes(content)
    with pytest.raises(ModelLoadError, match="as ONNX") as info:
        load_model(ModelSpec(str(path), role="teacher"), device="cpu")
    assert info.value.exit_code == 3 and "teacher" in str(info.value)


def test_missing_file_and_unknown_extension(tmp_path):
    with pytest.raises(InputDataError, match="does not exist"):
        load_model(ModelSpec(str(tmp_path / "nope.onnx")))
    odd = tmp_path / "model.xyz"
    odd.write_bytes(b"x")
    with pytest.raises(InputDataError, match="extension"):
        load_model(ModelSpec(str(odd)))
    assert detect_format(odd, "onnx") == "onnx"
    with pytest.raises(UsageError):
        detect_format(odd, "keras")


def test_providers_named_explicitly():
    assert onnx_providers("cpu") == ["CPUExecutionProvider"]
    assert onnx_providers("auto")[-1] == "CPUExecutionProvider"
    with pytest.raises(UsageError):
        onnx_providers("tpu")
