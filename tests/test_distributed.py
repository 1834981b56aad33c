"""Sharded inference and merged statistics: the shard is the contract."""

from __future__ import annotations

import itertools
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from kdaudit.analysis.tables import expand_table, merge_tables, reduce_rows
from kdaudit.cli import main
from kdaudit.distributed.sources import parse_shards
from kdaudit.errors import UsageError

ROOT = Path(__file__).resolve().parents[1]
SIZES = [37, 400, 5, 1200, 260, 91, 707]  # 7 uneven shards


def _volatile(report: dict) -> dict:
    out = dict(report)
    for key in ("created", "provenance"):
        out.pop(key, None)
    if "governance" in out:  # its reproducibility answer quotes the provenance's command line
        gov = dict(out["governance"])
        gov["items"] = [
            {**item, "answer": None} if "provenance" in item.get("evidence", []) else item
            for item in gov.get("items", [])
        ]
        out["governance"] = gov
    return out


def make_audit_data(
    root: Path, *, rng: np.random.Generator, sizes=SIZES, n_classes: int = 3, features: bool = False
) -> tuple[Path, dict[str, Path]]:
    """A Parquet folder of len(sizes) files and three logits files covering all rows."""
    data = root / "data"
    data.mkdir()
    n = sum(sizes)
    y = rng.integers(0, n_classes, n)
    sex = rng.choice(["female", "male"], n, p=[0.3, 0.7])
    region = rng.choice(["north", "south", "east", "west-1", "w2"], n)
    split = rng.choice(["id", "ood"], n, p=[0.8, 0.2])
    x = rng.normal(size=(n, 4)).astype(np.float32)
    start = 0
    for k, size in enumerate(sizes):
        sl = slice(start, start + size)
        cols = {"y": y[sl], "sex": sex[sl], "region": region[sl], "split": split[sl]}
        if features:
            cols.update({f"f{j}": x[sl, j] for j in range(4)})
        pd.DataFrame(cols).to_parquet(data / f"part-{k:03d}.parquet")
        start += size
    models = {}
    for role, skill in (("teacher", 2.0), ("student", 1.2), ("baseline", 1.0)):
        logits = rng.normal(size=(n, n_classes)).astype(np.float32)
        logits[np.arange(n), y] += skill * (1 + (sex == "female"))
        models[role] = root / f"{role}.npy"
        np.save(models[role], logits)
    return data, models


def _run(args: list[str], cwd: Path) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    return subprocess.run(
        [sys.executable, "-m", "kdaudit", *args],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )


def test_seven_uneven_shards_in_three_processes_equal_single_process_compare(tmp_path, rng):
    data, m = make_audit_data(tmp_path, rng=rng)
    common = ["--sensitive", "sex,region", "--quiet"]
    stats_dir = tmp_path / "stats"
    procs = [
        subprocess.Popen(
            [
                sys.executable,
                "-m",
                "kdaudit",
                "stats",
                str(m["teacher"]),
                str(m["student"]),
                "--baseline",
                str(m["baseline"]),
                "--data",
                str(data),
                "--out",
                str(stats_dir),
                "--shards",
                shards,
                *common,
            ],
            env={**os.environ, "PYTHONPATH": str(ROOT)},
            stderr=subprocess.PIPE,
            text=True,
        )
        for shards in ("0-2/7", "3-4/7", "5-6/7")
    ]
    for p in procs:
        _, err = p.communicate(timeout=300)
        assert p.returncode == 0, err
    stat_opts = [
        "--bootstrap",
        "200",
        "--seed",
        "3",
        "--intersectional",
        "--cache-dir",
        str(tmp_path / "c"),
    ]
    assert (
        main(
            [
                "compare",
                "--from-stats",
                str(stats_dir),
                "--out",
                str(tmp_path / "dist"),
                "--report-format",
                "json",
                *stat_opts,
                *common,
            ]
        )
        == 0
    )
    assert (
        main(
            [
                "compare",
                str(m["teacher"]),
                str(m["student"]),
                "--baseline",
                str(m["baseline"]),
                "--data",
                str(data),
                "--out",
                str(tmp_path / "single"),
                "--report-format",
                "json",
                *stat_opts,
                *common,
            ]
        )
        == 0
    )
    dist = json.loads((tmp_path / "dist" / "report.json").read_text())
    single = json.loads((tmp_path / "single" / "report.json").read_text())
    assert _volatile(dist) == _volatile(single)
    # the typed result reads a --from-stats report back exactly (kdaudit gate does)
    from kdaudit.auditresult import AuditResult

    assert AuditResult.from_dict(dist).to_dict() == dist
    # the audit really ran: bootstrap CIs and all three analyses on counts
    assert (
        dist["group_fairness"]["sex"]["student"]["demographic_parity_difference"]["ci_low"]
        is not None
    )
    assert "robustness" in dist and "class_shift" in dist
    assert dist["data"]["n_samples"] == sum(SIZES)


def test_merge_is_exact_and_independent_of_the_split(rng):
    n = 3000
    y = rng.integers(0, 4, n)
    preds = {
        "teacher": [rng.integers(0, 4, n)],
        "student": [rng.integers(0, 4, n), rng.integers(0, 4, n)],
    }
    groups = {"g": rng.choice(["a", "b", "c", "dd"], n), "h": rng.choice(["1", "22"], n)}
    split = rng.choice(["id", "ood"], n)
    whole = reduce_rows(y, preds, n_classes=4, sensitive_features=groups, split=split)
    cuts = [0, 11, 12, 900, 2999, 3000]
    parts = [
        reduce_rows(
            y[a:b],
            {k: [p[a:b] for p in v] for k, v in preds.items()},
            n_classes=4,
            sensitive_features={k: v[a:b] for k, v in groups.items()},
            split=split[a:b],
        )
        for a, b in itertools.pairwise(cuts)
    ]
    for order in (parts, parts[::-1]):
        merged = merge_tables(order)
        assert merged.columns == whole.columns
        np.testing.assert_array_equal(merged.cells, whole.cells)
        np.testing.assert_array_equal(merged.counts, whole.counts)
    # an independent count: pandas groupby of the raw rows
    frame = pd.DataFrame(
        {
            "y": y,
            "t": preds["teacher"][0],
            "s0": preds["student"][0],
            "s1": preds["student"][1],
            "g": groups["g"],
            "h": groups["h"],
            "split": split,
        }
    )
    expected = frame.value_counts().sort_index()
    rows = expand_table(merge_tables(parts))
    got = (
        pd.DataFrame(
            {
                "y": rows.y_true,
                "t": rows.predictions["teacher"][0],
                "s0": rows.predictions["student"][0],
                "s1": rows.predictions["student"][1],
                "g": rows.sensitive_features["g"],
                "h": rows.sensitive_features["h"],
                "split": rows.split,
            }
        )
        .value_counts()
        .sort_index()
    )
    pd.testing.assert_series_equal(got, expected)


def test_a_group_seen_by_one_shard_only_merges_by_name(rng):
    a = reduce_rows(
        np.array([0, 1]),
        {"teacher": [np.array([0, 1])]},
        n_classes=2,
        sensitive_features={"g": np.array(["x", "z"])},
    )
    b = reduce_rows(
        np.array([1, 1]),
        {"teacher": [np.array([1, 0])]},
        n_classes=2,
        sensitive_features={"g": np.array(["y", "x"])},
    )
    merged = merge_tables([a, b])
    assert list(merged.vocabs["group:g"]) == ["x", "y", "z"]
    rows = expand_table(merged)
    assert sorted(
        zip(rows.y_true.tolist(), rows.sensitive_features["g"].tolist(), strict=True)
    ) == [(0, "x"), (1, "x"), (1, "y"), (1, "z")]


@pytest.mark.parametrize(
    "text, expected", [("0-3/16", (0, 3, 16)), ("5/7", (5, 5, 7)), ("0-6/7", (0, 6, 7))]
)
def test_parse_shards(text, expected):
    assert parse_shards(text) == expected


@pytest.mark.parametrize("text", ["3-2/7", "0-7/7", "a/7", "1-2", "0/0"])
def test_parse_shards_rejects(text):
    with pytest.raises(UsageError):
        parse_shards(text)


def test_missing_shards_are_named(tmp_path, rng, capsys):
    data, m = make_audit_data(tmp_path, rng=rng)
    out = tmp_path / "stats"
    assert (
        main(
            [
                "stats",
                str(m["teacher"]),
                str(m["student"]),
                "--data",
                str(data),
                "--out",
                str(out),
                "--shards",
                "0-1/7",
                "--quiet",
            ]
        )
        == 0
    )
    code = main(["compare", "--from-stats", str(out), "--out", str(tmp_path / "r"), "--quiet"])
    err = capsys.readouterr().err
    assert code == 2
    assert "5 of 7 shards have no statistics" in err and "2-6" in err
    assert not (tmp_path / "r" / "report.json").exists()


def test_wrong_shard_count_for_a_parquet_set(tmp_path, rng, capsys):
    data, m = make_audit_data(tmp_path, rng=rng)
    code = main(
        [
            "stats",
            str(m["teacher"]),
            str(m["student"]),
            "--data",
            str(data),
            "--out",
            str(tmp_path / "s"),
            "--shards",
            "0-1/4",
            "--quiet",
        ]
    )
    assert code == 2
    assert "7 Parquet files" in capsys.readouterr().err


def test_damaged_statistics_are_refused(tmp_path, rng, capsys):
    data, m = make_audit_data(tmp_path, rng=rng)
    out = tmp_path / "stats"
    assert (
        main(
            [
                "stats",
                str(m["teacher"]),
                str(m["student"]),
                "--data",
                str(data),
                "--out",
                str(out),
                "--quiet",
            ]
        )
        == 0
    )
    f = out / "stats-00003.npz"
    f.write_bytes(f.read_bytes()[:-10] + b"0123456789")
    code = main(["compare", "--from-stats", str(out), "--out", str(tmp_path / "r"), "--quiet"])
    assert code == 2
    assert "shard 3" in capsys.readouterr().err
    # a rerun of stats recomputes only the damaged shard
    before = {p.name: p.stat().st_mtime_ns for p in out.glob("stats-*.npz")}
    assert (
        main(
            [
                "stats",
                str(m["teacher"]),
                str(m["student"]),
                "--data",
                str(data),
                "--out",
                str(out),
                "--quiet",
            ]
        )
        == 0
    )
    after = {p.name: p.stat().st_mtime_ns for p in out.glob("stats-*.npz")}
    assert [k for k in before if before[k] != after[k]] == ["stats-00003.npz"]
    assert (
        main(
            [
                "compare",
                "--from-stats",
                str(out),
                "--out",
                str(tmp_path / "r"),
                "--quiet",
                "--bootstrap",
                "0",
            ]
        )
        == 0
    )


@pytest.mark.parametrize(
    ("change", "fragment"),
    [
        (lambda r: r.pop("start"), "start"),
        (lambda r: r.pop("models"), "models"),
        (lambda r: r.update(n_shards="x"), "n_shards"),
        (lambda r: r.update(index=-1), "index"),
        (lambda r: r.update(file="../../etc/passwd"), "file"),
        (lambda r: r.update(file="/etc/passwd"), "file"),
        (lambda r: r.update(file="stats-00001.npz"), "stats-00000.npz"),
        (lambda r: r.update(sha256=7), "sha256"),
    ],
    ids=[
        "no-start",
        "no-models",
        "n-shards-text",
        "negative-index",
        "file-escapes",
        "file-absolute",
        "another-shard's-table",
        "sha256-number",
    ],
)
def test_malformed_statistics_records_are_input_errors(tmp_path, rng, capsys, change, fragment):
    """A hand-edited or foreign stats-*.json: exit 2 naming the key, never exit 4, and no
    file outside the folder is opened (the table is named, not a path)."""
    data, m = make_audit_data(tmp_path, rng=rng)
    out = tmp_path / "stats"
    args = ["stats", str(m["teacher"]), str(m["student"]), "--data", str(data)]
    assert main([*args, "--out", str(out), "--quiet"]) == 0
    side = out / "stats-00000.json"
    record = json.loads(side.read_text())
    change(record)
    side.write_text(json.dumps(record))
    code = main(["compare", "--from-stats", str(out), "--out", str(tmp_path / "r"), "--quiet"])
    err = capsys.readouterr().err
    assert code == 2, err
    assert fragment in err and "Traceback" not in err and "bug" not in err
    assert not (tmp_path / "r" / "report.json").exists()


@pytest.mark.parametrize(
    ("extra", "fragment"),
    [
        (["--sensitive", "nope"], "hold sex"),
        (["--baseline", "b.npy"], "--baseline"),
        (["--label", "y2"], "--label"),
        (["--student-preprocess", "scale = 2"], "--student-preprocess"),
        (["--format", "onnx"], "--format"),
    ],
)
def test_from_stats_refuses_flags_fixed_by_stats(tmp_path, rng, capsys, extra, fragment):
    """Model and data flags were fixed when `kdaudit stats` ran: refused, never ignored."""
    data, m = make_audit_data(tmp_path, rng=rng)
    out = tmp_path / "stats"
    args = ["stats", str(m["teacher"]), str(m["student"]), "--data", str(data)]
    assert main([*args, "--sensitive", "sex", "--out", str(out), "--quiet"]) == 0
    code = main(["compare", "--from-stats", str(out), "--out", str(tmp_path / "r"), *extra])
    err = capsys.readouterr().err
    assert code == 2 and fragment in err, err
    assert not (tmp_path / "r").exists()
    # the attribute the statistics hold is accepted
    ok = ["--sensitive", "sex", "--bootstrap", "0", "--quiet"]
    assert main(["compare", "--from-stats", str(out), "--out", str(tmp_path / "r"), *ok]) == 0


def test_ray_missing_is_a_missing_extra(tmp_path, rng, monkeypatch, capsys):
    data, m = make_audit_data(tmp_path, rng=rng)
    monkeypatch.setitem(sys.modules, "ray", None)  # import ray raises ImportError
    code = main(
        [
            "stats",
            str(m["teacher"]),
            str(m["student"]),
            "--data",
            str(data),
            "--out",
            str(tmp_path / "s"),
            "--ray",
            "auto",
            "--quiet",
        ]
    )
    err = capsys.readouterr().err
    # a missing extra: exit 3 and the pip line that fixes it (README "Install")
    assert code == 3 and "--ray needs the optional package 'ray'" in err and "kdaudit[ray]" in err
    assert not (tmp_path / "s").exists() or not list((tmp_path / "s").iterdir())


def test_parquet_set_manifest_checks_hashes(tmp_path, rng, capsys):
    from kdaudit.hashing import file_sha256

    data, m = make_audit_data(tmp_path, rng=rng)
    files = sorted(data.glob("*.parquet"))
    manifest = {
        "kdaudit_parquet_set": 1,
        "files": [
            {"path": f"data/{f.name}", "rows": s, "sha256": file_sha256(f)}
            for f, s in zip(files, SIZES, strict=True)
        ],
    }
    manifest["files"][4]["sha256"] = "0" * 64
    (tmp_path / "set.json").write_text(json.dumps(manifest))
    args = [
        "stats",
        str(m["teacher"]),
        str(m["student"]),
        "--data",
        str(tmp_path / "set.json"),
        "--out",
        str(tmp_path / "s"),
        "--quiet",
    ]
    assert main([*args, "--shards", "0-3/7"]) == 0  # workers that do not own file 4 never read it
    assert main([*args, "--shards", "4/7"]) == 2
    assert "part-004.parquet" in capsys.readouterr().err
