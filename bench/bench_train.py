"""Training cost of KD: one KD epoch (cached teacher logits) vs one plain CE epoch.

Also KD with the teacher online (as with --augment) and the training speed of
ResNet-20 on CPU. Goal (issue 4): cached KD epoch <= 1.1x a plain epoch.
Run: ``.venv/bin/python bench/bench_train.py [--threads N] [--n N]``.
"""

from __future__ import annotations

import argparse
import time

import torch

from kdaudit.train.trainer import Recipe, TeacherModel, train_model, trifeature_data


def _epoch_seconds(data, recipe, repeats: int, **kw) -> float:  # type: ignore[no-untyped-def]
    best = float("inf")
    for _ in range(repeats):
        t = time.perf_counter()
        trained = train_model(data, recipe, seed=0, device="cpu", **kw)
        best = min(best, trained.metrics["train_seconds"])
        del t
    return best


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--threads", type=int, default=torch.get_num_threads())
    p.add_argument("--n", type=int, default=4000, help="training images per epoch")
    p.add_argument("--repeats", type=int, default=3)
    a = p.parse_args()
    torch.set_num_threads(a.threads)
    data = trifeature_data(n_train=a.n, n_eval=0, color_shape_correlation=0.6)
    lenet = Recipe(arch="lenet5", epochs=1, batch_size=64)
    teacher = train_model(
        data, Recipe(arch="resnet20", epochs=1, batch_size=64), role="teacher", seed=0, device="cpu"
    )
    resnet_ips = data.x.shape[0] / teacher.metrics["train_seconds"]
    tm = TeacherModel(module=teacher.module, name="resnet20")
    t = time.perf_counter()
    tm.train_logits(data, device=torch.device("cpu"))  # the one-off teacher pass, timed apart
    cache_fill = time.perf_counter() - t

    plain = _epoch_seconds(data, lenet, a.repeats, role="baseline")
    cached = _epoch_seconds(
        data, lenet, a.repeats, role="student", teacher=tm, temperature=4.0, soft_weight=0.9
    )
    online_recipe = Recipe(arch="lenet5", epochs=1, batch_size=64, augment=True)
    aug_plain = _epoch_seconds(data, online_recipe, 1, role="baseline")
    online = _epoch_seconds(
        data, online_recipe, 1, role="student", teacher=tm, temperature=4.0, soft_weight=0.9
    )
    n = data.x.shape[0]
    print(
        f"threads={a.threads} images/epoch={n} (Trifeature 32x32, LeNet-5 student, ResNet-20 teacher)"
    )
    print(f"plain CE epoch (baseline):            {plain:7.3f} s  ({n / plain:8.0f} img/s)")
    print(
        f"KD epoch, cached teacher logits:      {cached:7.3f} s  ratio {cached / plain:5.2f}x  (goal <= 1.1x)"
    )
    print(
        f"  one-off teacher pass over the set:  {cache_fill:7.3f} s  (shared by every T and seed)"
    )
    print(f"augmented CE epoch:                   {aug_plain:7.3f} s")
    print(
        f"KD epoch, teacher online (augment):   {online:7.3f} s  ratio {online / aug_plain:5.2f}x "
        f"vs augmented CE, {online / plain:5.2f}x vs plain CE"
    )
    print(f"ResNet-20 training on CPU:            {resnet_ips:7.0f} img/s")


if __name__ == "__main__":
    main()
