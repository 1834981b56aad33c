"""Text classifiers: per-model tokenization, Hugging Face model folders, ONNX text graphs.

A text model is one of

* a Hugging Face model folder (``config.json``, ``model.safetensors``, ``tokenizer.json``):
  loaded with ``transformers`` from local files only, safetensors only, no remote code.
  ``pytorch_model.bin`` (a pickle) or an ``auto_map`` in ``config.json`` (custom code)
  load only with ``--trust-code``;
* an ONNX graph whose inputs are ``input_ids``, ``attention_mask`` and optionally
  ``token_type_ids`` (dynamic batch and sequence axes), with a ``tokenizer.json`` in
  its folder or named with ``--<role>-tokenizer``. This path needs only ``tokenizers``.

Each model tokenizes the data's texts with its own tokenizer, truncating to its own
maximum length. A batch of rows is tokenized without padding, sorted by length, run in
micro-batches padded to the longest sequence of each (dynamic padding), and put back
in the original row order. With an attention mask the padding does not change the
logits (beyond float rounding, checked to 1e-5 in the tests).

The tokenizer file's hash and every setting (maximum length, truncation, padding id,
which inputs are fed) are part of the model's identity, hence of its logit-cache key.
"""

from __future__ import annotations

import hashlib
import inspect
import json
from pathlib import Path
from typing import Any

import numpy as np

from kdaudit.errors import InputDataError, ModelLoadError, TrustError, UsageError
from kdaudit.hashing import file_sha256
from kdaudit.models.base import ModelAdapter, ModelSpec

__all__ = [
    "DEFAULT_TEXT_BATCH",
    "FALLBACK_MAX_LENGTH",
    "SORT_WINDOW",
    "TEXT_INPUTS",
    "TextModelAdapter",
    "TextTokenizer",
    "check_folder_files",
    "find_tokenizer",
    "hf_weights",
    "is_hf_directory",
    "load_hf_directory",
    "pad_batch",
    "wrap_onnx_text",
]

#: the inputs a text model may take, in the order they are fed
TEXT_INPUTS = ("input_ids", "attention_mask", "token_type_ids")
#: rows per model call when --batch-size is not given
DEFAULT_TEXT_BATCH = 32
#: rows sorted together by length (the engine hands the adapter blocks of this many)
SORT_WINDOW = 2048
#: used when neither the user, tokenizer_config.json nor config.json gives a maximum length
FALLBACK_MAX_LENGTH = 512
_PAD_TOKENS = ("[PAD]", "<pad>", "<PAD>", "[pad]")
_TOKENIZER_SIDE_FILES = ("tokenizer_config.json", "special_tokens_map.json")
_HF_WEIGHT_FILES = ("model.safetensors", "model.safetensors.index.json")
_HF_PICKLE_FILES = ("pytorch_model.bin", "pytorch_model.bin.index.json")


def _need(module: str) -> Any:
    """``tokenizers`` or ``transformers``, through :func:`kdaudit._optional.require` (a missing
    one is the text extra's exit 3 with its pip line)."""
    from kdaudit._optional import require

    mod = require(module, purpose="Text models")
    if module == "transformers":  # its own progress bars and notes would bypass --quiet
        mod.logging.set_verbosity_error()
        mod.logging.disable_progress_bar()
    return mod


def _read_json(path: Path, what: str) -> dict[str, Any]:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise InputDataError(f"Could not read {what} {str(path)!r} as JSON: {exc}") from exc
    if not isinstance(data, dict):
        raise InputDataError(f"{what.capitalize()} {str(path)!r} is not a JSON object.")
    return data


# --------------------------------------------------------------------------- tokenizer


def _wordpiece(tokenizers: Any, vocab: Path, tok_config: dict[str, Any]) -> Any:
    """A BERT WordPiece tokenizer from ``vocab.txt`` (what ``BertTokenizerFast`` builds when
    a checkpoint has no ``tokenizer.json``): [CLS] text [SEP], lower-casing and accent
    stripping as ``tokenizer_config.json`` says (``do_lower_case``, default true)."""
    from tokenizers.implementations import BertWordPieceTokenizer

    lower = tok_config.get("do_lower_case", True)
    strip = tok_config.get("strip_accents")
    wrapper = BertWordPieceTokenizer(
        str(vocab),
        lowercase=bool(lower),
        strip_accents=None if strip is None else bool(strip),
        clean_text=True,
        handle_chinese_chars=bool(tok_config.get("tokenize_chinese_chars", True)),
    )
    return wrapper._tokenizer  # the underlying tokenizers.Tokenizer


class TextTokenizer:
    """A ``tokenizers`` tokenizer with this model's truncation settings.

    Parameters
    ----------
    path : Path
        ``tokenizer.json`` (a fast tokenizer as saved by ``save_pretrained`` or
        ``Tokenizer.save``), or a folder holding one.
    max_length : int, optional
        Longest sequence fed to the model (special tokens included); longer texts are
        truncated. Default: ``model_max_length`` from ``tokenizer_config.json`` beside
        it, else ``max_position_embeddings`` from ``config.json``, else 512.
    model_config : dict, optional
        The model's ``config.json`` (for the default maximum length).
    role : str
        For messages.
    """

    def __init__(
        self,
        path: str | Path,
        *,
        max_length: int | None = None,
        model_config: dict[str, Any] | None = None,
        role: str = "model",
    ) -> None:
        tokenizers = _need("tokenizers")
        p = Path(path)
        if p.is_dir():
            p = p / "tokenizer.json" if (p / "tokenizer.json").is_file() else p / "vocab.txt"
        if not p.is_file():
            raise InputDataError(
                f"The {role} tokenizer {str(p)!r} does not exist.",
                tip="Save the tokenizer as tokenizer.json (a fast tokenizer) next to the model, "
                f"or name it with --{role}-tokenizer PATH.",
            )
        self.path = p
        side = {
            name: p.parent / name for name in _TOKENIZER_SIDE_FILES if (p.parent / name).is_file()
        }
        tok_config = (
            _read_json(side["tokenizer_config.json"], "tokenizer config")
            if "tokenizer_config.json" in side
            else {}
        )
        try:
            if p.name == "vocab.txt":  # a BERT-style checkpoint without tokenizer.json
                self._tok = _wordpiece(tokenizers, p, tok_config)
            else:
                self._tok = tokenizers.Tokenizer.from_file(str(p))
        except Exception as exc:  # tokenizers raises plain Exceptions for bad files
            raise InputDataError(
                f"Could not read the {role} tokenizer {str(p)!r}: {str(exc).splitlines()[0] if str(exc) else exc}",
                tip="Expected a tokenizer.json written by the tokenizers library or save_pretrained, "
                "or a WordPiece vocab.txt (one token per line).",
            ) from exc
        if max_length is None:
            limit = tok_config.get("model_max_length")
            if isinstance(limit, (int, float)) and 0 < limit < 1_000_000:
                max_length = int(limit)
            elif model_config and isinstance(model_config.get("max_position_embeddings"), int):
                max_length = int(model_config["max_position_embeddings"])
            else:
                max_length = FALLBACK_MAX_LENGTH
        if int(max_length) < 2:
            raise UsageError(f"--max-length for the {role} must be >= 2; got {max_length}.")
        self.max_length = int(max_length)
        self.pad_id = self._pad_id(tok_config)
        self._tok.no_padding()
        self._tok.enable_truncation(max_length=self.max_length)
        self.hashes = {
            p.name: file_sha256(p),
            **{k: file_sha256(v) for k, v in sorted(side.items())},
        }

    def _pad_id(self, tok_config: dict[str, Any]) -> int:
        pad = tok_config.get("pad_token")
        if isinstance(pad, dict):
            pad = pad.get("content")
        candidates = ([pad] if isinstance(pad, str) else []) + list(_PAD_TOKENS)
        padding = self._tok.padding
        if padding and padding.get("pad_id") is not None:
            return int(padding["pad_id"])
        for token in candidates:
            tid = self._tok.token_to_id(token)
            if tid is not None:
                return int(tid)
        return 0

    def identity(self) -> dict[str, Any]:
        """File hashes and settings: part of the logit-cache key."""
        return {
            "files": self.hashes,
            "max_length": self.max_length,
            "truncation": "longest_first",
            "pad_id": self.pad_id,
            "add_special_tokens": True,
        }

    def encode(self, texts: list[str]) -> tuple[list[list[int]], list[list[int]]]:
        """Token ids and token type ids of each text, unpadded, truncated to ``max_length``."""
        encodings = self._tok.encode_batch(texts)
        return [e.ids for e in encodings], [e.type_ids for e in encodings]

    @property
    def backend(self) -> Any:
        """The underlying ``tokenizers.Tokenizer`` (truncation on, padding off)."""
        return self._tok


def pad_batch(
    ids: list[list[int]], type_ids: list[list[int]], *, pad_id: int, length: int | None = None
) -> dict[str, np.ndarray]:
    """Pad sequences to ``length`` (default: the longest): input_ids, attention_mask, token_type_ids.

    Returns int64 arrays of shape (batch, length).
    """
    width = max((len(s) for s in ids), default=1) if length is None else int(length)
    width = max(width, 1)
    n = len(ids)
    input_ids = np.full((n, width), pad_id, dtype=np.int64)
    mask = np.zeros((n, width), dtype=np.int64)
    types = np.zeros((n, width), dtype=np.int64)
    for i, (seq, typ) in enumerate(zip(ids, type_ids, strict=True)):
        k = len(seq)
        input_ids[i, :k] = seq
        mask[i, :k] = 1
        types[i, :k] = typ
    return {"input_ids": input_ids, "attention_mask": mask, "token_type_ids": types}


def find_tokenizer(spec: ModelSpec, model_dir: Path) -> Path | None:
    """The tokenizer a model uses: ``spec.tokenizer``, else ``tokenizer.json`` (or a WordPiece
    ``vocab.txt``) in its folder."""
    from kdaudit.safety import regular_file

    if spec.tokenizer:  # named by the user: a regular file, or a folder holding one
        given = Path(spec.tokenizer)
        if given.is_dir():
            name = "tokenizer.json" if (given / "tokenizer.json").exists() else "vocab.txt"
            regular_file(given / name, f"{spec.role} tokenizer")
            return given
        return regular_file(given, f"{spec.role} tokenizer")
    # beside the model: tokenizer.json, else a WordPiece vocab.txt (older BERT checkpoints)
    for name in ("tokenizer.json", "vocab.txt"):
        candidate = model_dir / name
        if candidate.exists() or candidate.is_symlink():
            check_folder_files(model_dir, [name], role=spec.role)
            return candidate
    return None


# --------------------------------------------------------------------------- adapter


class TextModelAdapter(ModelAdapter):
    """Tokenize texts per model, sort by length, pad per micro-batch, run, restore row order.

    ``run`` maps a dict of int arrays (the model's inputs among :data:`TEXT_INPUTS`) to a
    ``(batch, n_classes)`` array. Inputs given as arrays (``x_input_ids`` npz data) are
    fed as they are, without tokenizing.
    """

    #: the torch module of an ``hf_directory`` model (set by its loader; absent otherwise)
    model: Any

    def __init__(
        self,
        spec: ModelSpec,
        *,
        format: str,
        sha256: str,
        device_type: str,
        run: Any,
        input_names: list[str],
        input_dtypes: dict[str, Any],
        tokenizer: TextTokenizer | None,
        config: dict[str, Any] | None,
        files: dict[str, str] | None = None,
        inner: ModelAdapter | None = None,
    ) -> None:
        super().__init__(spec, format=format, sha256=sha256, device_type=device_type)
        self._run = run
        self.input_names = list(input_names)
        self.input_dtypes = dict(input_dtypes)
        self.tokenizer = tokenizer
        self.config = config or {}
        self.files = dict(files or {})
        self.inner = inner
        self.micro_batch = DEFAULT_TEXT_BATCH
        self.class_order: list[int] | None = None
        self.class_names = _id2label(self.config)
        if self.n_classes is None and self.class_names is not None:
            self.n_classes = len(self.class_names)
        if inner is not None and self.n_classes is None:
            self.n_classes = inner.n_classes

    # -- engine hooks
    default_batch = DEFAULT_TEXT_BATCH
    reads_text = True

    def block_rows(self, batch_size: int) -> int:
        """Rows per engine block: ``batch_size`` is the micro-batch; blocks are sorted by length."""
        self.micro_batch = int(batch_size)
        return max(int(batch_size), SORT_WINDOW // batch_size * batch_size)

    def identity(self) -> dict[str, Any]:
        out = self.inner.identity() if self.inner is not None else super().identity()
        out.update(
            {
                "format": self.format,
                "files": dict(sorted(self.files.items())),
                "tokenizer": self.tokenizer.identity() if self.tokenizer is not None else None,
                "inputs": self.input_names,
                "class_order": self.class_order,
            }
        )
        return out

    def describe(self) -> dict[str, Any]:
        out = self.inner.describe() if self.inner is not None else super().describe()
        out["format"] = self.format
        out["n_classes"] = self.n_classes
        out["inputs"] = self.input_names
        if self.tokenizer is not None:
            out["tokenizer"] = {"path": str(self.tokenizer.path), **self.tokenizer.identity()}
        if self.class_names is not None:
            out["id2label"] = self.class_names
        if self.class_order is not None:
            out["class_order"] = self.class_order
        return out

    def align_classes(self, data_class_names: list[str]) -> None:
        """Check ``id2label`` against the data's label names; reorder outputs to the data's order.

        Default names (``LABEL_0``...) carry no meaning and are not checked.
        """
        names = self.class_names
        if names is None or all(n == f"LABEL_{i}" for i, n in enumerate(names)):
            return
        data = [str(c) for c in data_class_names]
        if names == data:
            return
        if sorted(map(str.lower, names)) != sorted(map(str.lower, data)):
            raise InputDataError(
                f"The {self.name} labels its classes {names} (id2label in config.json); the data's "
                f"labels are {data}.",
                tip="Use data labelled with the model's classes, or fix id2label in config.json.",
            )
        lower = [n.lower() for n in names]
        self.class_order = [lower.index(d.lower()) for d in data]

    # -- running
    def _forward(self, x: Any) -> np.ndarray:
        from kdaudit.data.text import TextInputs

        if isinstance(x, dict):
            feed = {n: np.asarray(x[n]) for n in self.input_names if n in x}
            missing = [n for n in self.input_names if n not in feed]
            if missing:
                raise InputDataError(
                    f"The {self.name} takes inputs {self.input_names}; the data has no "
                    f"{', '.join('x_' + m for m in missing)} array(s).",
                    tip="Give texts with --text-column COL, or one npz array x_<input> per input.",
                )
            return self._permute(self._call(feed))
        if not isinstance(x, TextInputs):
            arr = np.asarray(x)
            if arr.dtype.kind in "OUS" and arr.ndim == 1:
                x = TextInputs(arr.astype(object))
            else:
                raise InputDataError(
                    f"The {self.name} is a text model; the data holds {arr.dtype} arrays, not texts.",
                    tip="Name the column of texts with --text-column COL.",
                )
        return self._permute(self.predict_texts(x.tolist()))

    def predict_texts(self, texts: list[str], *, run: Any = None) -> np.ndarray:
        """Logits for a list of texts, in their order (length-sorted, dynamically padded).

        ``run`` replaces the model call (e.g. :meth:`embed_texts`' pooled hidden state).
        """
        call = run or self._call
        if self.tokenizer is None:
            raise InputDataError(
                f"The {self.name} has no tokenizer: no tokenizer.json or vocab.txt beside it "
                "and none given.",
                tip=f"Name one with --{self.spec.role}-tokenizer PATH.",
            )
        if not texts:
            return np.zeros((0, self.n_classes or 0), dtype=np.float32)
        ids, types = self.tokenizer.encode(texts)
        lengths = np.fromiter((len(s) for s in ids), dtype=np.int64, count=len(ids))
        order = np.argsort(lengths, kind="stable")
        out: np.ndarray | None = None
        step = max(1, self.micro_batch)
        for lo in range(0, len(order), step):
            rows = order[lo : lo + step]
            batch = pad_batch(
                [ids[i] for i in rows], [types[i] for i in rows], pad_id=self.tokenizer.pad_id
            )
            block = call({n: batch[n] for n in self.input_names})
            if out is None:
                out = np.empty((len(texts), block.shape[1]), dtype=np.float32)
            out[rows] = block
        assert out is not None
        return out

    def embed_texts(self, texts: list[str]) -> np.ndarray:
        """Pooled hidden state of each text: the mean of the last layer over non-padding tokens.

        Returns float32 of shape (n_texts, hidden). Only for Hugging Face folders (an ONNX
        graph outputs logits only).
        """
        model = getattr(self, "model", None)
        if model is None:
            raise UsageError(
                f"--embedding-model needs a Hugging Face model folder; the {self.name} is {self.format}.",
                tip="Name a role whose model is a folder, or pass --embedding FILE.npy.",
            )
        import torch

        def run(feed: dict[str, np.ndarray]) -> np.ndarray:
            with torch.inference_mode():
                dev = next(model.parameters()).device
                tensors = {
                    k: torch.from_numpy(np.ascontiguousarray(v.astype(np.int64))).to(dev)
                    for k, v in feed.items()
                }
                out = model(**tensors, output_hidden_states=True)
                last = out.hidden_states[-1].float()
                mask = tensors["attention_mask"].unsqueeze(-1).float()
                return ((last * mask).sum(1) / mask.sum(1).clamp(min=1.0)).cpu().numpy()

        return self.predict_texts(texts, run=run)

    def _call(self, feed: dict[str, np.ndarray]) -> np.ndarray:
        cast = {
            n: a.astype(self.input_dtypes.get(n, np.int64), copy=False) for n, a in feed.items()
        }
        return np.asarray(self._run(cast), dtype=np.float32)

    def _permute(self, block: np.ndarray) -> np.ndarray:
        return block if self.class_order is None else block[:, self.class_order]

    def close(self) -> None:
        if self.inner is not None:
            self.inner.close()


def _id2label(config: dict[str, Any]) -> list[str] | None:
    raw = config.get("id2label")
    if not isinstance(raw, dict) or not raw:
        return None
    try:
        items = sorted((int(k), str(v)) for k, v in raw.items())
    except (TypeError, ValueError):
        return None
    if [k for k, _ in items] != list(range(len(items))):
        return None
    return [v for _, v in items]


# --------------------------------------------------------------------------- loading


def is_hf_directory(path: Path) -> bool:
    return path.is_dir() and (path / "config.json").is_file()


#: Files transformers may read from a model folder besides the weights.
_HF_SIDE_FILES = (
    "config.json",
    "generation_config.json",
    "tokenizer.json",
    "tokenizer_config.json",
    "special_tokens_map.json",
    "vocab.txt",
    "vocab.json",
    "merges.txt",
    "added_tokens.json",
)


def check_folder_files(path: Path, names: list[str], *, role: str) -> None:
    """Every file a model folder makes kdaudit read stays inside it and is a regular file.

    A ``model.safetensors`` or ``tokenizer.json`` that is a symlink to a file elsewhere
    (or to a FIFO or device) is refused before anything is opened or hashed.
    """
    from kdaudit.safety import confined, regular_file

    for name in names:
        if (path / name).exists() or (path / name).is_symlink():
            target = confined(path, name, what=f"{role} model folder {str(path)!r}")
            regular_file(target, f"{role} model file {name!r}")


def hf_weights(path: Path, *, role: str, trust_code: bool) -> tuple[bool, list[Path]]:
    """Which weight files a model folder loads from: ``(use_safetensors, files)``.

    Raises TrustError for pickled weights or custom code without ``trust_code``, and
    InputDataError for any file that points outside the folder or is not a regular file.
    """
    check_folder_files(
        path,
        [
            *_HF_SIDE_FILES,
            *_HF_WEIGHT_FILES,
            *_HF_PICKLE_FILES,
            "model.safetensors.index.json",
            "pytorch_model.bin.index.json",
        ],
        role=role,
    )
    config = _read_json(path / "config.json", "model config")
    if config.get("auto_map") and not trust_code:
        raise TrustError(
            f"The {role} model folder {str(path)!r} declares custom code (auto_map in config.json); "
            "loading it runs Python code from the folder, so kdaudit refuses it without --trust-code.",
            tip="Pass --trust-code if you trust this folder, or save the model with a built-in "
            "transformers architecture.",
        )
    safetensors = [path / n for n in _HF_WEIGHT_FILES if (path / n).is_file()]
    if safetensors:
        index = path / "model.safetensors.index.json"
        if index.is_file():
            shards = sorted(set(_read_json(index, "weights index").get("weight_map", {}).values()))
            check_folder_files(path, [str(s) for s in shards], role=role)
            safetensors += [path / s for s in shards if (path / s).is_file() and "/" not in s]
        return True, safetensors
    pickles = [path / n for n in _HF_PICKLE_FILES if (path / n).is_file()]
    if pickles:
        if not trust_code:
            raise TrustError(
                f"The {role} model folder {str(path)!r} holds pytorch_model.bin, a pickle; loading it "
                "can run code stored in the file, so kdaudit refuses it without --trust-code.",
                tip="Pass --trust-code if you trust this file, or re-save the model with "
                "save_pretrained(..., safe_serialization=True) to get model.safetensors.",
            )
        index = path / "pytorch_model.bin.index.json"
        if index.is_file():
            shards = sorted(set(_read_json(index, "weights index").get("weight_map", {}).values()))
            check_folder_files(path, [str(s) for s in shards], role=role)
            pickles += [path / s for s in shards if (path / s).is_file() and "/" not in s]
        return False, pickles
    raise InputDataError(
        f"The {role} model folder {str(path)!r} has config.json but no model.safetensors.",
        tip="Save the model with save_pretrained() (safetensors), or pass a .onnx file.",
    )


def _folder_identity(files: list[Path]) -> dict[str, str]:
    return {f.name: file_sha256(f) for f in files}


def load_hf_directory(spec: ModelSpec, *, device: str = "auto") -> TextModelAdapter:
    """Load a Hugging Face sequence-classification folder (local files only).

    Raises
    ------
    TrustError
        ``pytorch_model.bin`` or ``auto_map`` without ``trust_code`` (exit 2).
    ModelLoadError
        transformers could not build the model (exit 3).
    """
    path = Path(spec.path)
    use_safetensors, weight_files = hf_weights(path, role=spec.role, trust_code=spec.trust_code)
    config = _read_json(path / "config.json", "model config")
    files = _folder_identity([path / "config.json", *weight_files])
    sha = hashlib.sha256(json.dumps(files, sort_keys=True).encode()).hexdigest()
    tok_path = find_tokenizer(spec, path)
    tokenizer = (
        TextTokenizer(tok_path, max_length=spec.max_length, model_config=config, role=spec.role)
        if tok_path is not None
        else None
    )
    transformers = _need("transformers")
    import torch

    from kdaudit.device import resolve_device

    dev = resolve_device(device)
    try:
        model = transformers.AutoModelForSequenceClassification.from_pretrained(
            str(path),
            local_files_only=True,
            trust_remote_code=bool(spec.trust_code),
            use_safetensors=use_safetensors,
        )
    except Exception as exc:  # transformers raises OSError, ValueError, KeyError...
        raise ModelLoadError(
            f"Could not load the {spec.role} model folder {spec.path!r} with transformers: "
            f"{str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__}",
            tip="Check that config.json names a sequence-classification architecture and the "
            "weights match it.",
        ) from exc
    model.eval().to(dev)
    params = inspect.signature(model.forward).parameters
    names = [n for n in TEXT_INPUTS if n in params]
    if "token_type_ids" in names and int(config.get("type_vocab_size", 2) or 0) < 1:
        names.remove("token_type_ids")

    def run(feed: dict[str, np.ndarray]) -> np.ndarray:
        with torch.inference_mode():
            tensors = {
                k: torch.from_numpy(np.ascontiguousarray(v)).to(dev) for k, v in feed.items()
            }
            return model(**tensors).logits.float().cpu().numpy()

    adapter = TextModelAdapter(
        spec,
        format="hf_directory",
        sha256=sha,
        device_type=dev,
        run=run,
        input_names=names,
        input_dtypes={n: np.int64 for n in names},
        tokenizer=tokenizer,
        config=config,
        files=files,
    )
    adapter.model = model  # for pooled hidden states (neighbour spaces)
    return adapter


def wrap_onnx_text(inner: Any, spec: ModelSpec) -> ModelAdapter:
    """An ONNX adapter as a text model when its inputs are token ids and a tokenizer is found.

    Otherwise ``inner`` is returned unchanged (image and tabular graphs).
    """
    names = list(inner.input_names)
    model_dir = Path(spec.path).parent
    tok_path = find_tokenizer(spec, model_dir)
    if "input_ids" not in names or tok_path is None:
        if spec.tokenizer:
            raise InputDataError(
                f"--{spec.role}-tokenizer was given but the {inner.name} has no input_ids input "
                f"(inputs: {names}).",
                tip="Tokenizers apply to text models only.",
            )
        return inner  # an image/tabular graph, or token ids given by hand (x_<input> arrays)
    unknown = [n for n in names if n not in TEXT_INPUTS]
    if unknown:
        raise InputDataError(
            f"The {inner.name} takes inputs {unknown} besides {list(TEXT_INPUTS)}; kdaudit feeds "
            "text models input_ids, attention_mask and token_type_ids only.",
            tip="Export the model with those inputs only.",
        )
    config_path = model_dir / "config.json"
    config = _read_json(config_path, "model config") if config_path.is_file() else {}
    tokenizer = TextTokenizer(
        tok_path, max_length=spec.max_length, model_config=config, role=spec.role
    )
    files = {"config.json": file_sha256(config_path)} if config_path.is_file() else {}
    return TextModelAdapter(
        spec,
        format="onnx",
        sha256=inner.sha256,
        device_type=inner.device_type,
        run=inner._run,
        input_names=names,
        input_dtypes={n: d for n, _, d in inner.inputs},
        tokenizer=tokenizer,
        config=config,
        files=files,
        inner=inner,
    )
