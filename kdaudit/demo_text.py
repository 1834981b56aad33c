"""``kdaudit demo --text``: distil a tiny BERT into tiny DistilBERTs on a generated text task.

The task (:mod:`kdaudit.data.text_synth`) plants an identity shortcut in the training
split (neutral posts about muslims and gays mostly labelled toxic); the evaluation split
has none. A BERT-style teacher, a DistilBERT-style baseline (hard labels) and students
at several temperatures are trained from scratch (:func:`kdaudit.train.text.train_text_study`),
written as Hugging Face folders with ONNX beside them, and audited through
:func:`kdaudit.api.compare` as a user's models would be: group fairness over the
targeted communities, individual fairness in the teacher's pooled hidden state (cosine),
and counterfactual fairness with the built-in identity-term swaps.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from kdaudit.api import compare
from kdaudit.auditing.options import AuditOptions
from kdaudit.models.base import ModelSpec

__all__ = [
    "MAIN_T",
    "TEMPERATURES",
    "run_text_demo",
]

TEMPERATURES = (1.0, 4.0, 8.0)
MAIN_T = 4.0


def run_text_demo(
    out: Path,
    *,
    small: bool = False,
    seed: int = 0,
    device: str = "auto",
    quiet: bool = False,
    progress: bool = False,
    say: Callable[[str], None] | None = None,
) -> dict[str, Path]:
    """Train, audit and write the report into ``out``; return the written paths.

    ``say`` receives the stage lines (the CLI prints them on stderr); none with ``quiet``.
    """
    from kdaudit.data.text_synth import CLASS_NAMES, make_text_task, text_task_dataset
    from kdaudit.train.text import STUDENT_RECIPE, TEACHER_RECIPE, train_text_study

    log: Callable[[str], None] = (lambda _m: None) if quiet or say is None else say
    n_train, n_eval = (1500, 600) if small else (2500, 1200)
    epochs = 2 if small else 3
    temps = (1.0, 4.0) if small else TEMPERATURES
    train = make_text_task(n_train, split="train", seed=seed)
    import dataclasses

    paths = train_text_study(
        train["texts"],
        train["y"],
        out / "models",
        n_classes=2,
        labels=CLASS_NAMES,
        temperatures=temps,
        seed=seed,
        teacher=dataclasses.replace(TEACHER_RECIPE, epochs=epochs),
        student=dataclasses.replace(STUDENT_RECIPE, epochs=epochs),
        vocab_size=400,
        log=None if quiet else log,
    )
    data = text_task_dataset(n_eval, split="eval", seed=seed, min_group_size=30)
    log(
        "demo: auditing teacher, baseline and students at T = " + ", ".join(f"{t:g}" for t in temps)
    )
    options = AuditOptions(
        seed=seed,
        bootstrap=200 if small else 1000,
        use_cache=False,
        device=device,
        progress=progress,
        embedding_model="teacher",
        counterfactual_terms="builtin",
        min_group_size=30,
    )
    students = {
        t: ModelSpec(path=str(p), role="student", temperature=t)
        for t, p in paths["students"].items()
    }
    main_t = MAIN_T if MAIN_T in students else sorted(students)[-1]
    report = compare(
        paths["teacher"],
        students[main_t],
        baseline=paths["baseline"],
        data=data,
        sweep=[(t, s) for t, s in sorted(students.items())],
        options=options,
        policy="default",
        command_line=["kdaudit", "demo", "--text"] + (["--small"] if small else []),
    )
    return report.write(out)
