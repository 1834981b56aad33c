"""``--ray ADDRESS|auto``: the same shards, run on Ray.

``infer``: Ray Data maps over the shard list; each actor of an ``ActorPoolStrategy``
pool loads the model once (one session per actor) and computes whole shards.
``stats``: one plain Ray task per shard (no Ray Data: its executor, planning and
pool actors cost more than the reduction of a shard on a small cluster); a worker
process keeps the job's loaded models between the tasks it runs, so models are
loaded once per worker as in the actor pool. Both compute shards with the very
functions a ``--shards`` worker uses, so results do not depend on who ran what.
Workers ask for one GPU each when the cluster has GPUs; otherwise they run on CPUs
and a warning says so. A dead worker's shard is retried (at most
:data:`MAX_RESTARTS` times; shards are idempotent: finished ones are kept, partial
ones never become visible). The driver shows progress as shards finish and, for
``infer``, writes the manifest at the end.
"""

from __future__ import annotations

import dataclasses
import logging
import warnings
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from kdaudit.distributed.sources import ShardSource
from kdaudit.engine.cache import LogitCache
from kdaudit.errors import KDAuditError, KDAuditWarning, UsageError
from kdaudit.progress import progress_bar

__all__ = [
    "MAX_RESTARTS",
    "Placement",
    "RayRunner",
    "ShardActor",
]

#: restarts of a dead actor, and retries of the shard it was computing
MAX_RESTARTS = 3


def _import_ray() -> Any:
    from kdaudit._optional import require

    # a missing extra is exit 3 with its pip line, like every other one
    ray = require("ray", purpose="--ray")
    require("ray.data", purpose="--ray")
    return ray


class ShardActor:
    """One ``infer`` pool actor: the model, loaded once, and the shards given to it."""

    def __init__(self, job: dict[str, Any]) -> None:
        import ray

        from kdaudit.distributed.infer import prepare_infer

        self.job = job
        self.hook: Callable[[int], None] | None = job.get("hook")
        self.cache = LogitCache(job["cache_root"])
        self.adapter, self.key = prepare_infer(
            job["spec"], job["source"], self.cache, device=_device(ray, job["device"])
        )
        self.node = ray.get_runtime_context().get_node_id()
        self.gpus = ",".join(str(g) for g in ray.get_gpu_ids())

    def __call__(self, batch: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        from kdaudit.distributed.infer import ensure_shard

        rows = []
        for index in batch["index"].tolist():
            if self.hook is not None:
                self.hook(int(index))
            ensure_shard(
                self.adapter,
                self.job["source"],
                self.cache,
                self.key,
                int(index),
                batch_size=self.job["batch_size"],
            )
            start, stop = self.job["source"].bounds[int(index)]
            rows.append(stop - start)
        n = len(rows)
        return {
            "index": batch["index"],
            "rows": np.asarray(rows, dtype=np.int64),
            "node": np.array([self.node] * n),
            "gpus": np.array([self.gpus] * n),
            "device_type": np.array([self.adapter.device_type] * n),
        }


#: per worker process: the stats job whose models it holds (token, StatsJob, device type)
_WORKER_JOB: dict[str, Any] = {}


def _stats_task(job: dict[str, Any], index: int) -> dict[str, Any]:
    """Ray task: shard ``index``'s count table, with the models this worker already holds."""
    import ray

    if _WORKER_JOB.get("token") != job["token"]:  # first shard of this job in this process
        from kdaudit.distributed.stats import prepare_stats

        _WORKER_JOB.clear()
        device = _device(ray, job["device"])
        cache = LogitCache(job["cache_root"]) if job["cache_root"] else None
        prepared = prepare_stats(
            job["specs"], job["source"], job["out"], cache=cache, device=device
        )
        kind = next(iter(prepared.loaded.values()))[0][0].device_type
        _WORKER_JOB.update(token=job["token"], job=prepared, device_type=kind)
    if job.get("hook") is not None:
        job["hook"](index)
    prepared = _WORKER_JOB["job"]
    prepared.run_shard(index, batch_size=job["batch_size"])
    return {
        "index": index,
        "rows": prepared.shard_rows(index) * prepared.n_models,
        "node": ray.get_runtime_context().get_node_id(),
        "gpus": ",".join(str(g) for g in ray.get_gpu_ids()),
        "device_type": _WORKER_JOB["device_type"],
    }


def _device(ray: Any, device: str) -> str:
    """``auto`` on a worker that holds a GPU: cuda when CUDA is usable there, else cpu."""
    if ray.get_gpu_ids() and device == "auto":
        from kdaudit.device import cuda_available

        return "cuda" if cuda_available() else "cpu"
    return device


@dataclasses.dataclass(frozen=True, slots=True)
class Placement:
    index: int
    node: str
    gpus: str
    device_type: str


class RayRunner:
    """Run ``infer``/``stats`` shards on Ray.

    Parameters
    ----------
    address : str
        ``auto`` (the running cluster), ``local`` (start one on this machine), or
        ``ray://host:port`` / ``host:port``. Ignored when Ray is already initialised.
    progress : bool
        Show shard progress on the driver.
    actors : int, optional
        Pool size (default: one per GPU when the cluster has GPUs, else one per CPU,
        at most one per shard).
    hook : callable, optional
        Called in the actor with the shard index before each shard (tests inject
        failures with it).
    """

    def __init__(
        self,
        address: str = "auto",
        *,
        progress: bool = False,
        quiet: bool = False,
        actors: int | None = None,
        hook: Callable[[int], None] | None = None,
    ) -> None:
        self.address = address
        self.progress = progress
        self.quiet = quiet
        self.actors = actors
        self.hook = hook
        self.placements: list[Placement] = []

    def _connect(self) -> Any:
        ray = _import_ray()
        if not ray.is_initialized():
            kwargs: dict[str, Any] = {"log_to_driver": not self.quiet, "logging_level": "ERROR"}
            try:
                if self.address == "local":  # no dashboard: nobody looks at it, it costs start-up
                    ray.init(include_dashboard=False, **kwargs)
                else:
                    ray.init(address=self.address, **kwargs)
            except (ConnectionError, RuntimeError, ValueError) as exc:
                raise UsageError(
                    f"Could not connect to the Ray cluster at {self.address!r}: {exc}",
                    tip="Start one (ray start --head), pass its address, or use --ray local.",
                ) from exc
        logging.getLogger("ray.data").setLevel(logging.WARNING)  # kdaudit reports progress itself
        ctx = ray.data.DataContext.get_current()
        ctx.enable_progress_bars = False  # the driver shows its own, by shard
        return ray

    def _run(
        self, kind: str, job: dict[str, Any], indices: list[int], total_rows: int
    ) -> list[Placement]:
        ray = self._connect()
        resources = ray.cluster_resources()
        gpus = int(resources.get("GPU", 0))
        want_gpu = job["device"] in ("auto", "cuda") and gpus > 0
        if job["device"] == "cuda" and gpus == 0:
            raise UsageError(
                "--device cuda with --ray, but the Ray cluster has no GPU.",
                tip="Add GPU nodes, or use --device auto/cpu.",
            )
        if not want_gpu:
            warnings.warn(
                "Ray: the cluster has no GPU"
                + ("" if gpus == 0 else " wanted (--device cpu)")
                + f"; {kind} actors run on CPU.",
                KDAuditWarning,
                stacklevel=3,
            )
        per_actor = gpus if want_gpu else max(1, int(resources.get("CPU", 1)))
        size = max(1, min(len(indices), self.actors or per_actor))
        job = {**job, "hook": self.hook}
        runs = self._tasks if kind == "stats" else self._actor_pool
        placements = []
        try:
            with progress_bar(
                total_rows, desc=f"{kind} (ray, {size} workers)", enabled=self.progress
            ) as bar:
                for row in runs(ray, kind, job, indices, size, want_gpu):
                    placements.append(
                        Placement(
                            int(row["index"]),
                            str(row["node"]),
                            str(row["gpus"]),
                            str(row["device_type"]),
                        )
                    )
                    bar.update(int(row["rows"]))
        except Exception as exc:  # Ray wraps worker errors; surface kdaudit's own as themselves
            cause = _kdaudit_cause(exc)
            if cause is not None:
                raise cause from exc
            raise
        if want_gpu:
            cpu_only = sorted({p.node[:8] for p in placements if p.device_type != "cuda"})
            if cpu_only:
                warnings.warn(
                    f"Ray: actors on node(s) {', '.join(cpu_only)} hold a GPU but CUDA is not "
                    "usable there; they ran on CPU.",
                    KDAuditWarning,
                    stacklevel=3,
                )
        self.placements = sorted(placements, key=lambda p: p.index)
        return self.placements

    def _tasks(
        self,
        ray: Any,
        kind: str,
        job: dict[str, Any],
        indices: list[int],
        size: int,
        want_gpu: bool,
    ) -> Iterator[dict[str, Any]]:
        """One Ray task per shard, at most ``size`` at a time; results as they finish."""
        import uuid

        task = ray.remote(_stats_task).options(
            num_gpus=1 if want_gpu else 0,
            num_cpus=0 if want_gpu else 1,
            max_retries=MAX_RESTARTS,  # a dead worker's shard; kdaudit's errors are not retried
        )
        job_ref = ray.put({**job, "token": uuid.uuid4().hex})
        todo = list(indices)
        running = [task.remote(job_ref, todo.pop(0)) for _ in range(min(size, len(todo)))]
        while running:
            done, running = ray.wait(running, num_returns=1)
            if todo:
                running.append(task.remote(job_ref, todo.pop(0)))
            yield ray.get(done[0])

    def _actor_pool(
        self,
        ray: Any,
        kind: str,
        job: dict[str, Any],
        indices: list[int],
        size: int,
        want_gpu: bool,
    ) -> Iterator[dict[str, Any]]:
        """Ray Data over the shard list with an ``ActorPoolStrategy`` pool of ``size``."""
        ds = ray.data.from_items([{"index": i} for i in indices], override_num_blocks=len(indices))
        with warnings.catch_warnings():
            # bounded restarts (Ray Data's default is unbounded: a shard that always kills its
            # actor would loop) are still passed as remote args in Ray < 2.64
            warnings.simplefilter("ignore", DeprecationWarning)
            mapped = ds.map_batches(
                ShardActor,
                batch_size=1,
                batch_format="numpy",
                compute=ray.data.ActorPoolStrategy(size=size),
                fn_constructor_kwargs={"job": job},
                num_gpus=1 if want_gpu else 0,
                num_cpus=0 if want_gpu else 1,
                max_restarts=MAX_RESTARTS,
                max_task_retries=MAX_RESTARTS,
            )
        yield from mapped.iter_rows()

    def infer(
        self,
        spec: Any,
        source: ShardSource,
        cache: LogitCache,
        *,
        shards: Iterable[int] | None = None,
        device: str = "auto",
        batch_size: int | None = None,
    ) -> Any:
        """As :func:`kdaudit.distributed.infer.run_infer`, on Ray."""
        from kdaudit.distributed.infer import InferSummary, finalize_entry, prepare_infer

        adapter, key = prepare_infer(
            spec, source, cache, device="cpu"
        )  # checks early, on the driver
        indices = list(range(source.n_shards)) if shards is None else list(shards)
        job = {
            "spec": spec,
            "source": source,
            "cache_root": str(cache.root.resolve()),
            "device": device,
            "batch_size": batch_size,
        }
        self._run("infer", job, indices, sum(b - a for a, b in (source.bounds[i] for i in indices)))
        if shards is not None:
            return InferSummary(
                key=key, entry=str(cache.entry_dir(key)), shards=indices, complete=None
            )
        manifest = finalize_entry(adapter, source, cache, key)
        return InferSummary(
            key=key,
            entry=str(cache.entry_dir(key)),
            shards=indices,
            complete=bool(manifest["complete"]),
        )

    def stats(
        self,
        specs: Mapping[str, Sequence[Any]],
        source: ShardSource,
        out_dir: str | Path,
        *,
        cache: LogitCache | None,
        shards: Iterable[int] | None = None,
        device: str = "auto",
        batch_size: int | None = None,
    ) -> list[int]:
        """As :func:`kdaudit.distributed.stats.run_stats`, on Ray."""
        from kdaudit.distributed.stats import prepare_stats

        job0 = prepare_stats(specs, source, out_dir, cache=cache, device="cpu")  # checks early
        indices = list(range(source.n_shards)) if shards is None else list(shards)
        job = {
            "specs": dict(specs),
            "source": source,
            "out": str(Path(out_dir).resolve()),
            "cache_root": str(cache.root.resolve()) if cache is not None else None,
            "device": device,
            "batch_size": batch_size,
        }
        total = sum(b - a for a, b in (source.bounds[i] for i in indices)) * job0.n_models
        self._run("stats", job, indices, total)
        return indices


def _kdaudit_cause(exc: BaseException) -> KDAuditError | None:
    seen = set()
    stack: list[Any] = [exc]
    while stack:
        e = stack.pop()
        if e is None or id(e) in seen:
            continue
        seen.add(id(e))
        if isinstance(e, KDAuditError):
            return e
        stack.extend([getattr(e, "cause", None), e.__cause__, e.__context__])
    return None
