"""Real-data loaders against the counts documented in shared/data/README.md."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from kdaudit.data import load_dataset
from kdaudit.errors import InputDataError, UsageError


def _counts(values: np.ndarray) -> dict[str, int]:
    keys, counts = np.unique(values, return_counts=True)
    return {str(k): int(c) for k, c in zip(keys, counts, strict=True)}


def test_adult_test_and_train(shared_data: Path) -> None:
    test = load_dataset(f"adult:{shared_data / 'adult' / 'adult.test'}")
    train = load_dataset(f"adult:{shared_data / 'adult' / 'adult.data'}")
    assert test.n_samples == 16281 and int(test.y_true.sum()) == 3846
    assert train.n_samples == 32561 and int(train.y_true.sum()) == 7841
    assert list(test.sensitive_features) == ["sex", "race"]
    sex = _counts(np.concatenate([test.sensitive_features["sex"], train.sensitive_features["sex"]]))
    assert sex == {"Female": 16192, "Male": 32650}
    race = _counts(
        np.concatenate([test.sensitive_features["race"], train.sensitive_features["race"]])
    )
    assert race == {
        "White": 41762,
        "Black": 4685,
        "Asian-Pac-Islander": 1519,
        "Amer-Indian-Eskimo": 470,
        "Other": 406,
    }
    # same columns, same scale for both files
    assert test.feature_names == train.feature_names
    assert test.x.dtype == np.float32 and test.x.shape[1] == len(test.feature_names)
    age = train.feature_names.index("age")
    assert (
        abs(float(train.x[:, age].mean())) < 1e-4 and abs(float(train.x[:, age].std()) - 1) < 1e-3
    )
    onehot = [i for i, n in enumerate(train.feature_names) if n.startswith("sex=")]
    assert np.all(train.x[:, onehot].sum(axis=1) == 1)
    assert train.extras["class_names"] == ["<=50K", ">50K"]


def test_adult_is_deterministic(shared_data: Path) -> None:
    spec = f"adult:{shared_data / 'adult' / 'adult.test'}"
    a, b = load_dataset(spec), load_dataset(spec)
    np.testing.assert_array_equal(a.x, b.x)
    assert a.fingerprint == b.fingerprint


def test_compas_propublica_filter(shared_data: Path) -> None:
    ds = load_dataset(f"compas:{shared_data / 'compas' / 'compas-scores-two-years.csv'}")
    assert ds.n_samples == 6172
    assert list(ds.sensitive_features) == ["race", "sex", "age_cat"]
    assert set(ds.sensitive_features["age_cat"]) == {"Less than 25", "25 - 45", "Greater than 45"}
    assert set(np.unique(ds.y_true)) == {0, 1}
    assert np.isfinite(ds.x).all()
    from kdaudit.data.realworld import read_compas

    raw = read_compas(
        shared_data / "compas" / "compas-scores-two-years.csv", propublica_filter=False
    )
    assert raw.shape[0] == 7214 and int(raw["two_year_recid"].sum()) == 3251


def test_german_credit(shared_data: Path) -> None:
    ds = load_dataset(f"german:{shared_data / 'german_credit' / 'german.data'}")
    assert ds.n_samples == 1000 and int(ds.y_true.sum()) == 700
    sens = ds.sensitive_features
    assert _counts(sens["sex"]) == {"male": 548 + 92 + 50, "female": 310}
    assert _counts(sens["age"])["<=25"] == 190
    assert _counts(sens["foreign_worker"]) == {"yes": 963, "no": 37}
    sel = load_dataset(f"german:{shared_data / 'german_credit' / 'german.data'}", sensitive=["age"])
    assert list(sel.sensitive_features) == ["age"]


@pytest.mark.parametrize("name", ["adult", "compas", "german"])
def test_missing_path_and_bad_files(tmp_path: Path, name: str) -> None:
    with pytest.raises(UsageError, match="file you give"):
        load_dataset(name)
    with pytest.raises(InputDataError, match="does not exist"):
        load_dataset(f"{name}:{tmp_path / 'nope.csv'}")
    bad = tmp_path / "bad.csv"
    bad.write_text("a,b\n1,2\n")
    with pytest.raises(InputDataError):
        load_dataset(f"{name}:{bad}")


def test_unknown_sensitive_attribute(shared_data: Path) -> None:
    with pytest.raises(UsageError, match="no sensitive attribute"):
        load_dataset(f"german:{shared_data / 'german_credit' / 'german.data'}", sensitive=["race"])
