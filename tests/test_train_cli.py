"""``kdaudit train`` / ``kdaudit data`` runners, end to end on tiny sizes."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from kdaudit.cli import COMMANDS, build_parser
from kdaudit.data import load_dataset
from kdaudit.errors import KDAuditError, UsageError


def _train(argv: list[str]) -> int:
    """``kdaudit train ARGV`` through the CLI's parser and runner, exceptions unmapped."""
    return COMMANDS["train"](build_parser().parse_args(["train", *argv]))


def _data(argv: list[str]) -> int:
    return COMMANDS["data"](build_parser().parse_args(["data", *argv]))


TINY = [
    "--n-train",
    "120",
    "--n-eval",
    "40",
    "--epochs",
    "1",
    "--batch-size",
    "32",
    "--quiet",
    "--no-cache",
]


def test_tiny_end_to_end_train(tmp_path, capsys: pytest.CaptureFixture[str]) -> None:
    torch.set_num_threads(1)
    out = str(tmp_path / "m")
    assert _train(["--role", "teacher", "--arch", "lenet5", "--out", out, *TINY]) == 0
    assert _train(["--role", "baseline", "--out", out, *TINY]) == 0
    cache = tmp_path / "cache"
    assert (
        _train(
            [
                "--role",
                "student",
                "--teacher",
                f"{out}/teacher_seed0.onnx",
                "--temperature",
                "2,4",
                "--seeds",
                "0,1",
                "--out",
                out,
                "--cache-dir",
                str(cache),
                *[a for a in TINY if a != "--no-cache"],
            ]
        )
        == 0
    )
    assert capsys.readouterr().out == ""  # --quiet
    names = sorted(p.name for p in (tmp_path / "m").glob("*.onnx"))
    assert names == [
        "baseline_seed0.onnx",
        "student_T2_seed0.onnx",
        "student_T2_seed1.onnx",
        "student_T4_seed0.onnx",
        "student_T4_seed1.onnx",
        "teacher_seed0.onnx",
    ]
    man = json.loads((tmp_path / "m" / "student_T4_seed1.json").read_text())
    assert man["role"] == "student" and man["temperature"] == 4.0 and man["seed"] == 1
    assert man["soft_weight"] == 0.9 and man["arch"] == "lenet5"
    assert man["teacher"]["name"] == "teacher_seed0"
    assert man["teacher"]["logits"] == "logit_cache"  # teacher logits from the engine's cache
    from kdaudit.engine.cache import LogitCache

    assert len(LogitCache(cache).entries()) == 1  # one entry shared by all 4 students
    assert man["preprocess"]["transpose"] == [2, 0, 1]
    assert man["onnx_check"]["max_scaled_diff"] <= 1e-5
    assert "eval_accuracy" in man["metrics"]


def test_train_prints_without_quiet(tmp_path, capsys: pytest.CaptureFixture[str]) -> None:
    argv = [a for a in TINY if a != "--quiet"]
    assert _train(["--role", "baseline", "--out", str(tmp_path), *argv]) == 0
    assert "wrote 1 model" in capsys.readouterr().out


def test_train_from_a_data_file(tmp_path) -> None:
    from kdaudit.data.tabular import make_tabular

    arr = make_tabular(300, seed=0)
    np.savez(tmp_path / "train.npz", x=arr["x"], y=arr["y"])
    assert (
        _train(
            [
                "--role",
                "teacher",
                "--data",
                str(tmp_path / "train.npz"),
                "--out",
                str(tmp_path / "m"),
                "--epochs",
                "2",
                "--quiet",
            ]
        )
        == 0
    )
    man = json.loads((tmp_path / "m" / "teacher_seed0.json").read_text())
    assert man["arch"] == "mlp-large" and man["input_shape"] == [12]


@pytest.mark.parametrize(
    ("argv", "match"),
    [
        (["--role", "student"], "--teacher"),
        (
            ["--role", "student", "--teacher", "x.onnx", "--soft-weight", "0", "--seeds", "a"],
            "--seeds",
        ),
        (["--role", "baseline", "--temperature", ""], "--temperature"),
        (["--role", "baseline", "--init-from-teacher"], "--teacher"),
        (["--role", "baseline", "--lr", "0"], "--lr"),
    ],
)
def test_train_usage_errors(tmp_path, argv: list[str], match: str) -> None:
    with pytest.raises(UsageError, match=match):
        _train([*argv, "--out", str(tmp_path), *TINY])


def test_missing_teacher_file(tmp_path) -> None:
    with pytest.raises(KDAuditError) as info:
        _train(
            [
                "--role",
                "student",
                "--teacher",
                str(tmp_path / "nope.onnx"),
                "--out",
                str(tmp_path),
                *TINY,
            ]
        )
    assert info.value.exit_code == 2


def test_data_command_writes_loadable_npz(tmp_path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "tf.npz"
    assert (
        _data(
            [
                "trifeature",
                "--out",
                str(out),
                "--n",
                "50",
                "--split",
                "train",
                "--correlation",
                "0.5",
                "--seed",
                "2",
            ]
        )
        == 0
    )
    assert "wrote" in capsys.readouterr().out
    ds = load_dataset(out)
    assert ds.n_samples == 50 and ds.x.shape == (50, 32, 32, 3) and ds.x.dtype == np.uint8
    assert set(ds.sensitive_features) == {"color", "texture"}
    with pytest.raises(UsageError):
        _data(["trifeature", "--out", str(tmp_path / "x.txt"), "--quiet"])
