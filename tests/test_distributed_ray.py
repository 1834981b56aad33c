"""The Ray launcher: same shards, same report, on a local cluster (marked ``ray``)."""

from __future__ import annotations

import functools
import json
import os
from pathlib import Path

import numpy as np
import pytest

ray = pytest.importorskip("ray", reason="Ray is not installed (pip install 'kdaudit[ray]')")

from kdaudit.cli import main  # noqa: E402
from kdaudit.distributed.ray_runner import RayRunner  # noqa: E402
from kdaudit.distributed.sources import open_source  # noqa: E402
from kdaudit.distributed.stats import run_stats  # noqa: E402
from kdaudit.engine.cache import LogitCache  # noqa: E402
from kdaudit.models import ModelSpec  # noqa: E402
from tests.ray_hooks import bad_shard, fail_once  # noqa: E402
from tests.test_distributed import _volatile, make_audit_data  # noqa: E402
from tests.test_distributed_infer import linear_onnx  # noqa: E402

pytestmark = pytest.mark.ray

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def local_cluster():
    os.environ.setdefault("PYTHONPATH", str(ROOT))
    if ray.is_initialized():
        ray.shutdown()
    ray.init(
        num_cpus=2,
        object_store_memory=80 * 1024 * 1024,
        include_dashboard=False,
        log_to_driver=False,
        logging_level="ERROR",
    )
    yield
    ray.shutdown()


def _specs(m):
    return {
        role: [ModelSpec(str(m[role]), role=role, outputs="auto")]
        for role in ("teacher", "student", "baseline")
    }


def _report(stats_dir: Path, out: Path) -> dict:
    assert (
        main(
            [
                "compare",
                "--from-stats",
                str(stats_dir),
                "--out",
                str(out),
                "--report-format",
                "json",
                "--bootstrap",
                "100",
                "--quiet",
            ]
        )
        == 0
    )
    return _volatile(json.loads((out / "report.json").read_text()))


def test_actor_pool_gives_the_identical_report_and_survives_a_crash(local_cluster, tmp_path, rng):
    data, m = make_audit_data(tmp_path, rng=rng, features=True)
    teacher = linear_onnx(tmp_path / "teacher.onnx", rng)
    specs = _specs(m)
    specs["teacher"] = [ModelSpec(str(teacher), role="teacher", outputs="auto")]
    source = open_source(str(data), sensitive=["sex", "region"])
    cache = LogitCache(tmp_path / "cache")
    run_stats(
        specs, source, tmp_path / "local", cache=LogitCache(tmp_path / "cache-local"), device="cpu"
    )
    runner = RayRunner(
        "auto", actors=2, hook=functools.partial(fail_once, str(tmp_path / "marker"))
    )
    with pytest.warns(Warning, match="no GPU"):
        runner.stats(specs, source, tmp_path / "ray", cache=cache, device="cpu")
    assert (tmp_path / "marker").exists()  # the crash happened, and shard 2 was retried
    assert sorted(p.index for p in runner.placements) == list(range(7))
    assert _report(tmp_path / "ray", tmp_path / "r1") == _report(
        tmp_path / "local", tmp_path / "r2"
    )
    # the logits the actors wrote are those of a plain worker
    local = sorted((tmp_path / "cache-local").glob("*/shard-*.npy"))
    remote = sorted((tmp_path / "cache").glob("*/shard-*.npy"))
    assert [p.name for p in local] == [p.name for p in remote]
    for a, b in zip(local, remote, strict=True):
        np.testing.assert_array_equal(np.load(a), np.load(b))


def test_a_kdaudit_error_in_a_worker_is_raised_as_itself_and_not_retried(
    local_cluster, tmp_path, rng
):
    from kdaudit.errors import InputDataError

    data, m = make_audit_data(tmp_path, rng=rng)
    log = tmp_path / "calls.txt"
    runner = RayRunner("auto", actors=1, hook=functools.partial(bad_shard, str(log)))
    with pytest.warns(Warning, match="no GPU"), pytest.raises(InputDataError, match="shard 1"):
        runner.stats(_specs(m), open_source(str(data)), tmp_path / "s", cache=None, device="cpu")
    assert log.read_text().split() == ["0", "1"]  # one worker, in order; shard 1 tried once


def test_infer_on_ray_writes_the_manifest_on_the_driver(local_cluster, tmp_path, rng, capsys):
    data, _ = make_audit_data(tmp_path, rng=rng, features=True)
    model = linear_onnx(tmp_path / "m.onnx", rng)
    assert (
        main(
            [
                "infer",
                str(model),
                "--data",
                str(data),
                "--cache-dir",
                str(tmp_path / "c"),
                "--ray",
                "auto",
                "--device",
                "cpu",
            ]
        )
        == 0
    )
    captured = capsys.readouterr()
    assert "actors run on CPU" in captured.err
    manifests = list((tmp_path / "c").glob("*/manifest.json"))
    assert len(manifests) == 1 and json.loads(manifests[0].read_text())["complete"]


def test_compare_with_ray_equals_compare(local_cluster, tmp_path, rng):
    data, m = make_audit_data(tmp_path, rng=rng)
    common = [
        str(m["teacher"]),
        str(m["student"]),
        "--baseline",
        str(m["baseline"]),
        "--data",
        str(data),
        "--sensitive",
        "sex,region",
        "--bootstrap",
        "100",
        "--cache-dir",
        str(tmp_path / "c"),
        "--report-format",
        "json",
        "--quiet",
    ]
    assert main(["compare", *common, "--out", str(tmp_path / "a"), "--ray", "auto"]) == 0
    assert main(["compare", *common, "--out", str(tmp_path / "b")]) == 0
    a, b = (json.loads((tmp_path / d / "report.json").read_text()) for d in ("a", "b"))
    assert _volatile(a) == _volatile(b)
