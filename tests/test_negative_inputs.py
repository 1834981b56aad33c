"""Bad input files and training options: one table per kind -> error family and message.

Kinds: data files (npz, CSV, Parquet sets, built-ins, real-world loaders, text columns),
model files (logits files, ONNX, torch state_dicts and code formats, architectures),
the trainer's options, and output paths. Same habit as tests/test_negative_analyzers.py:
public entry points, the exception family (which fixes the exit code) and a key fragment
of the one-line message.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from kdaudit.data import load_dataset
from kdaudit.errors import (
    AuditError,
    InputDataError,
    KDAuditError,
    ModelLoadError,
    TrustError,
    UsageError,
)
from kdaudit.models.base import ModelSpec
from kdaudit.models.loader import load_model

N = 40


def _onnx(path: Path, nodes: list[Any], n_in: int, out_shape: list[Any], inits: list[Any]) -> None:
    import onnx
    from onnx import TensorProto, helper

    graph = helper.make_graph(
        nodes,
        "g",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["batch", n_in])],
        [helper.make_tensor_value_info("logits", TensorProto.FLOAT, out_shape)],
        inits,
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    onnx.save(model, path)


@pytest.fixture(scope="module")
def d(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Every bad file of the tables below, written once."""
    d = tmp_path_factory.mktemp("neginputs")
    rng = np.random.default_rng(0)
    y = rng.integers(0, 2, N)
    x = rng.normal(size=(N, 3)).astype(np.float32)
    np.savez(d / "ok.npz", x=x, y=y, sensitive_sex=np.array(["F", "M"] * (N // 2)))
    np.savez(d / "noX.npz", y=y)
    try:
        from safetensors.numpy import save_file

        save_file({"w": np.zeros((2, 2), np.float32)}, str(d / "w.safetensors"))
    except ImportError:
        pass
    np.savez(d / "y2d.npz", x=x, y=y.reshape(-1, 2))
    np.savez(d / "yfloat.npz", x=x, y=y + 0.5)
    np.savez(d / "ystr.npz", x=x, y=np.array(["a"] * N))
    np.savez(d / "sens2d.npz", x=x, y=y, sensitive_sex=np.zeros((N, 2)))
    np.savez(d / "scalar.npz", x=np.float32(1.0), y=y)
    np.savez(d / "text.npz", x=np.array(["a text"] * N), y=y)
    # a .npy header that claims more bytes than the file holds
    np.save(d / "big.npy", np.zeros((4, 2), np.float32))
    raw = (d / "big.npy").read_bytes().replace(b"(4, 2)", b"(9, 9)")
    (d / "truncated.npy").write_bytes(raw)
    np.save(d / "objects.npy", np.array([{"a": 1}, None], dtype=object), allow_pickle=True)
    np.save(d / "strings.npy", np.array([["a", "b"]] * N))
    np.save(d / "one_col.npy", np.zeros((N, 1), np.float32))
    np.save(d / "logits.npy", rng.normal(size=(N, 2)).astype(np.float32))
    np.savez(d / "two_arrays.npz", a=np.zeros((N, 2)), b=np.zeros((N, 2)))
    (d / "garbage.npz").write_bytes(b"PK\x03\x04 this is not a zip")
    (d / "t.csv").write_text(
        "y,a,b,s,txt\n" + "".join(f"{i % 2},{i},x{i},s{i % 2},hi\n" for i in range(N))
    )
    (d / "sens_two_cols.csv").write_text("p,q\n" + "1,2\n" * N)
    (d / "sens.txt").write_text("a\n" * N)
    (d / "cf_terms.txt").write_text("# nothing here\n")
    (d / "cf_terms_bad.txt").write_text("he\n")
    (d / "notes.json").write_text('{"kdaudit_parquet_set": 1, "files": "x"}')
    (d / "set_empty.json").write_text('{"kdaudit_parquet_set": 1, "files": []}')
    (d / "set_nopath.json").write_text('{"kdaudit_parquet_set": 1, "files": [{"rows": 1}]}')
    (d / "set_missing.json").write_text(
        '{"kdaudit_parquet_set": 1, "files": [{"path": "nope.parquet"}]}'
    )
    (d / "afile").write_text("x")
    (d / "bad.safetensors").write_bytes(b"\x00" * 16)
    (d / "bad.pt").write_bytes(b"not a zip or pickle")
    (d / "adult_bad.test").write_text(
        "|1x3 Cross validator\n25, Private, 226802, 11th, 7, Never-married, Machine-op-inspct, Own-child, Black, Male, 0, 0, 40, United-States, maybe.\n"
    )
    (d / "german_bad.data").write_text(
        "A11 6 A34 A43 1169 A65 A75 4 A99 A101 4 A121 67 A143 A152 2 A173 1 A192 A201 1\n"
    )
    (d / "hatexplain_cols.csv").write_text("a,b\n1,2\n")
    (d / "hatexplain_ann.csv").write_text('id,annotators,post_tokens\np1,"[{",[]\n')
    (d / "compas_none.csv").write_text(
        "id,days_b_screening_arrest,is_recid,c_charge_degree,score_text,sex,race,age,"
        "priors_count,two_year_recid,age_cat,juv_fel_count,juv_misd_count,juv_other_count\n"
        "1,100,1,F,Low,Male,Other,30,0,0,25 - 45,0,0,0\n"
    )
    try:
        from onnx import helper, numpy_helper

        w = numpy_helper.from_array(rng.normal(size=(3, 2)).astype(np.float32), "w")
        _onnx(
            d / "linear.onnx",
            [helper.make_node("MatMul", ["x", "w"], ["logits"])],
            3,
            ["batch", 2],
            [w],
        )
        _onnx(
            d / "flat.onnx",
            [
                helper.make_node("MatMul", ["x", "w"], ["m"]),
                helper.make_node("ReduceSum", ["m"], ["logits"], keepdims=0),
            ],
            3,
            ["batch"],
            [w],
        )
    except ImportError:
        pass
    return d


def _builtin(spec: str) -> Any:
    from kdaudit.data.builtin import load_builtin

    return load_builtin(spec)


def _need(path: Path) -> Path:
    if not path.exists():
        pytest.skip(f"{path.name} needs an optional package")
    return path


def _texts() -> Any:
    from kdaudit.data.text import TextInputs

    return TextInputs.from_values(["a", "b"])


def _model(d: Path, name: str, **kw: Any) -> Any:
    return load_model(ModelSpec(path=str(_need(d / name)), role="teacher", **kw), device="cpu")


def _predict(d: Path, name: str, x: Any, **kw: Any) -> Any:
    return _model(d, name, **kw).predict_batch(x)


# ---------------------------------------------------------------------------- data files
# fmt: off
DATA: list[tuple[str, Callable[[Path], Any], type[Exception], str]] = [
    ("npz-labels-2d", lambda d: load_dataset(d / "y2d.npz"), InputDataError, "1-D"),
    ("npz-labels-float", lambda d: load_dataset(d / "yfloat.npz"), InputDataError, "non-integer values"),
    ("npz-labels-str", lambda d: load_dataset(d / "ystr.npz"), InputDataError, "integer class labels"),
    ("npz-sensitive-2d", lambda d: load_dataset(d / "sens2d.npz"), InputDataError, "to be 1-D"),
    ("npz-scalar-x", lambda d: load_dataset(d / "scalar.npz"), InputDataError, "is a scalar"),
    ("npz-garbage", lambda d: load_dataset(d / "garbage.npz"), InputDataError, "garbage.npz"),
    ("csv-missing-feature", lambda d: load_dataset(d / "t.csv", features=["zz"]), UsageError, "Feature columns ['zz']"),
    ("csv-features-and-text", lambda d: load_dataset(d / "t.csv", features=["a"], text_column="txt"), UsageError, "give one of them"),
    ("csv-non-numeric-feature", lambda d: load_dataset(d / "t.csv", features=["b"]), InputDataError, "not numeric"),
    ("builtin-unknown", lambda d: _builtin("imagenet:1"), UsageError, "Unknown built-in dataset"),
    ("tabular-sensitive", lambda d: load_dataset("tabular:100", sensitive=["shoe"]), UsageError, "no sensitive attribute 'shoe'"),
    ("textsynth-n", lambda d: load_dataset("textsynth:many"), UsageError, "integer N"),
    ("adult-no-path", lambda d: load_dataset("adult"), UsageError, "got no path"),
    ("adult-labels", lambda d: load_dataset(f"adult:{d / 'adult_bad.test'}"), InputDataError, "adult_bad.test"),
    ("german-codes", lambda d: load_dataset(f"german:{d / 'german_bad.data'}"), InputDataError, "german_bad.data"),
    ("compas-filter", lambda d: load_dataset(f"compas:{d / 'compas_none.csv'}"), InputDataError, "compas_none.csv"),
    ("hatexplain-no-path", lambda d: load_dataset("hatexplain"), UsageError, "hatexplain needs a file"),
    ("hatexplain-missing", lambda d: load_dataset(f"hatexplain:{d / 'none.csv'}"), InputDataError, "does not exist"),
    ("hatexplain-columns", lambda d: load_dataset(f"hatexplain:{d / 'hatexplain_cols.csv'}"), InputDataError, "does not look like"),
    ("hatexplain-annotations", lambda d: load_dataset(f"hatexplain:{d / 'hatexplain_ann.csv'}"), InputDataError, "unreadable annotations"),
    ("parquet-set-bad-manifest", lambda d: load_dataset(d / "notes.json"), InputDataError, "is not a Parquet-set manifest"),
    ("parquet-set-empty", lambda d: load_dataset(d / "set_empty.json"), InputDataError, "lists no files"),
    ("parquet-set-no-path", lambda d: load_dataset(d / "set_nopath.json"), InputDataError, "has no 'path'"),
    ("parquet-set-missing", lambda d: load_dataset(d / "set_missing.json"), InputDataError, "does not exist"),
]
# fmt: on


@pytest.mark.parametrize(
    ("call", "exc", "fragment"), [c[1:] for c in DATA], ids=[c[0] for c in DATA]
)
def test_bad_data_file(
    d: Path, call: Callable[[Path], Any], exc: type[Exception], fragment: str
) -> None:
    with pytest.raises(exc) as info:
        call(d)
    assert fragment in str(info.value), str(info.value)
    if isinstance(info.value, KDAuditError):
        assert info.value.exit_code == 2


def test_text_and_term_inputs(d: Path) -> None:
    from kdaudit.data.counterfactual_text import TermSwapper
    from kdaudit.data.text import TextInputs, member_lists

    with pytest.raises(InputDataError, match="one text per row"):
        TextInputs(np.array([["a", "b"]]))
    with pytest.raises(InputDataError, match="is not a list"):
        member_lists(["[a, b]", "plain words"], "target")
    with pytest.raises(UsageError, match="two different terms"):
        TermSwapper((("he", "he", "gender"),))
    with pytest.raises(InputDataError, match="names no pairs"):
        TermSwapper.from_file(d / "cf_terms.txt")
    with pytest.raises(InputDataError, match="is not 'term,other"):
        TermSwapper.from_file(d / "cf_terms_bad.txt")


# --------------------------------------------------------------------------- model files
X3 = np.zeros((4, 3), np.float32)

# fmt: off
MODELS: list[tuple[str, Callable[[Path], Any], type[Exception], str]] = [
    ("logits-one-column", lambda d: _model(d, "one_col.npy"), InputDataError, "n_classes >= 2"),
    ("logits-strings", lambda d: _model(d, "strings.npy"), InputDataError, "expected numbers"),
    ("logits-objects", lambda d: _model(d, "objects.npy"), InputDataError, "objects.npy"),
    ("logits-truncated", lambda d: _model(d, "truncated.npy"), InputDataError, "truncated"),
    ("logits-two-arrays", lambda d: _model(d, "two_arrays.npz"), InputDataError, "two_arrays.npz"),
    ("logits-classes", lambda d: _model(d, "logits.npy", n_classes=3), InputDataError, "has 2 classes; expected 3"),
    ("logits-takes-no-inputs", lambda d: _predict(d, "logits.npy", X3), UsageError, "takes no inputs"),
    ("spec-outputs", lambda d: ModelSpec(path="m.onnx", role="teacher", outputs="scores"), UsageError, "outputs for the teacher"),
    ("spec-n-classes", lambda d: ModelSpec(path="m.onnx", role="teacher", n_classes=0), UsageError, "n_classes for the teacher must be >= 1"),
    ("onnx-not-logits-file", lambda d: _model(d, "linear.onnx").logits(), UsageError, "is not a logits file"),
    ("onnx-texts", lambda d: _predict(d, "linear.onnx", _texts()), InputDataError, "holds texts"),
    ("onnx-1d-output", lambda d: _predict(d, "flat.onnx", X3), InputDataError, "to output (batch, n_classes)"),
    ("onnx-classes", lambda d: _predict(d, "linear.onnx", X3, n_classes=5), InputDataError, "output 2 classes; expected 5"),
    ("onnx-wrong-width", lambda d: _predict(d, "linear.onnx", np.zeros((4, 7), np.float32)), InputDataError, "expects input 'x' samples of shape [3]"),
    ("model-directory", lambda d: load_model(ModelSpec(path=str(d), role="teacher")), InputDataError, "directory"),
    ("state-dict-garbage", lambda d: _model(d, "bad.safetensors", arch="mlp"), KDAuditError, "bad.safetensors"),
    ("torchscript-untrusted", lambda d: _model(d, "bad.pt", format="torchscript"), TrustError, "--trust-code"),
    ("torchscript-broken", lambda d: _model(d, "bad.pt", format="torchscript", trust_code=True).predict_batch(X3), ModelLoadError, "Could not load"),
    ("arch-code-untrusted", lambda d: _model(d, "w.safetensors", arch="mymod:build"), TrustError, "--trust-code"),
    ("arch-not-importable", lambda d: _model(d, "w.safetensors", arch="no_such_module_kd:build", trust_code=True).predict_batch(X3), KDAuditError, "no_such_module_kd"),
    ("arch-no-file", lambda d: _model(d, "w.safetensors", arch="nofile.py:build", trust_code=True).predict_batch(X3), KDAuditError, "nofile.py"),
    ("arch-not-callable", lambda d: _model(d, "w.safetensors", arch="math:pi", trust_code=True).predict_batch(X3), KDAuditError, "is not callable"),
]
# fmt: on


@pytest.mark.parametrize(
    ("call", "exc", "fragment"), [c[1:] for c in MODELS], ids=[c[0] for c in MODELS]
)
def test_bad_model_file(
    d: Path, call: Callable[[Path], Any], exc: type[Exception], fragment: str
) -> None:
    with pytest.raises(exc) as info:
        call(d)
    assert fragment in str(info.value), str(info.value)
    assert "\n" not in str(info.value)


# --------------------------------------------------------------------- trainer options
def _recipe(**kw: Any) -> Any:
    from kdaudit.train.trainer import Recipe

    return Recipe(arch="mlp", **kw)


def _train_data(**kw: Any) -> Any:
    from kdaudit.train.trainer import TrainData

    args: dict[str, Any] = {"x": np.zeros((10, 3), np.float32), "y": np.zeros(10), "n_classes": 2}
    args.update(kw)
    return TrainData(**args)


def _run(**kw: Any) -> Any:
    from kdaudit.train.trainer import run_training

    args: dict[str, Any] = {"role": "baseline", "out_dir": None, "device": "cpu"}
    args.update(kw)
    return run_training(_train_data(), _recipe(epochs=1, batch_size=4), **args)


# fmt: off
TRAIN: list[tuple[str, Callable[[Path], Any], type[Exception], str]] = [
    ("batch-size", lambda d: _recipe(batch_size=1), UsageError, "--batch-size >= 2"),
    ("optimizer", lambda d: _recipe(optimizer="lion"), UsageError, "optimizer 'sgd' or 'adam'"),
    ("grad-clip", lambda d: _recipe(grad_clip=0.0), UsageError, "--grad-clip > 0"),
    ("schedule", lambda d: _recipe(schedule="step"), UsageError, "schedule 'cosine' or 'constant'"),
    ("data-rows", lambda d: _train_data(y=np.zeros(9)), InputDataError, "10 rows but labels have 9"),
    ("data-too-small", lambda d: _train_data(x=np.zeros((1, 3), np.float32), y=np.zeros(1)), InputDataError, "at least 2 samples"),
    ("role", lambda d: _run(role="assistant"), UsageError, "--role teacher, baseline or student"),
    ("iterations", lambda d: _run(iterations=0), UsageError, "--iterations >= 1"),
    ("seeds", lambda d: _run(seeds=()), UsageError, "at least one seed"),
    ("student-needs-teacher", lambda d: _run(role="student"), UsageError, "needs --teacher"),
    ("augment-needs-images", lambda d: _run_augment(), UsageError, "--augment"),
    ("teacher-both", lambda d: _teacher(module=object(), onnx_path="x.onnx"), UsageError, "exactly one of module or onnx_path"),
    ("teacher-broken-onnx", lambda d: _teacher(onnx_path=str(d / "bad.pt")), ModelLoadError, "Could not load teacher"),
    ("teacher-bare-safetensors", lambda d: _load_teacher(d / "bad.safetensors"), UsageError, "--teacher-arch"),
    ("teacher-unknown-kind", lambda d: _load_teacher(d / "ok.npz"), UsageError, "Cannot use"),
    ("train-on-strings", lambda d: _dataset_data(d / "text.npz"), InputDataError, "the trainer takes numbers"),
    ("train-eval-no-x", lambda d: _dataset_data(d / "ok.npz", eval_spec=str(d / "noX.npz")), InputDataError, "needs one input array 'x'"),
    ("zoo-depth", lambda d: _zoo("resnet8", depth=9), UsageError, "6n+2"),
    ("zoo-image-shape", lambda d: _zoo("lenet5", shape=(3,)), UsageError, "image input shape"),
    ("study-temperatures", lambda d: _study(temperatures=(0.0,)), UsageError, "positive temperatures"),
    ("study-seeds", lambda d: _study(n_seeds=0), UsageError, "at least one seed per model"),
    ("export-one-row", lambda d: _export_one_row(d), InputDataError, "at least 2 check rows"),
    ("weights-garbage", lambda d: _load_weights(d), ModelLoadError, "Could not load weights"),
]
# fmt: on


def _run_augment() -> Any:
    from kdaudit.train.trainer import run_training

    recipe = _recipe(epochs=1, batch_size=4, augment=True)
    return run_training(_train_data(), recipe, role="baseline", out_dir=None, device="cpu")


def _teacher(**kw: Any) -> Any:
    from kdaudit.train.trainer import TeacherModel

    return TeacherModel(**kw)


def _load_teacher(path: Path) -> Any:
    from kdaudit.train.trainer import load_teacher

    return load_teacher(path)


def _dataset_data(spec: Path, **kw: Any) -> Any:
    from kdaudit.train.trainer import dataset_data

    return dataset_data(str(spec), **kw)


def _zoo(name: str, *, depth: int | None = None, shape: tuple[int, ...] = (3, 32, 32)) -> Any:
    from kdaudit.models import zoo

    if depth is not None:
        return zoo.CifarResNet(depth=depth, n_classes=2)
    return zoo.build_model(name, n_classes=2, input_shape=shape)


def _study(**kw: Any) -> Any:
    from kdaudit.train.study import run_study

    return run_study(out_dir=None, **kw)


def _export_one_row(d: Path) -> Any:
    from kdaudit.models.zoo import build_model
    from kdaudit.train.export import export_onnx

    model = build_model("mlp", n_classes=2, input_shape=(3,))
    return export_onnx(model, d / "one.onnx", check_input=np.zeros((1, 3), np.float32))


def _load_weights(d: Path) -> Any:
    from kdaudit.models.zoo import build_model
    from kdaudit.train.export import load_safetensors

    return load_safetensors(
        build_model("mlp", n_classes=2, input_shape=(3,)), d / "bad.safetensors"
    )


@pytest.mark.parametrize(
    ("call", "exc", "fragment"), [c[1:] for c in TRAIN], ids=[c[0] for c in TRAIN]
)
def test_bad_training_option(
    d: Path, call: Callable[[Path], Any], exc: type[Exception], fragment: str
) -> None:
    pytest.importorskip("torch")
    with pytest.raises(exc) as info:
        call(d)
    assert fragment in str(info.value), str(info.value)


# ------------------------------------------------------------------- output locations
def test_output_paths(d: Path) -> None:
    from kdaudit.export import check_rows_path
    from kdaudit.report.writer import write_text_atomic
    from kdaudit.safety import probe_output_dir, probe_output_file, regular_file

    with pytest.raises(UsageError, match="is a file; expected a folder"):
        probe_output_dir(d / "afile")
    with pytest.raises(UsageError, match="cannot be created"):
        probe_output_dir(d / "afile" / "sub")
    with pytest.raises(UsageError, match="cannot be created"):
        probe_output_file(d / "afile" / "sub" / "j.xml", what="JUnit file")
    with pytest.raises(InputDataError, match="does not exist"):
        regular_file(d / "none.bin", "model")
    (d / "folder.parquet").mkdir(exist_ok=True)
    with pytest.raises(UsageError, match="is a folder"):
        check_rows_path(d / "folder.parquet")
    with pytest.raises(UsageError, match="is a directory"):
        write_text_atomic(d, "x")
    with pytest.raises(UsageError, match="is a file, not a directory"):
        write_text_atomic(d / "afile" / "x.txt", "x")


def test_errors_keep_their_families() -> None:
    assert issubclass(TrustError, InputDataError) and issubclass(ModelLoadError, AuditError)
    assert json.loads(json.dumps({"ok": True}))["ok"]


# ------------------------------------------------------- more files: Parquet sets, ONNX, torch
@pytest.fixture(scope="module")
def e(d: Path) -> Path:
    """Files that need pandas/pyarrow/onnx/torch; rows needing a missing one are skipped."""
    import pandas as pd

    rng = np.random.default_rng(1)
    frame = pd.DataFrame({"y": rng.integers(0, 2, 10), "a": rng.normal(size=10)})
    try:
        import pyarrow  # noqa: F401

        (d / "pq_garbage").mkdir()
        (d / "pq_garbage" / "x.parquet").write_bytes(b"not parquet at all")
        (d / "pq_cols").mkdir()
        frame.to_parquet(d / "pq_cols" / "a.parquet")
        frame[["y"]].to_parquet(d / "pq_cols" / "b.parquet")
        (d / "pq_empty").mkdir()
        frame.iloc[:0].to_parquet(d / "pq_empty" / "a.parquet")
        (d / "pq_label").mkdir()
        frame.assign(y=["cat"] * 10).to_parquet(d / "pq_label" / "a.parquet")
        frame.to_parquet(d / "one.parquet")
        (d / "set_rows.json").write_text(
            json.dumps({"kdaudit_parquet_set": 1, "files": [{"path": "one.parquet", "rows": 3}]})
        )
        (d / "no_parquet").mkdir()
    except ImportError:
        pass
    # a .npy whose header says format version 3.0 (numpy writes 1.0/2.0 only)
    raw = bytearray((d / "big.npy").read_bytes())
    raw[6] = 3
    (d / "v3.npy").write_bytes(bytes(raw))
    (d / "garbage.npy").write_bytes(b"\x93NUMPY garbage")
    np.savez(
        d / "sens_void.npz",
        x=np.zeros((N, 2)),
        y=np.zeros(N, int),
        sensitive_v=np.zeros(N, dtype=[("a", "i4")]),
    )
    (d / "adult_nonnum.test").write_text(
        "|1x3 Cross validator\n"
        "abc, Private, 226802, 11th, 7, Never-married, Machine-op-inspct, Own-child, Black, Male, 0, 0, 40, United-States, <=50K.\n"
    )
    (d / "german_nonnum.data").write_text(
        "A11 six A34 A43 1169 A65 A75 4 A93 A101 4 A121 67 A143 A152 2 A173 1 A192 A201 1\n"
    )
    (d / "hx_quote.csv").write_text('id,annotators,post_tokens\n"p1,"[\n')
    try:
        import torch

        torch.save([1, 2, 3], d / "list.pt")
        torch.save({"w": torch.zeros(2)}, d / "sd_pickle.pt")
    except ImportError:
        pass
    try:
        import onnx
        from onnx import TensorProto, helper, numpy_helper

        shape = numpy_helper.from_array(np.array([5], dtype=np.int64), "shape")
        _onnx(
            d / "bad_reshape.onnx",
            [helper.make_node("Reshape", ["x", "shape"], ["logits"])],
            3,
            ["batch", 2],
            [shape],
        )
        graph = helper.make_graph(
            [helper.make_node("Identity", ["s"], ["logits"])],
            "g",
            [helper.make_tensor_value_info("s", TensorProto.STRING, ["batch", 2])],
            [helper.make_tensor_value_info("logits", TensorProto.STRING, ["batch", 2])],
        )
        model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
        model.ir_version = 8
        onnx.save(model, d / "string_in.onnx")
    except ImportError:
        pass
    return d


def _sens_file(e: Path, name: str) -> Any:
    from kdaudit.api import compare

    return compare(
        e / "logits.npy", e / "logits.npy", data=e / "ok.npz", sensitive_files={"grp": e / name}
    )


def _parquet_set(path: Path) -> Any:
    from kdaudit.data.parquet_set import load_parquet_set

    return load_parquet_set(path)


def _ann(**kw: Any) -> Any:
    pytest.importorskip("hnswlib")
    from kdaudit.analysis.ann import ann_graph

    return ann_graph(np.random.default_rng(0).normal(size=(20, 3)), **kw)


def _teacher_classes(e: Path) -> Any:
    from kdaudit.train.trainer import TeacherModel, run_training

    teacher = TeacherModel(onnx_path=str(_need(e / "linear.onnx")))
    data = _train_data(y=np.arange(10) % 3, n_classes=3)
    recipe = _recipe(epochs=1, batch_size=4)
    return run_training(data, recipe, role="student", out_dir=None, device="cpu", teacher=teacher)


# fmt: off
MORE: list[tuple[str, Callable[[Path], Any], type[Exception], str]] = [
    ("npy-version-3", lambda e: _model(e, "v3.npy"), InputDataError, "v3.npy"),
    ("npy-garbage", lambda e: _model(e, "garbage.npy"), InputDataError, "Could not read the teacher"),
    ("npz-void-sensitive", lambda e: load_dataset(e / "sens_void.npz"), InputDataError, "expected numbers or strings"),
    ("sensitive-file-columns", lambda e: _sens_file(e, "sens_two_cols.csv"), InputDataError, "has 2 columns and none is named 'grp'"),
    ("sensitive-file-ext", lambda e: _sens_file(e, "sens.txt"), InputDataError, "Unknown extension '.txt'"),
    ("sensitive-file-garbage", lambda e: _sens_file(e, "garbage.npz"), InputDataError, "garbage.npz"),
    ("adult-non-numeric", lambda e: load_dataset(f"adult:{e / 'adult_nonnum.test'}"), InputDataError, "adult_nonnum.test"),
    ("german-non-numeric", lambda e: load_dataset(f"german:{e / 'german_nonnum.data'}"), InputDataError, "german_nonnum.data"),
    ("hatexplain-unreadable", lambda e: load_dataset(f"hatexplain:{e / 'hx_quote.csv'}"), InputDataError, "hx_quote.csv"),
    ("parquet-footer", lambda e: _parquet_set(_need(e / "pq_garbage")), InputDataError, "Could not read the Parquet footer"),
    ("parquet-no-files", lambda e: _parquet_set(_need(e / "no_parquet")), InputDataError, "holds no .parquet files"),
    ("parquet-rows", lambda e: _parquet_set(_need(e / "set_rows.json")), InputDataError, "says"),
    ("parquet-empty", lambda e: _parquet_set(_need(e / "pq_empty")), InputDataError, "0 rows"),
    ("parquet-label", lambda e: load_dataset(_need(e / "pq_label")), InputDataError, "not numeric"),
    ("parquet-columns", lambda e: load_dataset(_need(e / "pq_cols")), InputDataError, "do not all have the same columns"),
    ("group-labels-2d", lambda e: _group_labels(np.zeros((2, 2))), ValueError, "1-D group labels"),
    ("text-task-split", lambda e: _text_task("test"), UsageError, "split must be 'train' or 'eval'"),
    ("pair-name", lambda e: _pairs(["teacher-student"]), UsageError, "'A_vs_B'"),
    ("poisson-row-ids", lambda e: _poisson(), ValueError, "row_ids has shape"),
    ("ann-k", lambda e: _ann(k=50), UsageError, "k for nearest neighbours must be in 1..19"),
    ("ann-metric", lambda e: _ann(metric="manhattan"), UsageError, "euclidean or cosine"),
    ("onnx-string-input", lambda e: _model(e, "string_in.onnx"), ModelLoadError, "which kdaudit cannot feed"),
    ("onnx-run-fails", lambda e: _predict(e, "bad_reshape.onnx", X3), ModelLoadError, "failed to run"),
    ("torch-not-state-dict", lambda e: _predict(e, "list.pt", X3, arch="mlp"), InputDataError, "does not hold a state_dict"),
    ("torch-pickle-state-dict", lambda e: _predict(e, "sd_pickle.pt", X3, format="pickle", trust_code=True), UsageError, "holds a state_dict, not a module"),
    ("torch-pickle-not-callable", lambda e: _predict(e, "list.pt", X3, format="pickle", trust_code=True), ModelLoadError, "holds a list"),
    ("torch-builder-fails", lambda e: _predict(e, "w.safetensors", X3, arch="math:sqrt", trust_code=True), ModelLoadError, "Could not build architecture"),
    ("torch-builder-not-module", lambda e: _predict(e, "w.safetensors", X3, arch="builtins:dict", trust_code=True), ModelLoadError, "not an nn.Module"),
    ("train-teacher-classes", _teacher_classes, InputDataError, "Expected the teacher to output 3 classes"),
    ("rows-under-a-file", lambda e: _rows_path(e / "afile" / "rows.parquet"), UsageError, "is a file, not a folder"),
    ("name-too-long", lambda e: _regular(e / ("n" * 5000)), InputDataError, "cannot be read"),
    ("read-limit", lambda e: _read_limited(e / "t.csv"), InputDataError, "at most 4 are accepted"),
]
# fmt: on


def _group_labels(values: Any) -> Any:
    from kdaudit.data.labels import to_group_labels

    return to_group_labels(values)


def _text_task(split: str) -> Any:
    from kdaudit.data.text_synth import make_text_task

    return make_text_task(10, split=split)


def _pairs(pairs: list[str]) -> Any:
    from kdaudit.analysis.pairs import check_pairs

    return check_pairs(pairs, ["teacher", "student"])


def _poisson() -> Any:
    from kdaudit.analysis.poisson import poisson_cell_counts

    return next(iter(poisson_cell_counts(np.zeros(5, int), 1, 10, 0, row_ids=np.zeros(4, int))))


def _rows_path(path: Path) -> Any:
    from kdaudit.export import check_rows_path

    return check_rows_path(path)


def _regular(path: Path) -> Any:
    from kdaudit.safety import regular_file

    return regular_file(path, "data file")


def _read_limited(path: Path) -> Any:
    from kdaudit.safety import read_bytes_regular

    return read_bytes_regular(path, "data file", limit=4)


@pytest.mark.parametrize(
    ("call", "exc", "fragment"), [c[1:] for c in MORE], ids=[c[0] for c in MORE]
)
def test_more_bad_files(
    e: Path, call: Callable[[Path], Any], exc: type[Exception], fragment: str
) -> None:
    with pytest.raises(exc) as info:
        call(e)
    assert fragment in str(info.value), str(info.value)


@pytest.fixture(scope="module")
def g(e: Path) -> Path:
    """Malformed text files for the real-world loaders and a few odd files."""
    import os
    import zipfile

    (e / "adult_quote.test").write_text('|1x3 Cross validator\n"unterminated, 1\n')
    (e / "compas_quote.csv").write_text('a,b\n"x,1\n')
    (e / "german_quote.data").write_text('A11 6\n"unterminated\n')
    (e / "hx_ok.csv").write_text(
        "id,annotators,post_tokens\n"
        "p1,\"{'label': [1, 1, 0], 'target': [['Women'], ['Women'], ['None']]}\",\"['a', 'b']\"\n"
    )
    (e / "garbage.parquet").write_bytes(b"not parquet")
    with zipfile.ZipFile(e / "bad_logits.npz", "w") as zf:
        zf.writestr("logits.npy", b"\x93NUMPY\x01\x00garbage")
    if not (e / "fifo").exists():
        os.mkfifo(e / "fifo")
    return e


def _write_report_under_file(g: Path) -> Any:
    from kdaudit.report.writer import write_report

    return write_report({}, g / "afile" / "sub" / "out", validate=lambda r: None)


def _infer_shard(g: Path, name: str, index: int) -> Any:
    from kdaudit.engine.cache import LogitCache
    from kdaudit.engine.inference import infer_shard

    return infer_shard(_model(g, name), load_dataset(g / "ok.npz"), LogitCache(g / "cache"), index)


def _tokenizer_for_image_model(g: Path) -> Any:
    pytest.importorskip("tokenizers")
    from kdaudit.train.text import train_wordpiece

    train_wordpiece(["some text", "more text"], vocab_size=30).save(str(g / "tok.json"))
    return _model(g, "linear.onnx", tokenizer=str(g / "tok.json"))


def _tiny_config(arch: str) -> Any:
    pytest.importorskip("transformers")
    from kdaudit.train.text import tiny_config

    return tiny_config(arch, vocab_size=10, n_classes=2)


# fmt: off
ODD: list[tuple[str, Callable[[Path], Any], type[Exception], str]] = [
    ("adult-unreadable", lambda g: load_dataset(f"adult:{g / 'adult_quote.test'}"), InputDataError, "as UCI Adult"),
    ("compas-unreadable", lambda g: load_dataset(f"compas:{g / 'compas_quote.csv'}"), InputDataError, "as a CSV file"),
    ("german-unreadable", lambda g: load_dataset(f"german:{g / 'german_quote.data'}"), InputDataError, "as German credit"),
    ("hatexplain-sensitive", lambda g: load_dataset(f"hatexplain:{g / 'hx_ok.csv'}", sensitive=["sex"]), UsageError, "sensitive attribute is 'target'"),
    ("sensitive-file-parquet", lambda g: _sens_file(g, "garbage.parquet"), InputDataError, "Could not read sensitive-attribute file"),
    ("logits-npz-damaged", lambda g: _model(g, "bad_logits.npz"), InputDataError, "bad_logits.npz"),
    ("output-file-fifo", lambda g: _probe_file(g / "fifo"), UsageError, "is not a regular file"),
    ("report-under-a-file", _write_report_under_file, UsageError, "is a file"),
    ("infer-logits-file", lambda g: _infer_shard(g, "logits.npy", 0), UsageError, "nothing to infer"),
    ("infer-shard-range", lambda g: _infer_shard(g, "linear.onnx", 99), UsageError, "Shard index 99 is out of range"),
    ("tokenizer-for-image-model", _tokenizer_for_image_model, InputDataError, "has no input_ids input"),
    ("text-arch", lambda g: _tiny_config("gpt9"), ValueError, "unknown text architecture"),
]
# fmt: on


def _probe_file(path: Path) -> Any:
    from kdaudit.safety import probe_output_file

    return probe_output_file(path, what="JUnit file")


@pytest.mark.parametrize(("call", "exc", "fragment"), [c[1:] for c in ODD], ids=[c[0] for c in ODD])
def test_odd_files(
    g: Path, call: Callable[[Path], Any], exc: type[Exception], fragment: str
) -> None:
    with pytest.raises(exc) as info:
        call(g)
    assert fragment in str(info.value), str(info.value)


def test_unwritable_cache_is_exit_3(g: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """A cache folder that cannot be created is 'could not audit' (3), one line, no traceback."""
    from kdaudit.cli import main

    code = main(
        [
            "infer",
            str(_need(g / "linear.onnx")),
            "--data",
            str(g / "ok.npz"),
            "--cache-dir",
            str(g / "afile" / "cache"),
            "--quiet",
        ]
    )
    err = capsys.readouterr().err
    assert code == 3, err
    assert err.startswith("kdaudit: error: ") and "Traceback" not in err
    assert "afile" in err.splitlines()[0]


# ----------------------------------------------- token-id ONNX graphs and models that misbehave
def _text_onnx(path: Path, extra_input: bool = False) -> None:
    """logits = [sum(ids), sum(ids)] per row: a graph that takes input_ids and attention_mask."""
    import onnx
    from onnx import TensorProto, helper

    inputs = [
        helper.make_tensor_value_info("input_ids", TensorProto.INT64, ["batch", "seq"]),
        helper.make_tensor_value_info("attention_mask", TensorProto.INT64, ["batch", "seq"]),
    ]
    if extra_input:
        inputs.append(helper.make_tensor_value_info("speaker", TensorProto.INT64, ["batch", "seq"]))
    nodes = [
        helper.make_node("Cast", ["input_ids"], ["f"], to=TensorProto.FLOAT),
        helper.make_node("ReduceMean", ["f"], ["m"], axes=[1], keepdims=1),
        helper.make_node("Concat", ["m", "m"], ["logits"], axis=1),
    ]
    graph = helper.make_graph(
        nodes,
        "text",
        inputs,
        [helper.make_tensor_value_info("logits", TensorProto.FLOAT, ["batch", 2])],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    onnx.save(model, path)


@pytest.fixture(scope="module")
def h(g: Path) -> Path:
    try:
        from onnx import helper, numpy_helper

        pytest.importorskip("tokenizers")
        from kdaudit.train.text import train_wordpiece

        for name, extra in (("text_model", False), ("text_extra", True)):
            folder = g / name
            folder.mkdir(exist_ok=True)
            _text_onnx(folder / "model.onnx", extra_input=extra)
            train_wordpiece(["a b c", "b c d"], vocab_size=30).save(str(folder / "tokenizer.json"))
        w = numpy_helper.from_array(np.ones((3, 2), np.float32), "w")
        _onnx(
            g / "rowmean.onnx",
            [
                helper.make_node("MatMul", ["x", "w"], ["m"]),
                helper.make_node("ReduceMean", ["m"], ["logits"], axes=[0], keepdims=1),
            ],
            3,
            [1, 2],
            [w],
        )
        import onnx

        ext = numpy_helper.from_array(np.ones((3, 2), np.float32), "w")
        ext.ClearField("raw_data")
        ext.data_location = onnx.TensorProto.EXTERNAL
        _onnx(
            g / "external.onnx",
            [helper.make_node("MatMul", ["x", "w"], ["logits"])],
            3,
            ["batch", 2],
            [ext],
        )
    except ImportError:
        pass
    (g / "hx_binary.csv").write_bytes(b"id,annotators\n\xff\xfe\xfa bad bytes\n")
    return g


def _init_from_onnx_teacher(h: Path) -> Any:
    from kdaudit.train.trainer import TeacherModel

    teacher = TeacherModel(onnx_path=str(_need(h / "linear.onnx")))
    return _run(role="student", teacher=teacher, init_from_teacher=True)


def _prepare_stats(h: Path) -> Any:
    from kdaudit.distributed.sources import open_source
    from kdaudit.distributed.stats import prepare_stats
    from kdaudit.models.base import ModelSpec

    spec = ModelSpec(path=str(h / "logits.npy"), role="teacher")
    source = open_source(str(h / "ok.npz"))
    return prepare_stats({"teacher": [spec]}, source, h / "stats-out", cache=None)


def _hatexplain_training(h: Path, *, as_eval: bool) -> Any:
    from kdaudit.train.trainer import dataset_data

    rows = [
        f"p{i},\"{{'label': [1, 1, 0], 'target': [['{t}'], ['{t}'], ['None']]}}\",\"['a', 'b']\"\n"
        for i, t in enumerate(["Women", "None"] * 35)
    ]
    (h / "hx_big.csv").write_text("id,annotators,post_tokens\n" + "".join(rows))
    spec = f"hatexplain:{h / 'hx_big.csv'}"
    return dataset_data(str(h / "ok.npz"), eval_spec=spec) if as_eval else dataset_data(spec)


def _compare_rows(h: Path) -> Any:
    from kdaudit.api import compare

    model = _need(h / "rowmean.onnx")
    return compare(model, h / "logits.npy", data=h / "ok.npz", options=_opts())


def _opts() -> Any:
    from kdaudit.api import AuditOptions

    return AuditOptions(bootstrap=0, use_cache=False)


# fmt: off
TOKENS: list[tuple[str, Callable[[Path], Any], type[Exception], str]] = [
    ("text-model-numeric-data", lambda h: _predict(h, "text_model/model.onnx", X3), InputDataError, "is a text model"),
    ("text-model-embedding", lambda h: _model(h, "text_model/model.onnx").embed_texts(["a b"]), UsageError, "needs a Hugging Face model folder"),
    ("text-model-extra-input", lambda h: _model(h, "text_extra/model.onnx"), InputDataError, "speaker"),
    ("text-model-missing-input", lambda h: _predict(h, "text_model/model.onnx", {"input_ids": np.zeros((2, 3), np.int64)}), InputDataError, "attention_mask"),
    ("onnx-external-no-location", lambda h: _model(h, "external.onnx"), InputDataError, "stored externally"),
    ("model-returns-one-row", _compare_rows, InputDataError, "returned 1 rows for a batch of"),
    ("hatexplain-not-utf8", lambda h: load_dataset(f"hatexplain:{h / 'hx_binary.csv'}"), InputDataError, "Could not read HateXplain file"),
    ("init-from-onnx-teacher", lambda h: _init_from_onnx_teacher(h), UsageError, "--init-from-teacher needs a teacher with torch weights"),
    ("stats-needs-student", lambda h: _prepare_stats(h), UsageError, "kdaudit stats needs a student model"),
    ("train-on-texts", lambda h: _hatexplain_training(h, as_eval=False), InputDataError, "holds texts"),
    ("train-eval-on-texts", lambda h: _hatexplain_training(h, as_eval=True), InputDataError, "holds texts"),
]
# fmt: on


@pytest.mark.parametrize(
    ("call", "exc", "fragment"), [c[1:] for c in TOKENS], ids=[c[0] for c in TOKENS]
)
def test_token_models_and_misbehaving_models(
    h: Path, call: Callable[[Path], Any], exc: type[Exception], fragment: str
) -> None:
    with pytest.raises(exc) as info:
        call(h)
    assert fragment in str(info.value), str(info.value)
