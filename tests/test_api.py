"""End to end through the Python API and audit configs: real ONNX models, runs, sweeps, gate."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper

import kdaudit
from kdaudit.api import AuditOptions
from kdaudit.errors import KDAuditWarning, UsageError
from kdaudit.report.schema import validate_report

N, F, C = 600, 5, 3


def linear_onnx(path: Path, w: np.ndarray, b: np.ndarray) -> Path:
    """A real ONNX model y = x @ w + b with a dynamic batch axis."""
    graph = helper.make_graph(
        [helper.make_node("Gemm", ["x", "w", "b"], ["logits"])],
        "linear",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["batch", w.shape[0]])],
        [helper.make_tensor_value_info("logits", TensorProto.FLOAT, ["batch", w.shape[1]])],
        [
            numpy_helper.from_array(w.astype(np.float32), "w"),
            numpy_helper.from_array(b.astype(np.float32), "b"),
        ],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    onnx.save(model, path)
    return path


@pytest.fixture
def task(tmp_path: Path) -> dict[str, Path]:
    rng = np.random.default_rng(7)
    w_true = rng.normal(size=(F, C))
    x = rng.normal(size=(N, F)).astype(np.float32)
    y = (x @ w_true).argmax(1)
    sex = np.where(rng.random(N) < 0.3, "F", "M")
    np.savez(
        tmp_path / "eval.npz",
        x=x,
        y=y,
        sensitive_sex=sex,
        split=np.where(rng.random(N) < 0.5, "id", "ood"),
    )
    paths = {"data": tmp_path / "eval.npz", "dir": tmp_path}
    for name, noise in [("teacher", 0.1), ("student", 0.8), ("baseline", 1.0)]:
        w = w_true + rng.normal(scale=noise, size=w_true.shape)
        paths[name] = linear_onnx(tmp_path / f"{name}.onnx", w, np.zeros(C))
        for seed in range(2):
            w_run = w + rng.normal(scale=0.3, size=w.shape)
            np.save(tmp_path / f"{name}_run{seed}.npy", (x @ w_run).astype(np.float32))
    return paths


def opts(tmp_path: Path, **kw) -> AuditOptions:
    return AuditOptions(bootstrap=100, cache_dir=str(tmp_path / "cache"), **kw)


def strip_volatile(report: dict) -> dict:
    out = json.loads(json.dumps(report))
    for key in ("created", "provenance"):
        out.pop(key)
    out["config"].pop("cache_dir")
    return out


def test_compare_onnx_end_to_end(task, tmp_path):
    report = kdaudit.compare(
        task["teacher"],
        task["student"],
        baseline=task["baseline"],
        data=task["data"],
        sensitive=["sex"],
        options=opts(tmp_path),
    )
    r = report.data
    validate_report(r)
    assert set(r["models"]) == {"teacher", "student", "baseline"}
    assert (
        r["models"]["teacher"]["format"] == "onnx" and len(r["models"]["teacher"]["sha256"]) == 64
    )
    assert set(r["class_shift"]) == {
        "teacher_vs_student",
        "baseline_vs_student",
        "teacher_vs_baseline",
    }
    # the accuracy the report states is the accuracy of the models' argmax, recomputed here
    x = np.load(task["data"])["x"]
    y = np.load(task["data"])["y"]
    import onnxruntime as ort

    for role in ("teacher", "student"):
        sess = ort.InferenceSession(str(task[role]), providers=["CPUExecutionProvider"])
        acc = float((sess.run(None, {"x": x})[0].argmax(1) == y).mean())
        assert r["accuracy"][role] == pytest.approx(acc, abs=1e-12)
    assert r["individual_fairness"]["teacher"]["lipschitz"]["value"] > 0
    assert r["robustness"]["config"]["reference_split"] == "id"
    paths = report.write(tmp_path / "out")
    assert {p.name for p in paths.values()} >= {"report.json", "report.html", "summary.md"}
    # same seed, same numbers: a reviewer can rerun the audit and get the same JSON
    again = kdaudit.compare(
        task["teacher"],
        task["student"],
        baseline=task["baseline"],
        data=task["data"],
        sensitive=["sex"],
        options=opts(tmp_path),
    )
    assert strip_volatile(again.data) == strip_volatile(r)


def test_identical_models_show_no_shift(task, tmp_path):
    r = kdaudit.compare(
        task["teacher"],
        task["teacher"],
        data=task["data"],
        sensitive=["sex"],
        options=opts(tmp_path),
    ).data
    shift = r["class_shift"]["teacher_vs_student"]
    assert shift["n_significant"] == 0 and shift["disagreement_rate"] == 0
    assert all(row["p_value"] == 1 for row in shift["per_class"])
    delta = r["group_fairness"]["sex"]["delta"]["teacher_vs_student"]
    assert delta["demographic_parity_difference"]["value"] == 0
    assert delta["demographic_parity_difference"]["p_value"] == 1
    assert r["accuracy_delta"]["teacher_vs_student"]["value"] == 0


def test_logits_only_skips_individual_fairness(task, tmp_path):
    d = task["dir"]
    with np.load(task["data"]) as npz:
        np.savez(d / "no_x.npz", y=npz["y"], sensitive_sex=npz["sensitive_sex"])
    r = kdaudit.compare(
        d / "teacher_run0.npy",
        d / "student_run0.npy",
        data=d / "no_x.npz",
        sensitive=["sex"],
        options=opts(tmp_path),
    ).data
    assert "individual_fairness" not in r
    assert "no inputs" in r["skipped"]["individual_fairness"]
    validate_report(r)


def test_single_group_warns_without_crashing(task, tmp_path):
    d = task["dir"]
    with np.load(task["data"]) as npz:
        np.savez(d / "one_group.npz", x=npz["x"], y=npz["y"], sensitive_sex=np.full(N, "F"))
    with pytest.warns(KDAuditWarning, match="only one group"):
        r = kdaudit.compare(
            task["teacher"],
            task["student"],
            data=d / "one_group.npz",
            sensitive=["sex"],
            options=opts(tmp_path),
        ).data
    dpd = r["group_fairness"]["sex"]["student"]["demographic_parity_difference"]
    assert dpd["value"] is None and dpd["undefined_reason"]
    assert any("group" in w for w in r["warnings"])


def test_audit_config_runs_sweep_gate(task, tmp_path):
    d = task["dir"]
    (d / "sub").mkdir()
    config = d / "sub" / "audit.toml"
    config.write_text(f"""
[data]
path = "../eval.npz"
sensitive = ["sex"]

[models.teacher]
path = ["../teacher_run0.npy", "../teacher_run1.npy"]

[models.student]
path = ["../student_run0.npy", "../student_run1.npy"]
temperature = 4.0

[models.baseline]
path = "{d / "baseline.onnx"}"

[analysis]
bootstrap = 50
correction = "none"
seed = 3

[[sweep]]
temperature = 2.0
path = "../baseline_run0.npy"

[[sweep]]
temperature = 8.0
path = ["../student_run0.npy", "../student_run1.npy"]

[gate]
max_accuracy_drop = 1.0
""")
    report = kdaudit.audit(config, overrides={"cache_dir": str(tmp_path / "cache")})
    r = report.data
    validate_report(r)
    assert r["class_shift"]["teacher_vs_student"]["mode"] == "multi_run"
    assert r["class_shift"]["teacher_vs_student"]["correction"] == "none"
    assert r["class_shift"]["baseline_vs_student"]["mode"] == "single_run"
    assert r["models"]["student"]["temperature"] == 4.0
    assert len(r["models"]["student"]["runs"]) == 2
    # the main student (T = 4, not among the [[sweep]] entries) is a row of its own
    assert [row["temperature"] for row in r["temperature_sweep"]] == [2.0, 4.0, 8.0]
    assert [row["main"] for row in r["temperature_sweep"]] == [False, True, False]
    row2, row4, row8 = r["temperature_sweep"]
    assert row8["n_tc"] == r["class_shift"]["teacher_vs_student"]["n_significant"]
    assert row4["n_tc"] == row8["n_tc"] and row4["n_runs"] == 2 and row2["n_runs"] == 1
    acc = [r["accuracy"]["student"], row8["accuracy"]]
    for row in (row2, row4, row8):
        assert row["attribute"] == "sex"
        for metric in ("accuracy", "demographic_parity_difference", "lipschitz_normalized"):
            low, high = row[f"{metric}_ci"]
            assert low <= row.get(f"{metric}_estimate", row[metric]) <= high
    assert "accuracy_std" in row4 and "accuracy_std" not in row2
    assert acc[0] <= row4["accuracy_ci"][1]
    ref = r["temperature_sweep_reference"]
    assert set(ref) == {"teacher", "baseline"} and ref["teacher"]["n_runs"] == 2
    assert ref["baseline"]["accuracy"] == pytest.approx(r["accuracy"]["baseline"], abs=1e-15)
    assert r["gate"]["passed"] is True and report.passed
    assert r["config"]["seed"] == 3


@pytest.mark.parametrize(
    ("text", "match"),
    [
        (
            "[data]\npath='x.npz'\n[models.teacher]\npath='a.npy'\n[models.pupil]\npath='b.npy'",
            "pupil",
        ),
        (
            "[data]\npath='x.npz'\n[models.teacher]\npath='a.npy'\n[models.student]\npth='b.npy'",
            "pth",
        ),
        ("[dta]\npath='x.npz'", "dta"),
        ("[data\npath=", "not valid TOML"),
        (
            "[analysis]\nalpha=2\n[data]\npath='../eval.npz'\n[models.teacher]\npath='a.npy'\n[models.student]\npath='b.npy'",
            "alpha",
        ),
    ],
)
def test_bad_configs(task, text, match):
    config = task["dir"] / "bad.toml"
    config.write_text(text)
    with pytest.raises(Exception, match=match) as info:
        kdaudit.audit(config)
    assert isinstance(info.value, (UsageError, kdaudit.errors.InputDataError))


def test_ci_excluding_point_value_is_flagged():
    from kdaudit.api import _ci_notes

    def block(value, low, high):
        return {"demographic_parity_difference": {"value": value, "ci_low": low, "ci_high": high}}

    report = {
        "group_fairness": {
            "color": {"teacher": block(0.1, 0.05, 0.2), "student": block(0.1, 0.12, 0.2)}
        }
    }
    notes = _ci_notes(report)
    assert len(notes) == 1 and "(student, color)" in notes[0] and "teacher" not in notes[0]
    report["group_fairness"]["color"]["student"] = block(0.1, 0.1, 0.2)
    assert _ci_notes(report) == []


def test_sensitive_file_and_counterfactual(task, tmp_path):
    d = task["dir"]
    rng = np.random.default_rng(3)
    np.save(d / "region.npy", rng.choice(["north", "south", "east"], N))
    with np.load(task["data"]) as npz:
        x_cf = npz["x"].copy()
    x_cf[:, 0] = -x_cf[:, 0]  # the "attribute" feature flipped
    np.savez(d / "cf.npz", x=x_cf)
    r = kdaudit.compare(
        task["teacher"],
        task["student"],
        data=task["data"],
        sensitive=["sex"],
        sensitive_files={"region": d / "region.npy"},
        options=opts(tmp_path, counterfactual=str(d / "cf.npz")),
    ).data
    validate_report(r)
    assert set(r["group_fairness"]) == {"sex", "region"}
    assert r["data"]["sensitive_files"]["region"]["sha256"]
    # the counterfactual flip rate is the share of rows whose prediction changes, recomputed here
    import onnxruntime as ort

    sess = ort.InferenceSession(str(task["student"]), providers=["CPUExecutionProvider"])
    with np.load(task["data"]) as npz:
        pred = sess.run(None, {"x": npz["x"]})[0].argmax(1)
    pred_cf = sess.run(None, {"x": x_cf})[0].argmax(1)
    cf = r["individual_fairness"]["student"]["counterfactual"]
    assert cf["flip_rate"]["value"] == pytest.approx(float((pred != pred_cf).mean()), abs=1e-12)


def test_train_manifest_labels_students_and_supplies_preprocessing(tmp_path):
    """A model written by the trainer is audited with the preprocessing it was trained with."""
    import torch

    from kdaudit.models.zoo import build_model
    from kdaudit.train.export import export_model

    rng = np.random.default_rng(0)
    x = rng.integers(0, 255, size=(300, 6)).astype(np.uint8)
    y = rng.integers(0, 2, 300)
    np.savez(tmp_path / "eval.npz", x=x, y=y)
    pre = {"scale": 1 / 255, "mean": 0.5, "std": 0.25}
    torch.manual_seed(0)
    models = {}
    for role, temperature in (("teacher", None), ("student", 4.0)):
        net = build_model("mlp", n_classes=2, input_shape=(6,)).eval()
        xin = ((x[:32].astype(np.float32) / 255) - 0.5) / 0.25
        export_model(
            net,
            tmp_path,
            role,
            check_input=xin,
            manifest={
                "role": role,
                "arch": "mlp",
                "seed": 0,
                "temperature": temperature,
                "soft_weight": 0.9 if temperature else 0.0,
                "preprocess": pre,
            },
        )
        models[role] = net
    # untrained nets: the sanity checks rightly warn about one-class / near-chance predictions
    with pytest.warns(KDAuditWarning, match="chance|predicts"):
        r = kdaudit.compare(
            tmp_path / "teacher.onnx",
            tmp_path / "student.onnx",
            data=tmp_path / "eval.npz",
            options=opts(tmp_path),
        ).data
    assert r["models"]["student"]["temperature"] == 4.0
    assert r["models"]["student"]["preprocess_source"] == "manifest"
    with torch.no_grad():
        xin = torch.from_numpy(((x.astype(np.float32) / 255) - 0.5) / 0.25)
        expected = float((models["student"](xin).argmax(1).numpy() == y).mean())
    assert r["accuracy"]["student"] == pytest.approx(expected, abs=1e-12)
    # a manifest that does not name the file's bytes is ignored
    (tmp_path / "student.onnx").write_bytes((tmp_path / "student.onnx").read_bytes() + b"\0")
    from kdaudit.models.manifest import manifest_for_model

    assert manifest_for_model(tmp_path / "student.onnx") is None


def test_real_sweep_renders_every_column(task, tmp_path):
    """The sweep rows the API writes are the ones the HTML reads (no 'not available' plots)."""
    from kdaudit.report.html import render_html

    d = task["dir"]
    r = kdaudit.compare(
        d / "teacher_run0.npy",
        d / "student_run0.npy",
        baseline=d / "baseline_run0.npy",
        data=task["data"],
        sensitive=["sex"],
        options=opts(tmp_path),
        sweep=[(2.0, d / "student_run1.npy"), (8.0, d / "baseline_run1.npy")],
    ).data
    row = r["temperature_sweep"][0]
    assert row["demographic_parity_difference"] is not None and row["n_sc"] is not None
    section = render_html(r).split('id="temperature-sweep"', 1)[1].split("</section>", 1)[0]
    assert "not available" not in section.split("I(f)")[0]
    assert f"{100 * row['demographic_parity_difference']:.1f}" in section


def test_multi_input_data_skips_individual_fairness_without_embedding(task, tmp_path):
    d = task["dir"]
    with np.load(task["data"]) as npz:
        np.savez(
            d / "multi.npz",
            x_input_ids=np.ones((N, 4), np.int64),
            x_attention_mask=np.ones((N, 4), np.int64),
            y=npz["y"],
            sensitive_sex=npz["sensitive_sex"],
        )
    r = kdaudit.compare(
        d / "teacher_run0.npy", d / "student_run0.npy", data=d / "multi.npz", options=opts(tmp_path)
    ).data
    assert "individual_fairness" not in r and "--embedding" in r["skipped"]["individual_fairness"]
    np.save(d / "emb.npy", np.load(task["data"])["x"])
    r = kdaudit.compare(
        d / "teacher_run0.npy",
        d / "student_run0.npy",
        data=d / "multi.npz",
        options=opts(tmp_path, embedding=str(d / "emb.npy")),
    ).data
    assert r["individual_fairness"]["config"]["space"] == "embedding"


def test_config_paths_resolve_from_the_config_folder_only(task, tmp_path, monkeypatch):
    d = task["dir"]
    (d / "cfg").mkdir()
    config = d / "cfg" / "a.toml"
    config.write_text(
        '[data]\npath = "eval.npz"\n[models.teacher]\npath = "../teacher_run0.npy"\n'
        '[models.student]\npath = "../student_run0.npy"\n'
    )
    monkeypatch.chdir(d)  # eval.npz exists in the cwd, not beside the config
    with pytest.raises(kdaudit.errors.InputDataError, match=r"cfg/eval\.npz"):
        kdaudit.audit(config)
