"""Property-based fuzzing of every file kdaudit reads (issue 9, Hypothesis).

Each target generates malformed (or merely unusual) npz/npy/CSV/Parquet/TOML/JSON/
manifest/ONNX inputs, runs ``kdaudit.cli.main`` in-process, and asserts the contract:

* the exit code is never 4 (a bug) and is one of the codes the case allows;
* a failure prints exactly one ``kdaudit: error:`` line and no traceback;
* a failed run leaves no report.json;
* nothing is written in the workspace outside ``--out`` and the cache, and nothing
  under ``$HOME``.

The default run keeps a few examples per target (``KDAUDIT_FUZZ_EXAMPLES``, default 6).
``pytest -m slow tests/test_fuzz.py`` runs every target in rounds for
``KDAUDIT_FUZZ_MINUTES`` (default 2; the acceptance run uses 10).
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import shutil
import tempfile
import time
import zipfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import onnx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp
from onnx import TensorProto, helper, numpy_helper

from kdaudit.cli import main

N, F, C = 40, 3, 3
EXAMPLES = int(os.environ.get("KDAUDIT_FUZZ_EXAMPLES", "6"))
FAST = settings(
    max_examples=EXAMPLES, deadline=None, database=None, suppress_health_check=list(HealthCheck)
)


# --------------------------------------------------------------------------- workspace


def _onnx_model(path: Path, w: np.ndarray, extra: list | None = None) -> bytes:
    graph = helper.make_graph(
        [helper.make_node("Gemm", ["x", "w", "b"], ["logits"])],
        "linear",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["batch", F])],
        [helper.make_tensor_value_info("logits", TensorProto.FLOAT, ["batch", C])],
        [
            numpy_helper.from_array(w.astype(np.float32), "w"),
            numpy_helper.from_array(np.zeros(C, np.float32), "b"),
            *(extra or []),
        ],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    onnx.save(model, path)
    return path.read_bytes()


@pytest.fixture(scope="module")
def base(tmp_path_factory) -> dict[str, Any]:
    """Valid files every target starts from (module-scoped: Hypothesis reuses them)."""
    root = tmp_path_factory.mktemp("fuzzbase")
    rng = np.random.default_rng(1)
    w = rng.normal(size=(F, C))
    x = rng.normal(size=(N, F)).astype(np.float32)
    y = (x @ w).argmax(1)
    sex = rng.choice(["F", "M"], N)
    np.savez(root / "data.npz", x=x, y=y, sensitive_sex=sex)
    import pandas as pd

    df = pd.DataFrame({"y": y, "f0": x[:, 0], "f1": x[:, 1], "f2": x[:, 2], "sex": sex})
    df.to_csv(root / "data.csv", index=False)
    df.to_parquet(root / "data.parquet")
    np.save(root / "teacher.npy", (x @ w).astype(np.float32))
    np.save(root / "student.npy", (x @ w + rng.normal(size=(N, C))).astype(np.float32))
    _onnx_model(root / "model.onnx", w)
    home = root / "home"
    home.mkdir()
    old_home = os.environ.get("HOME")
    os.environ["HOME"] = str(home)
    try:
        yield {
            "root": root,
            "w": w,
            "y": y,
            "x": x,
            **{p.name: p.read_bytes() for p in root.iterdir() if p.is_file()},
        }
    finally:
        if old_home is not None:
            os.environ["HOME"] = old_home
        assert list(home.rglob("*")) == [], "something was written under $HOME"


@contextlib.contextmanager
def workspace(base: dict[str, Any], *names: str):
    ws = Path(tempfile.mkdtemp(prefix="kdfuzz-"))
    try:
        for name in names:
            (ws / name).write_bytes(base[name])
        yield ws
    finally:
        shutil.rmtree(ws, ignore_errors=True)


def _listing(ws: Path) -> set[str]:
    out = set()
    for p in ws.rglob("*"):
        rel = p.relative_to(ws)
        if rel.parts[0] in ("out", "cache"):
            continue
        out.add(str(rel))
    return out


def check(ws: Path, argv: list[Any], allowed: tuple[int, ...] = (0, 1, 2, 3)) -> tuple[int, str]:
    """Run kdaudit and assert the bad-input contract; return (exit code, stderr)."""
    before = _listing(ws)
    had_report = (ws / "out" / "report.json").exists()
    err = io.StringIO()
    with contextlib.redirect_stderr(err), contextlib.redirect_stdout(io.StringIO()):
        code = main([str(a) for a in argv])
    text = err.getvalue()
    assert code != 4, text
    assert code in allowed, (code, text)
    assert "Traceback" not in text, text
    if code not in (0, 1):
        errors = [ln for ln in text.splitlines() if ln.startswith("kdaudit: error:")]
        assert len(errors) == 1, text
        if not had_report:
            assert not (ws / "out" / "report.json").exists()
    assert _listing(ws) == before, (sorted(_listing(ws) - before), text)
    return code, text


def compare_argv(ws: Path, teacher: str, student: str, data: str, *extra: Any) -> list[Any]:
    return [
        "compare",
        ws / teacher,
        ws / student,
        "--data",
        ws / data,
        "--out",
        ws / "out",
        "--cache-dir",
        ws / "cache",
        "--bootstrap",
        "0",
        "--skip",
        "individual_fairness",
        "--report-format",
        "json,md",
        *extra,
    ]


# --------------------------------------------------------------------------- strategies


def mutated(data: bytes) -> st.SearchStrategy[bytes]:
    """``data`` with a few bytes changed, a slice deleted or the tail cut off."""
    n = len(data)

    @st.composite
    def build(draw: Any) -> bytes:
        buf = bytearray(data)
        for _ in range(draw(st.integers(1, 6))):
            op = draw(st.sampled_from(["set", "cut", "del", "dup"]))
            if not buf:
                break
            i = draw(st.integers(0, len(buf) - 1))
            if op == "set":
                buf[i] = draw(st.integers(0, 255))
            elif op == "cut":
                del buf[i:]
            elif op == "del":
                del buf[i : i + draw(st.integers(1, 64))]
            else:
                buf[i:i] = buf[i : i + draw(st.integers(1, 64))] * draw(st.integers(1, 4))
        return bytes(buf)

    return st.one_of(build(), st.binary(max_size=max(64, n // 4)))


names = st.sampled_from(
    ["x", "y", "sensitive_sex", "sensitive_g", "split", "x_in", "logits", "embedding"]
)
dtypes = st.one_of(
    hnp.scalar_dtypes(), st.just(np.dtype(object)), hnp.unicode_string_dtypes(max_len=4)
)


@st.composite
def arrays(draw: Any, rows: int = N) -> np.ndarray:
    dtype = draw(dtypes)
    r = draw(st.sampled_from([rows, rows, 0, 1, rows + 1]))
    shape = draw(st.sampled_from([(r,), (r, 1), (r, C), (r, 2, 2), ()]))
    if dtype.kind == "O":
        return np.array(
            [
                draw(st.one_of(st.none(), st.integers(), st.text(max_size=3)))
                for _ in range(int(np.prod(shape)))
            ],
            dtype=object,
        ).reshape(shape)
    return draw(hnp.arrays(dtype, shape))


def savez_bytes(arrs: dict[str, np.ndarray]) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        for k, a in arrs.items():
            member = io.BytesIO()
            np.save(member, a, allow_pickle=True)
            zf.writestr(k + ".npy", member.getvalue())
    return buf.getvalue()


def npy_bytes(a: np.ndarray) -> bytes:
    buf = io.BytesIO()
    np.save(buf, a, allow_pickle=True)
    return buf.getvalue()


toml_scalars = st.one_of(
    st.booleans(), st.integers(-(2**63), 2**63 - 1), st.floats(allow_nan=True), st.text(max_size=8)
)
toml_values = st.recursive(
    toml_scalars,
    lambda inner: st.one_of(
        st.lists(inner, max_size=3),
        st.dictionaries(st.sampled_from(["path", "scale", "a"]), inner, max_size=3),
    ),
    max_leaves=6,
)


def toml_value(v: Any) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, int):
        return str(v)
    if isinstance(v, float):
        return (
            "nan"
            if v != v
            else ("inf" if v == float("inf") else "-inf" if v == -float("inf") else repr(v))
        )
    if isinstance(v, str):
        return json.dumps(v)
    if isinstance(v, list):
        return "[" + ", ".join(toml_value(x) for x in v) + "]"
    return "{" + ", ".join(f"{json.dumps(k)} = {toml_value(x)}" for k, x in v.items()) + "}"


CONFIG_KEYS = {
    "data": ["path", "label", "sensitive", "features", "sensitive_files", "pth"],
    "analysis": [
        "alpha",
        "bootstrap",
        "seed",
        "correction",
        "knn_k",
        "skip",
        "max_groups",
        "min_group_size",
        "positive_label",
        "confidence",
        "seeed",
    ],
    "engine": ["device", "batch_size", "use_cache", "cache_dir"],
    "models.student": ["path", "preprocess", "outputs", "temperature", "format", "paht"],
    "gate": ["max_accuracy_drop", "judge", "allow_missing", "on_inconclusive", "max_dpd"],
}


@st.composite
def configs(draw: Any) -> str:
    lines = ["[data]", "path = 'data.npz'", "[models.teacher]", "path = 'teacher.npy'"]
    for table, keys in CONFIG_KEYS.items():
        chosen = draw(st.dictionaries(st.sampled_from(keys), toml_values, max_size=3))
        if table == "models.student":
            chosen.setdefault("path", "student.npy")
        if table == "data":
            lines = [ln for ln in lines if ln not in ("[data]", "path = 'data.npz'")]
            chosen.setdefault("path", "data.npz")
        lines.append(f"[{table}]")
        lines += [f"{k} = {toml_value(v)}" for k, v in chosen.items()]
    if draw(st.booleans()):
        entry = draw(
            st.dictionaries(
                st.sampled_from(["temperature", "path", "paht", "outputs"]), toml_values, max_size=3
            )
        )
        lines.append("[[sweep]]")
        lines += [f"{k} = {toml_value(v)}" for k, v in entry.items()]
    return "\n".join(lines) + "\n"


json_values = st.recursive(
    st.one_of(
        st.none(), st.booleans(), st.integers(), st.floats(allow_nan=False), st.text(max_size=6)
    ),
    lambda inner: st.one_of(
        st.lists(inner, max_size=3), st.dictionaries(st.text(max_size=6), inner, max_size=3)
    ),
    max_leaves=8,
)


def _set_path(obj: Any, path: list[Any], value: Any) -> Any:
    if not path:
        return value
    head, *rest = path
    if isinstance(obj, dict) and head in obj:
        obj[head] = _set_path(obj[head], rest, value)
    elif isinstance(obj, list) and isinstance(head, int) and 0 <= head < len(obj):
        obj[head] = _set_path(obj[head], rest, value)
    return obj


def _paths(obj: Any, prefix: tuple = (), limit: int = 400) -> list[tuple]:
    out = [prefix]
    if isinstance(obj, dict):
        for k, v in obj.items():
            out += _paths(v, (*prefix, k), limit)
    elif isinstance(obj, list):
        for i, v in enumerate(obj[:3]):
            out += _paths(v, (*prefix, i), limit)
    return out[:limit]


# --------------------------------------------------------------------------- targets


def fuzz_npz_data(base: dict[str, Any], payload: bytes) -> None:
    with workspace(base, "teacher.npy", "student.npy") as ws:
        (ws / "data.npz").write_bytes(payload)
        check(ws, compare_argv(ws, "teacher.npy", "student.npy", "data.npz"))


def fuzz_npz_data_onnx(base: dict[str, Any], payload: bytes) -> None:
    """Data for real ONNX models, with individual fairness (neighbours on x) switched on."""
    with workspace(base, "model.onnx") as ws:
        (ws / "data.npz").write_bytes(payload)
        argv = compare_argv(ws, "model.onnx", "model.onnx", "data.npz")
        argv[argv.index("--skip") + 1] = "robustness"
        check(ws, argv)


npz_payloads = st.one_of(
    st.deferred(lambda: st.just(None)).flatmap(lambda _: mutated(_BASE["data.npz"])),
    st.dictionaries(names, arrays(), min_size=1, max_size=4).map(savez_bytes),
    st.dictionaries(names, arrays(), max_size=3).map(
        lambda d: savez_bytes({"y": np.arange(N) % C, "x": np.zeros((N, F), np.float32), **d})
    ),
)


def fuzz_npy_model(base: dict[str, Any], payload: bytes) -> None:
    with workspace(base, "teacher.npy", "data.npz") as ws:
        (ws / "student.npy").write_bytes(payload)
        check(ws, compare_argv(ws, "teacher.npy", "student.npy", "data.npz"))


npy_payloads = st.one_of(
    st.deferred(lambda: st.just(None)).flatmap(lambda _: mutated(_BASE["student.npy"])),
    arrays().map(npy_bytes),
)


def fuzz_csv(base: dict[str, Any], text: str) -> None:
    with workspace(base, "teacher.npy", "student.npy") as ws:
        (ws / "data.csv").write_bytes(text.encode("utf-8", "replace"))
        check(
            ws,
            compare_argv(
                ws, "teacher.npy", "student.npy", "data.csv", "--label", "y", "--sensitive", "sex"
            ),
        )


cells = st.one_of(
    st.integers(-3, 5).map(str),
    st.floats(allow_nan=True).map(str),
    st.just(""),
    st.text(alphabet=st.characters(blacklist_categories=("Cs",)), max_size=5),
    st.just('"a,b"'),
    st.just("g" * 5000),
)


@st.composite
def csv_texts(draw: Any) -> str:
    if draw(st.booleans()):
        return draw(st.text(alphabet=st.characters(blacklist_categories=("Cs",)), max_size=300))
    rows = draw(st.sampled_from([N, N, N - 1, 0, 1]))
    header = draw(st.sampled_from(["y,f0,sex", "y,sex", "f0,sex", "y,f0,sex,sex", "y;f0;sex"]))
    body = [
        ",".join(draw(cells) for _ in header.split(","))
        if draw(st.integers(0, 9)) == 0
        else f"{i % C},{i * 0.1},{draw(st.sampled_from(['F', 'M', '', '1', '1.0']))}"
        for i in range(rows)
    ]
    return header + "\n" + "\n".join(body) + "\n"


def fuzz_parquet(base: dict[str, Any], payload: bytes) -> None:
    with workspace(base, "teacher.npy", "student.npy") as ws:
        (ws / "data.parquet").write_bytes(payload)
        check(
            ws,
            compare_argv(
                ws,
                "teacher.npy",
                "student.npy",
                "data.parquet",
                "--label",
                "y",
                "--sensitive",
                "sex",
            ),
        )


@st.composite
def parquet_frames(draw: Any) -> bytes:
    import pandas as pd

    cols = {}
    for name in draw(
        st.lists(st.sampled_from(["y", "sex", "f0", "x"]), min_size=1, max_size=4, unique=True)
    ):
        kind = draw(st.sampled_from(["int", "float", "str", "nullable", "bool", "mixed"]))
        rows = N
        if kind == "int":
            cols[name] = draw(st.lists(st.integers(-2, 5), min_size=rows, max_size=rows))
        elif kind == "float":
            cols[name] = draw(st.lists(st.floats(allow_nan=True), min_size=rows, max_size=rows))
        elif kind == "str":
            cols[name] = draw(st.lists(st.text(max_size=4), min_size=rows, max_size=rows))
        elif kind == "nullable":
            cols[name] = pd.array(
                draw(
                    st.lists(st.one_of(st.none(), st.integers(0, 3)), min_size=rows, max_size=rows)
                ),
                dtype="Int64",
            )
        elif kind == "bool":
            cols[name] = draw(st.lists(st.booleans(), min_size=rows, max_size=rows))
        else:
            cols[name] = [
                str(v)
                for v in draw(
                    st.lists(
                        st.one_of(st.integers(), st.text(max_size=2)), min_size=rows, max_size=rows
                    )
                )
            ]
    buf = io.BytesIO()
    pd.DataFrame(cols).to_parquet(buf)
    return buf.getvalue()


parquet_payloads = st.one_of(
    st.deferred(lambda: st.just(None)).flatmap(lambda _: mutated(_BASE["data.parquet"])),
    parquet_frames(),
)


def fuzz_config(base: dict[str, Any], text: str) -> None:
    with workspace(base, "teacher.npy", "student.npy", "data.npz") as ws:
        (ws / "audit.toml").write_text(text)
        check(
            ws,
            [
                "audit",
                ws / "audit.toml",
                "--out",
                ws / "out",
                "--cache-dir",
                ws / "cache",
                "--bootstrap",
                "0",
                "--report-format",
                "json",
            ],
        )


config_texts = st.one_of(
    configs(),
    configs().flatmap(lambda t: mutated(t.encode()).map(lambda b: b.decode("utf-8", "replace"))),
)


def fuzz_policy(base: dict[str, Any], text: str) -> None:
    with workspace(base, "teacher.npy", "student.npy", "data.npz") as ws:
        (ws / "policy.toml").write_text(text)
        check(
            ws,
            compare_argv(
                ws,
                "teacher.npy",
                "student.npy",
                "data.npz",
                "--policy",
                ws / "policy.toml",
                "--junit",
                ws / "out" / "junit.xml",
            ),
        )


policy_texts = st.dictionaries(
    st.sampled_from(
        [
            "max_accuracy_drop",
            "max_dpd_increase",
            "max_significant_classes",
            "judge",
            "allow_missing",
            "on_inconclusive",
            "description",
            "gate",
            "max_acc",
        ]
    ),
    toml_values,
    max_size=4,
).map(lambda d: "".join(f"{k} = {toml_value(v)}\n" for k, v in d.items()))


def fuzz_model_manifest(base: dict[str, Any], changes: dict[str, Any]) -> None:
    from kdaudit.hashing import file_sha256

    with workspace(base, "teacher.npy", "model.onnx", "data.npz") as ws:
        manifest = {
            "format": "kdaudit-model/1",
            "temperature": 4.0,
            "files": {"onnx": {"path": "model.onnx", "sha256": file_sha256(ws / "model.onnx")}},
        }
        manifest.update(changes)
        (ws / "model.json").write_text(json.dumps(manifest))
        check(ws, compare_argv(ws, "teacher.npy", "model.onnx", "data.npz"))


manifest_changes = st.dictionaries(
    st.sampled_from(["temperature", "preprocess", "seed", "files", "format", "role", "outputs"]),
    st.one_of(json_values, st.fixed_dictionaries({"scale": json_values})),
    max_size=3,
)


def fuzz_cache_manifest(base: dict[str, Any], value: Any) -> None:
    with workspace(base, "model.onnx", "data.npz") as ws:
        argv = compare_argv(ws, "model.onnx", "model.onnx", "data.npz")
        assert check(ws, argv, allowed=(0,))[0] == 0
        (entry,) = [p for p in (ws / "cache").iterdir() if p.is_dir()]
        manifest = json.loads((entry / "manifest.json").read_text())
        if isinstance(value, tuple):  # change one field of the real manifest
            path, new = value
            manifest = _set_path(manifest, list(path), new)
        else:
            manifest = value
        (entry / "manifest.json").write_text(json.dumps(manifest))
        check(ws, ["cache", "ls", "--cache-dir", ws / "cache"], allowed=(0,))
        check(ws, ["cache", "verify", "--cache-dir", ws / "cache"], allowed=(0, 3))
        check(ws, argv, allowed=(0,))  # recomputed (with a warning when damaged), never exit 4
        check(ws, ["cache", "clear", "--cache-dir", ws / "cache"], allowed=(0,))


cache_values = st.one_of(
    json_values,
    st.tuples(
        st.sampled_from(
            [
                ("n_samples",),
                ("n_shards",),
                ("shard_rows",),
                ("shards",),
                ("shards", "0"),
                ("shards", "0", "rows"),
                ("shards", "0", "size"),
                ("shards", "0", "file"),
                ("key",),
                ("complete",),
                ("n_classes",),
            ]
        ),
        json_values,
    ),
)


def fuzz_gate_report(base: dict[str, Any], data: Any) -> None:
    with workspace(base, "teacher.npy", "student.npy", "data.npz") as ws:
        report_path = ws / "report.json"
        report_path.write_text(_BASE_REPORT_TEXT)
        report = json.loads(_BASE_REPORT_TEXT)
        paths = _paths(report)
        where = data.draw(st.sampled_from(paths))
        report = _set_path(report, list(where), data.draw(json_values))
        report_path.write_text(json.dumps(report))
        check(
            ws,
            ["gate", report_path, "--policy", "default", "--junit", ws / "out" / "j.xml"],
            allowed=(0, 1, 2),
        )


def fuzz_onnx(base: dict[str, Any], payload: Any) -> None:
    with workspace(base, "teacher.npy", "data.npz") as ws:
        (ws / "sub").mkdir()
        (ws / "secret.bin").write_bytes(b"\x00" * 64)
        (ws / "sub" / "inside.bin").write_bytes(b"\x00" * 64)
        location = None
        if isinstance(payload, bytes):
            (ws / "sub" / "m.onnx").write_bytes(payload)
        else:
            location = payload
            t = TensorProto()
            t.name, t.data_type = "unused", TensorProto.FLOAT
            t.dims.extend([4])
            t.data_location = TensorProto.EXTERNAL
            e = t.external_data.add()
            e.key, e.value = "location", location
            _onnx_model(ws / "sub" / "m.onnx", base["w"], [t])
        code, err = check(ws, compare_argv(ws, "teacher.npy", "sub/m.onnx", "data.npz"))
        if location is not None:
            target = (ws / "sub" / location) if not os.path.isabs(location) else Path(location)
            inside = (
                ".." not in Path(location).parts
                and not os.path.isabs(location)
                and (ws / "sub").resolve() in target.resolve().parents
            )
            if not inside:
                assert code == 2, err


onnx_payloads = st.one_of(
    st.deferred(lambda: st.just(None)).flatmap(lambda _: mutated(_BASE["model.onnx"])),
    st.one_of(
        st.sampled_from(
            [
                "/etc/passwd",
                "../secret.bin",
                "inside.bin",
                "./inside.bin",
                "sub/../../secret.bin",
                "..",
                ".",
                "",
                "inside.bin/..",
                "//etc/hosts",
                "C:/x",
                "missing.bin",
            ]
        ),
        st.text(alphabet="./abin\\", max_size=12),
    ),
)


# registered below; strategies that need the base bytes read them from here
_BASE: dict[str, Any] = {}
#: examples run per target (printed by the long run)
RUNS: dict[str, int] = {}
_BASE_REPORT_TEXT = ""

TARGETS: dict[str, tuple[Callable[..., None], Any]] = {
    "npz_data": (fuzz_npz_data, npz_payloads),
    "npz_data_onnx": (fuzz_npz_data_onnx, npz_payloads),
    "npy_model": (fuzz_npy_model, npy_payloads),
    "csv": (fuzz_csv, csv_texts()),
    "parquet": (fuzz_parquet, parquet_payloads),
    "config": (fuzz_config, config_texts),
    "policy": (fuzz_policy, policy_texts),
    "model_manifest": (fuzz_model_manifest, manifest_changes),
    "cache_manifest": (fuzz_cache_manifest, cache_values),
    "gate_report": (fuzz_gate_report, st.data()),
    "onnx": (fuzz_onnx, onnx_payloads),
}


@pytest.fixture(scope="module")
def ready(base: dict[str, Any]) -> dict[str, Any]:
    global _BASE_REPORT_TEXT
    _BASE.update(base)
    if not _BASE_REPORT_TEXT:
        with workspace(base, "teacher.npy", "student.npy", "data.npz") as ws:
            assert (
                check(
                    ws,
                    compare_argv(ws, "teacher.npy", "student.npy", "data.npz", "--bootstrap", "20"),
                    allowed=(0,),
                )[0]
                == 0
            )
            _BASE_REPORT_TEXT = (ws / "out" / "report.json").read_text()
    return base


def run_target(name: str, base: dict[str, Any], config: settings) -> None:
    fn, strategy = TARGETS[name]

    @config
    @given(strategy)
    def prop(value: Any) -> None:
        RUNS[name] = RUNS.get(name, 0) + 1
        fn(base, value)

    prop()


@pytest.mark.parametrize("name", list(TARGETS))
def test_fuzz(name: str, ready: dict[str, Any]) -> None:
    run_target(name, ready, FAST)
    assert RUNS.get(name, 0) >= 1


@pytest.mark.slow
def test_fuzz_long(ready: dict[str, Any]) -> None:
    """Every target in rounds of fresh random examples for KDAUDIT_FUZZ_MINUTES minutes."""
    end = time.monotonic() + 60 * float(os.environ.get("KDAUDIT_FUZZ_MINUTES", "2"))
    rounds = 0
    while time.monotonic() < end:
        for name in TARGETS:
            run_target(
                name,
                ready,
                settings(
                    max_examples=25,
                    deadline=None,
                    database=None,
                    suppress_health_check=list(HealthCheck),
                ),
            )
            if time.monotonic() >= end:
                break
        rounds += 1
    print(f"\nfuzz: {rounds} round(s), examples per target: {RUNS}")
    assert rounds >= 1
