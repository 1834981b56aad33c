"""Benchmark kdaudit's text inference against plain fixed-length-padding loops.

One command, side by side in one process, on the same tiny BERT (random weights, built
from a config; a WordPiece tokenizer trained on the texts) and the same texts:

    .venv/bin/python bench/bench_text.py             # HateXplain test posts when present
    .venv/bin/python bench/bench_text.py --n 500     # quicker

Texts: the HateXplain test posts (``../shared/data/hatexplain``) when present, else
synthetic texts with HateXplain-like lengths (log-normal word counts).

Compared, each with 32 texts per model call:

* ONNX: kdaudit (per-batch dynamic padding + length-sorted batching) vs a plain
  onnxruntime loop padding every text to ``max_length`` in the original order;
* HF folder: kdaudit vs a plain transformers loop (``padding="max_length"``).

Goal (issue 10): >= 1.5x sequences/s from dynamic padding and length sorting, results
equal (max |difference| printed; within 1e-4).
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
HATEXPLAIN = ROOT.parent / "shared" / "data" / "hatexplain" / "df_test_processed.csv"
if not HATEXPLAIN.exists():
    HATEXPLAIN = (
        Path(os.environ.get("KDAUDIT_SHARED_DATA", "/nonexistent"))
        / "hatexplain"
        / "df_test_processed.csv"
    )


def texts_for(n: int | None, seed: int = 0) -> tuple[list[str], str]:
    if HATEXPLAIN.exists():
        from kdaudit.data.hatexplain import read_hatexplain

        texts = read_hatexplain(HATEXPLAIN)["texts"]
        source = f"HateXplain test posts ({HATEXPLAIN})"
    else:
        rng = np.random.default_rng(seed)
        words = "the a women men people they are were not very really go home now why who".split()
        lengths = np.clip(rng.lognormal(3.0, 0.6, size=2000).astype(int), 2, 160)
        texts = [" ".join(rng.choice(words, size=k)) for k in lengths]
        source = "synthetic texts, HateXplain-like lengths"
    return (texts[:n] if n else texts), source


def best_of_pair(plain, ours, repeats: int) -> tuple[float, np.ndarray, float, np.ndarray]:
    """Best time of each, runs alternating (plain, ours, plain, ...) so that load changes on a
    shared machine hit both alike."""
    t_plain, t_ours, out_plain, out_ours = [], [], None, None
    for _ in range(repeats):
        t0 = time.perf_counter()
        out_plain = plain()
        t_plain.append(time.perf_counter() - t0)
        t0 = time.perf_counter()
        out_ours = ours()
        t_ours.append(time.perf_counter() - t0)
    return min(t_plain), out_plain, min(t_ours), out_ours


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=None, help="texts (default: all)")
    ap.add_argument("--batch", type=int, default=32)
    ap.add_argument("--max-length", type=int, default=128)
    ap.add_argument("--hidden", type=int, default=128)
    ap.add_argument("--repeats", type=int, default=3)
    args = ap.parse_args()

    import onnxruntime as ort
    import torch

    from kdaudit.data.dataset import Dataset
    from kdaudit.data.text import TextInputs
    from kdaudit.engine.inference import compute_logits
    from kdaudit.models.base import ModelSpec
    from kdaudit.models.loader import load_model
    from kdaudit.models.text import pad_batch
    from kdaudit.train import text as tt

    texts, source = texts_for(args.n)
    tok = tt.train_wordpiece(texts, vocab_size=2000)
    cfg = tt.tiny_config(
        "bert",
        vocab_size=tok.get_vocab_size(),
        n_classes=3,
        hidden=args.hidden,
        layers=2,
        heads=4,
        max_length=args.max_length,
    )
    model = tt.build_model(cfg, seed=0)
    tmp = Path(tempfile.mkdtemp(prefix="kdaudit-bench-text-"))
    folder = tt.save_hf_directory(model, tok, tmp / "bert", max_length=args.max_length)
    onnx_path = tt.export_onnx(model, folder / "model.onnx")
    data = Dataset(
        y_true=np.zeros(len(texts), dtype=np.int64),
        x=TextInputs.from_values(texts),
        sensitive_features={},
        path="bench",
        fingerprint="bench",
    )

    tok.no_padding()
    tok.enable_truncation(max_length=args.max_length)
    enc = tok.encode_batch(texts)
    lengths = np.array([len(e.ids) for e in enc])
    print(
        f"texts: {len(texts)} from {source}; tokens per text: median {int(np.median(lengths))}, "
        f"mean {lengths.mean():.1f}, max {lengths.max()} (max_length {args.max_length}); "
        f"batch {args.batch}; torch threads {torch.get_num_threads()}"
    )

    # --- ONNX: kdaudit vs plain loop with fixed-length padding
    kd_onnx = load_model(
        ModelSpec(path=str(onnx_path), role="teacher", max_length=args.max_length), device="cpu"
    )
    sess = ort.InferenceSession(str(onnx_path), providers=["CPUExecutionProvider"])
    pad_id = tok.token_to_id("[PAD]")

    def plain_onnx() -> np.ndarray:
        out = []
        for lo in range(0, len(texts), args.batch):
            e = tok.encode_batch(texts[lo : lo + args.batch])
            feed = pad_batch(
                [x.ids for x in e], [x.type_ids for x in e], pad_id=pad_id, length=args.max_length
            )
            out.append(sess.run(["logits"], feed)[0])
        return np.concatenate(out)

    def kd_run(adapter) -> np.ndarray:
        return compute_logits(adapter, data, batch_size=args.batch).to_numpy()

    t_plain, ref, t_kd, got = best_of_pair(plain_onnx, lambda: kd_run(kd_onnx), args.repeats)
    n = len(texts)
    print(
        f"ONNX     plain fixed-length loop: {n / t_plain:9.1f} seq/s | kdaudit: {n / t_kd:9.1f} seq/s "
        f"| ratio {t_plain / t_kd:5.2f}x | max |diff| {np.abs(ref - got).max():.2e}"
    )

    # --- HF folder: kdaudit vs plain transformers loop
    import transformers

    kd_hf = load_model(
        ModelSpec(path=str(folder), role="teacher", max_length=args.max_length), device="cpu"
    )
    fast = transformers.PreTrainedTokenizerFast.from_pretrained(str(folder), local_files_only=True)
    hf_model = transformers.AutoModelForSequenceClassification.from_pretrained(
        str(folder), local_files_only=True
    ).eval()

    def plain_hf() -> np.ndarray:
        out = []
        with torch.inference_mode():
            for lo in range(0, len(texts), args.batch):
                b = fast(
                    texts[lo : lo + args.batch],
                    padding="max_length",
                    truncation=True,
                    max_length=args.max_length,
                    return_tensors="pt",
                )
                out.append(hf_model(**b).logits.numpy())
        return np.concatenate(out)

    t_plain_hf, ref_hf, t_kd_hf, got_hf = best_of_pair(
        plain_hf, lambda: kd_run(kd_hf), args.repeats
    )
    print(
        f"HF dir   plain transformers loop: {n / t_plain_hf:9.1f} seq/s | kdaudit: {n / t_kd_hf:9.1f} seq/s "
        f"| ratio {t_plain_hf / t_kd_hf:5.2f}x | max |diff| {np.abs(ref_hf - got_hf).max():.2e}"
    )
    ok = max(np.abs(ref - got).max(), np.abs(ref_hf - got_hf).max()) < 1e-4
    print(
        f"results equal (1e-4): {ok}; goal >= 1.5x: "
        f"ONNX {'met' if t_plain / t_kd >= 1.5 else 'NOT met'}, HF {'met' if t_plain_hf / t_kd_hf >= 1.5 else 'NOT met'}"
    )
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
