"""The CLI contract: one row per exit code at least, errors as one line, no partial reports."""

from __future__ import annotations

import json
import pickle
from pathlib import Path

import numpy as np
import pytest

from kdaudit.cli import main

N = 400


@pytest.fixture
def files(tmp_path: Path) -> dict[str, Path]:
    """A binary task: data npz and three models as logits files."""
    rng = np.random.default_rng(0)
    y = rng.integers(0, 2, N)
    sex = rng.choice(["F", "M"], N)
    x = rng.normal(size=(N, 3)).astype(np.float32)
    np.savez(tmp_path / "eval.npz", x=x, y=y, sensitive_sex=sex)

    def logits(acc: float, seed: int) -> np.ndarray:
        r = np.random.default_rng(seed)
        pred = np.where(r.random(N) < acc, y, 1 - y)
        out = r.normal(scale=0.1, size=(N, 2)).astype(np.float32)
        out[np.arange(N), pred] += 2.0
        return out

    paths = {"data": tmp_path / "eval.npz"}
    for name, acc, seed in [("teacher", 0.95, 1), ("student", 0.70, 2), ("baseline", 0.85, 3)]:
        paths[name] = tmp_path / f"{name}.npy"
        np.save(paths[name], logits(acc, seed))
    np.save(tmp_path / "three.npy", np.zeros((N, 3), np.float32))
    np.save(tmp_path / "short.npy", np.zeros((N - 1, 2), np.float32))
    nan = logits(0.9, 4)
    nan[17, 0] = np.nan
    np.save(tmp_path / "nan.npy", nan)
    np.savez(tmp_path / "y_big.npz", y=np.full(N, 5), sensitive_sex=sex)
    (tmp_path / "model.xyz").write_bytes(b"??")
    (tmp_path / "corrupt.onnx").write_bytes(b"this is not an onnx protobuf")
    (tmp_path / "afile").write_text("x")
    (tmp_path / "pass.toml").write_text("max_accuracy_drop = 0.5\n")
    (tmp_path / "fail.toml").write_text("max_accuracy_drop = 0.01\n")

    class Boom:
        def __reduce__(self):
            return (Path.touch, (tmp_path / "PWNED",))

    with open(tmp_path / "evil.pt", "wb") as fh:
        pickle.dump(Boom(), fh)
    paths["dir"] = tmp_path
    return paths


def run(argv: list[str], capsys) -> tuple[int, str, str]:
    code = main([str(a) for a in argv])
    out = capsys.readouterr()
    return code, out.out, out.err


def base(files, teacher="teacher.npy", student="student.npy", *extra):
    d = files["dir"]
    return [
        "compare",
        d / teacher,
        d / student,
        "--data",
        files["data"],
        "--sensitive",
        "sex",
        "--out",
        d / "out",
        "--cache-dir",
        d / "cache",
        "--bootstrap",
        "50",
        "--quiet",
        *extra,
    ]


CASES = [
    # (id, argv builder, exit code, stderr fragment)
    ("ok", lambda f: base(f, "teacher.npy", "student.npy", "--baseline", f["baseline"]), 0, None),
    (
        "gate-pass",
        lambda f: base(f, "teacher.npy", "student.npy", "--policy", f["dir"] / "pass.toml"),
        0,
        None,
    ),
    (
        "gate-fail",
        lambda f: base(f, "teacher.npy", "student.npy", "--policy", f["dir"] / "fail.toml"),
        1,
        None,
    ),
    ("missing-model", lambda f: base(f, "nope.onnx", "student.npy"), 2, "does not exist"),
    ("unknown-ext", lambda f: base(f, "model.xyz", "student.npy"), 2, ".xyz"),
    ("class-mismatch", lambda f: base(f, "teacher.npy", "three.npy"), 2, "same number of classes"),
    (
        "labels-out-of-range",
        lambda f: [*base(f)[:3], "--data", f["dir"] / "y_big.npz", *base(f)[5:]],
        2,
        "Labels",
    ),
    ("row-mismatch", lambda f: base(f, "teacher.npy", "short.npy"), 2, "rows"),
    ("nan-logits", lambda f: base(f, "teacher.npy", "nan.npy"), 2, "NaN or inf"),
    (
        "bad-batch",
        lambda f: base(f, "teacher.npy", "student.npy", "--batch-size", "0"),
        2,
        "positive integer",
    ),
    (
        "bad-correction",
        lambda f: base(f, "teacher.npy", "student.npy", "--correction", "bonf"),
        2,
        "correction",
    ),
    (
        "bad-skip",
        lambda f: base(f, "teacher.npy", "student.npy", "--skip", "everything"),
        2,
        "--skip",
    ),
    (
        "unknown-sensitive",
        lambda f: [*base(f, "teacher.npy", "student.npy"), "--sensitive", "race"],
        2,
        "race",
    ),
    (
        "missing-data",
        lambda f: [*base(f)[:3], "--data", f["dir"] / "none.npz", "--out", f["dir"] / "out"],
        2,
        "does not exist",
    ),
    ("pickle-untrusted", lambda f: base(f, "evil.pt", "student.npy"), 2, "--trust-code"),
    ("corrupt-onnx", lambda f: base(f, "corrupt.onnx", "student.npy"), 3, "corrupt.onnx"),
    ("cache-unusable", lambda f: [*base(f), "--cache-dir", f["dir"] / "afile"], 3, "cache"),
    (
        "junit-without-policy",
        lambda f: [*base(f), "--junit", f["dir"] / "j.xml"],
        2,
        "--junit needs",
    ),
    ("bad-policy-file", lambda f: [*base(f), "--policy", f["dir"] / "nope.toml"], 2, "nope.toml"),
    ("negative-seed", lambda f: [*base(f), "--seed", "-1"], 2, "--seed"),
    ("out-is-file", lambda f: [*base(f), "--out", f["dir"] / "afile"], 2, "is a file"),
]


@pytest.mark.parametrize(("case", "build", "code", "fragment"), CASES, ids=[c[0] for c in CASES])
def test_cli_table(files, capsys, case, build, code, fragment):
    got, _, err = run(build(files), capsys)
    assert got == code, err
    report = files["dir"] / "out" / "report.json"
    if code in (0, 1):
        assert report.exists()
        data = json.loads(report.read_text())
        assert data["schema_version"] == "1"
        assert (files["dir"] / "out" / "report.html").exists()
        assert (files["dir"] / "out" / "summary.md").exists()
        if "gate" in case:
            assert data["gate"]["passed"] is (code == 0)
    else:
        assert err.startswith("kdaudit: error: "), err
        assert fragment in err.splitlines()[0] or fragment in err
        assert "Traceback" not in err
        assert not report.exists(), "a failed run must not leave a report behind"
        assert len([ln for ln in err.splitlines() if ln]) <= 2
    assert not (files["dir"] / "PWNED").exists(), "the pickle's code ran"


def test_internal_error_is_exit_4(files, capsys, monkeypatch):
    import kdaudit.analysis.class_shift as cs

    def broken(*a, **k):
        raise ZeroDivisionError("boom")

    monkeypatch.setattr(cs, "class_shift", broken)
    code, _, err = run(base(files), capsys)
    assert code == 4
    assert "internal error" in err and "bug" in err and "Traceback" not in err
    code, _, err = run([*base(files), "--verbose"], capsys)
    assert code == 4 and "Traceback" in err


def test_gate_command_and_junit(files, capsys):
    code, _, _ = run(base(files), capsys)
    assert code == 0
    report = files["dir"] / "out" / "report.json"
    junit = files["dir"] / "gate.xml"
    code, out, _ = run(
        ["gate", report, "--policy", files["dir"] / "fail.toml", "--junit", junit], capsys
    )
    assert code == 1 and "FAILED" in out
    import xml.etree.ElementTree as ET

    root = ET.parse(junit).getroot()
    assert root.iter("failure") is not None and any(True for _ in root.iter("failure"))
    code, _, _ = run(["gate", report, "--policy", files["dir"] / "pass.toml"], capsys)
    assert code == 0
    code, _, err = run(["gate", files["dir"] / "teacher.npy", "--policy", "default"], capsys)
    assert code == 2 and "kdaudit: error:" in err


def test_module_entry_and_help(capsys):
    assert main(["--help"]) == 0
    assert "compare" in capsys.readouterr().out
    assert main(["nonsense"]) == 2
    assert "kdaudit: error:" in capsys.readouterr().err


def test_python_dash_m(tmp_path):
    import subprocess
    import sys

    res = subprocess.run(
        [
            sys.executable,
            "-m",
            "kdaudit",
            "compare",
            "a.onnx",
            "b.onnx",
            "--data",
            str(tmp_path / "none.npz"),
        ],
        capture_output=True,
        text=True,
        cwd=tmp_path,
    )
    assert res.returncode == 2
    assert res.stderr.startswith("kdaudit: error:") and "Traceback" not in res.stderr


def test_cache_commands(files, capsys):
    cache = files["dir"] / "cache"
    code, out, _ = run(["cache", "ls", "--cache-dir", cache], capsys)
    assert code == 0
    code, out, _ = run(["cache", "clear", "--cache-dir", cache], capsys)
    assert code == 0 and "removed" in out


# the Trifeature study trains a ResNet teacher and students: ~2 min, so it runs with -m slow
@pytest.mark.parametrize(
    "variant",
    [["--tabular"], pytest.param([], marks=pytest.mark.slow)],
    ids=["tabular", "trifeature-study"],
)
def test_demo_small_trains_and_audits(tmp_path, capsys, variant):
    """A tiny end-to-end train + audit: the demo's own pipeline at toy size."""
    out = tmp_path / "demo"
    code = main(["demo", "--small", "--quiet", "--out", str(out), *variant])
    assert code == 0, capsys.readouterr().err
    report = json.loads((out / "report.json").read_text())
    assert set(report["models"]) == {"teacher", "student", "baseline"}
    assert report["gate"]["checks"], "the demo judges its student with the default policy"
    assert (out / "report.html").stat().st_size > 10_000
    # several seeds per baseline and student: P1's multi-run Welch test is the one used
    assert len(report["models"]["baseline"]["runs"]) >= 2
    assert len(report["models"]["student"]["runs"]) >= 2
    assert report["class_shift"]["baseline_vs_student"]["test"] == "welch_t"
    if not variant:
        temps = [row["temperature"] for row in report["temperature_sweep"]]
        assert temps == sorted(temps) and len(temps) >= 2
        # the audit (ONNX files + the preprocessing from each model's manifest) reproduces the
        # accuracy the trainer measured in torch on the same test set
        study = json.loads((out / "study.json").read_text())
        assert all(report["models"][r]["preprocess_source"] == "manifest" for r in report["models"])
        assert report["accuracy"]["teacher"] == pytest.approx(
            study["accuracy"]["teacher"], abs=1e-9
        )
        assert report["accuracy"]["baseline"] == pytest.approx(
            study["accuracy"]["baseline"], abs=1e-9
        )
        for row in report["temperature_sweep"]:
            assert row["accuracy"] == pytest.approx(
                study["accuracy"]["students"][f"{row['temperature']:g}"], abs=1e-9
            )
