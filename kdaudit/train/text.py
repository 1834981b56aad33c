"""Tiny text classifiers built from scratch: WordPiece tokenizers, BERT/DistilBERT configs, export.

Everything here works offline: the tokenizer is trained on the given texts with
``tokenizers``, and the models are ``transformers`` architectures built from a config
(random weights), never downloaded.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

SPECIAL_TOKENS = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
ARCHS = ("bert", "distilbert")


def train_wordpiece(texts: Sequence[str], *, vocab_size: int = 400, lowercase: bool = True) -> Any:
    """A BERT-style WordPiece ``tokenizers.Tokenizer`` trained on ``texts`` ([CLS] x [SEP])."""
    from tokenizers import Tokenizer, decoders, models, normalizers, pre_tokenizers, processors, trainers

    tok = Tokenizer(models.WordPiece(unk_token="[UNK]"))
    tok.normalizer = normalizers.BertNormalizer(lowercase=lowercase)
    tok.pre_tokenizer = pre_tokenizers.BertPreTokenizer()
    trainer = trainers.WordPieceTrainer(vocab_size=vocab_size, special_tokens=SPECIAL_TOKENS,
                                        show_progress=False)
    tok.train_from_iterator(list(texts), trainer=trainer)
    cls_id, sep_id = tok.token_to_id("[CLS]"), tok.token_to_id("[SEP]")
    tok.post_processor = processors.TemplateProcessing(
        single="[CLS] $A [SEP]", pair="[CLS] $A [SEP] $B:1 [SEP]:1",
        special_tokens=[("[CLS]", cls_id), ("[SEP]", sep_id)],
    )
    tok.decoder = decoders.WordPiece()
    return tok


def _transformers() -> Any:
    from kdaudit.models.text import _need

    return _need("transformers")


def tiny_config(arch: str, *, vocab_size: int, n_classes: int, hidden: int = 32, layers: int = 2,
                heads: int = 2, max_length: int = 64, labels: Sequence[str] | None = None) -> Any:
    """A small ``BertConfig`` or ``DistilBertConfig`` for sequence classification."""
    transformers = _transformers()

    id2label = {i: str(n) for i, n in enumerate(labels)} if labels is not None else None
    extra: dict[str, Any] = {"num_labels": n_classes}
    if id2label is not None:
        extra.update(id2label=id2label, label2id={v: k for k, v in id2label.items()})
    if arch == "bert":
        return transformers.BertConfig(
            vocab_size=vocab_size, hidden_size=hidden, num_hidden_layers=layers,
            num_attention_heads=heads, intermediate_size=hidden * 2,
            max_position_embeddings=max_length, type_vocab_size=2, hidden_dropout_prob=0.1,
            attention_probs_dropout_prob=0.1, **extra)
    if arch == "distilbert":
        return transformers.DistilBertConfig(
            vocab_size=vocab_size, dim=hidden, n_layers=layers, n_heads=heads, hidden_dim=hidden * 2,
            max_position_embeddings=max_length, dropout=0.1, attention_dropout=0.1,
            seq_classif_dropout=0.1, **extra)
    raise ValueError(f"unknown text architecture {arch!r}; expected one of {ARCHS}")


def build_model(config: Any, *, seed: int = 0) -> Any:
    """A randomly initialised sequence classifier for ``config`` (seeded)."""
    import torch

    transformers = _transformers()
    torch.manual_seed(seed)
    model = transformers.AutoModelForSequenceClassification.from_config(config)
    return model.eval()


def save_hf_directory(model: Any, tokenizer: Any, out: str | Path, *, max_length: int | None = None) -> Path:
    """Write config.json, model.safetensors, tokenizer.json (+ tokenizer_config.json) to ``out``."""
    transformers = _transformers()

    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(out, safe_serialization=True)
    fast = transformers.PreTrainedTokenizerFast(
        tokenizer_object=tokenizer, unk_token="[UNK]", pad_token="[PAD]", cls_token="[CLS]",
        sep_token="[SEP]", mask_token="[MASK]",
        model_max_length=max_length or int(model.config.max_position_embeddings))
    fast.save_pretrained(out)
    return out


def export_onnx(model: Any, out: str | Path, *, with_token_type_ids: bool | None = None,
                external_data: bool = False) -> Path:
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
        torch.onnx.export(_Wrap(model).eval(), example, str(out), input_names=names,
                          output_names=["logits"], dynamic_axes=axes, opset_version=17, dynamo=False)
    if external_data:
        import onnx

        graph = onnx.load(str(out))
        onnx.save_model(graph, str(out), save_as_external_data=True, all_tensors_to_one_file=True,
                        location=out.name + ".data", size_threshold=0)
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
            feed = {"input_ids": torch.tensor([enc.ids]), "attention_mask": torch.tensor([enc.attention_mask])}
            if takes_types:
                feed["token_type_ids"] = torch.tensor([enc.type_ids])
            rows.append(model(**feed).logits[0].float().numpy())
    return np.stack(rows).astype(np.float32)
