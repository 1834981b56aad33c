"""The KD trainer: teachers, baselines (non-distilled students) and distilled students.

One recipe (:class:`Recipe`) trains every role; a student differs from the
baseline only in ``soft_weight`` (and the teacher it reads). With
``soft_weight = 0`` the loss is exactly cross-entropy, so a ``w = 0`` student
and the baseline get identical weights for the same seed (tested).

Teacher outputs: without augmentation the teacher's logits for the training
set are computed once per teacher (and data set) and reused for every epoch,
temperature and seed, so a KD epoch costs about what a plain epoch costs.
With ``augment=True`` the inputs change every step, so the teacher runs online.

Determinism: for a given seed, model initialisation, shuffling and
augmentation draw from seeded generators and the run is bitwise repeatable on
CPU (``torch.use_deterministic_algorithms`` is switched on for the duration of
a run and restored afterwards).
"""

from __future__ import annotations

import contextlib
import dataclasses
import math
import time
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from kdaudit.device import resolve_device
from kdaudit.errors import InputDataError, ModelLoadError, UsageError
from kdaudit.models.zoo import build_model
from kdaudit.progress import progress_bar
from kdaudit.train.kd import check_kd_params, effective_weights, kd_loss
from kdaudit.vocab import ROLES

__all__ = [
    "ROLES",
    "Log",
    "Recipe",
    "TeacherModel",
    "TrainData",
    "TrainedModel",
    "apply_preprocess",
    "augment_batch",
    "copy_matching",
    "dataset_data",
    "deterministic",
    "evaluate",
    "load_teacher",
    "resolve_device",
    "run_training",
    "train_model",
    "trifeature_data",
]

Log = Callable[[str], None]


def _no_log(_: str) -> None:
    return None


@dataclasses.dataclass(frozen=True, kw_only=True)
class Recipe:
    """Everything but the seed, role, teacher, T and w that defines a training run."""

    arch: str
    epochs: int = 10
    batch_size: int = 128
    lr: float = 0.05
    momentum: float = 0.9
    weight_decay: float = 5e-4
    optimizer: str = "sgd"
    schedule: str = "cosine"
    augment: bool = False
    crop_padding: int = 4
    grad_clip: float | None = None

    def __post_init__(self) -> None:
        if self.epochs < 1:
            raise UsageError(f"Expected --epochs >= 1; got {self.epochs}.")
        if self.batch_size < 2:
            raise UsageError(f"Expected --batch-size >= 2; got {self.batch_size}.")
        if not self.lr > 0:
            raise UsageError(f"Expected --lr > 0; got {self.lr}.")
        if self.optimizer not in {"sgd", "adam"}:
            raise UsageError(f"Expected optimizer 'sgd' or 'adam'; got {self.optimizer!r}.")
        if self.grad_clip is not None and not self.grad_clip > 0:
            raise UsageError(f"Expected --grad-clip > 0; got {self.grad_clip}.")
        if self.schedule not in {"cosine", "constant"}:
            raise UsageError(f"Expected schedule 'cosine' or 'constant'; got {self.schedule!r}.")

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


# --------------------------------------------------------------------------- data
def apply_preprocess(x: np.ndarray, spec: dict[str, Any] | None) -> np.ndarray:
    """Apply a preprocessing spec (a ``Preprocess`` dict) to a batch (first axis = samples).

    The very code the audit runs (:class:`kdaudit.models.preprocess.Preprocess`), so a
    model is trained on exactly the inputs it will be audited on.
    """
    from kdaudit.models.preprocess import Preprocess

    pre = Preprocess.from_dict(dict(spec)) if spec else None
    return (
        pre.apply(x, np.float32) if pre is not None else np.ascontiguousarray(x, dtype=np.float32)
    )


@dataclasses.dataclass(kw_only=True)
class TrainData:
    """Training (and optional evaluation) arrays, already preprocessed to model inputs.

    Attributes
    ----------
    x : ndarray of shape (n_samples, *input_shape), float32
    y : ndarray of shape (n_samples,), int64
    eval_x, eval_y : the same for the evaluation split, or None
    preprocess : dict
        The spec that maps *stored* data (what an audit reads) to ``x``.
    spec : str
        Where the data came from (for manifests).
    sha256 : str
        Content hash of the stored training data.
    """

    x: np.ndarray
    y: np.ndarray
    eval_x: np.ndarray | None = None
    eval_y: np.ndarray | None = None
    preprocess: dict[str, Any] = dataclasses.field(default_factory=dict)
    spec: str = ""
    sha256: str = ""
    n_classes: int = 0
    details: dict[str, Any] = dataclasses.field(default_factory=dict)
    raw: Any = None  # the stored training data as a kdaudit Dataset (for the logit cache)

    def __post_init__(self) -> None:
        self.y = np.asarray(self.y, dtype=np.int64)
        if self.x.shape[0] != self.y.shape[0]:
            raise InputDataError(
                f"Training inputs have {self.x.shape[0]} rows but labels have {self.y.shape[0]}."
            )
        if self.x.shape[0] < 2:
            raise InputDataError("Training needs at least 2 samples.")
        if not self.n_classes:
            ys = [self.y] + ([self.eval_y] if self.eval_y is not None else [])
            self.n_classes = int(max(int(a.max()) for a in ys)) + 1

    @property
    def input_shape(self) -> tuple[int, ...]:
        return tuple(int(s) for s in self.x.shape[1:])

    def describe(self) -> dict[str, Any]:
        return {
            "spec": self.spec,
            "sha256": self.sha256,
            "n_train": int(self.y.shape[0]),
            "n_eval": None if self.eval_y is None else int(self.eval_y.shape[0]),
            "n_classes": self.n_classes,
            **self.details,
        }


def trifeature_data(
    *,
    n_train: int = 8000,
    n_eval: int = 2000,
    color_shape_correlation: float = 0.0,
    seed: int = 0,
    image_size: int = 32,
) -> TrainData:
    """Trifeature train split (with the planted colour-shape correlation) and test split."""
    from kdaudit.data.trifeature import PREPROCESS, make_trifeature, to_dataset
    from kdaudit.hashing import arrays_sha256

    train = make_trifeature(
        n_train,
        split="train",
        color_shape_correlation=color_shape_correlation,
        seed=seed,
        image_size=image_size,
    )
    options = {
        "n": n_train,
        "split": "train",
        "seed": seed,
        "image_size": image_size,
        "color_shape_correlation": float(color_shape_correlation),
    }
    test = (
        make_trifeature(n_eval, split="test", seed=seed, image_size=image_size) if n_eval else None
    )
    return TrainData(
        x=apply_preprocess(train["x"], PREPROCESS),
        y=train["y"],
        eval_x=None if test is None else apply_preprocess(test["x"], PREPROCESS),
        eval_y=None if test is None else test["y"],
        preprocess=dict(PREPROCESS),
        spec="trifeature",
        sha256=arrays_sha256(train),
        n_classes=10,
        details={
            "color_shape_correlation": float(color_shape_correlation),
            "data_seed": seed,
            "image_size": image_size,
        },
        raw=to_dataset(train, path=f"builtin:trifeature-train:{n_train}", options=options),
    )


def dataset_data(
    spec: str, *, eval_spec: str | None = None, preprocess: dict[str, Any] | None = None
) -> TrainData:
    """Training data from any ``load_dataset`` spec (npz, table, ``adult:PATH``...)."""
    from kdaudit.data.loader import load_dataset
    from kdaudit.data.text import TextInputs

    train = load_dataset(spec)
    ev = load_dataset(eval_spec) if eval_spec else None
    for what, d, name in (("Training", train, spec), ("Evaluation", ev, eval_spec)):
        if d is not None and isinstance(d.x, TextInputs):
            raise InputDataError(
                f"{what} data {name!r} holds texts; this trainer takes arrays.",
                tip="Train text models with 'kdaudit train ... --text-column COL' "
                "(tiny BERT/DistilBERT; see docs/text.md).",
            )
    if train.x is None or isinstance(train.x, dict):
        raise InputDataError(
            f"Training data {spec!r} needs one input array 'x'; found "
            f"{'none' if train.x is None else 'several (x_<name>)'}."
        )
    spec_pre = preprocess if preprocess is not None else dict(train.extras.get("preprocess", {}))
    if ev is not None and (ev.x is None or isinstance(ev.x, dict)):
        raise InputDataError(f"Evaluation data {eval_spec!r} needs one input array 'x'.")
    x_train = train.x
    x_eval = None if ev is None else ev.x
    for what, arr, name in (("Training", x_train, spec), ("Evaluation", x_eval, eval_spec)):
        if arr is not None and np.asarray(arr).dtype.kind not in "biuf":
            raise InputDataError(
                f"{what} data {name!r} has inputs 'x' of dtype {np.asarray(arr).dtype}; "
                "the trainer takes numbers.",
                tip="Encode the inputs as numbers; texts go in a --text-column of a table.",
            )
    assert isinstance(x_train, np.ndarray) and (x_eval is None or isinstance(x_eval, np.ndarray))
    return TrainData(
        x=apply_preprocess(x_train, spec_pre),
        y=train.y_true,
        eval_x=None if x_eval is None else apply_preprocess(x_eval, spec_pre),
        eval_y=None if ev is None else ev.y_true,
        preprocess=spec_pre,
        spec=str(spec),
        sha256=train.sha256,
        raw=train,
    )


# --------------------------------------------------------------------------- teachers
class TeacherModel:
    """A model whose logits guide a student: a torch module or an ONNX session.

    Training-set logits are computed once per data set and kept
    (:meth:`train_logits`); :meth:`logits` runs it online on a batch.
    """

    def __init__(
        self,
        *,
        module: nn.Module | None = None,
        onnx_path: str | None = None,
        name: str = "teacher",
        manifest: dict[str, Any] | None = None,
        path: str = "",
        sha256: str = "",
    ) -> None:
        if (module is None) == (onnx_path is None):
            raise UsageError("TeacherModel needs exactly one of module or onnx_path.")
        self.module = module.eval() if module is not None else None
        self.name = name
        self.manifest = manifest or {}
        self.path = path
        self.sha256 = sha256
        #: an ONNX file with the same function, for the engine's logit cache
        self.onnx_file = onnx_path
        self.logits_source = "none"
        self._session: Any = None
        if onnx_path is not None:
            import onnxruntime as ort

            try:
                self._session = ort.InferenceSession(onnx_path, providers=["CPUExecutionProvider"])
            except Exception as exc:
                raise ModelLoadError(f"Could not load teacher {onnx_path!r}: {exc}") from exc
        self._cache: dict[tuple[str, int], torch.Tensor] = {}

    @torch.no_grad()
    def logits(self, x: torch.Tensor) -> torch.Tensor:
        """Teacher logits for a batch of model inputs (on x's device), float32."""
        if self.module is not None:
            self.module.to(x.device).eval()
            return self.module(x).float()
        feed = {self._session.get_inputs()[0].name: x.detach().cpu().numpy()}
        return torch.from_numpy(self._session.run(None, feed)[0]).float().to(x.device)

    def train_logits(
        self, data: TrainData, *, device: torch.device, batch_size: int = 256, cache: Any = None
    ) -> torch.Tensor:
        """Logits on the whole training set, computed once and reused for every epoch and run.

        With a :class:`~kdaudit.engine.cache.LogitCache`, an ONNX form of the
        teacher and the stored training data, they come from the engine
        (``compute_logits``) and persist across processes; otherwise they are
        computed here in torch, once per process.
        """
        key = (data.sha256 or str(id(data.x)), int(data.x.shape[0]))
        if key not in self._cache:
            if cache is not None and self.onnx_file and data.raw is not None:
                from kdaudit.engine.inference import compute_logits
                from kdaudit.models import ModelSpec, Preprocess, load_model

                pre = Preprocess.from_dict(data.preprocess) if data.preprocess else None
                adapter = load_model(
                    ModelSpec(path=self.onnx_file, role="teacher", preprocess=pre), device="cpu"
                )
                arr = compute_logits(adapter, data.raw, cache=cache, device="cpu", name="teacher")
                self._cache[key] = torch.from_numpy(np.ascontiguousarray(arr.to_numpy()))
                self.logits_source = "logit_cache"
            else:
                xs = torch.from_numpy(data.x)
                fmt = torch.channels_last if xs.ndim == 4 else torch.contiguous_format
                out = [
                    self.logits(xs[i : i + batch_size].to(device).contiguous(memory_format=fmt))
                    for i in range(0, len(xs), batch_size)
                ]
                self._cache[key] = torch.cat(out).cpu()
                self.logits_source = "computed_once"
        return self._cache[key].to(device)


def load_teacher(
    path: str | Path, *, arch: str | None = None, data: TrainData | None = None
) -> TeacherModel:
    """Load a teacher from a kdaudit manifest/safetensors (torch) or any ``.onnx`` file.

    With a manifest (``NAME.json`` beside ``NAME.onnx``/``NAME.safetensors``) the
    safetensors weights go into the manifest's architecture. A bare
    ``.safetensors`` needs ``arch`` and ``data`` (for class count and input shape).
    A bare ``.onnx`` runs in onnxruntime.
    """
    from kdaudit.hashing import file_sha256
    from kdaudit.train.export import load_safetensors, manifest_path_for, read_manifest

    p = Path(path)
    if not p.exists():
        raise InputDataError(f"Teacher file {str(p)!r} does not exist.")
    mpath = manifest_path_for(p)
    if mpath.is_file():
        man = read_manifest(mpath)
        st = mpath.parent / man["files"]["safetensors"]["path"]
        module = build_model(
            man["arch"], n_classes=int(man["n_classes"]), input_shape=man["input_shape"]
        )
        load_safetensors(module, st)
        onnx_file = mpath.parent / man["files"]["onnx"]["path"]
        teacher = TeacherModel(
            module=module,
            name=man.get("name", p.stem),
            manifest=man,
            path=str(st),
            sha256=file_sha256(st),
        )
        teacher.onnx_file = str(onnx_file) if onnx_file.is_file() else None
        return teacher
    if p.suffix.lower() == ".safetensors":
        if arch is None or data is None:
            raise UsageError(
                f"Teacher {str(p)!r} has no manifest; name its architecture with --teacher-arch.",
            )
        module = build_model(arch, n_classes=data.n_classes, input_shape=data.input_shape)
        load_safetensors(module, p)
        return TeacherModel(module=module, name=p.stem, path=str(p), sha256=file_sha256(p))
    if p.suffix.lower() == ".onnx":
        return TeacherModel(onnx_path=str(p), name=p.stem, path=str(p), sha256=file_sha256(p))
    raise UsageError(
        f"Cannot use {str(p)!r} as a teacher; expected a kdaudit manifest (.json), .safetensors "
        "or .onnx file."
    )


# --------------------------------------------------------------------------- training
def copy_matching(source: nn.Module | dict[str, torch.Tensor], target: nn.Module) -> dict[str, Any]:
    """Copy every tensor whose name and shape match from ``source`` into ``target``.

    Returns
    -------
    dict
        ``copied`` (names), ``shape_mismatch`` (names with both shapes),
        ``missing_in_source`` (target names the source lacks), and counts.
    """
    src = source.state_dict() if isinstance(source, nn.Module) else source
    dst = target.state_dict()
    copied: list[str] = []
    mismatch: list[dict[str, Any]] = []
    missing: list[str] = []
    new_state = {}
    for name, tensor in dst.items():
        if name not in src:
            missing.append(name)
        elif tuple(src[name].shape) != tuple(tensor.shape):
            mismatch.append(
                {"name": name, "source": list(src[name].shape), "target": list(tensor.shape)}
            )
        else:
            new_state[name] = src[name].detach().to(tensor.device, tensor.dtype).clone()
            copied.append(name)
    target.load_state_dict(new_state, strict=False)
    n_params = sum(int(dst[n].numel()) for n in copied)
    return {
        "copied": copied,
        "shape_mismatch": mismatch,
        "missing_in_source": missing,
        "n_copied": len(copied),
        "n_target": len(dst),
        "n_values_copied": n_params,
    }


@contextlib.contextmanager
def deterministic(enabled: bool = True) -> Iterator[None]:
    """Turn on deterministic algorithms for a block, restoring the previous setting."""
    before = torch.are_deterministic_algorithms_enabled()
    warn_before = torch.is_deterministic_algorithms_warn_only_enabled()
    if enabled:
        torch.use_deterministic_algorithms(True, warn_only=True)
    try:
        yield
    finally:
        torch.use_deterministic_algorithms(before, warn_only=warn_before)


def augment_batch(x: torch.Tensor, generator: torch.Generator, padding: int = 4) -> torch.Tensor:
    """Random crop (zero padding ``padding``) and horizontal flip of a (B, C, H, W) batch."""
    b, _, h, w = x.shape
    padded = nn.functional.pad(x, (padding, padding, padding, padding))
    oy = torch.randint(0, 2 * padding + 1, (b,), generator=generator).to(x.device)
    ox = torch.randint(0, 2 * padding + 1, (b,), generator=generator).to(x.device)
    flip = (torch.rand(b, generator=generator) < 0.5).to(x.device)
    rows = (oy[:, None] + torch.arange(h, device=x.device)[None, :])[:, :, None]  # (B, H, 1)
    cols = ox[:, None] + torch.arange(w, device=x.device)[None, :]  # (B, W)
    cols = torch.where(flip[:, None], cols.flip(1), cols)[:, None, :]  # (B, 1, W)
    idx = torch.arange(b, device=x.device)[:, None, None]
    # advanced indices around a slice put the batch dims first: (B, H, W, C)
    return padded[idx, :, rows, cols].permute(0, 3, 1, 2).contiguous()


@dataclasses.dataclass(kw_only=True)
class TrainedModel:
    """A trained model and what produced it."""

    module: nn.Module
    role: str
    arch: str
    seed: int
    recipe: Recipe
    temperature: float | None = None
    soft_weight: float = 0.0
    generation: int = 0
    teacher: dict[str, Any] | None = None
    init_report: dict[str, Any] | None = None
    metrics: dict[str, Any] = dataclasses.field(default_factory=dict)
    history: list[dict[str, float]] = dataclasses.field(default_factory=list)

    @property
    def name(self) -> str:
        parts = [self.role]
        if self.role == "student" and self.temperature is not None:
            parts.append(f"T{self.temperature:g}")
        parts.append(f"seed{self.seed}")
        if self.generation >= 1:
            parts.append(f"gen{self.generation}")
        return "_".join(parts)

    def manifest(self, data: TrainData) -> dict[str, Any]:
        return {
            "role": self.role,
            "arch": self.arch,
            "seed": self.seed,
            "temperature": self.temperature,
            "soft_weight": self.soft_weight,
            "effective_weights": effective_weights(
                temperature=self.temperature or 1.0, soft_weight=self.soft_weight
            ),
            "generation": self.generation,
            "recipe": self.recipe.to_dict(),
            "teacher": self.teacher,
            "init_from_teacher": self.init_report,
            "metrics": self.metrics,
            "history": self.history,
            "n_classes": data.n_classes,
            "input_shape": list(data.input_shape),
            "input_dtype": "float32",
            "preprocess": data.preprocess,
            "data": data.describe(),
            "versions": {"torch": torch.__version__},
        }


@torch.no_grad()
def evaluate(
    module: nn.Module, x: np.ndarray, y: np.ndarray, *, device: torch.device, batch_size: int = 256
) -> float:
    """Accuracy of ``module`` on preprocessed inputs."""
    module.eval()
    correct = 0
    xs = torch.from_numpy(x)
    fmt = torch.channels_last if xs.ndim == 4 else torch.contiguous_format
    for i in range(0, len(xs), batch_size):
        xb = xs[i : i + batch_size].to(device).contiguous(memory_format=fmt)
        pred = module(xb).argmax(1).cpu().numpy()
        correct += int((pred == y[i : i + batch_size]).sum())
    return correct / max(1, len(y))


def train_model(
    data: TrainData,
    recipe: Recipe,
    *,
    role: str,
    seed: int = 0,
    teacher: TeacherModel | None = None,
    temperature: float | None = None,
    soft_weight: float = 0.0,
    init_from: nn.Module | None = None,
    generation: int = 0,
    device: str | torch.device = "auto",
    cache: Any = None,
    progress: bool = False,
    log: Log = _no_log,
) -> TrainedModel:
    """Train one model.

    Parameters
    ----------
    data : TrainData
    recipe : Recipe
    role : {"teacher", "baseline", "student"}
        Teachers and baselines use ``soft_weight = 0`` (no teacher).
    seed : int
        Seeds initialisation, shuffling and augmentation.
    teacher : TeacherModel, optional
        Required for a student with ``soft_weight > 0``.
    temperature, soft_weight : float
        The KD parameters (students only).
    init_from : nn.Module, optional
        Copy matching tensors from this model (``--init-from-teacher``).
    generation : int
        Iterative-KD generation (1 = taught by the original teacher).
    device : str or torch.device
    cache : LogitCache, optional
        Where cached teacher logits live across processes (needs an ONNX teacher);
        without it they are computed once per process.
    progress : bool
        Show a progress bar (only on a TTY).
    log : callable
        Receives one line per epoch.
    """
    if role not in ROLES:
        raise UsageError(f"Expected role teacher, baseline or student; got {role!r}.")
    if role != "student":
        soft_weight = 0.0
    temperature_used = float(temperature) if temperature is not None else 1.0
    check_kd_params(temperature_used, soft_weight)
    if soft_weight > 0 and teacher is None:
        raise UsageError("A student with soft_weight > 0 needs a teacher (--teacher PATH).")
    if recipe.augment and len(data.input_shape) != 3:
        raise UsageError("--augment (random crop/flip) needs image inputs (C, H, W).")
    dev = (
        device
        if isinstance(device, torch.device)
        else torch.device(resolve_device(device or "auto"))
    )
    n = data.x.shape[0]
    with deterministic(dev.type == "cpu"):
        t_logits = None
        if soft_weight > 0 and not recipe.augment:
            assert teacher is not None
            t_logits = teacher.train_logits(data, device=dev, cache=cache)
            if t_logits.shape[1] != data.n_classes:
                raise InputDataError(
                    f"Expected the teacher to output {data.n_classes} classes; it outputs "
                    f"{t_logits.shape[1]}. Check that it was trained on the same label set."
                )
        torch.manual_seed(seed)
        model = build_model(recipe.arch, n_classes=data.n_classes, input_shape=data.input_shape)
        init_report = copy_matching(init_from, model) if init_from is not None else None
        # channels-last convolutions are ~25% faster on CPU and give the same results
        fmt = torch.channels_last if len(data.input_shape) == 3 else torch.contiguous_format
        model.to(dev)
        model.to(memory_format=fmt)  # type: ignore[call-overload]
        gen = torch.Generator().manual_seed(seed)
        if recipe.optimizer == "sgd":
            opt: torch.optim.Optimizer = torch.optim.SGD(
                model.parameters(),
                lr=recipe.lr,
                momentum=recipe.momentum,
                weight_decay=recipe.weight_decay,
                nesterov=recipe.momentum > 0,
            )
        else:
            opt = torch.optim.Adam(
                model.parameters(), lr=recipe.lr, weight_decay=recipe.weight_decay
            )
        steps_per_epoch = math.ceil(n / recipe.batch_size)
        total = steps_per_epoch * recipe.epochs
        sched = (
            torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=total)
            if recipe.schedule == "cosine"
            else None
        )
        xs = torch.from_numpy(data.x).to(dev)
        ys = torch.from_numpy(data.y).to(dev)
        history: list[dict[str, float]] = []
        label = role + (f" T={temperature_used:g}" if role == "student" else "") + f" seed {seed}"
        bar = progress_bar(total, desc=label, enabled=progress, unit="batch")
        start = time.perf_counter()
        for epoch in range(recipe.epochs):
            bar.set_description(f"{label}: epoch {epoch + 1}/{recipe.epochs}")
            model.train()
            perm = torch.randperm(n, generator=gen).to(dev)
            loss_sum, seen, correct = 0.0, 0, 0
            for b in range(0, n, recipe.batch_size):
                idx = perm[b : b + recipe.batch_size]
                if idx.numel() < 2:  # BatchNorm cannot train on one sample
                    continue
                xb, yb = xs[idx], ys[idx]
                if recipe.augment:
                    xb = augment_batch(xb, gen, recipe.crop_padding)
                xb = xb.contiguous(memory_format=fmt)
                tb = None
                if soft_weight > 0:
                    tb = t_logits[idx] if t_logits is not None else teacher.logits(xb)  # type: ignore[union-attr]
                out = model(xb)
                loss = kd_loss(out, tb, yb, temperature=temperature_used, soft_weight=soft_weight)
                opt.zero_grad(set_to_none=True)
                loss.backward()
                if recipe.grad_clip is not None:
                    # the T^2-scaled soft term can spike at high T; clipping keeps SGD stable
                    nn.utils.clip_grad_norm_(model.parameters(), recipe.grad_clip)
                opt.step()
                if sched is not None:
                    sched.step()
                loss_sum += float(loss.detach()) * idx.numel()
                seen += idx.numel()
                correct += int((out.detach().argmax(1) == yb).sum())
                bar.update(1)
            row = {
                "epoch": epoch + 1,
                "loss": loss_sum / max(seen, 1),
                "train_accuracy_running": correct / max(seen, 1),
                "seconds": time.perf_counter() - start,
            }
            history.append(row)
            log(
                f"  {role} seed={seed}"
                + (f" T={temperature_used:g} w={soft_weight:g}" if role == "student" else "")
                + f" epoch {epoch + 1}/{recipe.epochs} loss {row['loss']:.4f} "
                f"acc {row['train_accuracy_running']:.3f}"
            )
        bar.close()
        train_seconds = time.perf_counter() - start
        metrics: dict[str, Any] = {
            "train_seconds": train_seconds,
            "images_per_second": n * recipe.epochs / max(train_seconds, 1e-9),
            "final_loss": history[-1]["loss"],
            "train_accuracy": evaluate(model, data.x, data.y, device=dev),
        }
        if data.eval_x is not None and data.eval_y is not None:
            metrics["eval_accuracy"] = evaluate(model, data.eval_x, data.eval_y, device=dev)
    model.eval()
    teacher_info = None
    if teacher is not None and role == "student":
        online = bool(recipe.augment and soft_weight > 0)
        teacher_info = {
            "name": teacher.name,
            "path": teacher.path,
            "sha256": teacher.sha256,
            "online": online,
            "logits": "online"
            if online
            else (teacher.logits_source if soft_weight > 0 else "unused"),
        }
    return TrainedModel(
        module=model,
        role=role,
        arch=recipe.arch,
        seed=seed,
        recipe=recipe,
        temperature=float(temperature) if role == "student" and temperature is not None else None,
        soft_weight=float(soft_weight),
        generation=generation,
        teacher=teacher_info,
        init_report=init_report,
        metrics=metrics,
        history=history,
    )


def run_training(
    data: TrainData,
    recipe: Recipe,
    *,
    role: str,
    out_dir: str | Path | None,
    seeds: Sequence[int] = (0,),
    temperatures: Sequence[float] = (4.0,),
    soft_weight: float = 0.9,
    teacher: TeacherModel | None = None,
    iterations: int = 1,
    init_from_teacher: bool = False,
    device: str = "auto",
    cache: Any = None,
    progress: bool = False,
    log: Log = _no_log,
) -> list[dict[str, Any]]:
    """Train every run a ``kdaudit train`` call asks for and export each model.

    Teachers and baselines: one model per seed. Students: one per seed and
    temperature, and with ``iterations = G > 1`` G generations, generation g+1
    taught by generation g (every generation is exported, ``_genG`` suffix).

    Returns
    -------
    list of dict
        The manifests written (``out_dir is None``: the manifests without files,
        with the trained module under the key ``"_module"``; for tests).
    """
    from kdaudit.train.export import export_model

    if role not in ROLES:
        raise UsageError(f"Expected --role teacher, baseline or student; got {role!r}.")
    if iterations < 1:
        raise UsageError(f"Expected --iterations >= 1; got {iterations}.")
    if not seeds:
        raise UsageError("Expected at least one seed.")
    if role == "student" and teacher is None and soft_weight > 0:
        raise UsageError("--role student needs --teacher PATH (or --soft-weight 0).")
    if init_from_teacher and (teacher is None or teacher.module is None):
        raise UsageError(
            "--init-from-teacher needs a teacher with torch weights "
            "(a kdaudit manifest or .safetensors), not an ONNX file."
        )
    if role != "student":
        temperatures, iterations = (None,), 1  # type: ignore[assignment]
    check_n = min(64, data.x.shape[0])
    check_x = (data.eval_x if data.eval_x is not None and data.eval_x.shape[0] >= 2 else data.x)[
        :check_n
    ]
    results: list[dict[str, Any]] = []
    for seed in seeds:
        for temp in temperatures:
            current = teacher
            for g in range(1, iterations + 1):
                init = current.module if (init_from_teacher and current is not None) else None
                trained = train_model(
                    data,
                    recipe,
                    role=role,
                    seed=int(seed),
                    teacher=current,
                    temperature=temp,
                    soft_weight=soft_weight if role == "student" else 0.0,
                    init_from=init,
                    generation=g if iterations > 1 else 0,
                    device=device,
                    cache=cache,
                    progress=progress,
                    log=log,
                )
                if trained.init_report is not None:
                    log(
                        f"  init-from-teacher: copied {trained.init_report['n_copied']} of "
                        f"{trained.init_report['n_target']} tensors"
                    )
                manifest = trained.manifest(data)
                if out_dir is not None:
                    manifest = export_model(
                        trained.module,
                        out_dir,
                        trained.name,
                        check_input=check_x,
                        manifest=manifest,
                    )
                else:
                    manifest = {**manifest, "name": trained.name, "_module": trained.module}
                results.append(manifest)
                acc = trained.metrics.get("eval_accuracy", trained.metrics["train_accuracy"])
                log(f"{trained.name}: accuracy {acc:.4f} ({trained.metrics['train_seconds']:.1f}s)")
                if g < iterations:
                    current = TeacherModel(
                        module=trained.module,
                        name=trained.name,
                        manifest=manifest,
                        path=manifest.get("name", ""),
                    )
                    if out_dir is not None:
                        current.onnx_file = str(Path(out_dir) / manifest["files"]["onnx"]["path"])
                        current.sha256 = manifest["files"]["safetensors"]["sha256"]
    return results
