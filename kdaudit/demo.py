"""``kdaudit demo``: the main job on built-in data, offline.

* default: the Trifeature study (METHODS.md 6): a ResNet-20 teacher, a LeNet-5
  baseline and LeNet-5 students at several temperatures, audited together with
  a temperature-sweep view.
* ``--tabular``: a generated tabular task with a planted group bias, a large
  MLP teacher, a small MLP baseline and a small MLP student (T = 4).

Both train with :mod:`kdaudit.train`, export ONNX, and audit the files through
:func:`kdaudit.api.compare` exactly as a user's models would be.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from kdaudit.api import AuditOptions, compare

STUDENT_TEMPERATURE = 4.0


def run_demo(out: Path, *, tabular: bool = False, small: bool = False, seed: int = 0,
             device: str = "auto", quiet: bool = False, progress: bool = False,
             text: bool = False) -> dict[str, Path]:
    """Train, audit and write the report into ``out``; return the written paths."""
    # models go to out/models/, the evaluation data beside the report (neither is committed)
    if text:
        from kdaudit.demo_text import run_text_demo

        return run_text_demo(out, small=small, seed=seed, device=device, quiet=quiet, progress=progress)
    runner = _tabular if tabular else _study
    return runner(out, out, small=small, seed=seed, device=device, quiet=quiet, progress=progress)


def _log(quiet: bool) -> Any:
    import sys

    return (lambda _msg: None) if quiet else (lambda msg: print(msg, file=sys.stderr))


def _tabular(out: Path, work: Path, *, small: bool, seed: int, device: str, quiet: bool,
             progress: bool) -> dict[str, Path]:
    from kdaudit.data.tabular import make_tabular
    from kdaudit.train.export import export_model
    from kdaudit.train.trainer import Recipe, TeacherModel, TrainData, train_model

    log = _log(quiet)
    n_train, n_eval = (2000, 1500) if small else (12000, 6000)
    train = make_tabular(n_train, seed=seed)
    test = make_tabular(n_eval, seed=seed + 1)
    models = work / "models"
    models.mkdir(parents=True, exist_ok=True)
    data_path = work / "tabular_eval.npz"
    np.savez(data_path, **test)  # type: ignore[arg-type]
    data = TrainData(x=train["x"], y=train["y"], eval_x=test["x"], eval_y=test["y"],
                     spec=f"tabular:{n_train}:seed{seed}", n_classes=2)
    epochs = 4 if small else 20
    big = Recipe(arch="mlp-large", epochs=epochs, batch_size=128, lr=1e-3, optimizer="adam")
    tiny = Recipe(arch="mlp-small", epochs=epochs, batch_size=128, lr=3e-3, optimizer="adam")
    log("demo: training the teacher (MLP 256-128-64)")
    teacher = train_model(data, big, role="teacher", seed=seed, device=device, progress=progress)
    log("demo: training the baseline (MLP 8, hard labels)")
    baseline = train_model(data, tiny, role="baseline", seed=seed, device=device, progress=progress)
    log(f"demo: distilling the student (MLP 8, T={STUDENT_TEMPERATURE:g}, soft weight 0.9)")
    student = train_model(data, tiny, role="student", seed=seed, device=device, progress=progress,
                          teacher=TeacherModel(module=teacher.module), temperature=STUDENT_TEMPERATURE,
                          soft_weight=0.9)
    paths = {}
    for trained in (teacher, baseline, student):
        export_model(trained.module.cpu(), models, trained.role, check_input=test["x"][:64],
                     manifest=trained.manifest(data))
        paths[trained.role] = models / f"{trained.role}.onnx"
    log("demo: auditing")
    report = compare(
        paths["teacher"], paths["student"], baseline=paths["baseline"], data=data_path,
        sensitive=["group", "age_band"], options=_options(seed, small, device, progress),
        policy="default", command_line=["kdaudit", "demo", "--tabular"] + (["--small"] if small else []),
    )
    return report.write(out)


def _options(seed: int, small: bool, device: str, progress: bool) -> AuditOptions:
    # no logit cache: the demo's models are fresh each run, and the report stays free of temp paths
    return AuditOptions(seed=seed, bootstrap=200 if small else 1000, use_cache=False,
                        device=device, progress=progress)


def _study(out: Path, work: Path, *, small: bool, seed: int, device: str, quiet: bool,
           progress: bool) -> dict[str, Path]:
    from kdaudit.train.study import run_study

    study = run_study(work, small=small, quiet=quiet, seed=seed, device=device)
    temps = sorted(study["students"])
    main_t = STUDENT_TEMPERATURE if STUDENT_TEMPERATURE in temps else temps[len(temps) // 2]
    # no preprocessing or temperature given here: each model's training manifest supplies them,
    # exactly as for a user who audits models written by `kdaudit train`
    _log(quiet)("demo: auditing teacher, baseline and students at T = "
                + ", ".join(f"{t:g}" for t in temps))
    report = compare(
        study["teacher"], study["students"][main_t], baseline=study["baseline"], data=study["data"],
        sensitive=["color", "texture"],
        sweep=[(t, study["students"][t]) for t in temps],
        options=_options(seed, small, device, progress),
        policy="default", command_line=["kdaudit", "demo"] + (["--small"] if small else []),
    )
    return report.write(out)
