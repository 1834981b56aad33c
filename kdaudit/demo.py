"""``kdaudit demo``: the main job on built-in data, offline.

* default: the Trifeature temperature study: a ResNet-20 teacher, LeNet-5
  baselines and LeNet-5 students at several temperatures, three seeds each
  (so class shift uses the multi-run Welch test and the sweep has error bars),
  audited together with a temperature-sweep view.
* ``--tabular``: a generated tabular task with a planted group bias, a large
  MLP teacher, small MLP baselines and small MLP students (T = 4), three seeds each.

Both train with :mod:`kdaudit.train`, export ONNX, and audit the files through
:func:`kdaudit.api.compare` exactly as a user's models would be.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from kdaudit._optional import require
from kdaudit.api import compare
from kdaudit.auditing.options import AuditOptions
from kdaudit.errors import UsageError

__all__ = ["STUDENT_TEMPERATURE", "run_demo"]

STUDENT_TEMPERATURE = 4.0
#: runs (seeds) per baseline and per student in the tabular demo (the teacher trains once)
TABULAR_SEEDS = 3


def run_demo(
    out: Path,
    *,
    tabular: bool = False,
    small: bool = False,
    seed: int = 0,
    device: str = "auto",
    quiet: bool = False,
    progress: bool = False,
    update_docs: Path | None = None,
    text: bool = False,
    say: Callable[[str], None] | None = None,
) -> dict[str, Path]:
    """Train, audit and write the report into ``out``; return the written paths.

    Parameters
    ----------
    out : Path
        Report folder; the trained models go to ``out/models`` and the evaluation data
        beside the report.
    tabular : bool
        The tabular demo instead of the Trifeature temperature study.
    small : bool
        Tiny sizes (seconds; for tests).
    seed : int
        First seed; run ``r`` of a model uses ``seed + r``.
    device : str
        ``auto``, ``cpu`` or ``cuda``.
    quiet : bool
        No stage lines.
    progress : bool
        Stage lines and per-model progress bars (the caller passes True only on a terminal).
    say : callable, optional
        Receives the stage lines (the CLI prints them on stderr); None: no lines.
    update_docs : Path, optional
        A Markdown file (docs/reproduction.md) whose generated block is rewritten from this
        run's report, so the text never disagrees with the report (Trifeature study only).
    text : bool
        The text demo (a tiny BERT distilled into DistilBERT students) instead.
    """
    for module in ("torch", "onnx", "onnxruntime", "onnxscript"):  # it trains and exports models
        require(module, purpose="kdaudit demo (it trains and exports its models)", extra="train")
    if text:
        from kdaudit.demo_text import run_text_demo

        return run_text_demo(
            out, small=small, seed=seed, device=device, quiet=quiet, progress=progress, say=say
        )
    if update_docs is not None and tabular:
        raise UsageError(
            "--update-docs rewrites the Trifeature study's numbers; run it without --tabular."
        )
    if update_docs is not None:
        from kdaudit.reproduction import check_doc

        check_doc(Path(update_docs))  # fail before minutes of training, not after
    runner = _tabular if tabular else _study
    paths = runner(
        out,
        out,
        small=small,
        seed=seed,
        device=device,
        quiet=quiet or not progress,
        progress=progress and not quiet,
        say=say,
    )
    if update_docs is not None:
        from kdaudit.report.writer import read_report
        from kdaudit.reproduction import update_doc

        update_doc(
            Path(update_docs),
            read_report(paths["json"], validate=False),
            study=_read_json(out / "study.json"),
        )
        paths["docs"] = Path(update_docs)
    return paths


def _read_json(path: Path) -> dict[str, Any] | None:
    import json

    return json.loads(path.read_text(encoding="utf-8")) if path.is_file() else None


def _log(quiet: bool, say: Callable[[str], None] | None) -> Callable[[str], None]:
    return (lambda _msg: None) if quiet or say is None else say


def _tabular(
    out: Path,
    work: Path,
    *,
    small: bool,
    seed: int,
    device: str,
    quiet: bool,
    progress: bool,
    say: Callable[[str], None] | None,
) -> dict[str, Path]:
    from kdaudit.data.tabular import make_tabular
    from kdaudit.train.export import export_model
    from kdaudit.train.trainer import Recipe, TeacherModel, TrainData, train_model

    log = _log(quiet, say)
    n_train, n_eval = (2000, 1500) if small else (12000, 6000)
    train = make_tabular(n_train, seed=seed)
    test = make_tabular(n_eval, seed=seed + 1)
    models = work / "models"
    models.mkdir(parents=True, exist_ok=True)
    data_path = work / "tabular_eval.npz"
    np.savez(data_path, **test)  # type: ignore[arg-type]
    data = TrainData(
        x=train["x"],
        y=train["y"],
        eval_x=test["x"],
        eval_y=test["y"],
        spec=f"tabular:{n_train}:seed{seed}",
        n_classes=2,
    )
    epochs = 4 if small else 20
    big = Recipe(arch="mlp-large", epochs=epochs, batch_size=128, lr=1e-3, optimizer="adam")
    tiny = Recipe(arch="mlp-small", epochs=epochs, batch_size=128, lr=3e-3, optimizer="adam")
    seeds = [seed + r for r in range(2 if small else TABULAR_SEEDS)]
    log("demo: [1/3] training the teacher (MLP 256-128-64)")
    teacher = train_model(data, big, role="teacher", seed=seed, device=device, progress=progress)
    trained_runs = [teacher]
    log(
        f"demo: [2/3] training {len(seeds)} baselines (MLP 8, hard labels, seeds "
        f"{', '.join(map(str, seeds))})"
    )
    trained_runs += [
        train_model(data, tiny, role="baseline", seed=s, device=device, progress=progress)
        for s in seeds
    ]
    log(
        f"demo: [3/3] distilling {len(seeds)} students (MLP 8, T={STUDENT_TEMPERATURE:g}, "
        "soft weight 0.9)"
    )
    trained_runs += [
        train_model(
            data,
            tiny,
            role="student",
            seed=s,
            device=device,
            progress=progress,
            teacher=TeacherModel(module=teacher.module),
            temperature=STUDENT_TEMPERATURE,
            soft_weight=0.9,
        )
        for s in seeds
    ]
    paths: dict[str, list[Path]] = {}
    for trained in trained_runs:
        name = trained.role if trained.role == "teacher" else f"{trained.role}_seed{trained.seed}"
        export_model(
            trained.module.cpu(),
            models,
            name,
            check_input=test["x"][:64],
            manifest=trained.manifest(data),
        )
        paths.setdefault(trained.role, []).append(models / f"{name}.onnx")
    log("demo: auditing")
    report = compare(
        paths["teacher"],
        paths["student"],
        baseline=paths["baseline"],
        data=data_path,
        sensitive=["group", "age_band"],
        options=_options(seed, small, device, progress),
        policy="default",
        command_line=["kdaudit", "demo", "--tabular"] + (["--small"] if small else []),
    )
    return report.write(out)


def _options(seed: int, small: bool, device: str, progress: bool) -> AuditOptions:
    # no logit cache: the demo's models are fresh each run, and the report stays free of temp paths
    return AuditOptions(
        seed=seed,
        bootstrap=200 if small else 1000,
        use_cache=False,
        device=device,
        progress=progress,
    )


def _study(
    out: Path,
    work: Path,
    *,
    small: bool,
    seed: int,
    device: str,
    quiet: bool,
    progress: bool,
    say: Callable[[str], None] | None,
) -> dict[str, Path]:
    from kdaudit.train.study import run_study

    # --small (tests): two temperatures keep the sweep and the multi-run tests at a few seconds
    temps_wanted = (1.0, STUDENT_TEMPERATURE) if small else (1.0, 2.0, 4.0, 8.0)
    study = run_study(
        work,
        small=small,
        quiet=quiet,
        seed=seed,
        device=device,
        progress=progress,
        temperatures=temps_wanted,
        say=say,
    )
    runs = study["runs"]
    temps = sorted(runs["students"])
    main_t = STUDENT_TEMPERATURE if STUDENT_TEMPERATURE in temps else temps[len(temps) // 2]
    # no preprocessing or temperature given here: each model's training manifest supplies them,
    # exactly as for a user who audits models written by `kdaudit train`
    n_models = (
        len(runs["teacher"]) + len(runs["baseline"]) + sum(map(len, runs["students"].values()))
    )
    _log(quiet, say)(
        f"demo: auditing {n_models} models (teacher, baselines, students at T = "
        + ", ".join(f"{t:g}" for t in temps)
        + ")"
    )
    report = compare(
        runs["teacher"],
        runs["students"][main_t],
        baseline=runs["baseline"],
        data=study["data"],
        sensitive=["color", "texture"],
        sweep=[(t, runs["students"][t]) for t in temps],
        options=_options(seed, small, device, progress),
        policy="default",
        command_line=["kdaudit", "demo"] + (["--small"] if small else []),
    )
    return report.write(out)
