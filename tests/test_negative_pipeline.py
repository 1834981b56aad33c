"""Bad input to the CLI's other commands: sharded statistics, text models, training, demo.

One table of (argv, exit code, message fragment) per command family, run in-process
through ``kdaudit.cli.main`` (pypa/build's habit): the exit code, one
``kdaudit: error:`` line (plus an optional ``tip:``), no traceback, nothing written.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from kdaudit.cli import main

N = 60


@pytest.fixture(scope="module")
def f(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    d = tmp_path_factory.mktemp("negpipe")
    rng = np.random.default_rng(5)
    y = rng.integers(0, 2, N)
    sex = np.array(["F", "M"] * (N // 2))
    np.savez(d / "eval.npz", x=rng.normal(size=(N, 3)).astype(np.float32), y=y, sensitive_sex=sex)
    np.savez(d / "y9.npz", y=np.full(N, 9), sensitive_sex=sex)
    for name in ("teacher", "student"):
        np.save(d / f"{name}.npy", rng.normal(size=(N, 2)).astype(np.float32))
    np.save(d / "three.npy", rng.normal(size=(N, 3)).astype(np.float32))
    np.save(d / "short.npy", rng.normal(size=(N - 5, 2)).astype(np.float32))
    nan = rng.normal(size=(N, 2)).astype(np.float32)
    nan[7, 1] = np.nan
    np.save(d / "nan.npy", nan)
    (d / "afile").write_text("x")
    _linear_onnx(d / "linear.onnx", rng.normal(size=(3, 2)))
    (d / "t.csv").write_text("y,txt\n" + "".join(f"{i % 2},word{i % 3} other\n" for i in range(N)))
    # statistics folders: a valid one from two shards, then damaged copies
    stats = d / "stats"
    assert main(_stats_argv(d, stats, "--shards", "0-1/2")) == 0
    for name, edit in DAMAGE.items():
        target = d / f"stats_{name}"
        target.mkdir()
        for p in stats.iterdir():
            (target / p.name).write_bytes(p.read_bytes())
        edit(target)
    (d / "stats_empty").mkdir()
    garbage = d / "stats_garbage"
    garbage.mkdir()
    (garbage / "stats-00000.json").write_text("{not json")
    foreign = d / "stats_foreign"
    foreign.mkdir()
    (foreign / "stats-00000.json").write_text('{"kdaudit_stats": 99}')
    # text: a tokenizer file, a damaged one, model folders with bad config.json
    (d / "bad_tok.json").write_text("{}")
    for name, text in {"cfg_garbage": "{oops", "cfg_list": "[1]", "cfg_noweights": "{}"}.items():
        (d / name).mkdir()
        (d / name / "config.json").write_text(text)
    paths = {p.name: p for p in d.iterdir()}
    paths["dir"] = d
    return paths


def _linear_onnx(path: Path, w: np.ndarray) -> None:
    try:
        import onnx
        from onnx import TensorProto, helper, numpy_helper
    except ImportError:
        return
    graph = helper.make_graph(
        [helper.make_node("MatMul", ["x", "w"], ["logits"])],
        "linear",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["batch", w.shape[0]])],
        [helper.make_tensor_value_info("logits", TensorProto.FLOAT, ["batch", w.shape[1]])],
        [numpy_helper.from_array(w.astype(np.float32), "w")],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    onnx.save(model, path)


def _stats_argv(d: Path, out: Path, *extra: Any) -> list[str]:
    return [
        str(a)
        for a in [
            "stats",
            d / "teacher.npy",
            d / "student.npy",
            "--data",
            d / "eval.npz",
            "--out",
            out,
            "--quiet",
            *extra,
        ]
    ]


def _first_record(folder: Path) -> Path:
    return sorted(folder.glob("stats-*.json"))[0]


def _edit_record(folder: Path, **changes: Any) -> None:
    p = _first_record(folder)
    rec = json.loads(p.read_text())
    rec.update(changes)
    p.write_text(json.dumps(rec))


def _damage_table(folder: Path) -> None:
    for p in folder.glob("stats-*.npz"):
        p.write_bytes(b"not an npz")
        break


# fmt: off
DAMAGE: dict[str, Callable[[Path], None]] = {
    "mixed": lambda p: _edit_record(p, n_classes=7),
    "rows": lambda p: _edit_record(p, start=3),
    "counts": lambda p: _edit_record(p, rows=1, stop=1),
    "table": _damage_table,
}
# fmt: on


def run_cli(argv: list[Any], capsys: pytest.CaptureFixture[str]) -> tuple[int, str]:
    code = main([str(a) for a in argv])
    return code, capsys.readouterr().err


def assert_one_line_error(err: str, fragment: str) -> None:
    lines = [ln for ln in err.splitlines() if ln.strip() and not ln.startswith("kdaudit: warning")]
    assert lines and lines[0].startswith("kdaudit: error: "), err
    assert "Traceback" not in err, err
    assert all(ln.startswith("tip: ") for ln in lines[1:]), err
    assert fragment in lines[0], err


def _from_stats(f: dict[str, Path], folder: str, *extra: Any) -> list[Any]:
    return [
        "compare",
        "--from-stats",
        f["dir"] / folder,
        "--out",
        f["dir"] / "o",
        "--quiet",
        *extra,
    ]


def _cmp_text(f: dict[str, Path], *extra: Any) -> list[Any]:
    d = f["dir"]
    return [
        "compare",
        d / "teacher.npy",
        d / "student.npy",
        "--data",
        d / "t.csv",
        "--label",
        "y",
        "--text-column",
        "txt",
        "--out",
        d / "o",
        "--quiet",
        "--bootstrap",
        "0",
        *extra,
    ]


# fmt: off
CLI: list[tuple[str, Callable[[dict[str, Path]], list[Any]], int, str]] = [
    # ---- kdaudit stats / compare --from-stats (sharded statistics)
    ("stats-out-is-file", lambda f: _stats_argv(f["dir"], f["afile"]), 2, "is a file; expected a folder"),
    ("stats-classes", lambda f: [*_stats_argv(f["dir"], f["dir"] / "s1"), "--baseline", f["three.npy"]], 2, "same number of classes"),
    ("stats-labels", lambda f: ["stats", f["teacher.npy"], f["student.npy"], "--data", f["y9.npz"], "--out", f["dir"] / "s2"], 2, "go up to 9"),
    ("stats-short-logits", lambda f: [*_stats_argv(f["dir"], f["dir"] / "s3"), "--baseline", f["short.npy"]], 2, "rows of logits"),
    ("stats-nan-logits", lambda f: [*_stats_argv(f["dir"], f["dir"] / "s4"), "--baseline", f["nan.npy"]], 2, "NaN or inf (first at row 7)"),
    ("stats-too-many-shards", lambda f: _stats_argv(f["dir"], f["dir"] / "s5", "--shards", "0-0/1000"), 2, "more shards than the data has rows"),
    ("stats-out-under-file", lambda f: _stats_argv(f["dir"], f["afile"] / "sub"), 2, "Cannot create the statistics folder"),
    ("stats-uneven-shards", lambda f: _stats_argv(f["dir"], f["dir"] / "s7", "--shards", "0-0/50"), 2, "cannot be cut into 50 non-empty shards"),
    ("stats-onnx-needs-cache", lambda f: ["stats", f["dir"] / "linear.onnx", f["student.npy"], "--data", f["eval.npz"], "--out", f["dir"] / "s8", "--quiet"], 2, "needs inference"),
    ("infer-logits-file", lambda f: ["infer", f["teacher.npy"], "--data", f["eval.npz"], "--cache-dir", f["dir"] / "c", "--quiet"], 2, "nothing to infer"),
    ("from-stats-missing", lambda f: _from_stats(f, "nope"), 2, "does not exist"),
    ("from-stats-empty", lambda f: _from_stats(f, "stats_empty"), 2, "No statistics"),
    ("from-stats-garbage", lambda f: _from_stats(f, "stats_garbage"), 2, "is unreadable"),
    ("from-stats-foreign", lambda f: _from_stats(f, "stats_foreign"), 2, "is not a kdaudit statistics record"),
    ("from-stats-mixed", lambda f: _from_stats(f, "stats_mixed"), 2, "come from different runs"),
    ("from-stats-rows", lambda f: _from_stats(f, "stats_rows"), 2, "covers rows"),
    ("from-stats-counts", lambda f: _from_stats(f, "stats_counts"), 2, "Shard 0"),
    ("from-stats-table", lambda f: _from_stats(f, "stats_table"), 2, "are damaged"),
    ("from-stats-embedding", lambda f: _from_stats(f, "stats", "--embedding", f["afile"]), 2, "need the rows"),
    ("ray-no-cache", lambda f: ["compare", f["teacher.npy"], f["student.npy"], "--data", f["eval.npz"], "--ray", "auto", "--no-cache", "--out", f["dir"] / "o"], 2, "--ray"),
    # ---- text data and text models
    ("embedding-model-unknown", lambda f: _cmp_text(f, "--embedding-model", "ghost"), 2, "invalid choice"),
    ("embedding-model-not-text", lambda f: _cmp_text(f, "--embedding-model", "teacher"), 2, "is not a text model"),
    ("embedding-model-no-texts", lambda f: ["compare", f["teacher.npy"], f["student.npy"], "--data", f["eval.npz"], "--embedding-model", "teacher", "--out", f["dir"] / "o", "--quiet"], 2, "needs text data"),
    ("counterfactual-terms-no-texts", lambda f: ["compare", f["teacher.npy"], f["student.npy"], "--data", f["eval.npz"], "--counterfactual-terms", "builtin", "--out", f["dir"] / "o", "--quiet"], 2, "needs text data"),
    ("hf-config-garbage", lambda f: [*_cmp_text(f)[:1], f["cfg_garbage"], f["student.npy"], *_cmp_text(f)[3:]], 2, "as JSON"),
    ("hf-config-list", lambda f: [*_cmp_text(f)[:1], f["cfg_list"], f["student.npy"], *_cmp_text(f)[3:]], 2, "is not a JSON object"),
    ("hf-no-weights", lambda f: [*_cmp_text(f)[:1], f["cfg_noweights"], f["student.npy"], *_cmp_text(f)[3:]], 2, "no model.safetensors"),
    # ---- kdaudit train and demo
    ("train-n-train", lambda f: ["train", "--role", "baseline", "--n-train", "1", "--out", f["dir"] / "tr", "--quiet"], 2, "--n-train >= 2"),
    ("train-text-no-texts", lambda f: ["train", "--role", "teacher", "--data", f["eval.npz"], "--text-column", "txt", "--out", f["dir"] / "tr", "--quiet"], 2, "holds no texts"),
    ("train-text-arch", lambda f: ["train", "--role", "teacher", "--data", f["t.csv"], "--label", "y", "--text-column", "txt", "--arch", "gpt9", "--out", f["dir"] / "tr", "--quiet"], 2, "--arch for text models"),
    ("train-text-student-no-teacher", lambda f: ["train", "--role", "student", "--data", f["t.csv"], "--label", "y", "--text-column", "txt", "--out", f["dir"] / "tr", "--quiet"], 2, "needs --teacher"),
    ("train-text-teacher-not-text", lambda f: ["train", "--role", "student", "--data", f["t.csv"], "--label", "y", "--text-column", "txt", "--teacher", f["teacher.npy"], "--out", f["dir"] / "tr", "--quiet"], 2, "is not a text model"),
    ("train-teacher-missing", lambda f: ["train", "--role", "student", "--data", f["eval.npz"], "--teacher", f["dir"] / "none.onnx", "--out", f["dir"] / "tr", "--quiet"], 2, "does not exist"),
    ("demo-update-docs-tabular", lambda f: ["demo", "--tabular", "--update-docs", f["afile"], "--out", f["dir"] / "dm", "--quiet"], 2, "--update-docs"),
    ("demo-update-docs-missing", lambda f: ["demo", "--update-docs", f["dir"] / "none.md", "--out", f["dir"] / "dm", "--quiet"], 2, "is not a file"),
    ("preprocess-not-table", lambda f: ["compare", f["teacher.npy"], f["student.npy"], "--data", f["eval.npz"], "--teacher-preprocess", "[1]", "--quiet"], 2, "preprocess"),
]
# fmt: on


@pytest.mark.parametrize(
    ("argv", "code", "fragment"), [c[1:] for c in CLI], ids=[c[0] for c in CLI]
)
def test_bad_pipeline_arguments(
    f: dict[str, Path],
    capsys: pytest.CaptureFixture[str],
    argv: Callable[[dict[str, Path]], list[Any]],
    code: int,
    fragment: str,
) -> None:
    got, err = run_cli(argv(f), capsys)
    assert got == code, err
    assert_one_line_error(err, fragment)
    assert not (f["dir"] / "o" / "report.json").exists()


def test_text_tokenizer_files(f: dict[str, Path]) -> None:
    pytest.importorskip("tokenizers")
    from kdaudit.errors import InputDataError, UsageError
    from kdaudit.models.text import TextTokenizer

    with pytest.raises(InputDataError, match="does not exist"):
        TextTokenizer(f["dir"] / "none.json")
    with pytest.raises(InputDataError, match="Could not read the model tokenizer"):
        TextTokenizer(f["bad_tok.json"])
    from kdaudit.train.text import train_wordpiece

    tok = train_wordpiece(["a small text", "another text"], vocab_size=40)
    tok.save(str(f["dir"] / "tok.json"))
    with pytest.raises(UsageError, match="--max-length for the model must be >= 2"):
        TextTokenizer(f["dir"] / "tok.json", max_length=1)
