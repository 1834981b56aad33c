"""Bad configuration of every kind: one table per kind -> error family and message fragment.

Kinds: audit options (``AuditOptions``, what every flag and ``[analysis]`` key becomes),
the audit TOML config (``kdaudit audit``), the ``[[sweep]]`` table, gate policies
(TOML files and ``Policy.from_dict``), preprocessing specs, model manifests, the logit
cache and its manifests, gate reports (``kdaudit gate``), and CLI arguments (exit code 2
or 3 and one ``kdaudit: error:`` line, no traceback).

Tests use public entry points (``kdaudit.api``, ``kdaudit.gate``, ``kdaudit.cli.main``)
and key fragments of messages, so that refactors which keep the contract keep them green.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from kdaudit.api import AuditOptions
from kdaudit.cli import main
from kdaudit.errors import CacheError, InputDataError, KDAuditError, UsageError
from kdaudit.gate import Policy, load_policy
from kdaudit.models.manifest import read_manifest
from kdaudit.models.preprocess import Preprocess, apply_preprocess
from kdaudit.userinput import as_preprocess, parse_preprocess_text

N = 120


@pytest.fixture(scope="module")
def files(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """A binary task (npz data, logits files) and one finished report.json."""
    d = tmp_path_factory.mktemp("negcfg")
    rng = np.random.default_rng(3)
    y = rng.integers(0, 2, N)
    sex = np.array(["F", "M"] * (N // 2))
    x = rng.normal(size=(N, 3)).astype(np.float32)
    grp = np.repeat(["A", "B"], N // 2)
    np.savez(d / "eval.npz", x=x, y=y, sensitive_sex=sex, sensitive_grp=grp)
    np.savez(d / "noX.npz", y=y, sensitive_sex=sex)
    for name, acc in [("teacher", 0.9), ("student", 0.8)]:
        pred = np.where(rng.random(N) < acc, y, 1 - y)
        out = rng.normal(scale=0.1, size=(N, 2)).astype(np.float32)
        out[np.arange(N), pred] += 2.0
        np.save(d / f"{name}.npy", out)
    np.save(d / "three.npy", rng.normal(size=(N, 3)).astype(np.float32))
    np.save(d / "one.npy", np.zeros((N, 1), np.float32))
    np.save(d / "emb_bad.npy", np.zeros((N - 1, 4), np.float32))
    np.save(d / "emb_3d.npy", np.zeros((N, 2, 2), np.float32))
    (d / "emb.txt").write_text("1 2 3\n")
    np.savez(d / "cf_noX.npz", y=y)
    np.savez(d / "cf_short.npz", x=x[:-1])
    (d / "cf.txt").write_text("x")
    (d / "afile").write_text("x")
    _linear_onnx(d / "teacher.onnx", rng.normal(size=(3, 2)))
    _linear_onnx(d / "student.onnx", rng.normal(size=(3, 2)))
    code = main(
        [
            "compare",
            str(d / "teacher.npy"),
            str(d / "student.npy"),
            "--data",
            str(d / "eval.npz"),
            "--out",
            str(d / "out"),
            "--bootstrap",
            "0",
            "--no-cache",
            "--quiet",
        ]
    )
    assert code == 0
    paths = {p.stem: p for p in d.iterdir()}
    paths["dir"] = d
    paths["report"] = d / "out" / "report.json"
    return paths


def _linear_onnx(path: Path, w: np.ndarray) -> None:
    """A real ONNX model logits = x @ w (dynamic batch axis); skipped without onnx."""
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


def run_cli(argv: list[Any], capsys: pytest.CaptureFixture[str]) -> tuple[int, str]:
    code = main([str(a) for a in argv])
    err = capsys.readouterr().err
    return code, err


def assert_one_line_error(err: str, fragment: str) -> None:
    lines = [ln for ln in err.splitlines() if ln.strip() and not ln.startswith("kdaudit: warning")]
    assert lines, "no error line"
    assert lines[0].startswith("kdaudit: error: "), err
    assert "Traceback" not in err, err
    assert len(lines) <= 2 and all(ln.startswith("tip: ") for ln in lines[1:]), err
    assert fragment in lines[0], err


# --------------------------------------------------------------------- audit options
# fmt: off
OPTIONS: list[tuple[str, dict[str, Any], str]] = [
    ("class-names-str", {"class_names": "cat,dog"}, "list of names"),
    ("alpha-0", {"alpha": 0.0}, "--alpha must be between 0 and 1"),
    ("alpha-1", {"alpha": 1.5}, "--alpha must be between 0 and 1"),
    ("correction", {"correction": "bonferroni"}, "Unknown --correction 'bonferroni'"),
    ("seed", {"seed": -1}, "--seed must be >= 0"),
    ("max-groups-0", {"max_groups": 0}, "max_groups must be a positive integer"),
    ("max-groups-bool", {"max_groups": True}, "max_groups must be a positive integer"),
    ("min-group-size", {"min_group_size": -1}, "--min-group-size must be >= 0"),
    ("bootstrap-neg", {"bootstrap": -1}, "--bootstrap must be >= 0"),
    ("bootstrap-huge", {"bootstrap": 10**9}, "--bootstrap must be at most"),
    ("confidence", {"confidence": 0.2}, "confidence must be in [0.5, 1)"),
    ("batch-size", {"batch_size": 0}, "--batch-size must be a positive integer"),
    ("device", {"device": "tpu"}, "--device must be auto, cpu or cuda"),
    ("knn-k", {"knn_k": 0}, "k for nearest neighbours must be >= 1"),
    ("anchors", {"anchors": -3}, "anchors must be an integer >= 0"),
    ("distance", {"distance": "manhattan"}, "distance must be euclidean, cosine or auto"),
    ("skip", {"skip": frozenset({"everything"})}, "Unknown analysis in --skip: everything"),
]
# fmt: on


@pytest.mark.parametrize(
    ("kwargs", "fragment"), [o[1:] for o in OPTIONS], ids=[o[0] for o in OPTIONS]
)
def test_audit_options_refuse_bad_values(kwargs: dict[str, Any], fragment: str) -> None:
    with pytest.raises(UsageError, match=None) as info:
        AuditOptions(**kwargs)
    assert fragment in str(info.value)


# ------------------------------------------------------------------ audit TOML config
GOOD_MODELS = '[models.teacher]\npath = "teacher.npy"\n[models.student]\npath = "student.npy"\n'
DATA = '[data]\npath = "eval.npz"\n'

# fmt: off
CONFIGS: list[tuple[str, str, int, str]] = [
    # (id, config text, exit code, fragment)
    ("not-toml", "[data\npath = 1", 2, "config"),
    ("unknown-section", DATA + GOOD_MODELS + "[extra]\na = 1\n", 2, "extra"),
    ("no-data", GOOD_MODELS, 2, "data"),
    ("data-no-path", '[data]\nlabel = "y"\n' + GOOD_MODELS, 2, "path"),
    ("unknown-data-key", DATA + 'colour = "red"\n' + GOOD_MODELS, 2, "colour"),
    ("unknown-role", DATA + GOOD_MODELS + '[models.assistant]\npath = "t.npy"\n', 2, "assistant"),
    ("unknown-model-key", DATA + GOOD_MODELS + 'colour = "red"\n', 2, "colour"),
    ("model-no-path", DATA + '[models.teacher]\nformat = "onnx"\n[models.student]\npath = "s.npy"\n', 2, "path"),
    ("unknown-analysis", DATA + GOOD_MODELS + "[analysis]\nbootstraps = 5\n", 2, "bootstraps"),
    ("bad-alpha", DATA + GOOD_MODELS + "[analysis]\nalpha = 1.5\n", 2, "alpha"),
    ("bad-correction", DATA + GOOD_MODELS + '[analysis]\ncorrection = "sidak"\n', 2, "correction"),
    ("bad-B", DATA + GOOD_MODELS + "[analysis]\nbootstrap = -1\n", 2, "bootstrap"),
    ("bad-gate-key", DATA + GOOD_MODELS + "[gate]\nmax_acc_drop = 0.1\n", 2, "max_acc_drop"),
    ("bad-gate-value", DATA + GOOD_MODELS + "[gate]\nmax_accuracy_drop = 5\n", 2, "max_accuracy_drop"),
    ("no-student", DATA + '[models.teacher]\npath = "teacher.npy"\n', 2, "student"),
    ("missing-model-file", DATA + '[models.teacher]\npath = "nope.npy"\n[models.student]\npath = "student.npy"\n', 2, "does not exist"),
    ("missing-data-file", '[data]\npath = "nope.npz"\n' + GOOD_MODELS, 2, "does not exist"),
    ("bad-preprocess", DATA + '[models.teacher]\npath = "teacher.npy"\npreprocess = { scale = "big" }\n[models.student]\npath = "student.npy"\n', 2, "scale"),
    ("classes-differ", DATA + '[models.teacher]\npath = "teacher.npy"\n[models.student]\npath = "three.npy"\n', 2, "same number of classes"),
    ("one-class", DATA + '[models.teacher]\npath = "one.npy"\n[models.student]\npath = "one.npy"\n', 2, "n_classes >= 2"),
    # [[sweep]]: a temperature per entry, students with the other models' classes
    ("sweep-no-temperature", DATA + GOOD_MODELS + '[[sweep]]\npath = "student.npy"\n', 2, "temperature"),
    ("sweep-bad-temperature", DATA + GOOD_MODELS + '[[sweep]]\ntemperature = "hot"\npath = "student.npy"\n', 2, "temperature"),
    ("sweep-unknown-key", DATA + GOOD_MODELS + '[[sweep]]\ntemperature = 2.0\ncolour = 1\n', 2, "colour"),
    ("sweep-classes", DATA + GOOD_MODELS + '[[sweep]]\ntemperature = 2.0\npath = "three.npy"\n', 2, "Sweep student at T=2.0 outputs 3 classes"),
    ("sweep-missing-file", DATA + GOOD_MODELS + '[[sweep]]\ntemperature = 2.0\npath = "nope.npy"\n', 2, "does not exist"),
]
# fmt: on


@pytest.mark.parametrize(
    ("text", "code", "fragment"), [c[1:] for c in CONFIGS], ids=[c[0] for c in CONFIGS]
)
def test_bad_audit_config_is_one_line_and_exit_code(
    files: dict[str, Path], capsys: pytest.CaptureFixture[str], text: str, code: int, fragment: str
) -> None:
    cfg = files["dir"] / "audit.toml"
    cfg.write_text(text)
    out = files["dir"] / "cfg-out"
    got, err = run_cli(["audit", cfg, "--out", out, "--no-cache", "--quiet"], capsys)
    assert got == code, err
    assert_one_line_error(err, fragment)
    assert not (out / "report.json").exists()  # no partial report


def test_missing_config_file(files: dict[str, Path], capsys: pytest.CaptureFixture[str]) -> None:
    got, err = run_cli(["audit", files["dir"] / "none.toml", "--quiet"], capsys)
    assert got == 2
    assert_one_line_error(err, "does not exist")


# ------------------------------------------------------------------------ gate policy
# fmt: off
POLICY_FILES: list[tuple[str, str, str]] = [
    ("not-toml", "max_accuracy_drop = = 1", "policy"),
    ("unknown-key", "max_acc_drop = 0.1\n", "max_acc_drop"),
    ("not-number", 'max_accuracy_drop = "small"\n', "max_accuracy_drop"),
    ("out-of-range", "max_accuracy_drop = 3.0\n", "max_accuracy_drop"),
    ("bad-judge", 'max_accuracy_drop = 0.1\njudge = "vibes"\n', "judge"),
    ("bad-allow-missing", "max_accuracy_drop = 0.1\nallow_missing = 1\n", "allow_missing"),
    ("bad-classes", "max_significant_classes = -1\n", "max_significant_classes"),
    ("bad-description", "max_accuracy_drop = 0.1\ndescription = 3\n", "description"),
]
# fmt: on


@pytest.mark.parametrize(
    ("text", "fragment"), [c[1:] for c in POLICY_FILES], ids=[c[0] for c in POLICY_FILES]
)
def test_bad_policy_file(tmp_path: Path, text: str, fragment: str) -> None:
    p = tmp_path / "policy.toml"
    p.write_text(text)
    with pytest.raises(UsageError) as info:
        load_policy(p)
    assert fragment in str(info.value)


# fmt: off
POLICY_DICTS: list[tuple[str, Any, str]] = [
    ("not-a-table", [1, 2], "expected a table of settings, got list"),
    ("unknown-key", {"max_acc_drop": 0.1}, "unknown key(s) max_acc_drop"),
    ("classes-float", {"max_significant_classes": 1.5}, "non-negative integer"),
    ("classes-bool", {"max_significant_classes": True}, "non-negative integer"),
    ("threshold-str", {"max_accuracy_drop": "0.1"}, "finite number"),
    ("threshold-nan", {"max_accuracy_drop": float("nan")}, "finite number"),
    ("threshold-range", {"max_dpd_increase": 2.0}, "outside [-1, 1]"),
    ("judge", {"judge": "vibes"}, 'judge must be "upper_bound" or "point"'),
    ("allow-missing", {"allow_missing": "yes"}, "allow_missing must be true or false"),
    ("on-inconclusive", {"on_inconclusive": "shrug"}, "on_inconclusive must be"),
    ("description", {"description": 3}, "description must be a string"),
    ("gate-table", {"gate": {"judge": "x"}}, "judge must be"),
]
# fmt: on


@pytest.mark.parametrize(
    ("data", "fragment"), [c[1:] for c in POLICY_DICTS], ids=[c[0] for c in POLICY_DICTS]
)
def test_bad_policy_table(data: Any, fragment: str) -> None:
    with pytest.raises(UsageError) as info:
        Policy.from_dict(data, source="test")
    assert fragment in str(info.value)
    assert "policy test" in str(info.value)


def test_policy_path_problems(tmp_path: Path) -> None:
    with pytest.raises(UsageError, match="does not exist"):
        load_policy(tmp_path / "none.toml")
    with pytest.raises(UsageError, match="is a directory"):
        load_policy(tmp_path)


# -------------------------------------------------------------------- preprocess spec
# fmt: off
PREPROCESS: list[tuple[str, Callable[[], Any], type[Exception], str]] = [
    ("mean-empty", lambda: Preprocess(mean=[]), UsageError, "'mean' is an empty list"),
    ("std-word", lambda: Preprocess(std="wide"), UsageError, "'std' must be a number"),
    ("std-zero", lambda: Preprocess(std=0.0), UsageError, "'std' must be finite and non-zero"),
    ("transpose-words", lambda: Preprocess(transpose=["a"]), UsageError, "'transpose' must be a list of integers"),
    ("transpose-perm", lambda: Preprocess(transpose=(0, 0)), UsageError, "permutation"),
    ("reshape-two-minus", lambda: Preprocess(reshape=(-1, -1)), UsageError, "-1 at most once"),
    ("dtype", lambda: Preprocess(dtype="float99"), UsageError, "not a numpy dtype"),
    ("not-table", lambda: Preprocess.from_dict([1]), UsageError, "must be a table"),
    ("unknown-key", lambda: Preprocess.from_dict({"scael": 1.0}), UsageError, "scael"),
    ("layout", lambda: Preprocess.from_dict({"layout": "HWCN"}), UsageError, "layout"),
    ("apply-transpose-axes", lambda: Preprocess(transpose=(1, 0)).apply(np.zeros((2, 3))), InputDataError, "has 2 axes"),
    ("apply-reshape", lambda: Preprocess(reshape=(5,)).apply(np.zeros((2, 3))), InputDataError, "Cannot reshape"),
    ("apply-channels", lambda: Preprocess(mean=(0.1, 0.2)).apply(np.zeros((2, 3, 4))), InputDataError, "has 2 values"),
    ("apply-strings", lambda: apply_preprocess(None, np.array([["a"]]), np.float32), InputDataError, "a model takes numbers"),
    ("apply-int-nan", lambda: apply_preprocess(None, np.array([[np.nan]]), np.int64), InputDataError, "NaN or inf"),
    ("text-not-table", lambda: parse_preprocess_text("[1, 2]"), UsageError, "preprocess"),
    ("text-garbage", lambda: parse_preprocess_text("scale = = 3"), UsageError, "preprocess"),
    ("as-preprocess-type", lambda: as_preprocess(3.5), UsageError, "preprocess"),
]
# fmt: on


@pytest.mark.parametrize(
    ("call", "exc", "fragment"), [c[1:] for c in PREPROCESS], ids=[c[0] for c in PREPROCESS]
)
def test_bad_preprocess_spec(call: Callable[[], Any], exc: type[Exception], fragment: str) -> None:
    with pytest.raises(exc) as info:
        call()
    assert fragment in str(info.value)


# --------------------------------------------------------------------- model manifest
# fmt: off
MANIFESTS: list[tuple[str, str | None, str]] = [
    ("absent", None, "No kdaudit manifest"),
    ("not-json", "{not json", "model manifest"),
    ("not-object", "[1, 2]", "is not a kdaudit model manifest"),
    ("wrong-format", '{"format": "other/1"}', "is not a kdaudit model manifest"),
    ("bad-fields", '{"format": "kdaudit-model/1", "files": 3}', "files"),
]
# fmt: on


@pytest.mark.parametrize(
    ("text", "fragment"), [c[1:] for c in MANIFESTS], ids=[c[0] for c in MANIFESTS]
)
def test_bad_model_manifest(tmp_path: Path, text: str | None, fragment: str) -> None:
    model = tmp_path / "m.onnx"
    model.write_bytes(b"x")
    if text is not None:
        (tmp_path / "m.json").write_text(text)
    with pytest.raises(InputDataError) as info:
        read_manifest(model)
    assert fragment in str(info.value)


# ------------------------------------------------------------------------ gate report
# fmt: off
REPORTS: list[tuple[str, str | None, str]] = [
    ("not-json", "{", "report"),
    ("not-object", "[1]", "report"),
    ("no-version", "{}", "schema_version"),
]
# fmt: on


@pytest.mark.parametrize(
    ("text", "fragment"), [c[1:] for c in REPORTS], ids=[c[0] for c in REPORTS]
)
def test_bad_gate_report(
    files: dict[str, Path],
    capsys: pytest.CaptureFixture[str],
    tmp_path: Path,
    text: str,
    fragment: str,
) -> None:
    rep = tmp_path / "report.json"
    rep.write_text(text)
    policy = tmp_path / "p.toml"
    policy.write_text("max_accuracy_drop = 0.5\n")
    got, err = run_cli(["gate", rep, "--policy", policy], capsys)
    assert got == 2, err
    assert_one_line_error(err, fragment)


def test_gate_report_path_problems(
    files: dict[str, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    policy = files["dir"] / "p.toml"
    policy.write_text("max_accuracy_drop = 0.5\n")
    got, err = run_cli(["gate", files["dir"] / "none.json", "--policy", policy], capsys)
    assert got == 2
    assert_one_line_error(err, "does not exist")
    got, err = run_cli(["gate", files["dir"], "--policy", policy], capsys)
    assert got == 2
    assert_one_line_error(err, "is a directory")


def _drop(report: dict[str, Any], path: str, value: Any = None) -> dict[str, Any]:
    """A copy of ``report`` with the entry at dotted ``path`` replaced by ``value``."""
    out = json.loads(json.dumps(report))
    node = out
    keys = path.split(".")
    for k in keys[:-1]:
        node = node[k]
    node[keys[-1]] = value
    return out


# fmt: off
GATE_GAPS: list[tuple[str, str, str, Any, str]] = [
    # (id, policy key, report entry, replacement, detail fragment)
    ("accuracy-absent", "max_accuracy_drop", "accuracy_delta", {}, "accuracy_delta.teacher_vs_student is absent"),
    ("accuracy-undefined", "max_accuracy_drop", "accuracy_delta.teacher_vs_student", {"value": None, "undefined_reason": "no rows"}, "undefined (no rows)"),
    ("accuracy-not-a-record", "max_accuracy_drop", "accuracy_delta.teacher_vs_student", 3, "is absent from the report"),
    ("classes-absent", "max_significant_classes", "class_shift", {}, "class shift teacher_vs_student was not computed"),
    ("classes-count", "max_significant_classes", "class_shift.teacher_vs_student.n_significant", None, "n_significant is absent"),
    ("fairness-absent", "max_dpd_increase", "group_fairness", {}, "group fairness was not computed"),
    ("fairness-attr", "max_eod_increase", "group_fairness.sex.delta", {}, "is absent from the report"),
    ("lipschitz-absent", "max_lipschitz_increase", "individual_fairness", {}, "individual fairness was not computed"),
    ("lipschitz-role", "max_lipschitz_increase", "individual_fairness", {"delta": {}, "teacher": {}}, "individual_fairness.teacher.lipschitz is undefined or absent"),
]
# fmt: on


@pytest.mark.parametrize(
    ("key", "entry", "value", "fragment"), [g[1:] for g in GATE_GAPS], ids=[g[0] for g in GATE_GAPS]
)
def test_gate_on_report_with_a_gap_is_inconclusive(
    files: dict[str, Path], key: str, entry: str, value: Any, fragment: str
) -> None:
    """A check whose number is absent or undefined is not evaluated and fails (never a
    silent pass) unless the policy says ``allow_missing``."""
    from kdaudit.gate import evaluate_gate

    report = _drop(json.loads(files["report"].read_text()), entry, value)
    threshold = 1 if key == "max_significant_classes" else 0.5
    result = evaluate_gate(report, Policy.from_dict({key: threshold}))
    (check,) = result.checks
    assert check.verdict == "fail" and not check.evaluated and not check.release_ok, check
    assert fragment in check.detail, check.detail
    assert "allow_missing" in check.detail
    assert result.verdict == "fail" and not result.passed


# ------------------------------------------------------------------------ logit cache
def test_cache_folder_is_a_file(files: dict[str, Path], capsys: pytest.CaptureFixture[str]) -> None:
    got, err = run_cli(["cache", "ls", "--cache-dir", files["afile"]], capsys)
    assert got == 2
    assert_one_line_error(err, "is a file")


def test_cache_shard_rows_must_be_positive(tmp_path: Path) -> None:
    from kdaudit.engine.cache import LogitCache

    with pytest.raises(UsageError, match="shard_rows must be positive"):
        LogitCache(tmp_path, shard_rows=0)


# ---------------------------------------------------------------------- CLI arguments
def _cmp(
    f: dict[str, Path], *extra: Any, teacher: str = "teacher.npy", student: str = "student.npy"
) -> list[Any]:
    d = f["dir"]
    if teacher.endswith(".onnx") and not (d / teacher).exists():
        pytest.skip("onnx is not installed")
    return [
        "compare",
        d / teacher,
        d / student,
        "--data",
        d / "eval.npz",
        "--out",
        d / "cli-out",
        "--no-cache",
        "--quiet",
        "--bootstrap",
        "0",
        *extra,
    ]


# fmt: off
CLI: list[tuple[str, Callable[[dict[str, Path]], list[Any]], int, str]] = [
    ("no-command", lambda f: [], 2, "COMMAND"),
    ("unknown-command", lambda f: ["comprae"], 2, "comprae"),
    ("unknown-flag", lambda f: _cmp(f, "--colour", "red"), 2, "--colour"),
    ("batch-not-int", lambda f: _cmp(f, "--batch-size", "many"), 2, "positive integer"),
    ("batch-zero", lambda f: _cmp(f, "--batch-size", "0"), 2, "positive integer"),
    ("preprocess-garbage", lambda f: _cmp(f, "--teacher-preprocess", "scale = = 1"), 2, "preprocessing spec"),
    ("preprocess-not-table", lambda f: _cmp(f, "--teacher-preprocess", '["a"]'), 2, "preprocess"),
    ("sensitive-file-syntax", lambda f: _cmp(f, "--sensitive-file", "sexonly"), 2, "NAME=PATH"),
    ("no-student", lambda f: ["compare", f["dir"] / "teacher.npy", "--data", f["dir"] / "eval.npz"], 2, "required"),
    ("no-data", lambda f: ["compare", f["dir"] / "teacher.npy", f["dir"] / "student.npy"], 2, "--data"),
    ("out-is-file", lambda f: [*_cmp(f), "--out", f["dir"] / "afile"], 2, "is a file"),
    ("junit-no-policy", lambda f: _cmp(f, "--junit", f["dir"] / "j.xml"), 2, "--junit needs a gate policy"),
    ("junit-is-dir", lambda f: _cmp(f, "--policy", "default", "--junit", f["dir"]), 2, "is a directory"),
    ("policy-missing", lambda f: _cmp(f, "--policy", f["dir"] / "none.toml"), 2, "does not exist"),
    ("from-stats-and-models", lambda f: _cmp(f, "--from-stats", f["dir"]), 2, "--from-stats takes the models"),
    ("alpha", lambda f: _cmp(f, "--alpha", "2"), 2, "alpha"),
    ("seed", lambda f: _cmp(f, "--seed", "-4"), 2, "seed"),
    ("bootstrap-negative", lambda f: [*_cmp(f), "--bootstrap", "-1"], 2, "bootstrap"),
    ("min-group-size", lambda f: _cmp(f, "--min-group-size", "-1"), 2, "--min-group-size"),
    ("knn-k", lambda f: _cmp(f, "--knn-k", "0"), 2, "positive integer"),
    ("anchors", lambda f: _cmp(f, "--anchors", "-1"), 2, "anchors"),
    ("max-groups", lambda f: _cmp(f, "--max-groups", "1"), 2, "max-groups"),
    ("intersection-too-big", lambda f: _cmp(f, "--intersectional", "--max-groups", "3"), 2, "The intersection 'sex+grp' has 4 groups"),
    ("positive-label", lambda f: _cmp(f, "--positive-label", "7"), 2, "positive_label"),
    ("class-names-count", lambda f: _cmp(f, "--class-names", "a,b,c"), 2, "class"),
    ("one-class-models", lambda f: _cmp(f, teacher="one.npy", student="one.npy"), 2, "n_classes >= 2"),
    ("embedding-not-npy", lambda f: _cmp(f, "--embedding", f["dir"] / "emb.txt"), 2, "must be a .npy file"),
    ("embedding-rows", lambda f: _cmp(f, "--embedding", f["dir"] / "emb_bad.npy"), 2, "The embedding has 119 rows"),
    ("embedding-3d", lambda f: _cmp(f, "--embedding", f["dir"] / "emb_3d.npy"), 2, "(n_samples, n_features)"),
    ("counterfactual-missing", lambda f: _cmp(f, "--counterfactual", f["dir"] / "none.npz", teacher="teacher.onnx", student="student.onnx"), 2, "does not exist"),
    ("counterfactual-not-npz", lambda f: _cmp(f, "--counterfactual", f["dir"] / "cf.txt", teacher="teacher.onnx", student="student.onnx"), 2, "must be an .npz"),
    ("counterfactual-no-x", lambda f: _cmp(f, "--counterfactual", f["dir"] / "cf_noX.npz", teacher="teacher.onnx", student="student.onnx"), 2, "has no 'x' array"),
    ("counterfactual-rows", lambda f: _cmp(f, "--counterfactual", f["dir"] / "cf_short.npz", teacher="teacher.onnx", student="student.onnx"), 2, "Row i must be"),
    ("counterfactual-anchors", lambda f: _cmp(f, "--counterfactual", f["dir"] / "cf_short.npz", "--anchors", "50", teacher="teacher.onnx", student="student.onnx"), 2, "anchors"),
    ("device-choice", lambda f: _cmp(f, "--device", "tpu"), 2, "device"),
    ("export-rows-dir", lambda f: _cmp(f, "--export-rows", f["dir"]), 2, "expected a file ending in .parquet or .csv"),
    ("export-rows-ext", lambda f: _cmp(f, "--export-rows", f["dir"] / "rows.txt"), 2, "export-rows"),
    ("cache-verify-file", lambda f: ["cache", "verify", "--cache-dir", f["dir"] / "afile"], 2, "is a file"),
]
# fmt: on


@pytest.mark.parametrize(
    ("argv", "code", "fragment"), [c[1:] for c in CLI], ids=[c[0] for c in CLI]
)
def test_bad_cli_arguments(
    files: dict[str, Path],
    capsys: pytest.CaptureFixture[str],
    argv: Callable[[dict[str, Path]], list[Any]],
    code: int,
    fragment: str,
) -> None:
    got, err = run_cli(argv(files), capsys)
    assert got == code, err
    assert_one_line_error(err, fragment)
    assert not (files["dir"] / "cli-out" / "report.json").exists()


def test_errors_are_kdaudit_errors_with_codes() -> None:
    """Every config error above maps to exit code 2 (input) or 3 (could not audit)."""
    assert UsageError("x").exit_code == 2
    assert InputDataError("x").exit_code == 2
    assert CacheError("x").exit_code == 3
    assert issubclass(CacheError, KDAuditError)


# ------------------------------------------------------------------ the Python API
def test_python_api_refuses_missing_and_unknown_roles(files: dict[str, Path]) -> None:
    from kdaudit.api import as_specs, compare, run_audit
    from kdaudit.data import load_dataset

    d = files["dir"]
    with pytest.raises(UsageError, match="No model given for role 'teacher'"):
        compare([], d / "student.npy", data=d / "eval.npz")
    dataset = load_dataset(d / "eval.npz")
    specs = as_specs(d / "teacher.npy", "teacher")
    with pytest.raises(UsageError, match=r"Unknown model role\(s\) \['assistant'\]"):
        run_audit({"teacher": specs, "student": specs, "assistant": specs}, dataset)
    with pytest.raises(UsageError, match="An audit needs a student model"):
        run_audit({"teacher": specs}, dataset)


# --------------------------------------------- logit cache: faults injected at the OS boundary
KEY = "ab" * 32


def _cache(root: Path, *, rows: int = 4) -> Any:
    from kdaudit.engine.cache import LogitCache

    cache = LogitCache(root, shard_rows=rows)
    cache.begin(KEY, n_samples=rows)
    return cache


def _no_space(*args: Any, **kwargs: Any) -> Any:
    raise OSError(28, "No space left on device")


def test_cache_disk_full_while_writing_leaves_no_partial_shard(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    cache = _cache(tmp_path)
    monkeypatch.setattr(np.lib.format, "open_memmap", _no_space)
    with (
        pytest.raises(CacheError, match="No space left on device"),
        cache.shard_writer(KEY, 0, 4) as w,
    ):
        w.write(0, np.zeros((4, 2), np.float32))
    entry = cache.entry_dir(KEY)
    assert not list(entry.glob("shard-*")) and not list(entry.glob(".*.tmp"))
    assert cache.read_manifest(KEY)["shards"] == {}


def test_cache_clear_and_list_failures_are_cache_errors(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import shutil

    cache = _cache(tmp_path)
    with cache.shard_writer(KEY, 0, 4) as w:
        w.write(0, np.zeros((4, 2), np.float32))
    monkeypatch.setattr(shutil, "rmtree", lambda *a, **k: _no_space())
    with pytest.raises(CacheError, match="Could not delete cache entry"):
        cache.clear()
    monkeypatch.setattr(Path, "iterdir", lambda self: _no_space())
    with pytest.raises(CacheError, match="Cannot list the logit cache"):
        cache.entries()


def test_cache_lock_that_is_not_a_file_is_refused(tmp_path: Path) -> None:
    import os

    cache = _cache(tmp_path)
    lock = cache.entry_dir(KEY) / ".lock"
    lock.unlink(missing_ok=True)
    os.mkfifo(lock)
    with (
        pytest.raises(CacheError, match="is not a regular file"),
        cache.shard_writer(KEY, 0, 4) as w,
    ):
        w.write(0, np.zeros((4, 2), np.float32))


def test_cache_entry_under_a_file_is_unusable(tmp_path: Path) -> None:
    from kdaudit.engine.cache import LogitCache, open_entry_dir

    (tmp_path / "afile").write_text("x")
    with pytest.raises(CacheError, match="is not usable"):
        open_entry_dir(LogitCache(tmp_path / "afile" / "cache"), KEY)


@pytest.mark.parametrize(
    ("blocks", "fragment"),
    [
        ([], "empty shard"),
        ([np.zeros((2, 2))], "got 2 rows; expected 4"),
        ([np.zeros((2, 2)), np.zeros((2, 3))], "n_classes changed within a shard"),
    ],
    ids=["empty", "short", "classes-change"],
)
def test_cache_shard_writer_refuses_incomplete_shards(
    tmp_path: Path, blocks: list[np.ndarray], fragment: str
) -> None:
    """A shard is committed whole or not at all (a caller bug is a ValueError, exit 4)."""
    cache = _cache(tmp_path)
    with pytest.raises(ValueError, match=fragment), cache.shard_writer(KEY, 0, 4) as w:
        offset = 0
        for block in blocks:
            w.write(offset, block)
            offset += block.shape[0]
    assert not list(cache.entry_dir(KEY).glob("shard-*"))


def test_cache_manifest_lost_while_writing(tmp_path: Path) -> None:
    cache = _cache(tmp_path)
    with pytest.raises(CacheError, match="lost its manifest"), cache.shard_writer(KEY, 0, 4) as w:
        w.write(0, np.zeros((4, 2), np.float32))
        (cache.entry_dir(KEY) / "manifest.json").unlink()


def test_cache_sidecar_disk_full(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from kdaudit.engine.cache import LogitCache, open_entry_dir, sidecar_shard_writer

    cache = LogitCache(tmp_path, shard_rows=4)
    open_entry_dir(cache, KEY)
    monkeypatch.setattr(np.lib.format, "open_memmap", _no_space)
    with (
        pytest.raises(CacheError, match="No space left on device"),
        sidecar_shard_writer(cache, KEY, 0, 4, {"start": 0, "stop": 4}) as w,
    ):
        w.write(0, np.zeros((4, 2), np.float32))
    assert not list(cache.entry_dir(KEY).glob("shard-*"))


def _record(start: int, stop: int, n_classes: int = 2) -> dict[str, Any]:
    return {
        "file": f"shard-{start:05d}.npy", "rows": stop - start, "n_classes": n_classes,
        "dtype": "<f4", "size": 1, "sha256": "0" * 64, "created": "now", "start": start,
        "stop": stop,
    }  # fmt: skip


@pytest.mark.parametrize(
    ("records", "row_bounds", "fragment"),
    [
        ({0: _record(0, 2), 1: _record(2, 4, n_classes=3)}, None, "disagree on n_classes: [2, 3]"),
        ({1: _record(2, 4)}, None, "the rows of missing shards are unknown"),
        ({0: _record(0, 2)}, [(0, 3), (3, 4)], "disagree with its row layout"),
    ],
    ids=["classes", "missing-bounds", "layout"],
)
def test_cache_manifest_from_inconsistent_worker_records(
    tmp_path: Path, records: dict[int, dict[str, Any]], row_bounds: Any, fragment: str
) -> None:
    """Workers' sidecar records that do not fit together never become a manifest."""
    from kdaudit.engine.cache import LogitCache, open_entry_dir, write_manifest_from_sidecars

    cache = LogitCache(tmp_path, shard_rows=2)
    open_entry_dir(cache, KEY)
    with pytest.raises(CacheError) as info:
        write_manifest_from_sidecars(
            cache, KEY, records, n_shards=2, meta={"n_samples": 4}, row_bounds=row_bounds
        )
    assert fragment in str(info.value)
    assert cache.read_manifest(KEY) is None
