"""Dataset loading: npz / CSV / Parquet / built-ins, fingerprints, and bad input."""

from __future__ import annotations

import hashlib

import numpy as np
import pandas as pd
import pytest

from kdaudit.data import load_dataset
from kdaudit.data.tabular import make_tabular
from kdaudit.errors import InputDataError, UsageError


def _npz(tmp_path, **arrays):
    path = tmp_path / "eval.npz"
    np.savez(path, **arrays)
    return path


def test_npz_roundtrip(tmp_path, rng):
    x = rng.normal(size=(50, 4)).astype(np.float32)
    y = rng.integers(0, 3, 50)
    sex = rng.choice(["F", "M"], 50)
    ds = load_dataset(_npz(tmp_path, x=x, y=y, sensitive_sex=sex, split=rng.integers(0, 2, 50)))
    assert ds.n_samples == 50
    np.testing.assert_array_equal(ds.y_true, y)
    np.testing.assert_array_equal(ds.x, x)
    assert list(ds.sensitive_features) == ["sex"]
    np.testing.assert_array_equal(ds.sensitive_features["sex"], sex)
    assert ds.split is not None and set(ds.split) <= {"0", "1"}
    assert len(ds.sha256) == 64 and len(ds.fingerprint) == 64


def test_npz_multi_input_and_no_x(tmp_path, rng):
    y = rng.integers(0, 2, 10)
    ds = load_dataset(
        _npz(
            tmp_path,
            x_input_ids=np.zeros((10, 7), np.int64),
            x_attention_mask=np.ones((10, 7), np.int64),
            y=y,
        )
    )
    assert isinstance(ds.x, dict) and set(ds.x) == {"input_ids", "attention_mask"}
    assert ds.inputs(2, 5)["input_ids"].shape == (3, 7)
    ds2 = load_dataset(_npz(tmp_path, y=y))
    assert not ds2.has_inputs
    with pytest.raises(InputDataError, match="no inputs"):
        ds2.inputs(0, 1)


def test_fingerprint_follows_model_inputs_only(tmp_path, rng):
    path = _npz(
        tmp_path,
        y=rng.integers(0, 2, 20),
        sensitive_a=rng.integers(0, 2, 20),
        sensitive_b=rng.integers(0, 3, 20),
    )
    # attributes change no model input: cached logits stay valid across attribute choices
    assert (
        load_dataset(path, sensitive=["a"]).fingerprint
        == load_dataset(path, sensitive=["b"]).fingerprint
    )
    (tmp_path / "other").mkdir()
    other = _npz(tmp_path / "other", y=rng.integers(0, 2, 20))
    assert load_dataset(other).fingerprint != load_dataset(path).fingerprint


def test_sensitive_file(tmp_path, rng):
    from kdaudit.data.dataset import add_sensitive_file

    ds = load_dataset(_npz(tmp_path, y=rng.integers(0, 2, 20), sensitive_a=rng.integers(0, 2, 20)))
    np.save(tmp_path / "region.npy", rng.integers(0, 4, 20))
    pd.DataFrame({"x": np.arange(20), "lang": ["en", "fr"] * 10}).to_csv(
        tmp_path / "lang.csv", index=False
    )
    ds2 = add_sensitive_file(
        add_sensitive_file(ds, "region", tmp_path / "region.npy"), "lang", tmp_path / "lang.csv"
    )
    assert list(ds2.sensitive_features) == ["a", "region", "lang"]
    assert set(ds2.sensitive_features["lang"]) == {"en", "fr"}
    assert ds2.fingerprint == ds.fingerprint
    assert set(ds2.describe()["sensitive_files"]) == {"region", "lang"}
    np.save(tmp_path / "short.npy", np.zeros(19))
    with pytest.raises(InputDataError, match="19 rows"):
        add_sensitive_file(ds, "s", tmp_path / "short.npy")
    with pytest.raises(UsageError, match="twice"):
        add_sensitive_file(ds, "a", tmp_path / "region.npy")
    with pytest.raises(InputDataError, match="does not exist"):
        add_sensitive_file(ds, "z", tmp_path / "nope.npy")


@pytest.mark.parametrize("suffix", [".csv", ".parquet"])
def test_tables(tmp_path, rng, suffix):
    df = pd.DataFrame(
        {
            "f1": rng.normal(size=30),
            "f2": rng.integers(0, 5, 30),
            "name": ["x"] * 30,
            "sex": rng.choice(["F", "M"], 30),
            "income": rng.choice([">50K", "<=50K"], 30),
        }
    )
    path = tmp_path / f"t{suffix}"
    df.to_csv(path, index=False) if suffix == ".csv" else df.to_parquet(path)
    ds = load_dataset(path, label="income", sensitive=["sex"])
    assert ds.feature_names == ("f1", "f2")  # numeric columns other than label/sensitive
    assert ds.x.shape == (30, 2)
    # string labels are sorted: "<=50K" -> 0, ">50K" -> 1
    np.testing.assert_array_equal(ds.y_true, (df["income"] == ">50K").astype(int))
    ds2 = load_dataset(path, label="income", sensitive=["sex"], features=["f2"])
    assert ds2.x.shape == (30, 1) and ds2.fingerprint != ds.fingerprint
    with pytest.raises(UsageError, match="Sensitive column 'race'"):
        load_dataset(path, label="income", sensitive=["race"])
    with pytest.raises(UsageError, match="Label column 'target'"):
        load_dataset(path, label="target")


@pytest.mark.parametrize(
    ("arrays", "match"),
    [
        ({"x": np.zeros((3, 2))}, "no 'y' array"),
        ({"y": np.zeros(0, dtype=int)}, "empty"),
        ({"y": np.array([0, 1, -1])}, ">= 0"),
        ({"y": np.array([0.5, 1.0])}, "integer class labels"),
        ({"y": np.array([0, 1]), "x": np.zeros((3, 2))}, "3 rows but 'y' has 2"),
        ({"y": np.array([0, 1]), "sensitive_a": np.array(["u"])}, "1 rows but 'y' has 2"),
    ],
)
def test_npz_bad_input(tmp_path, arrays, match):
    with pytest.raises(InputDataError, match=match):
        load_dataset(_npz(tmp_path, **arrays))


def test_bad_files(tmp_path):
    with pytest.raises(InputDataError, match="does not exist"):
        load_dataset(tmp_path / "missing.npz")
    bad = tmp_path / "bad.npz"
    bad.write_bytes(b"not a zip")
    with pytest.raises(InputDataError, match="Could not read"):
        load_dataset(bad)
    other = tmp_path / "data.xlsx"
    other.write_bytes(b"")
    with pytest.raises(InputDataError, match="Unknown data file extension"):
        load_dataset(other)
    with pytest.raises(InputDataError, match="directory"):
        load_dataset(tmp_path)
    pickled = tmp_path / "obj.npz"
    np.savez(pickled, y=np.array([0, 1]), x=np.array([{"a": 1}, None], dtype=object))
    with pytest.raises(InputDataError, match="pickle"):
        load_dataset(pickled)


def test_unknown_sensitive_npz(tmp_path):
    with pytest.raises(InputDataError, match="Sensitive attribute 'race'"):
        load_dataset(
            _npz(tmp_path, y=np.array([0, 1]), sensitive_sex=np.array(["F", "M"])),
            sensitive=["race"],
        )


def test_builtin_tabular_is_deterministic():
    a, b = load_dataset("tabular:500"), load_dataset("tabular:500")
    assert a.sha256 == b.sha256 and a.n_samples == 500
    np.testing.assert_array_equal(a.x, b.x)
    arrays = make_tabular(4000, seed=3)
    share_b = (arrays["sensitive_group"] == "b").mean()
    assert 0.2 < share_b < 0.3
    with pytest.raises(UsageError, match=r"tabular:N"):
        load_dataset("tabular:abc")


def test_file_hash_is_read_once_per_audit_and_again_after_it(tmp_path, monkeypatch):
    """Inside one audit an unchanged file is read once; outside, every call reads it."""
    import os

    from kdaudit.data import dataset as ds

    path = tmp_path / "model.bin"
    path.write_bytes(b"a" * 5000)
    reads = []
    real_read = os.read

    def counting_read(fd, n):
        reads.append(n)
        return real_read(fd, n)

    monkeypatch.setattr(ds.os, "read", counting_read)
    expected = hashlib.sha256(b"a" * 5000).hexdigest()
    with ds.remembered_hashes():
        assert ds.file_sha256(path) == expected
        first = len(reads)
        assert ds.file_sha256(path) == expected and len(reads) == first  # remembered
    assert ds.file_sha256(path) == expected and len(reads) > first  # read again after the audit
    path.write_bytes(b"b" * 5000)  # same size, rewritten in place
    assert ds.file_sha256(path) == hashlib.sha256(b"b" * 5000).hexdigest()
