"""Hostile and broken inputs (issue 9): one test per class of defect, through the CLI.

Each case asserts the contract of INTERFACE.md "Exit codes": exit 2 (input) or 3 (could
not audit), one ``kdaudit: error:`` line naming the file and key, no traceback, no
report left behind, nothing read or written outside what the user named.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper

from kdaudit.cli import main

N, F, C = 120, 4, 3
REPO = Path(__file__).resolve().parents[1]


def run(argv: list, capsys) -> tuple[int, str, str]:
    code = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return code, out, err


def assert_clean_error(code: int, err: str, *, codes=(2, 3), out_dir: Path | None = None) -> None:
    assert code in codes, err
    lines = [ln for ln in err.splitlines() if ln.startswith("kdaudit: error:")]
    assert len(lines) == 1, err
    assert "Traceback" not in err
    if out_dir is not None:
        assert not (out_dir / "report.json").exists()


def linear_onnx(
    path: Path, w: np.ndarray, extra: list | None = None, *, external: bool = False
) -> Path:
    inits = [
        numpy_helper.from_array(w.astype(np.float32), "w"),
        numpy_helper.from_array(np.zeros(w.shape[1], np.float32), "b"),
    ]
    graph = helper.make_graph(
        [helper.make_node("Gemm", ["x", "w", "b"], ["logits"])],
        "linear",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["batch", w.shape[0]])],
        [helper.make_tensor_value_info("logits", TensorProto.FLOAT, ["batch", w.shape[1]])],
        inits + list(extra or []),
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    if external:
        onnx.save_model(
            model,
            path,
            save_as_external_data=True,
            all_tensors_to_one_file=True,
            location=path.stem + ".data",
            size_threshold=0,
        )
    else:
        onnx.save(model, path)
    return path


def external_tensor(name: str, location: str) -> TensorProto:
    t = TensorProto()
    t.name = name
    t.data_type = TensorProto.FLOAT
    t.dims.extend([4])
    t.data_location = TensorProto.EXTERNAL
    entry = t.external_data.add()
    entry.key, entry.value = "location", location
    return t


@pytest.fixture
def task(tmp_path: Path) -> dict[str, Path]:
    rng = np.random.default_rng(3)
    w = rng.normal(size=(F, C))
    x = rng.normal(size=(N, F)).astype(np.float32)
    y = (x @ w).argmax(1)
    d = tmp_path / "models"
    d.mkdir()
    np.savez(tmp_path / "eval.npz", x=x, y=y, sensitive_sex=rng.choice(["F", "M"], N))
    logits = (x @ w).astype(np.float32)
    np.save(tmp_path / "teacher.npy", logits)
    np.save(
        tmp_path / "student.npy",
        logits + rng.normal(scale=0.5, size=logits.shape).astype(np.float32),
    )
    return {
        "dir": tmp_path,
        "models": d,
        "w": w,
        "data": tmp_path / "eval.npz",
        "teacher": tmp_path / "teacher.npy",
        "student": tmp_path / "student.npy",
        "onnx": linear_onnx(d / "teacher.onnx", w),
    }


def compare(task, teacher, student, *extra) -> list:
    return [
        "compare",
        teacher,
        student,
        "--data",
        task["data"],
        "--out",
        task["dir"] / "out",
        "--no-cache",
        "--bootstrap",
        "0",
        "-q",
        *extra,
    ]


# --------------------------------------------------------------------------- confinement


@pytest.mark.parametrize("location", ["/etc/passwd", "../secret.bin", "sub/../../secret.bin"])
def test_onnx_external_data_outside_the_folder_is_refused(task, capsys, location):
    (task["dir"] / "secret.bin").write_bytes(b"\0" * 16)
    evil = linear_onnx(
        task["models"] / "evil.onnx", task["w"], [external_tensor("unused", location)]
    )
    code, _, err = run(compare(task, task["onnx"], evil), capsys)
    assert_clean_error(code, err, codes=(2,), out_dir=task["dir"] / "out")
    assert (location in err and "outside" in err) or "absolute" in err or "'..'" in err


def test_onnx_external_data_symlink_out_is_refused(task, capsys):
    (task["dir"] / "secret.bin").write_bytes(b"\0" * 16)
    (task["models"] / "link.bin").symlink_to(task["dir"] / "secret.bin")
    evil = linear_onnx(
        task["models"] / "evil.onnx", task["w"], [external_tensor("unused", "link.bin")]
    )
    code, _, err = run(compare(task, task["onnx"], evil), capsys)
    assert_clean_error(code, err, codes=(2,))
    assert "symlink" in err


def test_onnx_external_data_inside_the_folder_is_loaded_and_hashed(task, capsys):
    model = linear_onnx(task["models"] / "ext.onnx", task["w"], external=True)
    code, _, err = run(compare(task, task["onnx"], model), capsys)
    assert code == 0, err
    report = json.loads((task["dir"] / "out" / "report.json").read_text())
    ext = report["models"]["student"]["external_data"]
    assert [e["path"] for e in ext] == ["ext.data"]
    import hashlib

    assert (
        ext[0]["sha256"] == hashlib.sha256((task["models"] / "ext.data").read_bytes()).hexdigest()
    )


@pytest.mark.parametrize("role", ["model", "data", "config", "policy", "sensitive", "embedding"])
def test_non_regular_files_are_refused_without_hanging(task, capsys, role):
    fifo = task["dir"] / "pipe"
    os.mkfifo(fifo)
    zero = task["dir"] / "zero.npy"
    zero.symlink_to("/dev/zero")
    argv = {
        "model": compare(task, task["teacher"], zero),
        "data": [
            "compare",
            task["teacher"],
            task["student"],
            "--data",
            fifo.with_suffix(".npz"),
            "--out",
            task["dir"] / "out",
            "--no-cache",
            "-q",
        ],
        "config": ["audit", fifo],
        "policy": compare(task, task["teacher"], task["student"], "--policy", fifo),
        "sensitive": compare(
            task, task["teacher"], task["student"], "--sensitive-file", f"g={fifo}"
        ),
        "embedding": compare(task, task["teacher"], task["student"], "--embedding", zero),
    }[role]
    if role == "data":
        os.mkfifo(fifo.with_suffix(".npz"))
    code, _, err = run(argv, capsys)
    assert_clean_error(code, err, codes=(2,), out_dir=task["dir"] / "out")
    assert "regular file" in err or "FIFO" in err or "device" in err


# --------------------------------------------------------------------------- typed validation


def _config(task, body: str) -> Path:
    path = task["dir"] / "audit.toml"
    path.write_text(
        f"[data]\npath = 'eval.npz'\n[models.teacher]\npath = 'teacher.npy'\n"
        f"[models.student]\npath = 'student.npy'\n{body}"
    )
    return path


@pytest.mark.parametrize(
    ("body", "fragment"),
    [
        ("[[sweep]]\ntemperature = 2.0\npaht = 'student.npy'\n", "sweep[0].paht"),
        ("[analysis]\nbootstrap = 'many'\n", "analysis.bootstrap"),
        ("[analysis]\nseed = 1.5\n", "analysis.seed"),
        ("[analysis]\nmax_groups = 0\n", "analysis.max_groups"),
        ("[engine]\nbatch_size = true\n", "engine.batch_size"),
        (
            "[models.baseline]\npath = 'student.npy'\npreprocess = { scale = 'abc' }\n",
            "preprocess.scale",
        ),
        ("[gate]\nmax_accuracy_drop = 'x'\n", "max_accuracy_drop"),
        ("[gate]\non_inconclusive = 'maybe'\n", "on_inconclusive"),
    ],
)
def test_config_values_are_typed(task, capsys, body, fragment):
    code, _, err = run(["audit", _config(task, body), "--out", task["dir"] / "out", "-q"], capsys)
    assert_clean_error(code, err, codes=(2,), out_dir=task["dir"] / "out")
    assert fragment in err and "audit.toml" in err


def test_config_sensitive_of_wrong_type(task, capsys):
    path = task["dir"] / "audit.toml"
    path.write_text(
        "[data]\npath = 'eval.npz'\nsensitive = 5\n[models.teacher]\npath = 'teacher.npy'\n"
        "[models.student]\npath = 'student.npy'\n"
    )
    code, _, err = run(["audit", path, "--out", task["dir"] / "out"], capsys)
    assert_clean_error(code, err, codes=(2,))
    assert "data.sensitive" in err


def test_policy_schema_accepts_on_inconclusive():
    from kdaudit.validation import problems

    assert problems({"max_accuracy_drop": 0.02, "on_inconclusive": "pass"}, "policy") == []
    assert problems({"on_inconclusive": "fail"}, "policy") == []
    assert problems({"on_inconclusive": 1}, "policy")


@pytest.mark.parametrize("kind", ["config", "policy", "report"])
def test_deep_nesting_is_an_input_error(task, capsys, kind):
    deep_toml = "a = " + "[" * 5000 + "]" * 5000 + "\n"
    deep_json = "[" * 100000 + "]" * 100000
    path = task["dir"] / ("deep.json" if kind == "report" else "deep.toml")
    path.write_text(deep_json if kind == "report" else deep_toml)
    argv = {
        "config": ["audit", path],
        "policy": compare(task, task["teacher"], task["student"], "--policy", path),
        "report": ["gate", path, "--policy", "default"],
    }[kind]
    code, _, err = run(argv, capsys)
    assert_clean_error(code, err, codes=(2,))
    assert "nested" in err


def test_model_manifest_of_wrong_type_names_key_and_file(task, capsys):
    from kdaudit.hashing import file_sha256

    manifest = {
        "format": "kdaudit-model/1",
        "temperature": "hot",
        "files": {"onnx": {"path": "teacher.onnx", "sha256": file_sha256(task["onnx"])}},
    }
    (task["models"] / "teacher.json").write_text(json.dumps(manifest))
    code, _, err = run(compare(task, task["student"], task["onnx"]), capsys)
    assert_clean_error(code, err, codes=(2,))
    assert "temperature" in err and "teacher.json" in err


def test_gate_report_of_wrong_types(task, capsys):
    code, _, err = run(compare(task, task["teacher"], task["student"]), capsys)
    assert code == 0, err
    path = task["dir"] / "out" / "report.json"
    report = json.loads(path.read_text())
    report["accuracy_delta"]["teacher_vs_student"]["value"] = "high"
    path.write_text(json.dumps(report))
    code, _, err = run(["gate", path, "--policy", "default"], capsys)
    assert_clean_error(code, err, codes=(2,))
    assert "accuracy_delta.teacher_vs_student.value" in err


# --------------------------------------------------------------------------- the cache


def _cache_run(task, capsys, cache: Path) -> tuple[int, str]:
    code, _, err = run(
        [
            "compare",
            task["onnx"],
            task["onnx"],
            "--data",
            task["data"],
            "--out",
            task["dir"] / "out",
            "--cache-dir",
            cache,
            "--bootstrap",
            "0",
        ],
        capsys,
    )
    return code, err


def test_cache_owns_only_what_it_made(task, capsys):
    cache = task["dir"] / "cache"
    code, err = _cache_run(task, capsys, cache)
    assert code == 0, err
    (entry,) = [p for p in cache.iterdir() if p.is_dir()]
    foreign = cache / ("ab" * 32)
    foreign.mkdir()
    (foreign / "precious.txt").write_text("not kdaudit's")
    bare = cache / ("cd" * 32)
    bare.mkdir()
    code, out, err = run(["cache", "ls", "--cache-dir", cache], capsys)
    assert code == 0, err
    assert "damaged" in out and "3 entries" in out
    code, out, err = run(["cache", "verify", "--cache-dir", cache], capsys)
    assert code == 3 and "damaged entry" in out  # problems found: CI can catch them
    code, out, err = run(["cache", "clear", "--cache-dir", cache], capsys)
    assert code == 0, err
    assert "removed 1 entries" in out and "Left" in err
    assert (foreign / "precious.txt").read_text() == "not kdaudit's"
    assert not entry.exists()


@pytest.mark.parametrize(
    "manifest",
    [
        '{"shards": {}}',
        "{not json",
        '{"schema_version": "1"}',
        json.dumps({"schema_version": 1, "key": "0" * 64}),
    ],
)
def test_corrupt_cache_manifest_is_recomputed_with_a_warning(task, capsys, manifest):
    cache = task["dir"] / "cache"
    assert _cache_run(task, capsys, cache)[0] == 0
    (entry,) = [p for p in cache.iterdir() if p.is_dir()]
    (entry / "manifest.json").write_text(manifest)
    code, out, err = run(["cache", "ls", "--cache-dir", cache], capsys)
    assert code == 0 and "damaged" in out
    code, err = _cache_run(task, capsys, cache)
    assert code == 0, err
    assert "damaged manifest" in err
    assert json.loads((entry / "manifest.json").read_text())["complete"] is True


def test_cache_ls_on_partial_and_normal_entries(task, capsys):
    from kdaudit.engine.cache import LogitCache

    cache = task["dir"] / "cache"
    assert _cache_run(task, capsys, cache)[0] == 0
    LogitCache(cache).begin("ef" * 32, n_samples=10)  # a run killed before its first shard
    code, out, err = run(["cache", "ls", "--cache-dir", cache], capsys)
    assert code == 0, err
    assert "partial" in out and "complete" in out and "?" in out


# --------------------------------------------------------------------------- outputs


def test_unwritable_out_fails_before_the_audit(task, capsys, monkeypatch):
    import tempfile

    import kdaudit.safety as safety

    def full(*a, **k):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(safety.tempfile, "mkstemp", full)
    loaded = []
    import kdaudit.models.loader as loader

    monkeypatch.setattr(loader, "load_model", lambda *a, **k: loaded.append(a))
    code, _, err = run(compare(task, task["teacher"], task["student"]), capsys)
    assert_clean_error(code, err, codes=(3,))
    assert "No space left" in err and "out" in err and not loaded
    monkeypatch.setattr(safety.tempfile, "mkstemp", tempfile.mkstemp)


def test_write_failure_is_exit_3_and_keeps_the_previous_report(task, capsys, monkeypatch):
    code, _, err = run(compare(task, task["teacher"], task["student"]), capsys)
    assert code == 0
    before = (task["dir"] / "out" / "report.json").read_bytes()
    import kdaudit.report.writer as writer

    def full(src, dst):
        raise OSError(28, "No space left on device", str(dst))

    monkeypatch.setattr(writer.os, "replace", full)
    code, _, err = run(compare(task, task["student"], task["teacher"]), capsys)
    monkeypatch.undo()
    assert_clean_error(code, err, codes=(3,))
    assert "report" in err and "No space left" in err
    assert (task["dir"] / "out" / "report.json").read_bytes() == before
    assert not [p for p in task["dir"].iterdir() if p.name.startswith(".out")]


def test_non_utf8_file_name_is_refused_up_front(task, capsys):
    bad = os.fsdecode(b"stud\xffent.npy")
    code, _, err = run(compare(task, task["teacher"], task["dir"] / bad), capsys)
    assert_clean_error(code, err, codes=(2,))
    assert "UTF-8" in err


# --------------------------------------------------------------------------- resources


def test_group_labels_are_codes_with_a_name_table(tmp_path):
    from kdaudit.data.loader import load_dataset

    big = "g" * (1 << 20)
    rows = ["y,x,grp,num"] + [
        f"{i % 2},{i},{big if i == 0 else 'a' if i % 2 else 'b'},{'' if i % 5 == 0 else i % 3}"
        for i in range(2000)
    ]
    (tmp_path / "d.csv").write_text("\n".join(rows) + "\n")
    ds = load_dataset(tmp_path / "d.csv", label="y", sensitive=["grp", "num"])
    grp = ds.sensitive_features["grp"]
    assert grp.codes.dtype == np.int64 and grp.codes.nbytes == 2000 * 8
    assert sorted(grp.names) == sorted(["a", "b", big])
    assert np.asarray(grp).dtype == object
    assert set(ds.sensitive_features["num"].names) == {"0", "1", "2", "nan"}  # not "1.0"


def test_group_fairness_with_a_huge_group_name(tmp_path, capsys):
    rng = np.random.default_rng(0)
    n = 2000
    y = rng.integers(0, 2, n)
    big = "g" * (1 << 20)  # one 1 MiB cell: fixed-width strings would make every label 4 MiB
    groups = np.array(["a", "b"])[rng.integers(0, 2, n)].tolist()
    groups[7] = big
    (tmp_path / "d.csv").write_text(
        "y,grp\n" + "".join(f"{a},{g}\n" for a, g in zip(y, groups, strict=True))
    )
    for name in ("t", "s"):
        logits = rng.normal(size=(n, 2)).astype(np.float32)
        logits[np.arange(n), y] += 1
        np.save(tmp_path / f"{name}.npy", logits)
    code, _, err = run(
        [
            "compare",
            tmp_path / "t.npy",
            tmp_path / "s.npy",
            "--data",
            tmp_path / "d.csv",
            "--label",
            "y",
            "--sensitive",
            "grp",
            "--out",
            tmp_path / "out",
            "--bootstrap",
            "20",
            "--no-cache",
            "-q",
            "--report-format",
            "json",
        ],
        capsys,
    )
    assert code == 0, err


def test_too_many_groups_names_attribute_and_count(task, capsys):
    x = np.load(task["data"])
    np.savez(task["dir"] / "ids.npz", y=x["y"], sensitive_id=np.arange(N))
    argv = [
        "compare",
        task["teacher"],
        task["student"],
        "--data",
        task["dir"] / "ids.npz",
        "--out",
        task["dir"] / "out",
        "--no-cache",
        "-q",
        "--max-groups",
        "50",
    ]
    code, _, err = run(argv, capsys)
    assert_clean_error(code, err, codes=(2,))
    assert "'id'" in err and str(N) in err and "--max-groups" in err
    code, _, err = run([*argv[:-1], str(N)], capsys)
    assert code == 0, err


def test_very_many_classes_is_an_early_clear_error(task, capsys):
    k = 3000
    y = np.load(task["data"])["y"]
    for name in ("t", "s"):
        logits = np.zeros((N, k), np.float32)
        logits[np.arange(N), y] = 1
        np.save(task["dir"] / f"{name}{k}.npy", logits)
    code, _, err = run(compare(task, task["dir"] / f"t{k}.npy", task["dir"] / f"s{k}.npy"), capsys)
    assert_clean_error(code, err, codes=(2,))
    assert "3000 classes" in err and "--skip class_shift" in err


def test_integer_logits_keep_their_argmax(task, capsys):
    y = np.load(task["data"])["y"]
    logits = np.full((N, C), 2**28, dtype=np.int64)
    logits[np.arange(N), y] += 1
    np.save(task["dir"] / "int.npy", logits)
    code, _, err = run(compare(task, task["dir"] / "int.npy", task["dir"] / "int.npy"), capsys)
    assert code == 0, err
    report = json.loads((task["dir"] / "out" / "report.json").read_text())
    assert report["accuracy"]["teacher"] == 1.0


# --------------------------------------------------------------------------- third parties


def test_nothing_written_under_home_and_onnxruntime_is_quiet(task, tmp_path):
    home = tmp_path / "home"
    home.mkdir()
    noisy = linear_onnx(
        task["models"] / "noisy.onnx",
        task["w"],
        [numpy_helper.from_array(np.zeros(3, np.float32), "unused_weight")],
    )
    env = {
        k: v
        for k, v in os.environ.items()
        if k not in ("MPLCONFIGDIR", "ORT_DISABLE_TELEMETRY", "XDG_CACHE_HOME", "XDG_CONFIG_HOME")
    }
    env.update(HOME=str(home), PYTHONPATH=str(REPO))
    before = sorted(p.relative_to(tmp_path) for p in tmp_path.rglob("*"))
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "kdaudit",
            "compare",
            str(task["onnx"]),
            str(noisy),
            "--data",
            str(task["data"]),
            "--out",
            str(task["dir"] / "out"),
            "--cache-dir",
            str(task["dir"] / "cache"),
            "--bootstrap",
            "0",
            "--quiet",
            "--policy",
            str(task["dir"] / "missing.toml"),
        ],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 2
    assert proc.stderr.startswith("kdaudit: error:"), proc.stderr
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "kdaudit",
            "compare",
            str(task["onnx"]),
            str(noisy),
            "--data",
            str(task["data"]),
            "--out",
            str(task["dir"] / "out"),
            "--cache-dir",
            str(task["dir"] / "cache"),
            "--bootstrap",
            "0",
            "--quiet",
        ],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stderr == "", proc.stderr  # onnxruntime's own lines never reach the terminal
    assert list(home.rglob("*")) == []
    after = sorted(p.relative_to(tmp_path) for p in tmp_path.rglob("*"))
    new = [p for p in after if p not in before]
    allowed = {Path("out"), Path("cache")}
    assert all(any(p == a or a in p.parents for a in allowed) for p in new), new


@pytest.mark.parametrize(
    "header",
    [
        b"{'descr': '<f4', (",
        b"{'descr': '<f4', 'fortran_order': False, 'shape': (10**12, 3), }",
        b"{'descr': '|O', 'fortran_order': False, 'shape': (3,), }",
        b"\x00\xff",
    ],
)
def test_damaged_npy_headers_are_input_errors(task, capsys, header):
    import struct

    h = header.ljust(((len(header) + 11) // 64 + 1) * 64 - 10) + b"\n"
    (task["dir"] / "bad.npy").write_bytes(
        b"\x93NUMPY\x01\x00" + struct.pack("<H", len(h)) + h + b"\0" * 64
    )
    code, _, err = run(compare(task, task["teacher"], task["dir"] / "bad.npy"), capsys)
    assert_clean_error(code, err, codes=(2,), out_dir=task["dir"] / "out")


def test_manifest_symlinked_out_of_the_model_folder_is_refused(task, capsys):
    secret = task["dir"] / "secret.json"
    secret.write_text(json.dumps({"format": "kdaudit-model/1", "name": "leak"}))
    (task["models"] / "teacher.json").symlink_to(secret)
    code, _, err = run(compare(task, task["student"], task["onnx"]), capsys)
    assert_clean_error(code, err, codes=(2,))
    assert "symlink" in err


@pytest.mark.parametrize(
    ("body", "fragment"),
    [
        (
            "[models.baseline]\npath = 'student.npy'\ntemperature = nan\n",
            "models.baseline.temperature",
        ),
        ("[analysis]\nbootstrap = 1000000000000\n", "analysis.bootstrap"),
        ("[[sweep]]\ntemperature = inf\npath = 'student.npy'\n", "sweep[0].temperature"),
    ],
)
def test_non_finite_and_unbounded_values_are_refused(task, capsys, body, fragment):
    code, _, err = run(["audit", _config(task, body), "--out", task["dir"] / "out", "-q"], capsys)
    assert_clean_error(code, err, codes=(2,), out_dir=task["dir"] / "out")
    assert fragment in err


def test_string_inputs_to_an_onnx_model_are_an_input_error(task, capsys):
    y = np.load(task["data"])["y"]
    np.savez(task["dir"] / "strx.npz", x=np.full((N, F), "a"), y=y)
    code, _, err = run(
        [
            "compare",
            task["onnx"],
            task["onnx"],
            "--data",
            task["dir"] / "strx.npz",
            "--out",
            task["dir"] / "out",
            "--no-cache",
            "-q",
            "--skip",
            "individual_fairness",
        ],
        capsys,
    )
    assert_clean_error(code, err, codes=(2,))
    assert "dtype <U1" in err
