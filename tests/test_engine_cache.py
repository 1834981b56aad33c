"""The on-disk logit cache: hit, miss, corruption, interrupted runs, housekeeping."""

from __future__ import annotations

import dataclasses
import json
import threading
import warnings

import numpy as np
import pytest

from kdaudit.data.dataset import Dataset
from kdaudit.engine import LogitCache, compute_logits, default_cache_dir, infer_shard
from kdaudit.errors import CacheError, KDAuditWarning
from kdaudit.models import ModelSpec, Preprocess
from kdaudit.models.base import ModelAdapter

N, SHARD, BATCH = 50, 16, 4  # 4 shards: 16 + 16 + 16 + 2 rows


class CountingAdapter(ModelAdapter):
    """logits = x @ w; records which data rows it saw (column 0 holds the row id)."""

    def __init__(
        self,
        *,
        sha: str = "a" * 64,
        preprocess: Preprocess | None = None,
        fail_after: int | None = None,
        nan_row: int | None = None,
    ) -> None:
        super().__init__(
            ModelSpec("m.onnx", role="teacher", preprocess=preprocess), format="onnx", sha256=sha
        )
        self.w = np.array([[0.0, 0.0, 0.0], [1.0, -1.0, 0.5], [0.3, 0.2, -0.1]], dtype=np.float32)
        self.fail_after, self.nan_row = fail_after, nan_row
        self.calls = 0
        self.rows: list[int] = []

    def _forward(self, x):
        if self.fail_after is not None and self.calls >= self.fail_after:
            raise KeyboardInterrupt("simulated interrupt")
        self.calls += 1
        self.rows.extend(int(r) for r in x[:, 0])
        out = np.asarray(x, dtype=np.float32) @ self.w
        if self.nan_row is not None:
            out[x[:, 0] == self.nan_row] = np.nan
        return out


@pytest.fixture
def data(rng) -> Dataset:
    x = np.c_[np.arange(N), rng.normal(size=(N, 2))].astype(np.float32)
    return Dataset(
        y_true=np.arange(N) % 3,
        x=x,
        sensitive_features={},
        path="eval.npz",
        sha256="b" * 64,
        fingerprint="fp-eval",
    )


@pytest.fixture
def cache(tmp_path) -> LogitCache:
    return LogitCache(tmp_path / "cache", shard_rows=SHARD)


def expected(data: Dataset) -> np.ndarray:
    return data.x @ CountingAdapter().w


def test_miss_then_hit(cache, data):
    first = CountingAdapter()
    cold = compute_logits(first, data, cache=cache, batch_size=BATCH)
    assert sorted(first.rows) == list(range(N))
    np.testing.assert_allclose(cold.to_numpy(), expected(data), rtol=1e-6)
    again = CountingAdapter()
    warm = compute_logits(again, data, cache=cache, batch_size=BATCH)
    assert again.calls == 0
    assert all(isinstance(s, np.memmap) for s in warm.shards)
    np.testing.assert_array_equal(warm.to_numpy(), cold.to_numpy())
    # layout and manifest
    (entry,) = cache.entries()
    assert entry["complete"] and entry["n_shards"] == 4 and entry["shards_done"] == 4
    assert entry["model_path"] == "m.onnx" and entry["data_path"] == "eval.npz"
    folder = cache.root / entry["key"]
    assert sorted(p.name for p in folder.iterdir() if not p.name.startswith(".")) == [
        "manifest.json",
        "shard-00000.npy",
        "shard-00001.npy",
        "shard-00002.npy",
        "shard-00003.npy",
    ]
    manifest = json.loads((folder / "manifest.json").read_text())
    last = manifest["shards"]["3"]
    assert last["rows"] == N - 3 * SHARD and last["n_classes"] == 3 and len(last["sha256"]) == 64
    assert last["dtype"] == "<f4" and "created" in last
    assert np.load(folder / "shard-00001.npy", allow_pickle=False).shape == (SHARD, 3)
    assert not list(folder.glob("*.tmp"))


def test_key_covers_what_determines_the_logits(cache, data):
    base = cache.key(CountingAdapter(), data, device_type="cpu")
    assert base == cache.key(CountingAdapter(), data, device_type="cpu")
    variants = [
        cache.key(CountingAdapter(sha="c" * 64), data, device_type="cpu"),
        cache.key(CountingAdapter(preprocess=Preprocess(scale=2.0)), data, device_type="cpu"),
        cache.key(
            CountingAdapter(), dataclasses.replace(data, fingerprint="other"), device_type="cpu"
        ),
        cache.key(CountingAdapter(), data, device_type="cuda"),
        cache.key(CountingAdapter(), data, device_type="cpu", precision="fp16"),
    ]
    assert len({base, *variants}) == 6


@pytest.mark.parametrize("damage", ["flip", "truncate", "delete"])
def test_corrupt_shard_is_recomputed_with_a_warning(cache, data, damage):
    compute_logits(CountingAdapter(), data, cache=cache, batch_size=BATCH)
    shard = cache.root / cache.entries()[0]["key"] / "shard-00002.npy"
    raw = bytearray(shard.read_bytes())
    if damage == "flip":
        raw[-5] ^= 0xFF  # same size: only the sha256 can tell
        shard.write_bytes(bytes(raw))
    elif damage == "truncate":
        shard.write_bytes(bytes(raw[:-40]))
    else:
        shard.unlink()
    model = CountingAdapter()
    with pytest.warns(KDAuditWarning, match="shard-00002"):
        got = compute_logits(model, data, cache=cache, batch_size=BATCH)
    assert sorted(model.rows) == list(range(2 * SHARD, 3 * SHARD))
    np.testing.assert_allclose(got.to_numpy(), expected(data), rtol=1e-6)
    assert cache.verify() == []


def test_unreadable_manifest_starts_the_entry_over(cache, data):
    compute_logits(CountingAdapter(), data, cache=cache, batch_size=BATCH)
    (cache.root / cache.entries()[0]["key"] / "manifest.json").write_text("{not json")
    model = CountingAdapter()
    with pytest.warns(KDAuditWarning, match="damaged manifest"):  # said out loud, then redone
        got = compute_logits(model, data, cache=cache, batch_size=BATCH)
    assert sorted(model.rows) == list(range(N))
    np.testing.assert_allclose(got.to_numpy(), expected(data), rtol=1e-6)


def test_interrupted_run_resumes_from_finished_shards(cache, data):
    # 4 rows a batch, 16 a shard: 9 batches finish shards 0 and 1 and start shard 2
    interrupted = CountingAdapter(fail_after=9)
    with pytest.raises(KeyboardInterrupt):
        compute_logits(interrupted, data, cache=cache, batch_size=BATCH)
    entry = cache.entries()[0]
    assert entry["shards_done"] == 2 and not entry["complete"]
    assert not list((cache.root / entry["key"]).glob("*.tmp"))  # the half shard left nothing behind
    resumed = CountingAdapter()
    got = compute_logits(resumed, data, cache=cache, batch_size=BATCH)
    assert sorted(resumed.rows) == list(range(2 * SHARD, N))
    np.testing.assert_allclose(got.to_numpy(), expected(data), rtol=1e-6)
    assert cache.entries()[0]["complete"]


def test_a_shard_can_be_inferred_on_its_own(cache, data):
    model = CountingAdapter()
    path = infer_shard(model, data, cache, 1, batch_size=BATCH)
    assert path.name == "shard-00001.npy" and sorted(model.rows) == list(range(SHARD, 2 * SHARD))
    assert infer_shard(model, data, cache, 1) == path and model.calls == 4  # already there
    rest = CountingAdapter()
    got = compute_logits(rest, data, cache=cache, batch_size=BATCH)
    assert sorted(rest.rows) == [*range(SHARD), *range(2 * SHARD, N)]
    np.testing.assert_allclose(got.to_numpy(), expected(data), rtol=1e-6)


def test_nan_outputs_are_not_cached(cache, data):
    from kdaudit.errors import InputDataError

    with pytest.raises(InputDataError, match="row 20"):
        compute_logits(CountingAdapter(nan_row=20), data, cache=cache, batch_size=BATCH)
    assert cache.entries()[0]["shards_done"] == 1  # shard 0 only; shard 1 (rows 16..31) refused


def test_full_hash_check_on_verify_for_large_entries(tmp_path, data):
    cheap = LogitCache(
        tmp_path / "c", shard_rows=SHARD, verify_bytes=0
    )  # size + header only on read
    compute_logits(CountingAdapter(), data, cache=cheap, batch_size=BATCH)
    shard = cheap.root / cheap.entries()[0]["key"] / "shard-00000.npy"
    raw = bytearray(shard.read_bytes())
    raw[-1] ^= 0x01
    shard.write_bytes(bytes(raw))
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # the cheap read does not notice
        compute_logits(CountingAdapter(), data, cache=cheap, batch_size=BATCH)
    problems = cheap.verify()
    assert len(problems) == 1 and "sha256" in problems[0]
    model = CountingAdapter()
    compute_logits(model, data, cache=cheap, batch_size=BATCH)
    assert sorted(model.rows) == list(range(SHARD))


def test_unwritable_cache_dir_is_a_cache_error(tmp_path, data):
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    with pytest.raises(CacheError, match="not usable") as info:
        compute_logits(
            CountingAdapter(), data, cache=LogitCache(blocker / "cache"), batch_size=BATCH
        )
    assert info.value.exit_code == 3


def test_entries_and_clear(cache, data):
    assert cache.entries() == [] and cache.clear() == 0
    compute_logits(CountingAdapter(), data, cache=cache, batch_size=BATCH)
    compute_logits(CountingAdapter(sha="d" * 64), data, cache=cache, batch_size=BATCH)
    (cache.root / "notes.txt").write_text("keep me")
    assert len(cache.entries()) == 2
    assert cache.clear() == 2
    assert cache.entries() == [] and (cache.root / "notes.txt").exists()


def test_concurrent_writers_do_not_corrupt_an_entry(cache, data):
    results, errors = [], []

    def run():
        try:
            results.append(
                compute_logits(CountingAdapter(), data, cache=cache, batch_size=BATCH).to_numpy()
            )
        except Exception as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=run) for _ in range(3)]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", KDAuditWarning)
        for t in threads:
            t.start()
        for t in threads:
            t.join()
    assert not errors
    for r in results:
        np.testing.assert_allclose(r, expected(data), rtol=1e-6)
    assert cache.verify() == [] and cache.entries()[0]["complete"]


def test_default_cache_dir(monkeypatch, tmp_path):
    monkeypatch.setenv("KDAUDIT_CACHE_DIR", str(tmp_path / "here"))
    assert default_cache_dir() == tmp_path / "here"
    monkeypatch.delenv("KDAUDIT_CACHE_DIR")
    monkeypatch.delenv("XDG_CACHE_HOME", raising=False)
    assert default_cache_dir().parts[-2:] == (".cache", "kdaudit")


def test_onnx_external_weights_are_part_of_the_cache_key(tmp_path):
    """Weights stored as ONNX external data change the key (and the reported hashes)."""
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    from kdaudit.data.dataset import Dataset
    from kdaudit.engine.cache import LogitCache
    from kdaudit.engine.inference import compute_logits
    from kdaudit.models.base import ModelSpec
    from kdaudit.models.loader import load_model

    rng = np.random.default_rng(0)
    x = rng.normal(size=(64, 8)).astype(np.float32)
    ds = Dataset(
        y_true=np.zeros(64, np.int64),
        x=x,
        sensitive_features={},
        path="mem",
        sha256="0" * 64,
        fingerprint="f" * 64,
    )

    def save(w: np.ndarray) -> None:
        graph = helper.make_graph(
            [helper.make_node("MatMul", ["x", "w"], ["logits"])],
            "g",
            [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["batch", 8])],
            [helper.make_tensor_value_info("logits", TensorProto.FLOAT, ["batch", 3])],
            [numpy_helper.from_array(w, "w")],
        )
        model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
        model.ir_version = 8
        onnx.save(
            model,
            tmp_path / "m.onnx",
            save_as_external_data=True,
            all_tensors_to_one_file=True,
            location="m.onnx.data",
            size_threshold=0,
        )

    cache = LogitCache(tmp_path / "cache")
    w = rng.normal(size=(8, 3)).astype(np.float32)
    save(w)
    first = compute_logits(
        load_model(ModelSpec(path=str(tmp_path / "m.onnx"))), ds, cache=cache
    ).to_numpy()
    np.testing.assert_allclose(first, x @ w, rtol=1e-5, atol=1e-5)
    data = tmp_path / "m.onnx.data"
    assert data.read_bytes() == w.tobytes()  # one tensor at offset 0
    data.write_bytes((-w).tobytes())  # only the external weights change; the graph file does not
    model = load_model(ModelSpec(path=str(tmp_path / "m.onnx")))
    assert model.describe()["external_data"][0]["path"] == "m.onnx.data"
    second = compute_logits(model, ds, cache=cache).to_numpy()
    np.testing.assert_allclose(second, -(x @ w), rtol=1e-5, atol=1e-5)
