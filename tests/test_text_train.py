"""The text trainer: tiny BERT/DistilBERT from scratch, KD with cached teacher logits, export."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("transformers")

from kdaudit.cli import main
from kdaudit.data.text_synth import GROUPS, SHORTCUT_DOWN, SHORTCUT_UP, make_text_task
from kdaudit.engine.cache import LogitCache
from kdaudit.models.base import ModelSpec
from kdaudit.models.loader import load_model
from kdaudit.train import text as tt


@pytest.mark.slow
def test_kd_student_learns_from_cached_teacher_logits() -> None:
    # w = 1 and teacher logits that contradict the labels: the student follows the teacher
    task = make_text_task(96, split="eval", neutral_share=0.0, seed=1)  # labels follow the wording
    tok = tt.train_wordpiece(task["texts"], vocab_size=150)
    y = task["y"]
    teacher_logits = np.stack([4.0 * y, 4.0 * (1 - y)], axis=1).astype(np.float32)  # flipped
    recipe = tt.TextRecipe(
        arch="distilbert", hidden=16, layers=1, heads=2, epochs=20, batch_size=16, lr=1e-2
    )
    kd = tt.train_text_model(
        task["texts"],
        y,
        tok,
        recipe,
        n_classes=2,
        teacher_logits=teacher_logits,
        temperature=2.0,
        soft_weight=1.0,
        seed=0,
    )
    hard = tt.train_text_model(task["texts"], y, tok, recipe, n_classes=2, seed=0)
    pred_kd = tt.predict_logits(kd, tok, task["texts"], max_length=64).argmax(1)
    pred_hard = tt.predict_logits(hard, tok, task["texts"], max_length=64).argmax(1)
    assert (pred_kd != y).mean() > 0.7 and (pred_hard == y).mean() > 0.7


def test_text_task_is_deterministic_balanced_and_planted() -> None:
    a = make_text_task(2400, split="train", seed=3)
    assert a["texts"] == make_text_task(2400, split="train", seed=3)["texts"]
    terms = np.array(a["term"])
    counts = {t: int((terms == t).sum()) for t in GROUPS}
    assert set(counts.values()) == {200}  # every group equally often
    neutral = np.array(
        [
            any(w in t for w in ("market", "train", "story", "town", "neighbour", "game"))
            for t in a["texts"]
        ]
    )
    y = a["y"]
    for t in SHORTCUT_UP:
        assert y[neutral & (terms == t)].mean() > 0.75
    for t in SHORTCUT_DOWN:
        assert y[neutral & (terms == t)].mean() < 0.25
    ev = make_text_task(2400, split="eval", seed=3)
    ev_terms, ev_y = np.array(ev["term"]), ev["y"]
    for t in (*SHORTCUT_UP, *SHORTCUT_DOWN):
        assert 0.3 < ev_y[ev_terms == t].mean() < 0.7  # no shortcut in the evaluation split
    assert 0.45 < ev_y.mean() < 0.55


@pytest.mark.slow
def test_kdaudit_train_text_teacher_and_students(tmp_path: Path) -> None:
    out = tmp_path / "m"
    base = ["train", "--data", "textsynth:240", "--epochs", "1", "--out", str(out), "-q"]
    assert main([*base, "--role", "teacher", "--no-cache"]) == 0
    cache = tmp_path / "cache"
    assert (
        main(
            [
                *base,
                "--role",
                "student",
                "--teacher",
                str(out / "teacher"),
                "--temperature",
                "2,4",
                "--cache-dir",
                str(cache),
            ]
        )
        == 0
    )
    # the teacher's logits were computed once, into the cache, and reused for the second run
    assert len(LogitCache(cache).entries()) == 1
    assert (
        main(
            [
                *base,
                "--role",
                "baseline",
                "--teacher",
                str(out / "teacher"),
                "--cache-dir",
                str(cache),
                "--soft-weight",
                "0",
            ]
        )
        == 0
    )
    assert len(LogitCache(cache).entries()) == 1
    for name in ("teacher", "student_T2", "student_T4", "baseline"):
        info = json.loads((out / name / "kdaudit_train.json").read_text())
        assert info["onnx_max_abs_diff"] < 1e-4
    assert json.loads((out / "student_T4" / "kdaudit_train.json").read_text())["temperature"] == 4.0
    texts = make_text_task(20, split="eval")["texts"]
    for name in ("teacher", "student_T2"):
        hf = load_model(ModelSpec(path=str(out / name), role="student"))
        ox = load_model(ModelSpec(path=str(out / name / "model.onnx"), role="student"))
        np.testing.assert_allclose(hf.predict_texts(texts), ox.predict_texts(texts), atol=1e-5)
    assert (
        load_model(ModelSpec(path=str(out / "teacher"), role="t")).input_names[-1]
        == "token_type_ids"
    )
    assert (
        "token_type_ids"
        not in load_model(ModelSpec(path=str(out / "student_T2"), role="s")).input_names
    )


@pytest.mark.slow
def test_text_demo_small(tmp_path: Path) -> None:
    assert main(["demo", "--text", "--small", "--out", str(tmp_path / "d"), "-q"]) == 0
    report = json.loads((tmp_path / "d" / "report.json").read_text())
    assert "target:Islam" in report["group_fairness"]
    assert report["counterfactual_text"]["config"]["n_changed"] > 0
    assert len(report["temperature_sweep"]) == 2
