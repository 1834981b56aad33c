"""Tiny text classifiers built from scratch: WordPiece tokenizers, BERT/DistilBERT configs, export.

Everything here works offline: the tokenizer is trained on the given texts with
``tokenizers``, and the models are ``transformers`` architectures built from a config
(random weights), never downloaded.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

__all__ = [
    "ARCHS",
    "SPECIAL_TOKENS",
    "STUDENT_RECIPE",
    "TEACHER_RECIPE",
    "TextRecipe",
    "build_model",
    "export_onnx",
    "export_text_model",
    "logits_of",
    "predict_logits",
    "run_text_train",
    "save_hf_directory",
    "text_training_data",
    "tiny_config",
    "train_text_model",
    "train_text_study",
    "train_wordpiece",
]

SPECIAL_TOKENS = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
ARCHS = ("bert", "distilbert")


def train_wordpiece(texts: Sequence[str], *, vocab_size: int = 400, lowercase: bool = True) -> Any:
    """A BERT-style WordPiece ``tokenizers.Tokenizer`` trained on ``texts`` ([CLS] x [SEP])."""
    from tokenizers import (
        Tokenizer,
        decoders,
        models,
        normalizers,
        pre_tokenizers,
        processors,
        trainers,
    )

    tok = Tokenizer(models.WordPiece(unk_token="[UNK]"))
    tok.normalizer = normalizers.BertNormalizer(lowercase=lowercase)
    tok.pre_tokenizer = pre_tokenizers.BertPreTokenizer()
    trainer = trainers.WordPieceTrainer(
        vocab_size=vocab_size, special_tokens=SPECIAL_TOKENS, show_progress=False
    )
    tok.train_from_iterator(list(texts), trainer=trainer)
    cls_id, sep_id = tok.token_to_id("[CLS]"), tok.token_to_id("[SEP]")
    tok.post_processor = processors.TemplateProcessing(
        single="[CLS] $A [SEP]",
        pair="[CLS] $A [SEP] $B:1 [SEP]:1",
        special_tokens=[("[CLS]", cls_id), ("[SEP]", sep_id)],
    )
    tok.decoder = decoders.WordPiece()
    return tok


def _transformers() -> Any:
    from kdaudit.models.text import _need

    return _need("transformers")


def tiny_config(
    arch: str,
    *,
    vocab_size: int,
    n_classes: int,
    hidden: int = 32,
    layers: int = 2,
    heads: int = 2,
    max_length: int = 64,
    labels: Sequence[str] | None = None,
) -> Any:
    """A small ``BertConfig`` or ``DistilBertConfig`` for sequence classification."""
    transformers = _transformers()

    id2label = {i: str(n) for i, n in enumerate(labels)} if labels is not None else None
    extra: dict[str, Any] = {"num_labels": n_classes}
    if id2label is not None:
        extra.update(id2label=id2label, label2id={v: k for k, v in id2label.items()})
    if arch == "bert":
        return transformers.BertConfig(
            vocab_size=vocab_size,
            hidden_size=hidden,
            num_hidden_layers=layers,
            num_attention_heads=heads,
            intermediate_size=hidden * 2,
            max_position_embeddings=max_length,
            type_vocab_size=2,
            hidden_dropout_prob=0.1,
            attention_probs_dropout_prob=0.1,
            **extra,
        )
    if arch == "distilbert":
        return transformers.DistilBertConfig(
            vocab_size=vocab_size,
            dim=hidden,
            n_layers=layers,
            n_heads=heads,
            hidden_dim=hidden * 2,
            max_position_embeddings=max_length,
            dropout=0.1,
            attention_dropout=0.1,
            seq_classif_dropout=0.1,
            **extra,
        )
    raise ValueError(f"unknown text architecture {arch!r}; expected one of {ARCHS}")


def build_model(config: Any, *, seed: int = 0) -> Any:
    """A randomly initialised sequence classifier for ``config`` (seeded)."""
    import torch

    transformers = _transformers()
    torch.manual_seed(seed)
    model = transformers.AutoModelForSequenceClassification.from_config(config)
    return model.eval()


def save_hf_directory(
    model: Any, tokenizer: Any, out: str | Path, *, max_length: int | None = None
) -> Path:
    """Write config.json, model.safetensors, tokenizer.json (+ tokenizer_config.json) to ``out``."""
    transformers = _transformers()

    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(out, safe_serialization=True)
    fast = transformers.PreTrainedTokenizerFast(
        tokenizer_object=tokenizer,
        unk_token="[UNK]",
        pad_token="[PAD]",
        cls_token="[CLS]",
        sep_token="[SEP]",
        mask_token="[MASK]",
        model_max_length=max_length or int(model.config.max_position_embeddings),
    )
    fast.save_pretrained(out)
    return out


def export_onnx(
    model: Any,
    out: str | Path,
    *,
    with_token_type_ids: bool | None = None,
    external_data: bool = False,
) -> Path:
    """Export a sequence classifier to ONNX with dynamic batch and sequence axes.

    Inputs ``input_ids``, ``attention_mask`` (and ``token_type_ids`` for BERT-style models);
    output ``logits``. ``external_data`` keeps the weights in a side file beside the graph.
    """
    import torch

    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    if with_token_type_ids is None:
        with_token_type_ids = getattr(model.config, "model_type", "") == "bert"
    names = ["input_ids", "attention_mask"] + (["token_type_ids"] if with_token_type_ids else [])

    class _Wrap(torch.nn.Module):
        def __init__(self, inner: Any) -> None:
            super().__init__()
            self.inner = inner

        def forward(self, *args: Any) -> Any:
            return self.inner(**dict(zip(names, args, strict=True))).logits

    ids = torch.ones((2, 8), dtype=torch.long)
    example = tuple(ids if n != "attention_mask" else torch.ones_like(ids) for n in names)
    axes = {n: {0: "batch", 1: "sequence"} for n in names}
    axes["logits"] = {0: "batch"}
    import warnings

    model = model.eval()
    with warnings.catch_warnings():
        # the TorchScript exporter's tracer notes: the mask checks it freezes hold for any length
        warnings.simplefilter("ignore")
        torch.onnx.export(
            _Wrap(model).eval(),
            example,
            str(out),
            input_names=names,
            output_names=["logits"],
            dynamic_axes=axes,
            opset_version=17,
            dynamo=False,
        )
    if external_data:
        import onnx

        graph = onnx.load(str(out))
        onnx.save_model(
            graph,
            str(out),
            save_as_external_data=True,
            all_tensors_to_one_file=True,
            location=out.name + ".data",
            size_threshold=0,
        )
    return out


def logits_of(model: Any, tokenizer: Any, texts: Sequence[str], *, max_length: int) -> np.ndarray:
    """Reference logits: one text at a time, no padding (for checks)."""
    import torch

    tokenizer.no_padding()
    tokenizer.enable_truncation(max_length=max_length)
    rows = []
    takes_types = getattr(model.config, "model_type", "") == "bert"
    with torch.inference_mode():
        for t in texts:
            enc = tokenizer.encode(t)
            feed = {
                "input_ids": torch.tensor([enc.ids]),
                "attention_mask": torch.tensor([enc.attention_mask]),
            }
            if takes_types:
                feed["token_type_ids"] = torch.tensor([enc.type_ids])
            rows.append(model(**feed).logits[0].float().numpy())
    return np.stack(rows).astype(np.float32)


# --------------------------------------------------------------------------- training


@dataclasses.dataclass(frozen=True)
class TextRecipe:
    """How one text model is built and trained (tiny transformers from scratch)."""

    arch: str = "distilbert"
    hidden: int = 32
    layers: int = 1
    heads: int = 2
    max_length: int = 64
    epochs: int = 3
    batch_size: int = 32
    lr: float = 2e-3
    weight_decay: float = 0.01


TEACHER_RECIPE = TextRecipe(arch="bert", hidden=64, layers=2, heads=4)
STUDENT_RECIPE = TextRecipe(arch="distilbert", hidden=32, layers=1, heads=2)


def _encode(
    tokenizer: Any, texts: Sequence[str], max_length: int
) -> tuple[list[list[int]], list[list[int]]]:
    tokenizer.no_padding()
    tokenizer.enable_truncation(max_length=max_length)
    enc = tokenizer.encode_batch(list(texts))
    return [e.ids for e in enc], [e.type_ids for e in enc]


def _feed(
    model: Any, ids: list[list[int]], types: list[list[int]], rows: np.ndarray, pad_id: int
) -> dict[str, Any]:
    import torch

    from kdaudit.models.text import pad_batch

    batch = pad_batch([ids[i] for i in rows], [types[i] for i in rows], pad_id=pad_id)
    feed = {
        "input_ids": torch.from_numpy(batch["input_ids"]),
        "attention_mask": torch.from_numpy(batch["attention_mask"]),
    }
    if getattr(model.config, "model_type", "") == "bert":
        feed["token_type_ids"] = torch.from_numpy(batch["token_type_ids"])
    return feed


def predict_logits(
    model: Any, tokenizer: Any, texts: Sequence[str], *, max_length: int, batch_size: int = 64
) -> np.ndarray:
    """Eval-mode logits of ``texts`` (length-sorted, dynamically padded), in their order."""
    import torch

    ids, types = _encode(tokenizer, texts, max_length)
    pad_id = tokenizer.token_to_id("[PAD]") or 0
    order = np.argsort([len(s) for s in ids], kind="stable")
    out = np.empty((len(texts), model.config.num_labels), dtype=np.float32)
    model.eval()
    with torch.inference_mode():
        for lo in range(0, len(order), batch_size):
            rows = order[lo : lo + batch_size]
            out[rows] = model(**_feed(model, ids, types, rows, pad_id)).logits.float().numpy()
    return out


def train_text_model(
    texts: Sequence[str],
    y: np.ndarray,
    tokenizer: Any,
    recipe: TextRecipe,
    *,
    n_classes: int,
    labels: Sequence[str] | None = None,
    teacher_logits: np.ndarray | None = None,
    temperature: float = 1.0,
    soft_weight: float = 0.0,
    seed: int = 0,
    log: Any = None,
) -> Any:
    """Train one tiny transformer classifier with the KD loss of :mod:`kdaudit.train.kd`.

    ``teacher_logits`` (cached, one row per training text) with ``soft_weight > 0`` makes
    a distilled student; ``soft_weight = 0`` trains on hard labels (teacher or baseline).
    Batches are drawn in a seeded order and padded per batch.
    """
    import torch

    from kdaudit.train.kd import check_kd_params, kd_loss

    check_kd_params(temperature, soft_weight)
    if soft_weight > 0 and teacher_logits is None:
        raise ValueError("a distilled student needs teacher logits")
    cfg = tiny_config(
        recipe.arch,
        vocab_size=tokenizer.get_vocab_size(),
        n_classes=n_classes,
        hidden=recipe.hidden,
        layers=recipe.layers,
        heads=recipe.heads,
        max_length=recipe.max_length,
        labels=labels,
    )
    model = build_model(cfg, seed=seed)
    ids, types = _encode(tokenizer, texts, recipe.max_length)
    pad_id = tokenizer.token_to_id("[PAD]") or 0
    y_t = torch.as_tensor(np.asarray(y), dtype=torch.long)
    t_logits = (
        torch.as_tensor(teacher_logits, dtype=torch.float32) if teacher_logits is not None else None
    )
    opt = torch.optim.AdamW(model.parameters(), lr=recipe.lr, weight_decay=recipe.weight_decay)
    rng = np.random.default_rng(seed)
    n = len(texts)
    steps = recipe.epochs * -(-n // recipe.batch_size)
    # linear decay to 5% of the rate over training (no warm-up: tiny models from scratch)
    sched = torch.optim.lr_scheduler.LinearLR(
        opt, start_factor=1.0, end_factor=0.05, total_iters=max(steps, 1)
    )
    torch.manual_seed(seed)
    model.train()
    for epoch in range(recipe.epochs):
        order = rng.permutation(n)
        total = 0.0
        for lo in range(0, n, recipe.batch_size):
            rows = order[lo : lo + recipe.batch_size]
            out = model(**_feed(model, ids, types, rows, pad_id)).logits
            loss = kd_loss(
                out,
                t_logits[rows] if t_logits is not None else None,
                y_t[rows],
                temperature=temperature,
                soft_weight=soft_weight,
            )
            opt.zero_grad()
            loss.backward()
            opt.step()
            sched.step()
            total += float(loss.detach()) * len(rows)
        if log is not None:
            log(f"  epoch {epoch + 1}/{recipe.epochs}: loss {total / n:.4f}")
    return model.eval()


def export_text_model(
    model: Any,
    tokenizer: Any,
    out: str | Path,
    *,
    check_texts: Sequence[str],
    manifest: dict[str, Any] | None = None,
) -> Path:
    """Write an HF folder with ``model.onnx`` beside it; check both give the same logits (1e-4)."""
    import json as _json

    out = save_hf_directory(model, tokenizer, out)
    onnx_path = export_onnx(model, out / "model.onnx")
    import onnxruntime as ort

    from kdaudit.models.text import pad_batch

    max_length = int(model.config.max_position_embeddings)
    ref = predict_logits(model, tokenizer, check_texts, max_length=max_length)
    ids, types = _encode(tokenizer, check_texts, max_length)
    sess = ort.InferenceSession(str(onnx_path), providers=["CPUExecutionProvider"])
    names = [i.name for i in sess.get_inputs()]
    batch = pad_batch(ids, types, pad_id=tokenizer.token_to_id("[PAD]") or 0)
    got = sess.run(None, {k: batch[k] for k in names})[0]
    diff = float(np.abs(ref - got).max())
    if diff > 1e-4:
        raise RuntimeError(f"ONNX export of {out} differs from the torch model by {diff:.2e}")
    info = {
        **(manifest or {}),
        "onnx_max_abs_diff": diff,
        "files": ["config.json", "model.safetensors", "tokenizer.json", "model.onnx"],
    }
    (out / "kdaudit_train.json").write_text(_json.dumps(info, indent=1, sort_keys=True))
    return out


def train_text_study(
    texts: Sequence[str],
    y: np.ndarray,
    out: str | Path,
    *,
    n_classes: int,
    labels: Sequence[str] | None = None,
    temperatures: Sequence[float] = (1.0, 4.0),
    soft_weight: float = 0.9,
    seed: int = 0,
    teacher: TextRecipe = TEACHER_RECIPE,
    student: TextRecipe = STUDENT_RECIPE,
    vocab_size: int = 1000,
    check_texts: Sequence[str] | None = None,
    log: Any = None,
) -> dict[str, Any]:
    """Teacher (BERT-style), baseline and students at each T (DistilBERT-style), exported.

    The teacher's logits on the training texts are computed once and cached in
    ``out/teacher_logits.npy`` (reused by every student). Returns the folders:
    ``{"teacher": Path, "baseline": Path, "students": {T: Path}, "tokenizer": Path}``.
    """
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    say = log or (lambda _m: None)
    tokenizer = train_wordpiece(texts, vocab_size=vocab_size)
    tokenizer.save(str(out / "tokenizer.json"))
    check = list(check_texts or texts[:64])
    common = {"n_classes": n_classes, "labels": labels, "seed": seed, "log": log}
    say(
        f"text: training the teacher ({teacher.arch}, hidden {teacher.hidden}, {teacher.layers} layers)"
    )
    t_model = train_text_model(texts, y, tokenizer, teacher, **common)
    paths: dict[str, Any] = {"tokenizer": out / "tokenizer.json", "students": {}}
    paths["teacher"] = export_text_model(
        t_model,
        tokenizer,
        out / "teacher",
        check_texts=check,
        manifest={"role": "teacher", "recipe": dataclasses.asdict(teacher)},
    )
    cache = out / "teacher_logits.npy"
    t_logits = predict_logits(t_model, tokenizer, texts, max_length=teacher.max_length)
    np.save(cache, t_logits)
    say(f"text: training the baseline ({student.arch}, hidden {student.hidden}, hard labels)")
    b_model = train_text_model(texts, y, tokenizer, student, **common)
    paths["baseline"] = export_text_model(
        b_model,
        tokenizer,
        out / "baseline",
        check_texts=check,
        manifest={"role": "baseline", "recipe": dataclasses.asdict(student)},
    )
    for t in temperatures:
        say(f"text: distilling a student at T={t:g} (soft weight {soft_weight})")
        s_model = train_text_model(
            texts,
            y,
            tokenizer,
            student,
            teacher_logits=np.load(cache),
            temperature=float(t),
            soft_weight=soft_weight,
            **common,
        )
        paths["students"][float(t)] = export_text_model(
            s_model,
            tokenizer,
            out / f"student_T{t:g}",
            check_texts=check,
            manifest={
                "role": "student",
                "temperature": float(t),
                "soft_weight": soft_weight,
                "recipe": dataclasses.asdict(student),
            },
        )
    return paths


# --------------------------------------------------------------------------- kdaudit train (text)


def text_training_data(spec: str, *, label: str | None, text_column: str | None) -> Any:
    """Training texts as a Dataset: a table with ``--text-column``, ``hatexplain:PATH``, or
    ``textsynth[:N]`` (the generated task's *training* split, shortcut planted)."""
    from kdaudit.data.loader import load_dataset

    if spec.split(":", 1)[0] == "textsynth" and not Path(spec).exists():
        from kdaudit.data.dataset import Dataset
        from kdaudit.data.text import TextInputs
        from kdaudit.data.text_synth import CLASS_NAMES, make_text_task
        from kdaudit.hashing import arrays_sha256

        n = int(spec.split(":", 1)[1]) if ":" in spec else 2500
        task = make_text_task(n, split="train")
        sha = arrays_sha256({"texts": np.array(task["texts"], dtype=object), "y": task["y"]})
        return Dataset(
            y_true=task["y"],
            x=TextInputs(np.array(task["texts"], dtype=object)),
            sensitive_features={},
            path=f"builtin:textsynth:{n}:train",
            sha256=sha,
            fingerprint=sha,
            extras={"class_names": list(CLASS_NAMES)},
        )
    return load_dataset(spec, label=label, text_column=text_column)


def run_text_train(
    args: Any,
    *,
    say: Callable[[str], None] | None = None,
    note: Callable[[str], None] | None = None,
) -> int:
    """``kdaudit train`` on text data (``--text-column``, ``hatexplain:``, ``textsynth``).

    ``say`` receives the closing summary line and ``note`` the progress lines (the CLI
    prints them on stdout and stderr, and passes neither with ``--quiet``).
    """
    from kdaudit.data.text import TextInputs
    from kdaudit.errors import InputDataError, UsageError
    from kdaudit.train.options import parse_list

    def log(line: str) -> None:
        if note is not None:
            note(line)

    data = text_training_data(
        args.data,
        label=getattr(args, "label", None),
        text_column=getattr(args, "text_column", None),
    )
    if not isinstance(data.x, TextInputs):
        raise UsageError(
            f"Training data {args.data!r} holds no texts.", tip="Name them with --text-column COL."
        )
    texts, y = data.x.tolist(), data.y_true
    labels = data.extras.get("class_names")
    n_classes = int(max(int(y.max()) + 1, len(labels) if labels else 0))
    role = args.role
    arch = args.arch or ("bert" if role == "teacher" else "distilbert")
    if arch not in ARCHS:
        raise UsageError(f"--arch for text models must be one of {', '.join(ARCHS)}; got {arch!r}.")
    base = TEACHER_RECIPE if role == "teacher" else STUDENT_RECIPE
    lr = args.lr if args.lr != 0.05 else base.lr  # 0.05 is the image SGD default; text uses AdamW
    recipe = dataclasses.replace(
        base,
        arch=arch,
        epochs=args.epochs,
        batch_size=args.batch_size,
        lr=lr,
        max_length=getattr(args, "max_length", None) or base.max_length,
    )
    seeds = parse_list(args.seeds, int, "--seeds")
    temps = parse_list(args.temperature, float, "--temperature") if role == "student" else [1.0]
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    teacher_logits = None
    if args.teacher:
        from kdaudit.engine.inference import compute_logits
        from kdaudit.models.base import ModelSpec
        from kdaudit.models.loader import load_model
        from kdaudit.models.text import TextModelAdapter

        teacher = load_model(ModelSpec(path=args.teacher, role="teacher"), device="cpu")
        if not isinstance(teacher, TextModelAdapter) or teacher.tokenizer is None:
            raise InputDataError(
                f"--teacher {args.teacher!r} is not a text model with a tokenizer."
            )
        from kdaudit.train.options import logit_cache as _logit_cache

        # the teacher's logits on the training texts, once, through the logit cache
        teacher_logits = compute_logits(
            teacher, data, cache=_logit_cache(args), name="teacher"
        ).to_numpy()
        tokenizer = teacher.tokenizer.backend
    elif role == "student" and args.soft_weight > 0:
        raise UsageError(
            "--role student needs --teacher PATH.",
            tip="Train one first: kdaudit train --role teacher --text-column COL --out DIR.",
        )
    else:
        tokenizer = train_wordpiece(texts, vocab_size=1000)
    written = []
    for seed in seeds:
        for t in temps:
            name = role if role != "student" else f"student_T{t:g}"
            name += f"_seed{seed}" if len(seeds) > 1 else ""
            log(f"text: training {name} ({arch}, hidden {recipe.hidden}, {recipe.layers} layers)")
            kd = role == "student"
            model = train_text_model(
                texts,
                y,
                tokenizer,
                recipe,
                n_classes=n_classes,
                labels=labels,
                teacher_logits=teacher_logits if kd else None,
                temperature=t,
                soft_weight=args.soft_weight if kd else 0.0,
                seed=seed,
                log=log,
            )
            written.append(
                export_text_model(
                    model,
                    tokenizer,
                    out / name,
                    check_texts=texts[:64],
                    manifest={
                        "role": role,
                        "temperature": t if kd else None,
                        "seed": seed,
                        "soft_weight": args.soft_weight if kd else 0.0,
                        "data": data.path,
                        "recipe": dataclasses.asdict(recipe),
                    },
                )
            )
    if say is not None:
        say(
            f"wrote {len(written)} text model folder(s) to {out}/ (config.json, model.safetensors, "
            "tokenizer.json, model.onnx)"
        )
    return 0
