"""Argument definitions and runners for ``kdaudit train`` and ``kdaudit data``.

``kdaudit/cli.py`` owns argv and exit-code mapping; it calls
:func:`add_train_arguments` / :func:`run_train` and :func:`add_data_arguments` /
:func:`run_data`. The runners return 0 on success and raise
:mod:`kdaudit.errors` exceptions for bad input. They print nothing: the summary line
goes to a ``say`` callback and progress lines to ``note`` (the CLI prints them on stdout
and stderr, and passes neither with ``--quiet``). ``-q``/``-v`` come from the CLI's
global options.
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Callable
from pathlib import Path

from kdaudit.errors import UsageError
from kdaudit.train.options import logit_cache as _logit_cache
from kdaudit.train.options import parse_list
from kdaudit.vocab import DEVICES, ROLES

__all__ = ["add_data_arguments", "add_train_arguments", "parse_list", "run_data", "run_train"]

DEFAULT_ARCH = {"teacher": "resnet20", "baseline": "lenet5", "student": "lenet5"}
DEFAULT_ARCH_TABULAR = {"teacher": "mlp-large", "baseline": "mlp", "student": "mlp"}


def add_train_arguments(parser: argparse.ArgumentParser) -> None:
    """Add the ``kdaudit train`` options to ``parser``."""
    parser.add_argument(
        "--role",
        required=True,
        choices=ROLES,
        help="teacher; baseline (student architecture, hard labels only); student (KD)",
    )
    parser.add_argument(
        "--data",
        default="trifeature",
        help="training data: 'trifeature' (generated) or a data spec/path "
        "(.npz with x, y; adult:PATH; hatexplain:PATH; textsynth ...)",
    )
    parser.add_argument(
        "--eval-data",
        default=None,
        metavar="DATA",
        help="evaluation data for reported accuracy (default for trifeature: its test split)",
    )
    parser.add_argument(
        "--n-train", type=int, default=8000, metavar="N", help="trifeature training images"
    )
    parser.add_argument(
        "--n-eval", type=int, default=2000, metavar="N", help="trifeature test images"
    )
    parser.add_argument(
        "--correlation",
        type=float,
        default=0.0,
        help="trifeature colour-shape correlation planted in the training split",
    )
    parser.add_argument(
        "--data-seed", type=int, default=0, metavar="N", help="trifeature generator seed"
    )
    parser.add_argument(
        "--image-size", type=int, default=32, choices=[32, 64], help="trifeature image side, pixels"
    )
    parser.add_argument(
        "--arch",
        default=None,
        help="zoo architecture (default: resnet20 teacher, lenet5 baseline/student; "
        "mlp-large/mlp for tabular data)",
    )
    parser.add_argument(
        "--teacher",
        default=None,
        metavar="PATH",
        help="teacher model: a kdaudit manifest/.safetensors/.onnx from 'kdaudit train'",
    )
    parser.add_argument(
        "--teacher-arch", default=None, help="architecture of a bare .safetensors teacher"
    )
    parser.add_argument(
        "--temperature", default="4", metavar="T[,T...]", help="T, or a comma list for a sweep"
    )
    parser.add_argument(
        "--soft-weight",
        type=float,
        default=0.9,
        metavar="W",
        help="w, weight on the T^2-scaled KL term; 1-w on cross-entropy",
    )
    parser.add_argument("--seeds", default="0", metavar="N[,N...]", help="comma list of seeds")
    parser.add_argument(
        "--iterations",
        type=int,
        default=1,
        metavar="G",
        help="iterative KD generations G: each student teaches the next",
    )
    parser.add_argument(
        "--init-from-teacher",
        action="store_true",
        help="copy teacher tensors whose names and shapes match before training",
    )
    parser.add_argument(
        "--augment",
        action="store_true",
        help="random crop and horizontal flip (the teacher then runs online)",
    )
    parser.add_argument("--epochs", type=int, default=10, metavar="N", help="passes over the data")
    parser.add_argument(
        "--batch-size", type=int, default=64, metavar="N", help="training batch size"
    )
    parser.add_argument("--lr", type=float, default=0.05, help="learning rate")
    parser.add_argument("--optimizer", default="sgd", choices=["sgd", "adam"], help="optimizer")
    parser.add_argument(
        "--weight-decay", type=float, default=5e-4, help="L2 weight decay of the optimizer"
    )
    parser.add_argument(
        "--grad-clip",
        type=float,
        default=None,
        metavar="NORM",
        help="clip the gradient norm to this value (helps KD at high T)",
    )
    parser.add_argument(
        "--out",
        default="kdaudit-models",
        metavar="DIR",
        help="output folder (NAME.onnx, NAME.safetensors, NAME.json per model)",
    )
    parser.add_argument(
        "--text-column",
        default=None,
        metavar="COL",
        help="text data: the column of texts; trains tiny BERT/DistilBERT models "
        "(also implied by --data hatexplain:PATH or textsynth)",
    )
    parser.add_argument("--label", default=None, metavar="COL", help="label column of a text table")
    parser.add_argument(
        "--max-length", type=int, default=None, metavar="N", help="text: longest token sequence"
    )
    parser.add_argument(
        "--device",
        type=str.lower,
        choices=DEVICES,
        default="auto",
        help="where training runs; auto takes CUDA when a device is visible, else the CPU",
    )
    parser.add_argument(
        "--cache-dir",
        default=None,
        metavar="DIR",
        help="logit cache for teacher outputs (default: $KDAUDIT_CACHE_DIR, else "
        "the user cache dir: $XDG_CACHE_HOME/kdaudit, ~/.cache/kdaudit)",
    )
    parser.add_argument(
        "--no-cache",
        action="store_true",
        help="compute teacher logits in memory, once per run, without the cache",
    )


def run_train(
    args: argparse.Namespace,
    *,
    say: Callable[[str], None] | None = None,
    note: Callable[[str], None] | None = None,
) -> int:
    """Run ``kdaudit train``; returns the exit code (0).

    ``say`` receives the summary lines (one per trained model and the closing line) and
    ``note`` the per-epoch progress lines; None drops them.
    """
    from kdaudit._optional import require

    for module in ("torch", "onnx", "onnxruntime", "onnxscript"):  # trains, exports and checks ONNX
        require(module, purpose="kdaudit train", extra="train")
    from kdaudit.train.trainer import (
        Recipe,
        dataset_data,
        load_teacher,
        run_training,
        trifeature_data,
    )

    if getattr(args, "text_column", None) or str(args.data).split(":", 1)[0] in (
        "hatexplain",
        "textsynth",
    ):
        from kdaudit.train.text import run_text_train

        return run_text_train(args, say=say, note=note)
    quiet = bool(getattr(args, "quiet", False))
    role = args.role
    seeds = parse_list(args.seeds, int, "--seeds")
    temps = parse_list(args.temperature, float, "--temperature")
    if args.data == "trifeature":
        if args.n_train < 2 or args.n_eval < 0:
            raise UsageError("Expected --n-train >= 2 and --n-eval >= 0.")
        data = trifeature_data(
            n_train=args.n_train,
            n_eval=args.n_eval,
            color_shape_correlation=args.correlation,
            seed=args.data_seed,
            image_size=args.image_size,
        )
    else:
        data = dataset_data(args.data, eval_spec=args.eval_data)
    is_image = len(data.input_shape) == 3
    arch = args.arch or (DEFAULT_ARCH if is_image else DEFAULT_ARCH_TABULAR)[role]
    recipe = Recipe(
        arch=arch,
        epochs=args.epochs,
        batch_size=args.batch_size,
        lr=args.lr,
        optimizer=args.optimizer,
        weight_decay=args.weight_decay,
        augment=bool(args.augment),
        grad_clip=args.grad_clip,
    )
    teacher = None
    if args.teacher:
        teacher = load_teacher(args.teacher, arch=args.teacher_arch, data=data)
    elif role == "student" and args.soft_weight > 0:
        raise UsageError(
            "--role student needs --teacher PATH.",
            tip="Train one first: kdaudit train --role teacher --out DIR.",
        )
    elif args.init_from_teacher:
        raise UsageError("--init-from-teacher needs --teacher PATH.")

    def log(line: str) -> None:
        # run_training indents its per-epoch lines: progress (stderr); the rest are results
        out = note if line.startswith("  ") else say
        if out is not None:
            out(line)

    manifests = run_training(
        data,
        recipe,
        role=role,
        out_dir=args.out,
        seeds=seeds,
        temperatures=temps,
        soft_weight=args.soft_weight,
        teacher=teacher,
        iterations=args.iterations,
        init_from_teacher=bool(args.init_from_teacher),
        device=args.device,
        cache=_logit_cache(args) if role == "student" else None,
        progress=not quiet,
        log=log,
    )
    out = Path(args.out)
    summary = {
        "role": role,
        "models": [m["name"] for m in manifests],
        "data": data.describe(),
        "recipe": recipe.to_dict(),
    }
    (out / f"train_summary_{role}.json").write_text(
        json.dumps(summary, indent=2, default=str) + "\n"
    )
    if say is not None:
        say(f"wrote {len(manifests)} model(s) to {out}/ (NAME.onnx, NAME.safetensors, NAME.json)")
    return 0


def add_data_arguments(parser: argparse.ArgumentParser) -> None:
    """Add the ``kdaudit data`` options to ``parser``."""
    parser.add_argument("name", choices=["trifeature"], help="built-in generator")
    parser.add_argument("--out", required=True, metavar="FILE.npz", help="output .npz path")
    parser.add_argument("--n", type=int, default=2000, help="number of images")
    parser.add_argument(
        "--split",
        default="test",
        choices=["train", "test"],
        help="train: with the planted correlation; test: without",
    )
    parser.add_argument(
        "--image-size", type=int, default=32, choices=[32, 64], help="image side, pixels"
    )
    parser.add_argument(
        "--correlation", type=float, default=0.0, help="colour-shape correlation (planted bias)"
    )
    parser.add_argument("--seed", type=int, default=0, help="generator seed")


def run_data(args: argparse.Namespace, *, say: Callable[[str], None] | None = None) -> int:
    """Run ``kdaudit data trifeature``; returns the exit code (0); ``say`` gets the summary."""
    from kdaudit.data.trifeature import PREPROCESS, make_trifeature, save_trifeature_npz

    arrays = make_trifeature(
        args.n,
        split=args.split,
        color_shape_correlation=args.correlation,
        seed=args.seed,
        image_size=args.image_size,
    )
    path = save_trifeature_npz(args.out, arrays)
    if say is not None:
        say(
            f"wrote {path} ({args.n} {args.image_size}x{args.image_size} images, split {args.split}); "
            f"model preprocess: {json.dumps(PREPROCESS)}"
        )
    return 0
