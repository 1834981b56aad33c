"""Two-node Ray cluster with a logical GPU: GPU actors land on the GPU node (marked ``ray``)."""

from __future__ import annotations

import json

import pytest

ray = pytest.importorskip("ray", reason="Ray is not installed (pip install 'kdaudit[ray]')")

from kdaudit.device import cuda_available  # noqa: E402
from kdaudit.distributed.ray_runner import RayRunner  # noqa: E402
from kdaudit.distributed.sources import open_source  # noqa: E402
from kdaudit.models import ModelSpec  # noqa: E402
from tests.test_distributed import make_audit_data  # noqa: E402

pytestmark = pytest.mark.ray


@pytest.fixture
def two_nodes():
    from ray.cluster_utils import Cluster

    if ray.is_initialized():
        ray.shutdown()
    cluster = Cluster(
        initialize_head=True, head_node_args={"num_cpus": 1, "include_dashboard": False}
    )
    cluster.add_node(num_cpus=1, num_gpus=1)
    ray.init(address=cluster.address, log_to_driver=False, logging_level="ERROR")
    try:
        yield cluster
    finally:
        ray.shutdown()
        cluster.shutdown()


@pytest.mark.skipif(cuda_available(), reason="checks the CPU fallback of a GPU-less machine")
def test_gpu_actors_are_placed_on_the_gpu_node_and_fall_back_to_cpu_out_loud(
    two_nodes, tmp_path, rng
):
    data, m = make_audit_data(tmp_path, rng=rng, sizes=[50, 70, 30])
    gpu_node = next(n["NodeID"] for n in ray.nodes() if n["Alive"] and n["Resources"].get("GPU"))
    specs = {
        role: [ModelSpec(str(m[role]), role=role, outputs="auto")]
        for role in ("teacher", "student")
    }
    runner = RayRunner("auto")
    with pytest.warns(Warning, match="hold a GPU but CUDA is not usable there; they ran on CPU"):
        runner.stats(specs, open_source(str(data), sensitive=["sex"]), tmp_path / "s", cache=None)
    assert [p.index for p in runner.placements] == [0, 1, 2]
    assert {p.node for p in runner.placements} == {gpu_node}
    assert {p.gpus for p in runner.placements} == {"0"}
    assert {p.device_type for p in runner.placements} == {"cpu"}
    assert len(list((tmp_path / "s").glob("stats-*.json"))) == 3
    assert json.loads((tmp_path / "s" / "stats-00001.json").read_text())["rows"] == 70


@pytest.mark.gpu
@pytest.mark.skipif(not cuda_available(), reason="needs a CUDA device")
def test_gpu_actor_pool_on_the_local_gpu_matches_cpu_logits(
    tmp_path, rng
):  # pragma: no cover - GPU only
    import numpy as np

    from kdaudit.engine.cache import LogitCache
    from tests.test_distributed_infer import linear_onnx

    data, _ = make_audit_data(tmp_path, rng=rng, features=True)
    model = linear_onnx(tmp_path / "m.onnx", rng)
    if ray.is_initialized():
        ray.shutdown()
    ray.init(num_gpus=1, log_to_driver=False)
    try:
        source = open_source(str(data), sensitive=["sex"])
        spec = ModelSpec(str(model), outputs="auto")
        runner = RayRunner("auto")
        runner.infer(spec, source, LogitCache(tmp_path / "gpu"), device="cuda")
        assert {p.device_type for p in runner.placements} == {"cuda"}
    finally:
        ray.shutdown()
    from kdaudit.distributed.infer import run_infer

    run_infer(spec, source, LogitCache(tmp_path / "cpu"), device="cpu")
    gpu = sorted((tmp_path / "gpu").glob("*/shard-*.npy"))
    cpu = sorted((tmp_path / "cpu").glob("*/shard-*.npy"))
    for a, b in zip(gpu, cpu, strict=True):
        np.testing.assert_allclose(np.load(a), np.load(b), atol=1e-4)
