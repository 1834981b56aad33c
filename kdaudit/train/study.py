"""The P1 temperature study on Trifeature, trained end to end on a laptop CPU.

:func:`run_study` trains a ResNet-20 teacher (once), LeNet-5 baselines (hard labels
only) and LeNet-5 students at several temperatures, each baseline and temperature with
several seeds so that class shift can use the multi-run Welch test and every sweep point
has a run-to-run spread. It exports each model as ONNX + safetensors + manifest, writes
the Trifeature test split as an npz, and returns the paths; auditing them is
:mod:`kdaudit.api`'s job.

The training split carries a planted colour-shape correlation
(:data:`CORRELATION`): colour is a shortcut for shape there but not in the
test split, so models that lean on colour show per-colour accuracy gaps.
Sizes are chosen so the full study trains in a few minutes on 2 CPU cores
and ``small=True`` in seconds (for tests).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from kdaudit.errors import UsageError

__all__ = [
    "CORRELATION",
    "GRAD_CLIP",
    "SOFT_WEIGHT",
    "STUDENT_LR",
    "STUDY_SIZES",
    "run_study",
]

CORRELATION = 0.3
SOFT_WEIGHT = 0.9
STUDENT_LR = 0.05
GRAD_CLIP = 2.0

#: sizes, epochs and seeds of the full and the small study. Three seeds per baseline and
#: student make the multi-run Welch test (docs/methods.md, "Class-wise shift") and per-temperature error bars
#: possible; epochs are cut so the whole study still trains in a few minutes on 2 CPU cores.
STUDY_SIZES: dict[str, dict[str, int | float]] = {
    "full": {
        "n_train": 6000,
        "n_eval": 2000,
        "teacher_epochs": 3,
        "student_epochs": 8,
        "batch_size": 64,
        "n_seeds": 3,
    },
    "small": {
        "n_train": 600,
        "n_eval": 300,
        "teacher_epochs": 1,
        "student_epochs": 2,
        "batch_size": 64,
        "n_seeds": 2,
    },
}


def run_study(
    out_dir: str | Path,
    *,
    small: bool = False,
    quiet: bool = False,
    seed: int = 0,
    temperatures: Sequence[float] = (1, 2, 4, 8),
    device: str = "auto",
    n_seeds: int | None = None,
    progress: bool = False,
    say: Callable[[str], None] | None = None,
) -> dict[str, Any]:
    """Train and export the teacher, the baselines and the students (one per temperature and seed).

    Parameters
    ----------
    out_dir : str or Path
        Folder for the models (``models/``) and the test data (``trifeature_test.npz``).
    small : bool
        Tiny sizes for tests (seconds instead of minutes).
    quiet : bool
        Report nothing. Otherwise one line per trained model through ``say``, and with
        ``progress`` a bar per model showing the epoch.
    seed : int
        Seed of the data generator, of the teacher and of the first run of every
        other model; run ``r`` uses ``seed + r``.
    temperatures : sequence of float
        Student temperatures.
    device : str
        ``auto``, ``cpu`` or ``cuda``.
    n_seeds : int, optional
        Runs per baseline and per temperature (default: 3, or 2 with ``small``).
        The teacher is trained once.
    progress : bool
        Show a progress bar per model (only on a terminal).
    say : callable, optional
        Receives each progress line (the CLI prints them on stderr); None: no lines.

    Returns
    -------
    dict
        ``data`` (npz path), ``teacher`` and ``baseline`` (ONNX paths of the first run),
        ``students`` ({T: ONNX path of the first run}), ``runs`` ({"teacher",
        "baseline": [paths], "students": {T: [paths]}}), ``preprocess`` (the spec for all
        models), ``manifests`` ({"teacher", "baseline": path, "students": {T: path}}, first
        runs), ``accuracy`` (eval accuracy per model, first run), ``run_accuracy`` (every
        run), ``timings`` (seconds), ``config`` (sizes, seeds, correlation, soft weight).
    """
    from kdaudit.data.trifeature import PREPROCESS, make_trifeature, save_trifeature_npz
    from kdaudit.train.export import write_manifest
    from kdaudit.train.trainer import Recipe, TeacherModel, run_training, trifeature_data

    temps = [float(t) for t in temperatures]
    if not temps or any(not t > 0 for t in temps):
        raise UsageError(f"Expected positive temperatures; got {list(temperatures)!r}.")
    sizes = STUDY_SIZES["small" if small else "full"]
    runs = int(sizes["n_seeds"]) if n_seeds is None else int(n_seeds)
    if runs < 1:
        raise UsageError(f"Expected at least one seed per model; got {runs}.")
    seeds = tuple(seed + r for r in range(runs))
    out = Path(out_dir)
    models_dir = out / "models"
    models_dir.mkdir(parents=True, exist_ok=True)
    n_models = 1 + runs * (1 + len(temps))
    done = [0]

    def log(line: str) -> None:
        # run_training logs one indented line per epoch (the bar shows those) and one per model
        if quiet or say is None or line.startswith("  "):
            return
        if ": accuracy " in line:
            done[0] += 1
            line = f"[{done[0]}/{n_models}] {line}"
        say(f"study: {line}")

    timings: dict[str, float] = {}
    t0 = time.perf_counter()
    n_train, n_eval = int(sizes["n_train"]), int(sizes["n_eval"])
    data = trifeature_data(
        n_train=n_train, n_eval=n_eval, color_shape_correlation=CORRELATION, seed=seed
    )
    test = make_trifeature(n_eval, split="test", seed=seed)
    npz = save_trifeature_npz(out / "trifeature_test.npz", test)
    timings["data"] = time.perf_counter() - t0

    bs = int(sizes["batch_size"])
    teacher_recipe = Recipe(
        arch="resnet20", epochs=int(sizes["teacher_epochs"]), batch_size=bs, lr=0.05
    )
    student_recipe = Recipe(
        arch="lenet5",
        epochs=int(sizes["student_epochs"]),
        batch_size=bs,
        lr=STUDENT_LR,
        grad_clip=GRAD_CLIP,
    )
    common: dict[str, Any] = {
        "out_dir": models_dir,
        "device": device,
        "log": log,
        "progress": progress and not quiet,
    }

    log(
        f"training {n_models} models: a ResNet-20 teacher ({teacher_recipe.epochs} epochs), "
        f"{runs} LeNet-5 baselines and {runs} LeNet-5 students at each T = "
        + ", ".join(f"{t:g}" for t in temps)
        + f" ({student_recipe.epochs} epochs each)"
    )
    t = time.perf_counter()
    (teacher_man,) = run_training(data, teacher_recipe, role="teacher", seeds=(seed,), **common)
    timings["teacher"] = time.perf_counter() - t

    t = time.perf_counter()
    baseline_mans = run_training(data, student_recipe, role="baseline", seeds=seeds, **common)
    timings["baseline"] = time.perf_counter() - t

    from kdaudit.train.trainer import load_teacher

    teacher: TeacherModel = load_teacher(models_dir / f"{teacher_man['name']}.json")
    t = time.perf_counter()
    student_mans = run_training(
        data,
        student_recipe,
        role="student",
        temperatures=temps,
        soft_weight=SOFT_WEIGHT,
        teacher=teacher,
        seeds=seeds,
        **common,
    )
    timings["students"] = time.perf_counter() - t
    timings["total"] = time.perf_counter() - t0

    def onnx(man: dict[str, Any]) -> str:
        return str(models_dir / man["files"]["onnx"]["path"])

    def mpath(man: dict[str, Any]) -> str:
        return str(models_dir / f"{man['name']}.json")

    def acc(man: dict[str, Any]) -> Any:
        return man["metrics"].get("eval_accuracy")

    by_t: dict[float, list[dict[str, Any]]] = {t: [] for t in temps}
    for m in student_mans:  # run_training returns seed-major order
        by_t[float(m["temperature"])].append(m)
    result: dict[str, Any] = {
        "data": str(npz),
        "teacher": onnx(teacher_man),
        "baseline": onnx(baseline_mans[0]),
        "students": {t: onnx(ms[0]) for t, ms in by_t.items()},
        "runs": {
            "teacher": [onnx(teacher_man)],
            "baseline": [onnx(m) for m in baseline_mans],
            "students": {t: [onnx(m) for m in ms] for t, ms in by_t.items()},
        },
        "preprocess": dict(PREPROCESS),
        "manifests": {
            "teacher": mpath(teacher_man),
            "baseline": mpath(baseline_mans[0]),
            "students": {t: mpath(ms[0]) for t, ms in by_t.items()},
        },
        "accuracy": {
            "teacher": acc(teacher_man),
            "baseline": acc(baseline_mans[0]),
            "students": {t: acc(ms[0]) for t, ms in by_t.items()},
        },
        "run_accuracy": {
            "teacher": [acc(teacher_man)],
            "baseline": [acc(m) for m in baseline_mans],
            "students": {t: [acc(m) for m in ms] for t, ms in by_t.items()},
        },
        "timings": timings,
        "config": {
            **sizes,
            "small": small,
            "seed": seed,
            "seeds": list(seeds),
            "temperatures": temps,
            "teacher_recipe": teacher_recipe.to_dict(),
            "student_recipe": student_recipe.to_dict(),
            "color_shape_correlation": CORRELATION,
            "soft_weight": SOFT_WEIGHT,
            "teacher_arch": "resnet20",
            "student_arch": "lenet5",
        },
    }

    def by_name(d: dict[float, Any]) -> dict[str, Any]:
        return {f"{k:g}": v for k, v in d.items()}

    write_manifest(
        out / "study.json",
        {
            **result,
            "students": by_name(result["students"]),
            "runs": {**result["runs"], "students": by_name(result["runs"]["students"])},
            "manifests": {
                **result["manifests"],
                "students": by_name(result["manifests"]["students"]),
            },
            "accuracy": {**result["accuracy"], "students": by_name(result["accuracy"]["students"])},
            "run_accuracy": {
                **result["run_accuracy"],
                "students": by_name(result["run_accuracy"]["students"]),
            },
        },
    )
    log(f"trained in {timings['total']:.0f} s")
    return result
