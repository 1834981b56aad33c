"""The Python API as easy as the CLI, tidy outputs, sanity warnings and the compliance record.

Every number a frame, CSV file or row export holds is checked against report.json or
against a direct computation with onnxruntime; the small-group flags against counts.
"""

from __future__ import annotations

import hashlib
import json
import math
from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort
import pandas as pd
import pytest
from onnx import TensorProto, helper, numpy_helper

import kdaudit
from kdaudit.api import AuditOptions
from kdaudit.cli import main
from kdaudit.errors import InputDataError, KDAuditWarning, UsageError
from kdaudit.report.schema import validate_report

N, F, C = 400, 6, 3
ROOT = Path(__file__).resolve().parents[1]


def linear_onnx(path: Path, w: np.ndarray, b: np.ndarray) -> Path:
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


def onnx_logits(path: Path, x: np.ndarray) -> np.ndarray:
    sess = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    return sess.run(None, {sess.get_inputs()[0].name: x.astype(np.float32)})[0]


@pytest.fixture
def task(tmp_path: Path) -> dict[str, Path]:
    rng = np.random.default_rng(3)
    w_true = rng.normal(size=(F, C))
    x = rng.normal(size=(N, F)).astype(np.float32)
    y = (x @ w_true).argmax(1)
    sex = np.where(rng.random(N) < 0.3, "F", "M")
    np.savez(
        tmp_path / "eval.npz",
        x=x,
        y=y,
        sensitive_sex=sex,
        class_names=np.array(["cat", "dog", "emu"]),
    )
    paths = {"data": tmp_path / "eval.npz", "dir": tmp_path}
    for name, noise in [("teacher", 0.2), ("student", 0.9), ("baseline", 1.1)]:
        w = w_true + rng.normal(scale=noise, size=w_true.shape)
        paths[name] = linear_onnx(tmp_path / f"{name}.onnx", w, np.zeros(C))
    return paths


def opts(**kw) -> AuditOptions:
    return AuditOptions(bootstrap=50, use_cache=False, **kw)


def test_preprocess_strings_dicts_and_objects_give_the_same_audit(task):
    from kdaudit.models.base import ModelSpec
    from kdaudit.models.preprocess import Preprocess

    kw = {"data": task["data"], "sensitive": ["sex"], "options": opts()}
    as_text = kdaudit.compare(task["teacher"], task["student"], preprocess="scale = 2.0", **kw)
    as_json = kdaudit.compare(task["teacher"], task["student"], preprocess='{"scale": 2.0}', **kw)
    as_dict = kdaudit.compare(
        task["teacher"],
        task["student"],
        model_defaults={
            "teacher": {"preprocess": {"scale": 2.0}},
            "student": {"preprocess": "{scale = 2.0}"},
        },
        **kw,
    )
    as_spec = kdaudit.compare(
        ModelSpec(path=str(task["teacher"]), preprocess={"scale": 2.0}),  # type: ignore[arg-type]
        ModelSpec(path=str(task["student"]), preprocess=Preprocess(scale=2.0)),
        **kw,
    )
    per_role = kdaudit.compare(
        task["teacher"],
        task["student"],
        preprocess={"teacher": "scale = 2.0", "student": {"scale": 2.0}},
        **kw,
    )
    for r in (as_text, as_json, as_dict, as_spec, per_role):
        assert r.data["models"]["student"]["preprocess"]["scale"] == 2.0
        assert r.data["models"]["student"]["preprocess_source"] == "given"
        assert r.data["accuracy"] == as_text.data["accuracy"]
    # scaling a linear model's inputs by 2 keeps its argmax: the accuracy is that of the raw inputs
    x, y = np.load(task["data"])["x"], np.load(task["data"])["y"]
    acc = float(np.mean(onnx_logits(task["student"], 2 * x).argmax(1) == y))
    assert as_text.data["accuracy"]["student"] == pytest.approx(acc, abs=1e-12)
    with pytest.raises(UsageError, match="preprocessing spec"):
        kdaudit.compare(task["teacher"], task["student"], preprocess="scale = = 2", **kw)
    with pytest.raises(UsageError, match="scael: unknown key"):
        kdaudit.compare(task["teacher"], task["student"], preprocess="scael = 2", **kw)


def test_passed_is_none_without_a_gate_and_the_cli_exits_0(task, tmp_path):
    r = kdaudit.compare(task["teacher"], task["student"], data=task["data"], options=opts())
    assert r.passed is None and r.gate is None and "gate=none" in repr(r)
    judged = r.apply_policy("default")
    assert r.gate is None and "gate" not in r.data  # a Report never changes
    assert judged.passed is judged.data["gate"]["passed"]
    code = main(
        [
            "compare",
            str(task["teacher"]),
            str(task["student"]),
            "--data",
            str(task["data"]),
            "--out",
            str(tmp_path / "o"),
            "--quiet",
            "--no-cache",
            "--bootstrap",
            "20",
        ]
    )
    assert code == 0


@pytest.fixture
def full_report(task, tmp_path):
    policy = tmp_path / "mine.toml"
    policy.write_text("# my gate\nmax_accuracy_drop = 0.5\nmax_dpd_increase = 0.5\n")
    report = kdaudit.compare(
        task["teacher"],
        task["student"],
        baseline=task["baseline"],
        data=task["data"],
        sensitive=["sex"],
        options=opts(),
        policy=str(policy),
        sweep=[(2.0, task["student"]), (4.0, task["baseline"])],
    )
    return report, policy


def test_frames_hold_exactly_the_numbers_of_report_json(full_report):
    report, _ = full_report
    r = report.data
    validate_report(r)
    frames = report.to_frames()
    assert {
        "models",
        "accuracy",
        "accuracy_delta",
        "class_shift",
        "fairness",
        "fairness_delta",
        "by_group",
        "individual",
        "sweep",
        "gate_checks",
    } <= set(frames)
    fair = frames["fairness"]
    n_expected = 0
    for attr, block in r["group_fairness"].items():
        for role in ("teacher", "student", "baseline"):
            for metric, est in block[role].items():
                if isinstance(est, dict) and "value" in est:
                    n_expected += 1
                    row = fair[
                        (fair.attribute == attr) & (fair.role == role) & (fair.metric == metric)
                    ]
                    assert len(row) == 1
                    for key in ("value", "ci_low", "ci_high"):
                        got, want = row[key].iloc[0], est.get(key)
                        assert (want is None and pd.isna(got)) or got == want
    assert len(fair) == n_expected
    delta = frames["fairness_delta"]
    d = r["group_fairness"]["sex"]["delta"]["teacher_vs_student"]["equalized_odds_difference"]
    row = delta[
        (delta.pair == "teacher_vs_student") & (delta.metric == "equalized_odds_difference")
    ]
    assert row["value"].iloc[0] == d["value"] and row["p_value"].iloc[0] == d["p_value"]
    # one row per (attribute, role, group); counts as in the JSON
    bg = frames["by_group"]
    assert len(bg) == sum(
        len(r["group_fairness"]["sex"][role]["by_group"])
        for role in ("teacher", "student", "baseline")
    )
    for g in r["group_fairness"]["sex"]["student"]["by_group"]:
        row = bg[(bg.role == "student") & (bg.group == g["group"])]
        assert row["n"].iloc[0] == g["n"] and row["accuracy"].iloc[0] == g["accuracy"]
    cs = frames["class_shift"]
    per_class = r["class_shift"]["teacher_vs_student"]["per_class"]
    sub = cs[cs.pair == "teacher_vs_student"].sort_values("class")
    assert sub["p_value"].tolist() == [c["p_value"] for c in per_class]
    assert sub["class_name"].tolist() == ["cat", "dog", "emu"]  # from the npz's class_names
    assert frames["sweep"]["temperature"].tolist() == [
        row["temperature"] for row in r["temperature_sweep"]
    ]
    assert frames["gate_checks"]["name"].tolist() == [c["name"] for c in r["gate"]["checks"]]
    acc = frames["accuracy"].set_index("role")["accuracy"].to_dict()
    assert acc == r["accuracy"]
    ad = frames["accuracy_delta"].set_index("pair")
    for pair, est in r["accuracy_delta"].items():
        assert ad.loc[pair, "ci_high"] == est["ci_high"]


def test_csv_report_format_writes_the_frames(full_report, tmp_path):
    report, _ = full_report
    paths = report.write(tmp_path / "out", formats=("json", "csv"))
    folder = paths["csv"]
    frames = report.to_frames()
    assert sorted(p.stem for p in folder.glob("*.csv")) == sorted(frames)
    for name, frame in frames.items():
        back = pd.read_csv(folder / f"{name}.csv", keep_default_na=False, na_values=[""])
        assert list(back.columns) == list(frame.columns)
        for col in frame.columns:
            a, b = frame[col].tolist(), back[col].tolist()
            for u, v in zip(a, b, strict=True):
                if isinstance(u, float) and not math.isnan(u):
                    assert float(v) == pytest.approx(u, rel=1e-12, abs=1e-15), (name, col)
                elif u is None or (isinstance(u, float) and math.isnan(u)):
                    assert v is None or (isinstance(v, float) and math.isnan(v)) or v == ""
                else:
                    assert str(u) == str(v), (name, col)
    # a second write of a report without a sweep leaves no stale sweep.csv behind
    data = json.loads(json.dumps(report.data))
    data.pop("temperature_sweep")
    kdaudit.Report(data).write(tmp_path / "out", formats=("csv",))
    assert not (folder / "sweep.csv").exists() and (folder / "fairness.csv").exists()
    # a file where the csv folder belongs: refused before anything is written
    (tmp_path / "o2").mkdir()
    (tmp_path / "o2" / "csv").write_text("x")
    with pytest.raises(UsageError, match="CSV tables"):
        report.write(tmp_path / "o2", formats=("json", "csv"))
    assert not (tmp_path / "o2" / "report.json").exists()


def test_cli_csv_and_export_rows(task, tmp_path, capsys):
    out, rows = tmp_path / "rep", tmp_path / "rows.parquet"
    code = main(
        [
            "compare",
            str(task["teacher"]),
            str(task["student"]),
            "--baseline",
            str(task["baseline"]),
            "--data",
            str(task["data"]),
            "--sensitive",
            "sex",
            "--out",
            str(out),
            "--report-format",
            "json,csv",
            "--export-rows",
            str(rows),
            "--no-cache",
            "--bootstrap",
            "20",
        ]
    )
    assert code == 0, capsys.readouterr().err
    assert (out / "csv" / "fairness.csv").is_file() and (out / "report.json").is_file()
    frame = pd.read_parquet(rows)
    d = np.load(task["data"])
    x, y, sex = d["x"], d["y"], d["sensitive_sex"]
    assert frame["row"].tolist() == list(range(N)) and frame["label"].tolist() == y.tolist()
    assert frame["label_name"].tolist() == [["cat", "dog", "emu"][k] for k in y]
    assert frame["group_sex"].tolist() == sex.tolist()
    preds = {}
    for role in ("teacher", "student", "baseline"):
        z = onnx_logits(task[role], x).astype(np.float64)
        p = np.exp(z - z.max(1, keepdims=True))
        p /= p.sum(1, keepdims=True)
        preds[role] = z.argmax(1)
        assert frame[f"{role}_pred"].tolist() == preds[role].tolist()
        np.testing.assert_allclose(frame[f"{role}_confidence"], p.max(1), rtol=1e-5)
        assert frame[f"{role}_correct"].tolist() == (preds[role] == y).tolist()
    assert frame["changed"].tolist() == (preds["teacher"] != preds["student"]).tolist()
    assert frame["newly_wrong"].sum() == int(
        np.sum((preds["teacher"] == y) & (preds["student"] != y))
    )
    report = json.loads((out / "report.json").read_text())
    assert report["class_shift"]["teacher_vs_student"]["disagreement_rate"] == pytest.approx(
        frame["changed"].mean(), abs=1e-12
    )
    # a bad path is refused before any inference, with exit code 2
    code = main(
        [
            "compare",
            str(task["teacher"]),
            str(task["student"]),
            "--data",
            str(task["data"]),
            "--out",
            str(tmp_path / "o2"),
            "--export-rows",
            str(tmp_path / "rows.xlsx"),
        ]
    )
    assert code == 2 and "--export-rows" in capsys.readouterr().err
    assert not (tmp_path / "o2").exists()


def test_rows_need_the_session_report(full_report):
    report, _ = full_report
    assert len(report.rows()) == N
    with pytest.raises(UsageError, match="Per-row predictions"):
        kdaudit.Report(json.loads(json.dumps(report.data))).rows()


def test_policy_text_and_hash_are_recorded(full_report):
    report, policy = full_report
    gate = report.data["gate"]
    assert gate["policy_content"] == policy.read_text()
    assert gate["policy_sha256"] == hashlib.sha256(policy.read_bytes()).hexdigest()
    strict = report.apply_policy("strict")
    assert report.data["gate"]["policy_content"] == policy.read_text()  # unchanged
    from importlib import resources

    shipped = resources.files("kdaudit.policies").joinpath("strict.toml").read_text("utf-8")
    assert strict.data["gate"]["policy_content"] == shipped
    assert strict.data["gate"]["policy_sha256"] == hashlib.sha256(shipped.encode()).hexdigest()
    from kdaudit.gate import Policy

    g = report.apply_policy(Policy.from_dict({"max_accuracy_drop": 0.1})).data["gate"]
    assert (
        g["policy_format"] == "json" and json.loads(g["policy_content"])["max_accuracy_drop"] == 0.1
    )
    assert g["policy_sha256"] == hashlib.sha256(g["policy_content"].encode()).hexdigest()
    validate_report(report.data)


def test_governance_section_and_model_card(full_report, tmp_path):
    report, _ = full_report
    gov = report.data["governance"]
    questions = [i["question"] for i in gov["items"]]
    assert {
        "What was tested?",
        "On which data?",
        "By which method?",
        "With which uncertainty?",
    } <= set(questions)
    assert "not a statement that any law" in gov["disclaimer"]
    text = json.dumps(gov).lower()
    assert "compliant" not in text and "cat, dog, emu" in text
    decided = next(i for i in gov["items"] if i["question"].startswith("What was decided"))
    assert report.data["gate"]["policy_sha256"][:12] in decided["answer"]
    paths = report.write(tmp_path / "mc", formats=("json", "modelcard"))
    card = json.loads(paths["modelcard"].read_text())
    assert card["kdaudit"]["governance"] == gov


def test_resolved_outputs_and_class_names(task, tmp_path, capsys):
    x = np.load(task["data"])["x"]
    z = onnx_logits(task["student"], x)
    probs = np.exp(z) / np.exp(z).sum(1, keepdims=True)
    np.save(tmp_path / "probs.npy", probs.astype(np.float32))
    r = kdaudit.compare(task["teacher"], tmp_path / "probs.npy", data=task["data"], options=opts())
    assert r.data["models"]["student"]["outputs"] == "auto"
    assert r.data["models"]["student"]["outputs_resolved"] == "probs"
    assert r.data["models"]["teacher"]["outputs_resolved"] == "logits"
    assert r.data["data"]["class_names"] == ["cat", "dog", "emu"]
    r2 = kdaudit.compare(
        task["teacher"],
        task["student"],
        data=task["data"],
        options=opts(class_names=("a", "b", "c")),
    )
    assert r2.data["data"]["class_names"] == ["a", "b", "c"]
    assert r2.data["config"]["class_names"] == ["a", "b", "c"]
    code = main(
        [
            "compare",
            str(task["teacher"]),
            str(task["student"]),
            "--data",
            str(task["data"]),
            "--out",
            str(tmp_path / "o"),
            "--no-cache",
            "--class-names",
            "a,b",
        ]
    )
    assert code == 2 and "--class-names gives 2 names" in capsys.readouterr().err


# --------------------------------------------------------------------------- small groups
def test_small_group_flag_counts_positives_and_negatives(tmp_path):
    """A group of 66 rows with 3 positives is flagged for TPR, not for its size."""
    rng = np.random.default_rng(5)
    n_big = 500
    group = np.array(["big"] * n_big + ["rare"] * 66)
    y = np.concatenate([rng.integers(0, 2, n_big), np.array([1] * 3 + [0] * 63)])
    x = np.stack([y + rng.normal(scale=0.8, size=y.size), rng.normal(size=y.size)], 1).astype(
        np.float32
    )
    np.savez(tmp_path / "d.npz", x=x, y=y, sensitive_g=group)
    w = np.array([[-1.0, 1.0], [0.0, 0.0]])
    t = linear_onnx(tmp_path / "t.onnx", w, np.array([0.5, -0.5]))
    s = linear_onnx(tmp_path / "s.onnx", w * 0.8, np.array([0.4, -0.4]))
    with pytest.warns(KDAuditWarning) as rec:
        r = kdaudit.compare(t, s, data=tmp_path / "d.npz", options=opts())
    block = r.data["group_fairness"]["g"]
    rows = {row["group"]: row for row in block["student"]["by_group"]}
    rare = rows["rare"]
    assert rare["n"] == 66 and rare["small"] is False
    assert rare["n_positive"] == 3 and rare["n_negative"] == 63
    assert rare["small_for"] == {
        "selection_rate": False,
        "accuracy": False,
        "tpr": True,
        "fpr": False,
    }
    big = rows["big"]
    assert big["n_positive"] == int(np.sum(y[:n_big] == 1)) and not any(big["small_for"].values())
    assert block["groups_flagged_rates"] == [
        {"group": "rare", "n": 66, "n_positive": 3, "n_negative": 63, "rates": ["tpr"]}
    ]
    messages = [str(w.message) for w in rec]
    assert any("'rare' has 66 rows but only 3 positives (TPR)" in m for m in messages)
    # the warning points at this file's line, not at kdaudit's internals
    assert all(Path(w.filename).resolve() == Path(__file__).resolve() for w in rec)
    validate_report(r.data)


# --------------------------------------------------------------------------- sanity
def _scaled_task(tmp_path: Path) -> tuple[Path, Path, Path, np.ndarray]:
    """uint8 images; models trained (here: built) for inputs in [0, 1]."""
    rng = np.random.default_rng(11)
    n, d = 300, 64
    proto = rng.random((C, d))
    y = rng.integers(0, C, n)
    img = np.clip(proto[y] + rng.normal(scale=0.15, size=(n, d)), 0, 1)
    x = np.round(img * 255).astype(np.uint8)
    np.savez(tmp_path / "img.npz", x=x, y=y)
    w = (proto - proto.mean(0)).T * 8  # nearest-prototype classifier on [0, 1] inputs
    b = -0.5 * (w * (proto.T)).sum(0)
    t = linear_onnx(tmp_path / "t.onnx", w, b)
    s = linear_onnx(tmp_path / "s.onnx", w * 0.9, b * 0.9)
    return t, s, tmp_path / "img.npz", y


def test_unscaled_0_255_inputs_warn_and_scaling_fixes_it(tmp_path):
    t, s, data, _ = _scaled_task(tmp_path)
    with pytest.warns(KDAuditWarning):
        r = kdaudit.compare(t, s, data=data, options=opts())
    checks = {(f["check"], f["role"]) for f in r.data["sanity"]}
    assert ("input_scale", "teacher") in checks and ("input_scale", "student") in checks
    assert any("scale = 0.00392156862745098" in w for w in r.data["warnings"])
    good = kdaudit.compare(
        t, s, data=data, options=opts(), preprocess="scale = 0.00392156862745098"
    )
    assert "sanity" not in good.data
    assert good.data["accuracy"]["student"] > 0.9


def test_manifest_scale_overridden_warns(tmp_path):
    from kdaudit.models.base import ModelSpec
    from kdaudit.models.preprocess import Preprocess
    from kdaudit.sanity import input_scale_findings

    fact = {
        "label": "student",
        "logits_file": False,
        "input_dtype": np.dtype("float32"),
        "spec": ModelSpec(path="s.onnx", role="student", preprocess=Preprocess(mean=0.5)),
        "manifest": {"preprocess": {"scale": 1 / 255}},
    }
    (finding,) = input_scale_findings([fact], np.zeros((4, 3), np.float32))
    assert "training manifest" in finding["message"]
    fact["spec"] = ModelSpec(path="s.onnx", role="student", preprocess=Preprocess(scale=1 / 255))
    assert input_scale_findings([fact], np.zeros((4, 3), np.float32)) == []
    # integer model inputs scale themselves; tables of small whole numbers are not pixels
    fact["input_dtype"] = np.dtype("uint8")
    assert input_scale_findings([fact], np.full((4, 3, 8, 8), 200, np.uint8)) == []
    from kdaudit.sanity import looks_like_0_255

    assert not looks_like_0_255(np.array([[17, 200, 3]] * 5, dtype=np.float64))
    assert looks_like_0_255(np.full((5, 784), 255.0)) and looks_like_0_255(
        np.zeros((2, 3), np.uint8)
    )
    assert not looks_like_0_255(np.full((5, 784), 0.5))


def test_near_chance_and_one_class_models(tmp_path, task):
    from kdaudit.sanity import prediction_findings

    y = np.array([0] * 50 + [1] * 30 + [2] * 20)
    found = prediction_findings(
        y,
        {"student": [np.zeros(100, int)], "teacher": [y.copy()]},
        3,
        class_names=["cat", "dog", "emu"],
    )
    assert [(f["check"], f["role"]) for f in found] == [("one_class", "student")]
    assert "'cat' for every row" in found[0]["message"]
    rng = np.random.default_rng(1)
    noisy = np.where(rng.random(100) < 0.5, y, rng.integers(0, 3, 100))
    guess = rng.integers(0, 3, 100)
    found = prediction_findings(y, {"student": [guess], "teacher": [noisy]}, 3)
    assert [(f["check"], f["role"]) for f in found] == [("near_chance", "student")]
    # through the audit: a constant model is reported in sanity and warnings
    const = linear_onnx(tmp_path / "const.onnx", np.zeros((F, C)), np.array([0.0, 0.0, 1.0]))
    with pytest.warns(KDAuditWarning, match="for every row"):
        r = kdaudit.compare(task["teacher"], const, data=task["data"], options=opts())
    assert ("one_class", "student") in {(f["check"], f["role"]) for f in r.data["sanity"]}


def test_every_shape_problem_of_every_model_in_one_error(task, tmp_path, capsys):
    bad_t = linear_onnx(tmp_path / "bad_t.onnx", np.zeros((F + 1, C)), np.zeros(C))
    bad_s = linear_onnx(tmp_path / "bad_s.onnx", np.zeros((F + 2, C)), np.zeros(C))
    with pytest.raises(InputDataError) as err:
        kdaudit.compare(
            bad_t,
            [task["student"], bad_s],
            baseline=tmp_path / "missing.onnx",
            data=task["data"],
            options=opts(),
        )
    msg = str(err.value)
    assert msg.startswith("3 of 4 models cannot run on this data")
    assert "bad_t.onnx" in msg and "bad_s.onnx" in msg and "missing.onnx" in msg
    code = main(
        [
            "compare",
            str(bad_t),
            str(bad_s),
            "--data",
            str(task["data"]),
            "--out",
            str(tmp_path / "o"),
            "--no-cache",
        ]
    )
    err_text = capsys.readouterr().err
    assert code == 2 and err_text.startswith("kdaudit: error: 2 of 2 models")
    assert len([ln for ln in err_text.splitlines() if ln.startswith("kdaudit: error")]) == 1
    assert "Traceback" not in err_text and not (tmp_path / "o").exists()
    # one problem alone keeps its own message (and tip)
    with pytest.raises(InputDataError, match="expects input"):
        kdaudit.compare(task["teacher"], bad_s, data=task["data"], options=opts())


def test_repr_html_is_an_isolated_report(full_report):
    report, _ = full_report
    html = report._repr_html_()
    assert html.startswith("<iframe srcdoc=") and "&lt;html" in html and "<html" not in html


def test_docstrings_are_self_contained():
    import kdaudit.api as api

    for obj in (
        api.compare,
        api.audit,
        api.run_audit,
        api.Report,
        api.Report.to_frames,
        api.Report.rows,
        api.load_config,
        api.AuditOptions,
    ):
        doc = obj.__doc__ or ""
        assert "INTERFACE.md" not in doc and "METHODS.md" not in doc, obj


# --------------------------------------------------------------------------- reproduction doc
def test_reproduction_doc_quotes_the_committed_sample_report():
    from kdaudit.reproduction import BEGIN, END, render_section

    report = json.loads((ROOT / "sample_reports" / "report.json").read_text())
    study_path = ROOT / "sample_reports" / "study.json"
    study = json.loads(study_path.read_text()) if study_path.is_file() else None
    doc = (ROOT / "docs" / "reproduction.md").read_text()
    block = doc[doc.index(BEGIN) : doc.index(END) + len(END)] + "\n"
    assert block == render_section(report, study), (
        "docs/reproduction.md disagrees with sample_reports/: run "
        "`kdaudit demo --out sample_reports --update-docs docs/reproduction.md` (make demo)"
    )


def test_update_docs_rewrites_only_the_block(tmp_path):
    from kdaudit.reproduction import BEGIN, END, update_doc

    report = json.loads((ROOT / "sample_reports" / "report.json").read_text())
    doc = tmp_path / "r.md"
    doc.write_text(f"intro\n{BEGIN}\nold numbers\n{END}\noutro\n")
    update_doc(doc, report)
    text = doc.read_text()
    assert text.startswith("intro\n" + BEGIN) and text.endswith(END + "\noutro\n")
    assert "old numbers" not in text and "| teacher |" in text
    (tmp_path / "none.md").write_text("no markers")
    with pytest.raises(UsageError, match="no generated block"):
        update_doc(tmp_path / "none.md", report)


def test_api_accepts_one_sensitive_name_as_a_string(tmp_path):
    """``sensitive="sex"`` is one attribute (as on the command line), not three letters."""
    rng = np.random.default_rng(4)
    n = 300
    y = rng.integers(0, 2, n)
    np.savez(
        tmp_path / "d.npz",
        y=y,
        sensitive_sex=rng.integers(0, 2, n),
        sensitive_race=rng.integers(0, 3, n),
    )
    for name in ("t", "s"):
        logits = rng.normal(size=(n, 2)).astype(np.float32)
        logits[np.arange(n), y] += 1.5
        np.save(tmp_path / f"{name}.npy", logits)
    opts = kdaudit.AuditOptions(bootstrap=20, use_cache=False)
    one = kdaudit.compare(
        tmp_path / "t.npy",
        tmp_path / "s.npy",
        data=tmp_path / "d.npz",
        sensitive="sex",
        options=opts,
    )
    assert list(one.data["group_fairness"]) == ["sex"]
    two = kdaudit.compare(
        tmp_path / "t.npy",
        tmp_path / "s.npy",
        data=tmp_path / "d.npz",
        sensitive="sex,race",
        options=opts,
    )
    assert sorted(two.data["group_fairness"]) == ["race", "sex"]
