"""Batched inference: batching invariance, output checks, batch sizes, progress."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper

from kdaudit.data.dataset import Dataset
from kdaudit.engine import compute_logits, default_batch_size, resolve_device
from kdaudit.errors import InputDataError, UsageError
from kdaudit.models import ModelSpec, Preprocess, load_model
from kdaudit.models.base import ModelAdapter
from kdaudit.progress import progress_bar, progress_enabled


def conv_onnx(path: Path, rng: np.random.Generator) -> Path:
    """Conv(3->4, 3x3) + ReLU + global average pool + Flatten: (N, 3, 8, 8) -> (N, 4)."""
    weight = rng.normal(size=(4, 3, 3, 3)).astype(np.float32)
    nodes = [
        helper.make_node("Conv", ["x", "w"], ["c"], pads=[1, 1, 1, 1]),
        helper.make_node("Relu", ["c"], ["r"]),
        helper.make_node("GlobalAveragePool", ["r"], ["g"]),
        helper.make_node("Flatten", ["g"], ["y"]),
    ]
    graph = helper.make_graph(
        nodes,
        "conv",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", 3, 8, 8])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["N", 4])],
        initializer=[numpy_helper.from_array(weight, "w")],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    onnx.save(model, path)
    return path


def make_dataset(x, n_classes: int = 4, fingerprint: str = "fp") -> Dataset:
    n = (next(iter(x.values())) if isinstance(x, dict) else x).shape[0]
    return Dataset(
        y_true=np.arange(n) % n_classes,
        x=x,
        sensitive_features={},
        path="mem.npz",
        sha256="0" * 64,
        fingerprint=fingerprint,
    )


class FakeAdapter(ModelAdapter):
    """logits = x @ w, with switches for bad outputs."""

    def __init__(self, w: np.ndarray, *, nan_at: int | None = None, short: bool = False) -> None:
        super().__init__(ModelSpec("fake.onnx", role="student"), format="onnx", sha256="f" * 64)
        self.w, self.nan_at, self.short = w, nan_at, short

    def _forward(self, x):
        out = np.asarray(x, dtype=np.float32) @ self.w
        if self.nan_at is not None:
            hit = np.flatnonzero(x[:, 0] == self.nan_at)
            out[hit, 1] = np.nan
        return out[:-1] if self.short and len(out) > 1 else out


@pytest.fixture
def images(rng):
    return rng.integers(0, 256, size=(37, 8, 8, 3)).astype(np.uint8)  # stored HWC


def test_one_batch_and_many_batches_give_the_same_logits(tmp_path, rng, images):
    spec = ModelSpec(
        str(conv_onnx(tmp_path / "c.onnx", rng)),
        preprocess=Preprocess(scale=1 / 255, transpose=(2, 0, 1), mean=[0.4, 0.5, 0.6], std=0.2),
    )
    model = load_model(spec, device="cpu")
    data = make_dataset(images)
    results = [compute_logits(model, data, batch_size=bs).to_numpy() for bs in (37, 64, 1, 5, 16)]
    for other in results[1:]:
        np.testing.assert_allclose(other, results[0], rtol=1e-5, atol=1e-6)
    assert results[0].shape == (37, 4)


def test_multi_input_dataset(tmp_path, rng):
    emb = rng.normal(size=(10, 3)).astype(np.float32)
    graph = helper.make_graph(
        [
            helper.make_node("Gather", ["E", "input_ids"], ["e"], axis=0),
            helper.make_node("Cast", ["attention_mask"], ["m"], to=TensorProto.FLOAT),
            helper.make_node("Unsqueeze", ["m", "a2"], ["m3"]),
            helper.make_node("Mul", ["e", "m3"], ["em"]),
            helper.make_node("ReduceSum", ["em", "a1"], ["y"], keepdims=0),
        ],
        "text",
        [
            helper.make_tensor_value_info("input_ids", TensorProto.INT64, ["N", 4]),
            helper.make_tensor_value_info("attention_mask", TensorProto.INT64, ["N", 4]),
        ],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["N", 3])],
        initializer=[
            numpy_helper.from_array(emb, "E"),
            numpy_helper.from_array(np.array([2], dtype=np.int64), "a2"),
            numpy_helper.from_array(np.array([1], dtype=np.int64), "a1"),
        ],
    )
    m = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    m.ir_version = 8
    onnx.save(m, tmp_path / "t.onnx")
    ids = rng.integers(0, 10, size=(11, 4))
    mask = np.ones((11, 4), dtype=np.int64)
    data = make_dataset({"input_ids": ids, "attention_mask": mask}, n_classes=3)
    got = compute_logits(
        load_model(ModelSpec(str(tmp_path / "t.onnx")), device="cpu"), data, batch_size=4
    )
    np.testing.assert_allclose(got.to_numpy(), emb[ids].sum(axis=1), rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("bad", [0, -3])
def test_batch_size_must_be_positive(rng, bad):
    data = make_dataset(rng.normal(size=(4, 2)))
    with pytest.raises(UsageError, match="batch-size") as info:
        compute_logits(FakeAdapter(np.eye(2, dtype=np.float32)), data, batch_size=bad)
    assert info.value.exit_code == 2


def test_nan_logits_name_the_model(rng):
    x = np.c_[np.arange(10), rng.normal(size=10)]
    with pytest.raises(InputDataError, match=r"student model .* NaN or inf \(first at row 7\)"):
        compute_logits(
            FakeAdapter(np.eye(2, dtype=np.float32), nan_at=7),
            make_dataset(x),
            batch_size=4,
            name="student",
        )


def test_wrong_row_count_from_a_model(rng):
    with pytest.raises(InputDataError, match="rows"):
        compute_logits(
            FakeAdapter(np.eye(2, dtype=np.float32), short=True),
            make_dataset(rng.normal(size=(6, 2))),
            batch_size=3,
        )


def test_logits_files_are_checked(tmp_path, rng):
    np.save(tmp_path / "ok.npy", rng.normal(size=(5, 3)).astype(np.float32))
    data = Dataset(
        y_true=np.zeros(6, dtype=np.int64), x=None, sensitive_features={}, fingerprint="x"
    )
    with pytest.raises(InputDataError, match="5 rows of logits but the data has 6"):
        compute_logits(
            load_model(ModelSpec(str(tmp_path / "ok.npy"), role="teacher")), data, name="teacher"
        )
    bad = rng.normal(size=(6, 3)).astype(np.float32)
    bad[4, 2] = np.inf
    np.save(tmp_path / "inf.npy", bad)
    with pytest.raises(InputDataError, match="row 4"):
        compute_logits(load_model(ModelSpec(str(tmp_path / "inf.npy"))), data)
    good = rng.normal(size=(6, 3)).astype(np.float32)
    np.save(tmp_path / "good.npy", good)
    np.testing.assert_array_equal(
        compute_logits(load_model(ModelSpec(str(tmp_path / "good.npy"))), data).to_numpy(), good
    )


def test_data_without_inputs(rng):
    data = Dataset(y_true=np.zeros(3, dtype=np.int64), x=None, sensitive_features={})
    with pytest.raises(InputDataError, match="no inputs"):
        compute_logits(FakeAdapter(np.eye(2, dtype=np.float32)), data)


def test_default_batch_size_follows_input_size(rng):
    model = FakeAdapter(np.eye(2, dtype=np.float32))
    assert default_batch_size(model, make_dataset(np.zeros((10, 20), np.float32))) == 1024
    assert default_batch_size(model, make_dataset(np.zeros((10, 32, 32, 3), np.uint8))) == 1024
    assert default_batch_size(model, make_dataset(np.zeros((10, 224, 224, 3), np.uint8))) == 32
    model.fixed_batch = 24
    assert default_batch_size(model, make_dataset(np.zeros((10, 224, 224, 3), np.uint8))) == 24


def test_device_choice():
    assert resolve_device("cpu") == "cpu"
    assert resolve_device("auto") in {"cpu", "cuda"}
    with pytest.raises(UsageError):
        resolve_device("gpu0")


def test_progress_only_on_a_tty(monkeypatch):
    class Tty(io.StringIO):
        def isatty(self):
            return True

    assert progress_enabled(True, Tty())
    assert not progress_enabled(False, Tty())  # --quiet
    assert not progress_enabled(True, io.StringIO())  # piped / CI log
    monkeypatch.setattr("sys.stderr", io.StringIO())
    with progress_bar(10, desc="teacher", enabled=True) as bar:
        bar.update(10)
        assert bar.disable


def test_logit_array_chunks_memmap_views(tmp_path):
    """Block reads through short-lived maps equal plain slicing, for whole maps and views."""
    from kdaudit.arrays import LogitArray

    a = np.random.default_rng(0).normal(size=(1000, 7)).astype(np.float32)
    np.save(tmp_path / "a.npy", a)
    m = np.load(tmp_path / "a.npy", mmap_mode="r")
    la = LogitArray([m, m[5:15], a[:3]])
    got = np.concatenate([block for _, block in la.chunks(64)])
    np.testing.assert_array_equal(got, np.concatenate([a, a[5:15], a[:3]]))
    starts = [start for start, _ in la.chunks(64)]
    assert starts[0] == 0 and starts[-1] == 1010
    np.testing.assert_array_equal(la.predictions(33), np.concatenate([a, a[5:15], a[:3]]).argmax(1))


def test_argmax_in_the_stored_dtype(tmp_path) -> None:
    """Integer logits near 2**28 and float64 logits with tiny margins keep their argmax."""
    from kdaudit.arrays import LogitArray
    from kdaudit.models.base import ModelSpec
    from kdaudit.models.logits_adapter import LogitsFileAdapter

    rng = np.random.default_rng(0)
    n = 2000
    y = rng.integers(0, 3, n)
    base = rng.integers(2**28, 2**28 + 8, size=(n, 3)).astype(np.int64)
    ints = base.copy()
    ints[np.arange(n), y] = base.max(axis=1) + 1  # margin 1: ties in float32
    assert (ints.astype(np.float32).argmax(axis=1) == y).mean() < 0.9  # the old bug
    assert (LogitArray.from_array(ints).predictions(chunk_rows=333) == y).all()
    floats = rng.normal(size=(n, 3)) * 1e-3 + 1.0
    floats[np.arange(n), y] = floats.max(axis=1) + 1e-12
    assert (LogitArray.from_array(floats).predictions() == y).all()
    LogitArray.from_array(np.array([[1e39, 0.0]])).check_finite("big")  # inf only in float32
    # rows() keeps the margins too (softmax and TV read them)
    assert LogitArray.from_array(floats).rows(np.arange(5)).dtype == np.float64
    assert (LogitArray.from_array(ints).rows(np.arange(n)).argmax(axis=1) == y).all()
    # memory-mapped files, and float64 probability files
    path = tmp_path / "ints.npy"
    np.save(path, ints)
    la = LogitArray([np.load(path, mmap_mode="r")])
    assert (la.predictions(chunk_rows=100) == y).all()
    probs = np.full((n, 3), (1.0 - 1e-12) / 3)
    probs[np.arange(n), y] += 1e-12
    ppath = tmp_path / "probs.npy"
    np.save(ppath, probs)
    adapter = LogitsFileAdapter(ModelSpec(path=str(ppath), role="student", outputs="probs"))
    assert (adapter.logits().predictions() == y).all()
