"""Argument definitions and runners for ``kdaudit train`` and ``kdaudit data``.

``kdaudit/cli.py`` owns argv and exit-code mapping; it calls
:func:`add_train_arguments` / :func:`run_train` and :func:`add_data_arguments` /
:func:`run_data`. The runners return 0 on success and raise
:mod:`kdaudit.errors` exceptions for bad input; they print a short summary to
stdout unless ``--quiet``.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from kdaudit.errors import UsageError
from kdaudit.train.options import logit_cache as _logit_cache
from kdaudit.train.options import parse_list

__all__ = ["add_data_arguments", "add_train_arguments", "parse_list", "run_data", "run_train"]

DEFAULT_ARCH = {"teacher": "resnet20", "baseline": "lenet5", "student": "lenet5"}
DEFAULT_ARCH_TABULAR = {"teacher": "mlp-large", "baseline": "mlp", "student": "mlp"}


def _has(parser: argparse.ArgumentParser, flag: str) -> bool:
    return flag in parser._option_string_actions


def _add_quiet(parser: argparse.ArgumentParser) -> None:
    if not _has(parser, "--quiet"):
        parser.add_argument("--quiet", "-q", action="store_true", help="print nothing on success")


def add_train_arguments(parser: argparse.ArgumentParser) -> None:
    """Add the ``kdaudit train`` options to ``parser``."""
    parser.add_argument(
        "--role",
        required=True,
        choices=["teacher", "baseline", "student"],
        help="teacher; baseline (student architecture, hard labels only); student (KD)",
    )
    parser.add_argument(
        "--data",
        default="trifeature",
        help="training data: 'trifeature' (generated) or a data spec/path "
        "(.npz with x, y; adult:PATH ...). Default: trifeature",
    )
    parser.add_argument(
        "--eval-data",
        default=None,
        help="evaluation data for reported accuracy (default for trifeature: its test split)",
    )
    parser.add_argument(
        "--n-train", type=int, default=8000, help="trifeature training images (8000)"
    )
    parser.add_argument("--n-eval", type=int, default=2000, help="trifeature test images (2000)")
    parser.add_argument(
        "--correlation",
        type=float,
        default=0.0,
        help="trifeature colour-shape correlation planted in the training split (0)",
    )
    parser.add_argument("--data-seed", type=int, default=0, help="trifeature generator seed (0)")
    parser.add_argument("--image-size", type=int, default=32, choices=[32, 64])
    parser.add_argument(
        "--arch",
        default=None,
        help="zoo architecture (default: resnet20 teacher, lenet5 baseline/student; "
        "mlp-large/mlp for tabular data)",
    )
    parser.add_argument(
        "--teacher",
        default=None,
        help="teacher model: a kdaudit manifest/.safetensors/.onnx from 'kdaudit train'",
    )
    parser.add_argument(
        "--teacher-arch", default=None, help="architecture of a bare .safetensors teacher"
    )
    parser.add_argument("--temperature", default="4", help="T, or a comma list for a sweep (4)")
    parser.add_argument(
        "--soft-weight",
        type=float,
        default=0.9,
        help="w, weight on the T^2-scaled KL term; 1-w on cross-entropy (0.9)",
    )
    parser.add_argument("--seeds", default="0", help="comma list of seeds (0)")
    parser.add_argument(
        "--iterations",
        type=int,
        default=1,
        help="iterative KD generations G: each student teaches the next (1)",
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
    parser.add_argument("--epochs", type=int, default=10)
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--lr", type=float, default=0.05)
    parser.add_argument("--optimizer", default="sgd", choices=["sgd", "adam"])
    parser.add_argument("--weight-decay", type=float, default=5e-4)
    parser.add_argument(
        "--grad-clip",
        type=float,
        default=None,
        help="clip the gradient norm to this value (helps KD at high T)",
    )
    parser.add_argument("--out", default="kdaudit-models", help="output folder (kdaudit-models)")
    parser.add_argument(
        "--text-column",
        default=None,
        help="text data: the column of texts; trains tiny BERT/DistilBERT models "
        "(also implied by --data hatexplain:PATH or textsynth)",
    )
    if not _has(parser, "--label"):
        parser.add_argument("--label", default=None, help="label column of a text table")
    if not _has(parser, "--max-length"):
        parser.add_argument(
            "--max-length", type=int, default=None, help="text: longest token sequence"
        )
    if not _has(parser, "--device"):
        parser.add_argument("--device", default="auto", help="auto|cpu|cuda (auto)")
    if not _has(parser, "--cache-dir"):
        parser.add_argument(
            "--cache-dir",
            default=None,
            help="logit cache for teacher outputs (default: $KDAUDIT_CACHE_DIR, else "
            "the user cache dir: $XDG_CACHE_HOME/kdaudit, ~/.cache/kdaudit)",
        )
    if not _has(parser, "--no-cache"):
        parser.add_argument(
            "--no-cache",
            action="store_true",
            help="compute teacher logits in memory, once per run, without the cache",
        )
    _add_quiet(parser)


def run_train(args: argparse.Namespace) -> int:
    """Run ``kdaudit train``; returns the exit code (0)."""
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

        return run_text_train(args)
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
        if not quiet:
            print(line, file=sys.stderr if line.startswith("  ") else sys.stdout, flush=True)

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
    if not quiet:
        print(f"wrote {len(manifests)} model(s) to {out}/ (NAME.onnx, NAME.safetensors, NAME.json)")
    return 0


def add_data_arguments(parser: argparse.ArgumentParser) -> None:
    """Add the ``kdaudit data`` options to ``parser``."""
    parser.add_argument("name", choices=["trifeature"], help="built-in generator")
    parser.add_argument("--out", required=True, help="output .npz path")
    parser.add_argument("--n", type=int, default=2000, help="number of images (2000)")
    parser.add_argument("--split", default="test", choices=["train", "test"])
    parser.add_argument("--image-size", type=int, default=32, choices=[32, 64])
    parser.add_argument(
        "--correlation", type=float, default=0.0, help="colour-shape correlation (planted bias; 0)"
    )
    parser.add_argument("--seed", type=int, default=0)
    _add_quiet(parser)


def run_data(args: argparse.Namespace) -> int:
    """Run ``kdaudit data trifeature``; returns the exit code (0)."""
    from kdaudit.data.trifeature import PREPROCESS, make_trifeature, save_trifeature_npz

    arrays = make_trifeature(
        args.n,
        split=args.split,
        color_shape_correlation=args.correlation,
        seed=args.seed,
        image_size=args.image_size,
    )
    path = save_trifeature_npz(args.out, arrays)
    if not getattr(args, "quiet", False):
        print(
            f"wrote {path} ({args.n} {args.image_size}x{args.image_size} images, split {args.split}); "
            f"model preprocess: {json.dumps(PREPROCESS)}"
        )
    return 0
