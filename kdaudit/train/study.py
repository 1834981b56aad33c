"""The P1 temperature study on Trifeature, trained end to end on a laptop CPU.

:func:`run_study` trains a ResNet-20 teacher, a LeNet-5 baseline (hard labels
only) and LeNet-5 students at several temperatures, exports each as ONNX +
safetensors + manifest, and writes the Trifeature test split as an npz. It
returns the paths; auditing them is :mod:`kdaudit.api`'s job.

The training split carries a planted colour-shape correlation
(:data:`CORRELATION`): colour is a shortcut for shape there but not in the
test split, so models that lean on colour show per-colour accuracy gaps.
Sizes are chosen so the full study trains in a few minutes on 2 CPU cores
and ``small=True`` in seconds (for tests).
"""

from __future__ import annotations

import json
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from kdaudit.errors import UsageError

CORRELATION = 0.3
SOFT_WEIGHT = 0.9
STUDENT_LR = 0.05
GRAD_CLIP = 2.0

#: sizes and epochs of the full and the small study
STUDY_SIZES: dict[str, dict[str, int | float]] = {
    "full": {"n_train": 6000, "n_eval": 2000, "teacher_epochs": 3, "student_epochs": 10,
             "batch_size": 64},
    "small": {"n_train": 600, "n_eval": 300, "teacher_epochs": 1, "student_epochs": 3,
              "batch_size": 64},
}


def run_study(
    out_dir: str | Path,
    *,
    small: bool = False,
    quiet: bool = False,
    seed: int = 0,
    temperatures: Sequence[float] = (1, 2, 4, 8),
    device: str = "auto",
) -> dict[str, Any]:
    """Train and export the teacher, the baseline and one student per temperature.

    Parameters
    ----------
    out_dir : str or Path
        Folder for the models (``models/``) and the test data (``trifeature_test.npz``).
    small : bool
        Tiny sizes for tests (seconds instead of minutes).
    quiet : bool
        Print nothing (otherwise one line per model on stderr).
    seed : int
        Seed of the data generator and of every model.
    temperatures : sequence of float
        Student temperatures.
    device : str
        ``auto``, ``cpu`` or ``cuda``.

    Returns
    -------
    dict
        ``data`` (npz path), ``teacher`` and ``baseline`` (ONNX paths),
        ``students`` ({T: ONNX path}), ``preprocess`` (the spec for all models),
        ``manifests`` ({"teacher", "baseline": path, "students": {T: path}}),
        ``accuracy`` (eval accuracy per model), ``timings`` (seconds),
        ``config`` (sizes, correlation, soft weight).
    """
    import sys

    from kdaudit.data.trifeature import PREPROCESS, make_trifeature, save_trifeature_npz
    from kdaudit.train.export import write_manifest
    from kdaudit.train.trainer import Recipe, TeacherModel, run_training, trifeature_data

    temps = [float(t) for t in temperatures]
    if not temps or any(not t > 0 for t in temps):
        raise UsageError(f"Expected positive temperatures; got {list(temperatures)!r}.")
    sizes = STUDY_SIZES["small" if small else "full"]
    out = Path(out_dir)
    models_dir = out / "models"
    models_dir.mkdir(parents=True, exist_ok=True)

    def log(line: str) -> None:
        if not quiet and not line.startswith("  "):
            print(line, file=sys.stderr, flush=True)

    timings: dict[str, float] = {}
    t0 = time.perf_counter()
    n_train, n_eval = int(sizes["n_train"]), int(sizes["n_eval"])
    data = trifeature_data(n_train=n_train, n_eval=n_eval, color_shape_correlation=CORRELATION,
                           seed=seed)
    test = make_trifeature(n_eval, split="test", seed=seed)
    npz = save_trifeature_npz(out / "trifeature_test.npz", test)
    timings["data"] = time.perf_counter() - t0

    bs = int(sizes["batch_size"])
    teacher_recipe = Recipe(arch="resnet20", epochs=int(sizes["teacher_epochs"]), batch_size=bs,
                            lr=0.05)
    student_recipe = Recipe(arch="lenet5", epochs=int(sizes["student_epochs"]), batch_size=bs,
                            lr=STUDENT_LR, grad_clip=GRAD_CLIP)
    common: dict[str, Any] = {"out_dir": models_dir, "seeds": (seed,), "device": device,
                              "log": log}

    t = time.perf_counter()
    (teacher_man,) = run_training(data, teacher_recipe, role="teacher", **common)
    timings["teacher"] = time.perf_counter() - t

    t = time.perf_counter()
    (baseline_man,) = run_training(data, student_recipe, role="baseline", **common)
    timings["baseline"] = time.perf_counter() - t

    from kdaudit.train.trainer import load_teacher

    teacher: TeacherModel = load_teacher(models_dir / f"{teacher_man['name']}.json")
    t = time.perf_counter()
    student_mans = run_training(data, student_recipe, role="student", temperatures=temps,
                                soft_weight=SOFT_WEIGHT, teacher=teacher, **common)
    timings["students"] = time.perf_counter() - t
    timings["total"] = time.perf_counter() - t0

    def onnx(man: dict[str, Any]) -> str:
        return str(models_dir / man["files"]["onnx"]["path"])

    def mpath(man: dict[str, Any]) -> str:
        return str(models_dir / f"{man['name']}.json")

    result: dict[str, Any] = {
        "data": str(npz),
        "teacher": onnx(teacher_man),
        "baseline": onnx(baseline_man),
        "students": {float(m["temperature"]): onnx(m) for m in student_mans},
        "preprocess": dict(PREPROCESS),
        "manifests": {
            "teacher": mpath(teacher_man),
            "baseline": mpath(baseline_man),
            "students": {float(m["temperature"]): mpath(m) for m in student_mans},
        },
        "accuracy": {
            "teacher": teacher_man["metrics"].get("eval_accuracy"),
            "baseline": baseline_man["metrics"].get("eval_accuracy"),
            "students": {float(m["temperature"]): m["metrics"].get("eval_accuracy")
                         for m in student_mans},
        },
        "timings": timings,
        "config": {**sizes, "small": small, "seed": seed, "temperatures": temps,
                   "teacher_recipe": teacher_recipe.to_dict(),
                   "student_recipe": student_recipe.to_dict(),
                   "color_shape_correlation": CORRELATION, "soft_weight": SOFT_WEIGHT,
                   "teacher_arch": "resnet20", "student_arch": "lenet5"},
    }
    write_manifest(out / "study.json", {
        **result,
        "students": {f"{k:g}": v for k, v in result["students"].items()},
        "manifests": {**result["manifests"],
                      "students": {f"{k:g}": v for k, v in result["manifests"]["students"].items()}},
        "accuracy": {**result["accuracy"],
                     "students": {f"{k:g}": v for k, v in result["accuracy"]["students"].items()}},
    })
    log(f"study trained in {timings['total']:.1f}s: teacher {result['accuracy']['teacher']}, "
        f"baseline {result['accuracy']['baseline']}")
    return result


def _main() -> None:  # pragma: no cover - manual timing helper
    import argparse

    p = argparse.ArgumentParser()
    p.add_argument("--out", default="study-out")
    p.add_argument("--small", action="store_true")
    a = p.parse_args()
    print(json.dumps(run_study(a.out, small=a.small), indent=2, default=str))


if __name__ == "__main__":  # pragma: no cover
    _main()
