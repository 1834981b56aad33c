"""Text models: HF folders and ONNX text graphs, per-model tokenization, padding, cache keys, refusals.

Tiny random BERT/DistilBERT models are built offline from configs, with WordPiece
tokenizers trained here; nothing is downloaded.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

pytest.importorskip("tokenizers")
pytest.importorskip("transformers")

from kdaudit.cli import main
from kdaudit.data.loader import load_dataset
from kdaudit.data.text import TextInputs
from kdaudit.engine.cache import LogitCache
from kdaudit.engine.inference import compute_logits
from kdaudit.errors import InputDataError, TrustError
from kdaudit.models.base import ModelSpec
from kdaudit.models.loader import load_model
from kdaudit.models.text import TextModelAdapter, pad_batch
from kdaudit.train import text as tt

LABELS = ["hatespeech", "normal", "offensive"]
WORDS = (
    "the women men muslims christians jews people are great terrible kind loud and "
    "we saw some friends at work today , ! ? really very"
).split()


def _texts(n: int, seed: int) -> list[str]:
    rng = np.random.default_rng(seed)
    out = []
    for _ in range(n):
        k = int(rng.integers(1, 60))
        words = [WORDS[i] for i in rng.integers(0, len(WORDS), size=k)]
        if rng.random() < 0.3:
            words[0] = words[0].capitalize()
        out.append(" ".join(words))
    return out


@pytest.fixture(scope="module")
def zoo(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("textzoo")
    texts = _texts(300, 0)
    tok_t = tt.train_wordpiece(texts, vocab_size=120)
    tok_s = tt.train_wordpiece(texts, vocab_size=80, lowercase=False)
    bert = tt.build_model(
        tt.tiny_config(
            "bert", vocab_size=tok_t.get_vocab_size(), n_classes=3, labels=LABELS, max_length=48
        ),
        seed=1,
    )
    distil = tt.build_model(
        tt.tiny_config(
            "distilbert",
            vocab_size=tok_s.get_vocab_size(),
            n_classes=3,
            labels=LABELS,
            max_length=32,
        ),
        seed=2,
    )
    out = {
        "teacher": tt.save_hf_directory(bert, tok_t, root / "teacher"),
        "student": tt.save_hf_directory(distil, tok_s, root / "student"),
    }
    out["teacher_onnx"] = tt.export_onnx(bert, root / "teacher" / "model.onnx")
    out["student_onnx"] = tt.export_onnx(
        distil, root / "student" / "model.onnx", external_data=True
    )
    rng = np.random.default_rng(3)
    data_texts = _texts(120, 1)
    targets = [
        sorted(set(rng.choice(["Women", "Men", "Islam", "Jewish"], size=int(rng.integers(0, 3)))))
        for _ in data_texts
    ]
    df = pd.DataFrame(
        {
            "post": data_texts,
            "label": rng.choice(LABELS, size=len(data_texts)),
            "target": [json.dumps([str(v) for v in t]) for t in targets],
        }
    )
    df.to_csv(root / "data.csv", index=False)
    out["data"] = root / "data.csv"
    out["root"] = root
    return out


def _dataset(zoo: dict[str, Path]):
    return load_dataset(
        zoo["data"], label="label", text_column="post", sensitive=["target"], min_group_size=10
    )


def _ref(model_dir: Path, texts: list[str], max_length: int) -> np.ndarray:
    """One text at a time, no padding, straight through transformers and tokenizers."""
    import tokenizers
    import transformers

    model = transformers.AutoModelForSequenceClassification.from_pretrained(
        model_dir, local_files_only=True
    )
    tok = tokenizers.Tokenizer.from_file(str(model_dir / "tokenizer.json"))
    return tt.logits_of(model.eval(), tok, texts, max_length=max_length)


def test_hf_folder_and_onnx_give_the_same_logits(zoo: dict[str, Path]) -> None:
    ds = _dataset(zoo)
    assert isinstance(ds.x, TextInputs) and ds.extras["class_names"] == LABELS
    for role in ("teacher", "student"):
        hf = load_model(ModelSpec(path=str(zoo[role]), role=role))
        ox = load_model(ModelSpec(path=str(zoo[f"{role}_onnx"]), role=role))
        assert isinstance(hf, TextModelAdapter) and isinstance(ox, TextModelAdapter)
        a = compute_logits(hf, ds, batch_size=16).to_numpy()
        b = compute_logits(ox, ds, batch_size=16).to_numpy()
        np.testing.assert_allclose(a, b, atol=1e-5)
        # a sample of rows, one text at a time without padding, straight through transformers
        rows = np.linspace(0, ds.n_samples - 1, 16).astype(int)
        ref = _ref(zoo[role], [ds.x.tolist()[i] for i in rows], hf.tokenizer.max_length)
        np.testing.assert_allclose(a[rows], ref, atol=1e-5)


def test_padding_and_batching_do_not_change_logits(zoo: dict[str, Path]) -> None:
    ds = _dataset(zoo)
    texts = ds.x.tolist()
    model = load_model(ModelSpec(path=str(zoo["teacher_onnx"]), role="teacher"))
    model.micro_batch = 1  # no padding at all
    alone = model.predict_texts(texts)
    outs = []
    for mb in (7, 64):
        model.micro_batch = mb
        outs.append(model.predict_texts(texts))
    # fixed-length padding to max_length, original order, one plain call
    ids, types = model.tokenizer.encode(texts)
    fixed = pad_batch(ids, types, pad_id=model.tokenizer.pad_id, length=model.tokenizer.max_length)
    sess = model.inner.session
    plain = sess.run(["logits"], {n: fixed[n] for n in model.input_names})[0]
    for other in (*outs, plain):
        np.testing.assert_allclose(alone, other, atol=1e-5)
    # at least one text is long enough to be truncated, and lengths vary
    lengths = [len(s) for s in ids]
    assert max(lengths) == model.tokenizer.max_length and min(lengths) < 10


def test_each_model_tokenizes_with_its_own_tokenizer(zoo: dict[str, Path]) -> None:
    teacher = load_model(ModelSpec(path=str(zoo["teacher_onnx"]), role="teacher"))
    student = load_model(ModelSpec(path=str(zoo["student_onnx"]), role="student"))
    assert teacher.input_names == ["input_ids", "attention_mask", "token_type_ids"]
    assert student.input_names == ["input_ids", "attention_mask"]
    assert teacher.tokenizer.max_length == 48 and student.tokenizer.max_length == 32
    text = ["The Women are great"]
    ids_t, _ = teacher.tokenizer.encode(text)
    ids_s, _ = student.tokenizer.encode(text)
    import tokenizers

    for model, ids in ((teacher, ids_t), (student, ids_s)):
        tok = tokenizers.Tokenizer.from_file(str(Path(model.path).parent / "tokenizer.json"))
        assert ids[0] == tok.encode(text[0]).ids
    assert ids_t != ids_s  # lowercasing vs not, different vocabularies
    # the student's ONNX weights live in a side file next to model.onnx, hashed into its identity
    assert list(student.identity()["external_data"]) == ["model.onnx.data"]


def test_cache_key_follows_the_tokenizer(zoo: dict[str, Path], tmp_path: Path) -> None:
    ds = _dataset(zoo)
    cache = LogitCache(tmp_path / "cache")
    base = ModelSpec(path=str(zoo["teacher_onnx"]), role="teacher")

    def key(spec: ModelSpec) -> str:
        m = load_model(spec)
        return cache.key(m, ds, device_type=m.device_type)

    k0 = key(base)
    assert key(base) == k0
    other_tok = tmp_path / "tok"
    other_tok.mkdir()
    shutil.copy(zoo["student"] / "tokenizer.json", other_tok / "tokenizer.json")
    assert key(ModelSpec(path=base.path, role="teacher", tokenizer=str(other_tok))) != k0
    assert key(ModelSpec(path=base.path, role="teacher", max_length=20)) != k0
    # a cached run and a fresh run agree
    m = load_model(base)
    first = compute_logits(m, ds, cache=cache).to_numpy()
    again = compute_logits(load_model(base), ds, cache=cache).to_numpy()
    np.testing.assert_array_equal(first, again)


def _copy_folder(src: Path, dst: Path) -> Path:
    shutil.copytree(src, dst, ignore=shutil.ignore_patterns("*.onnx", "*.data"))
    return dst


def test_pickled_weights_and_custom_code_need_trust(zoo: dict[str, Path], tmp_path: Path) -> None:
    import torch
    from safetensors.torch import load_file

    binary = _copy_folder(zoo["teacher"], tmp_path / "bin")
    state = load_file(binary / "model.safetensors")
    (binary / "model.safetensors").unlink()
    torch.save(state, binary / "pytorch_model.bin")
    with pytest.raises(TrustError, match=r"pytorch_model\.bin"):
        load_model(ModelSpec(path=str(binary), role="teacher"))
    trusted = load_model(ModelSpec(path=str(binary), role="teacher", trust_code=True))
    ref = load_model(ModelSpec(path=str(zoo["teacher"]), role="teacher"))
    texts = ["we saw some friends", "the men are loud !"]
    np.testing.assert_allclose(trusted.predict_texts(texts), ref.predict_texts(texts), atol=1e-6)

    custom = _copy_folder(zoo["teacher"], tmp_path / "custom")
    cfg = json.loads((custom / "config.json").read_text())
    cfg["auto_map"] = {"AutoModelForSequenceClassification": "modeling_evil.EvilModel"}
    (custom / "config.json").write_text(json.dumps(cfg))
    (custom / "modeling_evil.py").write_text("raise SystemExit('ran code')\n")
    with pytest.raises(TrustError, match="auto_map"):
        load_model(ModelSpec(path=str(custom), role="teacher"))


@pytest.mark.parametrize("what", ["bin", "auto_map"])
def test_cli_refuses_code_carrying_folders(
    zoo: dict[str, Path], tmp_path: Path, what: str, capsys: pytest.CaptureFixture[str]
) -> None:
    folder = _copy_folder(zoo["teacher"], tmp_path / what)
    if what == "bin":
        (folder / "model.safetensors").rename(folder / "pytorch_model.bin")
    else:
        cfg = json.loads((folder / "config.json").read_text())
        cfg["auto_map"] = {"AutoModelForSequenceClassification": "x.Y"}
        (folder / "config.json").write_text(json.dumps(cfg))
    code = main(
        [
            "compare",
            str(folder),
            str(zoo["student"]),
            "--data",
            str(zoo["data"]),
            "--label",
            "label",
            "--text-column",
            "post",
            "--no-cache",
            "--out",
            str(tmp_path / "r"),
            "-q",
        ]
    )
    err = capsys.readouterr().err
    assert code == 2
    assert err.startswith("kdaudit: error: ") and "--trust-code" in err and "Traceback" not in err
    assert not (tmp_path / "r").exists()


@pytest.mark.parametrize("name", ["model.safetensors", "tokenizer.json", "config.json"])
def test_folder_files_may_not_point_outside_the_folder(
    zoo: dict[str, Path], tmp_path: Path, name: str, capsys: pytest.CaptureFixture[str]
) -> None:
    """A file of a model folder that is a symlink out of it is refused before it is read or hashed."""
    folder = _copy_folder(zoo["teacher"], tmp_path / "escape")
    outside = tmp_path / "secret" / name
    outside.parent.mkdir()
    (folder / name).rename(outside)  # the real bytes, but elsewhere
    (folder / name).symlink_to(outside)
    code = main(
        [
            "compare",
            str(folder),
            str(zoo["student"]),
            "--data",
            str(zoo["data"]),
            "--label",
            "label",
            "--text-column",
            "post",
            "--no-cache",
            "--out",
            str(tmp_path / "r"),
            "-q",
        ]
    )
    err = capsys.readouterr().err
    assert code == 2, err
    assert err.startswith("kdaudit: error: ") and "outside the model's folder" in err
    assert "Traceback" not in err and not (tmp_path / "r").exists()


def test_class_order_follows_id2label(zoo: dict[str, Path], tmp_path: Path) -> None:
    ds = _dataset(zoo)
    folder = _copy_folder(zoo["teacher"], tmp_path / "perm")
    cfg = json.loads((folder / "config.json").read_text())
    # the same weights, but the config says output 0 is "normal" and output 1 "hatespeech"
    cfg["id2label"] = {"0": "normal", "1": "hatespeech", "2": "offensive"}
    (folder / "config.json").write_text(json.dumps(cfg))
    from kdaudit import api

    opts = api.AuditOptions(bootstrap=0)
    a, _ = api._model_logits(ModelSpec(path=str(zoo["teacher"]), role="teacher"), ds, opts, None)
    b, info = api._model_logits(ModelSpec(path=str(folder), role="teacher"), ds, opts, None)
    np.testing.assert_allclose(b.to_numpy(), a.to_numpy()[:, [1, 0, 2]], atol=1e-6)
    assert info["class_order"] == [1, 0, 2]
    cfg["id2label"] = {"0": "toxic", "1": "normal", "2": "offensive"}
    (folder / "config.json").write_text(json.dumps(cfg))
    with pytest.raises(InputDataError, match="id2label"):
        api._model_logits(ModelSpec(path=str(folder), role="teacher"), ds, opts, None)


def test_compare_text_onnx_quick(zoo: dict[str, Path], tmp_path: Path) -> None:
    out = tmp_path / "report"
    code = main(
        [
            "compare",
            str(zoo["teacher_onnx"]),
            str(zoo["student_onnx"]),
            "--data",
            str(zoo["data"]),
            "--label",
            "label",
            "--text-column",
            "post",
            "--sensitive",
            "target:Women",
            "--bootstrap",
            "20",
            "--skip",
            "individual_fairness",
            "--no-cache",
            "--out",
            str(out),
            "-q",
        ]
    )
    assert code == 0
    report = json.loads((out / "report.json").read_text())
    assert list(report["group_fairness"]) == ["target:Women"]
    assert "target:Women" in (out / "summary.md").read_text()


@pytest.mark.slow
def test_compare_text_end_to_end(zoo: dict[str, Path], tmp_path: Path) -> None:
    out = tmp_path / "report"
    code = main(
        [
            "compare",
            str(zoo["teacher"]),
            str(zoo["student_onnx"]),
            "--data",
            str(zoo["data"]),
            "--label",
            "label",
            "--text-column",
            "post",
            "--sensitive",
            "target",
            "--min-group-size",
            "10",
            "--bootstrap",
            "50",
            "--embedding-model",
            "teacher",
            "--counterfactual-terms",
            "builtin",
            "--baseline",
            str(zoo["student"]),
            "--cache-dir",
            str(tmp_path / "cache"),
            "--out",
            str(out),
            "-q",
        ]
    )
    assert code == 0
    report = json.loads((out / "report.json").read_text())
    assert report["models"]["teacher"]["format"] == "hf_directory"
    assert report["models"]["student"]["inputs"] == ["input_ids", "attention_mask"]
    assert set(report["group_fairness"]) == {
        "target:Islam",
        "target:Jewish",
        "target:Men",
        "target:Women",
    }
    assert report["individual_fairness"]["config"]["distance"] == "cosine"
    cf = report["counterfactual_text"]
    ds = _dataset(zoo)
    from kdaudit.data.counterfactual_text import TermSwapper

    counts = TermSwapper.builtin().swap_all(ds.x.tolist())[1]
    assert cf["config"]["n_changed"] == sum(c > 0 for c in counts) > 0
    assert set(cf["delta"]) == {"teacher_vs_student", "teacher_vs_baseline", "baseline_vs_student"}
    # the student ONNX graph and its HF folder (the baseline here) are the same model
    assert cf["delta"]["baseline_vs_student"]["mean_tv_distance"]["value"] == pytest.approx(
        0, abs=1e-6
    )
    assert [g["group"] for g in cf["teacher"]["by_group"]["target:Women"]] == ["no", "yes"]


def test_audit_config_with_text_keys(zoo: dict[str, Path], tmp_path: Path) -> None:
    cfg = tmp_path / "audit.toml"
    tok_dir = zoo["student"]
    cfg.write_text(f"""
[data]
path = "{zoo["data"]}"
label = "label"
text_column = "post"
sensitive = ["target:Islam"]

[models.teacher]
path = "{zoo["teacher_onnx"]}"
max_length = 40

[models.student]
path = "{zoo["student_onnx"]}"
tokenizer = "{tok_dir}"

[analysis]
bootstrap = 20
skip = ["individual_fairness"]

[engine]
use_cache = false
""")
    out = tmp_path / "r"
    assert main(["audit", str(cfg), "--out", str(out), "-q"]) == 0
    report = json.loads((out / "report.json").read_text())
    assert report["models"]["teacher"]["tokenizer"]["max_length"] == 40
    assert list(report["group_fairness"]) == ["target:Islam"]


def _write_vocab(tok: object, path: Path) -> Path:
    vocab = tok.get_vocab()  # type: ignore[attr-defined]
    path.write_text("\n".join(sorted(vocab, key=vocab.__getitem__)) + "\n", encoding="utf-8")
    return path


@pytest.mark.parametrize("lower", [True, False])
def test_vocab_txt_tokenizes_as_transformers_bert_tokenizer(tmp_path: Path, lower: bool) -> None:
    """A checkpoint with only vocab.txt: WordPiece as transformers' BertTokenizer reads the
    same folder, with do_lower_case from tokenizer_config.json."""
    import transformers

    from kdaudit.models.text import TextTokenizer

    texts = [*_texts(40, 7), "Café CRÈME brûlée, naïve façade!", "WOMEN and Men ??", "x" * 80]
    folder = tmp_path / "tok"
    folder.mkdir()
    _write_vocab(
        tt.train_wordpiece(_texts(300, 0), vocab_size=150, lowercase=lower), folder / "vocab.txt"
    )
    (folder / "tokenizer_config.json").write_text(json.dumps({"do_lower_case": lower}))
    ours = TextTokenizer(folder, max_length=24)
    assert ours.path.name == "vocab.txt"
    ids, types = ours.encode(texts)
    # transformers' own reading of such a folder (no tokenizer.json) is the reference
    oracle = transformers.BertTokenizer.from_pretrained(folder, local_files_only=True)
    want = oracle(texts, truncation=True, max_length=24)
    assert ids == want["input_ids"]
    assert types == want["token_type_ids"]


def test_hf_folder_with_vocab_txt_only_gives_the_same_logits(
    zoo: dict[str, Path], tmp_path: Path
) -> None:
    """The teacher's folder with tokenizer.json replaced by its vocab.txt: same logits."""
    import tokenizers

    folder = _copy_folder(zoo["teacher"], tmp_path / "teacher_vocab")
    tok = tokenizers.Tokenizer.from_file(str(folder / "tokenizer.json"))
    (folder / "tokenizer.json").unlink()
    _write_vocab(tok, folder / "vocab.txt")
    data = _dataset(zoo)
    a = compute_logits(load_model(ModelSpec(str(zoo["teacher"]), role="teacher")), data)
    b = compute_logits(load_model(ModelSpec(str(folder), role="teacher")), data)
    np.testing.assert_allclose(a.to_numpy(), b.to_numpy(), rtol=1e-5, atol=1e-5)
