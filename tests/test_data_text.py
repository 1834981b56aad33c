"""Text data: --text-column on CSV/Parquet/JSONL and list-valued (multi-label) sensitive columns."""

from __future__ import annotations

import ast
import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from kdaudit.data.loader import load_dataset
from kdaudit.data.text import TextInputs, expand_multilabel, parse_list_cell
from kdaudit.errors import InputDataError, UsageError

MEMBERS = ["Women", "Men", "Islam", "Jewish", "African", "Refugee"]


def _frame(n: int = 400, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    p = np.array([0.3, 0.1, 0.2, 0.05, 0.25, 0.01])
    targets = [[m for m, q in zip(MEMBERS, p, strict=True) if rng.random() < q] for _ in range(n)]
    return pd.DataFrame(
        {
            "text": [f"post number {i}, with words" for i in range(n)],
            "label": rng.choice(["hatespeech", "normal", "offensive"], size=n),
            "target": targets,
            "score": rng.normal(size=n),
        }
    )


def _write(df: pd.DataFrame, tmp_path: Path, kind: str) -> Path:
    path = tmp_path / f"data.{kind}"
    if kind == "csv":  # pandas writes python-literal lists: "['Women', 'Men']"
        df.to_csv(path, index=False)
    elif kind == "parquet":
        df.to_parquet(path)
    else:
        df.to_json(path, orient="records", lines=True)
    return path


@pytest.mark.parametrize("kind", ["csv", "parquet", "jsonl"])
def test_list_column_becomes_one_attribute_per_member(tmp_path: Path, kind: str) -> None:
    df = _frame()
    path = _write(df, tmp_path, kind)
    ds = load_dataset(
        path, label="label", text_column="text", sensitive=["target"], min_group_size=30
    )
    # the direct pandas computation: explode the lists, count members, keep those with
    # >= 30 rows in and out, and mark each row yes/no
    exploded = df["target"].explode().dropna()
    counts = exploded.value_counts()
    keep = sorted(m for m, c in counts.items() if 30 <= c <= len(df) - 30)
    assert list(ds.sensitive_features) == [f"target:{m}" for m in keep]
    for m in keep:
        want = np.where(df["target"].apply(lambda t, m=m: m in list(t)), "yes", "no")
        np.testing.assert_array_equal(ds.sensitive_features[f"target:{m}"], want)
    assert isinstance(ds.x, TextInputs) and ds.x.tolist() == df["text"].tolist()
    assert ds.extras["class_names"] == ["hatespeech", "normal", "offensive"]
    assert ds.feature_names == ()


def test_members_selected_by_name(tmp_path: Path) -> None:
    df = _frame()
    path = _write(df, tmp_path, "csv")
    ds = load_dataset(
        path, label="label", text_column="text", sensitive=["target:Refugee", "target:Women"]
    )
    assert list(ds.sensitive_features) == ["target:Refugee", "target:Women"]  # named: any size
    np.testing.assert_array_equal(
        ds.sensitive_features["target:Refugee"],
        np.where(df["target"].apply(lambda t: "Refugee" in t), "yes", "no"),
    )
    with pytest.raises(UsageError, match="target:Nobody"):
        load_dataset(path, label="label", text_column="text", sensitive=["target:Nobody"])
    with pytest.raises(UsageError, match="column of lists"):
        load_dataset(path, label="label", text_column="text", sensitive=["label:normal"])
    with pytest.raises(InputDataError, match="at least 1000 rows"):
        load_dataset(
            path, label="label", text_column="text", sensitive=["target"], min_group_size=1000
        )


def test_text_column_errors_and_cache_fingerprint(tmp_path: Path) -> None:
    df = _frame(50)
    path = _write(df, tmp_path, "csv")
    with pytest.raises(UsageError, match=r"Text column .body. is not in"):
        load_dataset(path, label="label", text_column="body")
    a = load_dataset(path, label="label", text_column="text")
    b = load_dataset(path, label="label", features=["score"])
    assert a.fingerprint != b.fingerprint
    assert a.x[3:5].tolist() == df["text"].tolist()[3:5]


@pytest.mark.parametrize(
    ("cell", "want"),
    [
        ("['Women', 'Men']", ["Women", "Men"]),
        ('["Women"]', ["Women"]),
        ("[]", []),
        (["a", "b"], ["a", "b"]),
        (np.array(["x"]), ["x"]),
        ("Women", None),
        ("[__import__('os').system('true')]", None),  # literals only: nothing is evaluated
        (3, None),
    ],
)
def test_parse_list_cell(cell: object, want: list[str] | None) -> None:
    assert parse_list_cell(cell) == want


def test_expand_multilabel_matches_python_sets() -> None:
    rng = np.random.default_rng(1)
    rows = [
        [str(v) for v in rng.choice(["a", "b", "c"], size=int(rng.integers(0, 3)), replace=False)]
        for _ in range(200)
    ]
    cells = [str(r) if i % 2 else json.dumps(r) for i, r in enumerate(rows)]
    out = expand_multilabel(cells, "t", min_group_size=5)
    for name, yes in out.items():
        member = name.split(":", 1)[1]
        assert list(yes) == ["yes" if member in ast.literal_eval(c) else "no" for c in cells]
