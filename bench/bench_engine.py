"""Benchmark kdaudit's inference engine against a plain onnxruntime batch loop.

One command, side by side in one process, on the same ONNX ResNet-20 (the zoo's
``resnet20`` exported to ONNX) and the same random 32x32x3 images (stored HWC,
float32; both pipelines transpose to CHW):

    .venv/bin/python bench/bench_engine.py            # 10,000 images
    .venv/bin/python bench/bench_engine.py --n 1000   # quicker

Goals (issue 2): kdaudit's engine >= 0.9x the plain loop's throughput, and a
re-run that hits the logit cache >= 10x faster than the cold run.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import sys
import tempfile
import time
import warnings
from pathlib import Path

import numpy as np


def export_resnet20(path: Path) -> None:
    import torch

    from kdaudit.models.zoo import build_model

    torch.manual_seed(0)
    model = build_model("resnet20", n_classes=10, input_shape=(3, 32, 32)).eval()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(
            model,
            (torch.zeros(2, 3, 32, 32),),
            str(path),
            dynamo=False,
            input_names=["image"],
            output_names=["logits"],
            dynamic_axes={"image": {0: "batch"}, "logits": {0: "batch"}},
        )


def plain_loop(session, images: np.ndarray, batch_size: int) -> np.ndarray:
    """What a user would write by hand: slice, transpose to NCHW, run, collect."""
    name = session.get_inputs()[0].name
    out = np.empty((images.shape[0], 10), dtype=np.float32)
    for start in range(0, images.shape[0], batch_size):
        batch = np.ascontiguousarray(images[start : start + batch_size].transpose(0, 3, 1, 2))
        out[start : start + batch.shape[0]] = session.run(None, {name: batch})[0]
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=10_000, help="number of images (default 10000)")
    parser.add_argument(
        "--batch-size",
        type=int,
        default=None,
        help="rows per batch for both pipelines (default: kdaudit's automatic choice)",
    )
    parser.add_argument(
        "--repeats", type=int, default=3, help="timed rounds, interleaved (default 3)"
    )
    args = parser.parse_args(argv)
    if args.n < 1 or args.repeats < 1 or (args.batch_size is not None and args.batch_size < 1):
        parser.error("--n, --repeats and --batch-size must be positive")
    work = Path(tempfile.mkdtemp(prefix="kdaudit-bench-"))
    try:
        return _run(args, work)
    finally:
        shutil.rmtree(work, ignore_errors=True)


def _run(args: argparse.Namespace, work: Path) -> int:
    import onnxruntime as ort

    from kdaudit.data.dataset import Dataset
    from kdaudit.engine import LogitCache, compute_logits, default_batch_size
    from kdaudit.hashing import arrays_sha256
    from kdaudit.models import ModelSpec, Preprocess, load_model

    onnx_path = work / "resnet20.onnx"
    t0 = time.perf_counter()
    export_resnet20(onnx_path)
    print(f"exported zoo resnet20 to ONNX in {time.perf_counter() - t0:.1f} s ({onnx_path})")

    rng = np.random.default_rng(0)
    images = rng.random((args.n, 32, 32, 3), dtype=np.float32)
    y = rng.integers(0, 10, size=args.n)
    sha = arrays_sha256({"x": images, "y": y})
    dataset = Dataset(
        y_true=y, x=images, sensitive_features={}, path="random-images", sha256=sha, fingerprint=sha
    )
    spec = ModelSpec(str(onnx_path), role="teacher", preprocess=Preprocess(transpose=(2, 0, 1)))

    model = load_model(spec, device="cpu")
    batch_size = args.batch_size or default_batch_size(model, dataset)
    session = ort.InferenceSession(str(onnx_path), providers=["CPUExecutionProvider"])
    print(
        f"n={args.n} images 32x32x3, batch size {batch_size}, onnxruntime {ort.__version__} "
        f"{session.get_providers()}, {os.cpu_count()} CPUs visible"
    )

    # warm-up both (first runs allocate arenas)
    warm_n = min(args.n, 2 * batch_size)
    plain_loop(session, images[:warm_n], batch_size)
    small = Dataset(y_true=y[:warm_n], x=images[:warm_n], sensitive_features={}, fingerprint="warm")
    compute_logits(model, small, batch_size=batch_size)

    plain_t, engine_t, cold_t, hit_t, cold_e2e, hit_e2e = [], [], [], [], [], []
    reference = None
    for _ in range(args.repeats):
        t = time.perf_counter()
        reference = plain_loop(session, images, batch_size)
        plain_t.append(time.perf_counter() - t)

        t = time.perf_counter()
        ours = compute_logits(model, dataset, batch_size=batch_size).to_numpy()
        engine_t.append(time.perf_counter() - t)
        np.testing.assert_allclose(ours, reference, rtol=1e-4, atol=1e-4)

        cache = LogitCache(Path(tempfile.mkdtemp(dir=work)))
        t = time.perf_counter()
        cold_model = load_model(spec, device="cpu")
        t_loaded = time.perf_counter()
        compute_logits(cold_model, dataset, batch_size=batch_size, cache=cache)
        cold_t.append(time.perf_counter() - t_loaded)
        cold_e2e.append(time.perf_counter() - t)

        t = time.perf_counter()
        hit_model = load_model(spec, device="cpu")
        t_loaded = time.perf_counter()
        hit = compute_logits(hit_model, dataset, batch_size=batch_size, cache=cache)
        hit_t.append(time.perf_counter() - t_loaded)
        hit_e2e.append(time.perf_counter() - t)
        np.testing.assert_allclose(hit.to_numpy(), reference, rtol=1e-4, atol=1e-4)
        cache.clear()

    def row(label: str, times: list[float]) -> None:
        best, med = min(times), statistics.median(times)
        print(f"  {label:<44} best {best:8.3f} s  median {med:8.3f} s  {args.n / best:10.0f} img/s")

    print("\ntimings (same process, rounds interleaved):")
    row("plain onnxruntime loop", plain_t)
    row("kdaudit compute_logits, no cache", engine_t)
    row("kdaudit cold run, cache write", cold_t)
    row("kdaudit re-run, cache hit", hit_t)
    row("kdaudit cold run incl. load_model", cold_e2e)
    row("kdaudit re-run incl. load_model", hit_e2e)

    # medians judge the goals: on a shared machine one lucky or unlucky round moves "best" a lot
    ratio = statistics.median(plain_t) / statistics.median(engine_t)
    ratio_best = min(plain_t) / min(engine_t)
    ratio_cold = statistics.median(plain_t) / statistics.median(cold_t)
    speedup = statistics.median(cold_t) / statistics.median(hit_t)
    speedup_e2e = statistics.median(cold_e2e) / statistics.median(hit_e2e)
    print("\nratios (medians; best-of in brackets):")
    print(
        f"  engine / plain throughput, no cache            {ratio:6.3f}x   (best {ratio_best:.3f}x)"
        f"   goal >= 0.9x: {'PASS' if ratio >= 0.9 else 'FAIL'}"
    )
    print(f"  engine / plain throughput, cold run + cache    {ratio_cold:6.3f}x")
    print(
        f"  cache hit speed-up vs cold (compute_logits)    {speedup:8.1f}x"
        f"   goal >= 10x: {'PASS' if speedup >= 10 else 'FAIL'}"
    )
    print(f"  cache hit speed-up vs cold (incl. load_model)  {speedup_e2e:8.1f}x")
    return 0 if ratio >= 0.9 and speedup >= 10 else 1


if __name__ == "__main__":
    sys.exit(main())
