"""kdaudit infer --shards: workers write shards and sidecars, the driver writes the manifest."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper

from kdaudit.cli import main
from kdaudit.data.loader import load_dataset
from kdaudit.distributed.infer import entry_key, load_adapter
from kdaudit.distributed.sources import open_source
from kdaudit.engine import compute_logits
from kdaudit.engine.cache import LogitCache
from kdaudit.models import ModelSpec, load_model
from tests.test_distributed import SIZES, _volatile, make_audit_data


def linear_onnx(path: Path, rng: np.random.Generator, n_in: int = 4, n_out: int = 3) -> Path:
    w = rng.normal(size=(n_in, n_out)).astype(np.float32)
    b = rng.normal(size=(n_out,)).astype(np.float32)
    nodes = [
        helper.make_node("MatMul", ["x", "w"], ["m"]),
        helper.make_node("Add", ["m", "b"], ["y"]),
    ]
    graph = helper.make_graph(
        nodes,
        "lin",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", n_in])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["N", n_out])],
        initializer=[numpy_helper.from_array(w, "w"), numpy_helper.from_array(b, "b")],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    onnx.save(model, path)
    return path


@pytest.fixture
def setup(tmp_path, rng):
    data, _ = make_audit_data(tmp_path, rng=rng, features=True)
    model = linear_onnx(tmp_path / "teacher.onnx", rng)
    return data, model, tmp_path / "cache"


def _entry(data: Path, model: Path, cache: Path) -> Path:
    source = open_source(str(data), label="y", sensitive=["sex", "region"])
    adapter = load_adapter(ModelSpec(str(model), outputs="auto"), device="cpu")
    return LogitCache(cache).entry_dir(entry_key(adapter, source))


def test_workers_then_driver(setup, capsys):
    data, model, cache = setup
    args = [
        "infer",
        str(model),
        "--data",
        str(data),
        "--cache-dir",
        str(cache),
        "--sensitive",
        "sex,region",
        "--device",
        "cpu",
        "--quiet",
    ]
    assert main([*args, "--shards", "0-3/7"]) == 0
    entry = _entry(data, model, cache)
    assert not (entry / "manifest.json").exists()  # workers never write the manifest
    assert sorted(p.name for p in entry.glob("shard-*.npy")) == [
        f"shard-0000{i}.npy" for i in range(4)
    ]
    side = json.loads((entry / "shard-00002.json").read_text())
    assert (side["start"], side["stop"], side["rows"]) == (sum(SIZES[:2]), sum(SIZES[:3]), SIZES[2])
    assert main([*args, "--shards", "4-6/7"]) == 0
    assert main(args) == 0  # the driver: checks sidecars, writes the manifest
    manifest = json.loads((entry / "manifest.json").read_text())
    assert (
        manifest["complete"] and manifest["n_shards"] == 7 and manifest["n_samples"] == sum(SIZES)
    )
    logits = LogitCache(cache).load(entry.name)
    assert logits is not None
    whole = load_dataset(data, label="y", sensitive=["sex", "region"])
    expected = compute_logits(load_model(ModelSpec(str(model)), device="cpu"), whole).to_numpy()
    np.testing.assert_allclose(logits.to_numpy(), expected, rtol=1e-6, atol=1e-6)
    assert [s.shape[0] for s in logits.shards] == SIZES


def test_rerun_recomputes_only_missing_or_damaged_shards(setup, capsys):
    data, model, cache = setup
    args = [
        "infer",
        str(model),
        "--data",
        str(data),
        "--cache-dir",
        str(cache),
        "--sensitive",
        "sex",
        "--device",
        "cpu",
        "--quiet",
    ]
    assert main(args) == 0
    entry = next(p for p in cache.iterdir() if p.is_dir())
    stamps = {p.name: p.stat().st_mtime_ns for p in entry.glob("shard-*.npy")}
    good = (entry / "shard-00001.npy").read_bytes()
    damaged = bytearray((entry / "shard-00003.npy").read_bytes())
    damaged[-1] ^= 0xFF  # same size, different bytes: only the hash sees it
    (entry / "shard-00003.npy").write_bytes(bytes(damaged))
    (entry / "shard-00005.npy").unlink()
    assert main([a for a in args if a != "--quiet"]) == 0
    err = capsys.readouterr().err
    assert (
        "shard-00003.npy is damaged (sha256 mismatch)" in err
        and "shard-00005.npy is damaged" in err
    )
    after = {p.name: p.stat().st_mtime_ns for p in entry.glob("shard-*.npy")}
    changed = sorted(k for k in after if after[k] != stamps.get(k))
    assert changed == ["shard-00003.npy", "shard-00005.npy"]
    assert (entry / "shard-00001.npy").read_bytes() == good
    assert json.loads((entry / "manifest.json").read_text())["complete"]


def test_stats_with_a_model_runs_inference_into_the_shared_cache(setup, tmp_path):
    data, model, cache = setup
    common = ["--sensitive", "sex,region", "--quiet", "--device", "cpu"]
    student = tmp_path / "student.npy"
    whole = load_dataset(data, label="y", sensitive=["sex", "region"])
    np.save(student, np.random.default_rng(1).normal(size=(whole.n_samples, 3)).astype(np.float32))
    for shards in ("0-4/7", "5-6/7"):
        assert (
            main(
                [
                    "stats",
                    str(model),
                    str(student),
                    "--data",
                    str(data),
                    "--cache-dir",
                    str(cache),
                    "--out",
                    str(tmp_path / "s"),
                    "--shards",
                    shards,
                    *common,
                ]
            )
            == 0
        )
    opts = [
        "--bootstrap",
        "50",
        "--skip",
        "individual_fairness",
        "--report-format",
        "json",
        "--device",
        "cpu",
        "--cache-dir",
        str(cache),
    ]
    assert (
        main(
            [
                "compare",
                "--from-stats",
                str(tmp_path / "s"),
                "--out",
                str(tmp_path / "a"),
                *opts,
                "--quiet",
            ]
        )
        == 0
    )
    assert (
        main(
            [
                "compare",
                str(model),
                str(student),
                "--data",
                str(data),
                "--out",
                str(tmp_path / "b"),
                *opts,
                *common[:-2],
            ]
        )
        == 0
    )
    a = json.loads((tmp_path / "a" / "report.json").read_text())
    b = json.loads((tmp_path / "b" / "report.json").read_text())
    assert _volatile(a) == _volatile(b)


def test_logits_file_is_refused_by_infer(setup, tmp_path, capsys):
    data, _, cache = setup
    np.save(tmp_path / "l.npy", np.zeros((sum(SIZES), 3), dtype=np.float32))
    assert (
        main(
            [
                "infer",
                str(tmp_path / "l.npy"),
                "--data",
                str(data),
                "--cache-dir",
                str(cache),
                "--quiet",
            ]
        )
        == 2
    )
    assert "nothing to infer" in capsys.readouterr().err


def test_cache_ls_and_verify_understand_a_sharded_entry(setup, capsys):
    data, model, cache = setup
    assert (
        main(["infer", str(model), "--data", str(data), "--cache-dir", str(cache), "--quiet"]) == 0
    )
    entries = LogitCache(cache).entries()
    assert len(entries) == 1 and entries[0]["complete"] and entries[0]["n_shards"] == 7
    assert entries[0]["n_samples"] == sum(SIZES)
    assert LogitCache(cache).verify() == []
    shard = next(Path(entries[0]["path"]).glob("shard-00004.npy"))
    raw = bytearray(shard.read_bytes())
    raw[-2] ^= 0x01
    shard.write_bytes(bytes(raw))
    assert LogitCache(cache).verify() == [f"{entries[0]['key']}/shard-00004.npy: sha256 mismatch"]
    # the dropped shard is recomputed by the next driver run
    assert (
        main(["infer", str(model), "--data", str(data), "--cache-dir", str(cache), "--quiet"]) == 0
    )
    assert LogitCache(cache).verify() == []


@pytest.mark.parametrize(
    "bounds",
    [
        lambda b: b[:-1],  # one shard fewer than n_shards
        lambda b: [[b[0][0], b[0][1] + 1], *b[1:]],  # a gap/overlap between shards
        lambda b: [*b[:-1], [b[-1][0], b[-1][1] + 5]],  # past n_samples
        lambda b: "0-100",  # not a list of pairs
    ],
)
def test_a_sharded_manifest_with_bad_row_bounds_is_damaged_not_used(setup, bounds):
    data, model, cache = setup
    assert (
        main(["infer", str(model), "--data", str(data), "--cache-dir", str(cache), "--quiet"]) == 0
    )
    (entry,) = (p for p in cache.iterdir() if p.is_dir())
    manifest = json.loads((entry / "manifest.json").read_text())
    assert manifest["row_bounds"][0] == [0, SIZES[0]] and len(manifest["row_bounds"]) == 7
    manifest["row_bounds"] = bounds(manifest["row_bounds"])
    (entry / "manifest.json").write_text(json.dumps(manifest))
    lc = LogitCache(cache)
    assert lc.load(entry.name) is None
    assert lc.entries()[0]["status"] == "damaged"
    assert lc.verify()[0].startswith(f"{entry.name}: damaged entry")
    with pytest.warns(Warning, match="not a valid kdaudit cache entry"):
        assert lc.clear() == 0
    assert (entry / "manifest.json").exists()  # a damaged entry is left in place


def test_an_unfinished_sharded_entry_is_a_valid_partial_entry(setup):
    data, model, cache = setup
    assert (
        main(
            [
                "infer",
                str(model),
                "--data",
                str(data),
                "--cache-dir",
                str(cache),
                "--shards",
                "0-2/7",
                "--sensitive",
                "sex,region",
                "--device",
                "cpu",
                "--quiet",
            ]
        )
        == 0
    )
    source = open_source(str(data), label="y", sensitive=["sex", "region"])
    from kdaudit.distributed.infer import finalize_entry, prepare_infer

    adapter, key = prepare_infer(
        ModelSpec(str(model), outputs="auto"), source, LogitCache(cache), device="cpu"
    )
    finalize_entry(adapter, source, LogitCache(cache), key)
    (entry,) = LogitCache(cache).entries()
    assert (entry["status"], entry["shards_done"], entry["n_samples"]) == ("partial", 3, sum(SIZES))
    assert LogitCache(cache).verify() == [] and LogitCache(cache).load(key) is None


def test_single_file_data_workers_then_driver_all_of_n(tmp_path, rng, capsys):
    """.npz data: workers take slices of an N-shard layout, the driver takes all/N and
    finalizes *their* entry (no second entry, nothing recomputed); until then the cache
    calls the entry partial, not damaged."""
    n = 300
    x = rng.normal(size=(n, 4)).astype(np.float32)
    data = tmp_path / "eval.npz"
    np.savez(data, x=x, y=rng.integers(0, 3, n), sensitive_sex=rng.choice(["f", "m"], n))
    model = linear_onnx(tmp_path / "t.onnx", rng)
    cache = tmp_path / "cache"
    args = ["infer", str(model), "--data", str(data), "--cache-dir", str(cache), "--device", "cpu"]
    assert main([*args, "--shards", "0-1/3", "--quiet"]) == 0
    assert main([*args, "--shards", "2/3", "--quiet"]) == 0
    (entry,) = [p for p in cache.iterdir() if p.is_dir()]
    assert not (entry / "manifest.json").exists()
    capsys.readouterr()
    assert main(["cache", "ls", "--cache-dir", str(cache)]) == 0
    assert "partial (workers" in capsys.readouterr().out
    assert main(["cache", "verify", "--cache-dir", str(cache)]) == 0
    mtimes = {p.name: p.stat().st_mtime_ns for p in entry.glob("shard-*.npy")}
    assert main([*args, "--shards", "all/3", "--quiet"]) == 0
    assert [p for p in cache.iterdir() if p.is_dir()] == [entry]  # the same entry
    assert {p.name: p.stat().st_mtime_ns for p in entry.glob("shard-*.npy")} == mtimes
    manifest = json.loads((entry / "manifest.json").read_text())
    assert manifest["complete"] and manifest["n_shards"] == 3 and manifest["n_samples"] == n
    logits = LogitCache(cache).load(entry.name)
    assert logits is not None
    whole = load_dataset(data)
    expected = compute_logits(load_model(ModelSpec(str(model)), device="cpu"), whole).to_numpy()
    np.testing.assert_allclose(logits.to_numpy(), expected, rtol=1e-6, atol=1e-6)


@pytest.mark.parametrize("bad", ["all/0", "all/x", "3/3", "all"])
def test_bad_shard_specs_are_usage_errors(bad, tmp_path, capsys):
    assert (
        main(["infer", "m.onnx", "--data", "d.npz", "--cache-dir", str(tmp_path), "--shards", bad])
        == 2
    )
    assert "--shards" in capsys.readouterr().err
