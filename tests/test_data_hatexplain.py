"""HateXplain (shared data): majority labels and >= 2-of-3 targets vs a direct pandas computation."""

from __future__ import annotations

import ast
from pathlib import Path

import numpy as np
import pandas as pd

from kdaudit.data.loader import load_dataset
from kdaudit.data.text import TextInputs


def test_hatexplain_test_split(shared_data: Path) -> None:
    path = shared_data / "hatexplain" / "df_test_processed.csv"
    ds = load_dataset(f"hatexplain:{path}")
    df = pd.read_csv(path)
    ann = df["annotators"].map(ast.literal_eval)
    majority = ann.map(lambda a: pd.Series(a["label"]).mode())
    assert ds.n_samples == len(df) == 1924  # every test post has a majority label
    np.testing.assert_array_equal(ds.y_true, [m.iloc[0] for m in majority])
    assert np.bincount(ds.y_true).tolist() == [594, 782, 548]  # shared/data/README.md
    assert ds.extras["class_names"] == ["hatespeech", "normal", "offensive"]
    assert isinstance(ds.x, TextInputs)
    assert ds.x.tolist()[0] == " ".join(ast.literal_eval(df["post_tokens"][0]))

    def chosen(a: dict, community: str) -> bool:
        return sum(community in set(t) for t in a["target"]) >= 2

    names = [n.split(":", 1)[1] for n in ds.sensitive_features]
    assert {"African", "Islam", "Jewish", "Women", "Homosexual"} <= set(names)
    assert "None" not in names and "Other" not in names
    for community in names:
        want = np.where(ann.map(lambda a, c=community: chosen(a, c)), "yes", "no")
        np.testing.assert_array_equal(ds.sensitive_features[f"target:{community}"], want)
        assert (want == "yes").sum() >= 30
    only = load_dataset(f"hatexplain:{path}", sensitive=["target:Women"])
    assert list(only.sensitive_features) == ["target:Women"]
