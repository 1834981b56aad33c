"""The procedural Trifeature generator: determinism, balance, planted correlation, formats."""

from __future__ import annotations

import numpy as np
import pytest

from kdaudit.data import load_dataset
from kdaudit.data.builtin import BUILTINS
from kdaudit.data.trifeature import (
    COLORS,
    PREPROCESS,
    SHAPES,
    TEXTURES,
    make_trifeature,
    save_trifeature_npz,
)
from kdaudit.errors import UsageError


def test_deterministic_from_seed() -> None:
    a = make_trifeature(300, seed=4, color_shape_correlation=0.3)
    b = make_trifeature(300, seed=4, color_shape_correlation=0.3)
    for k in a:
        np.testing.assert_array_equal(a[k], b[k])
    c = make_trifeature(300, seed=5, color_shape_correlation=0.3)
    assert not np.array_equal(a["x"], c["x"])
    test = make_trifeature(300, seed=4, split="test")
    assert not np.array_equal(a["x"], test["x"])


def test_formats_and_ranges() -> None:
    a = make_trifeature(50, seed=0)
    assert a["x"].shape == (50, 32, 32, 3) and a["x"].dtype == np.uint8
    assert a["y"].dtype == np.int64 and set(a["y"]) <= set(range(10))
    assert set(a["sensitive_color"]) <= set(COLORS)
    assert set(a["sensitive_texture"]) <= set(TEXTURES)
    big = make_trifeature(20, seed=0, image_size=64)
    assert big["x"].shape == (20, 64, 64, 3)
    assert len(SHAPES) == len(TEXTURES) == len(COLORS) == 10


def test_labels_and_attributes_balanced_without_correlation() -> None:
    a = make_trifeature(1000, seed=1)
    assert np.bincount(a["y"], minlength=10).tolist() == [100] * 10
    for key in ("sensitive_color", "sensitive_texture"):
        _, counts = np.unique(a[key], return_counts=True)
        assert counts.tolist() == [100] * 10
    # attributes independent of the label: each shape sees many colours
    for s in range(10):
        assert len(set(a["sensitive_color"][a["y"] == s])) >= 8


@pytest.mark.parametrize("c", [0.0, 0.5, 0.9])
def test_planted_colour_shape_correlation(c: float) -> None:
    a = make_trifeature(4000, seed=2, color_shape_correlation=c)
    tied = np.mean(a["sensitive_color"] == np.asarray(COLORS)[a["y"]])
    expected = c + (1 - c) / 10
    assert tied == pytest.approx(expected, abs=0.03)
    assert np.bincount(a["y"], minlength=10).tolist() == [400] * 10  # shapes stay balanced


def test_classes_are_visually_distinct() -> None:
    # a nearest-class-mean classifier on the bright-pixel mask beats chance (0.1) clearly
    a = make_trifeature(2000, seed=3)
    fg = (a["x"].max(axis=3) > 60).reshape(2000, -1).astype(np.float32)
    tr, te = slice(0, 1500), slice(1500, None)
    means = np.stack([fg[tr][a["y"][tr] == k].mean(0) for k in range(10)])
    pred = np.argmin(((fg[te][:, None, :] - means[None]) ** 2).sum(-1), axis=1)
    assert np.mean(pred == a["y"][te]) > 0.2  # chance is 0.1


def test_bad_arguments() -> None:
    with pytest.raises(UsageError):
        make_trifeature(10, split="val")
    with pytest.raises(UsageError):
        make_trifeature(10, image_size=48)
    with pytest.raises(UsageError):
        make_trifeature(10, color_shape_correlation=1.5)
    with pytest.raises(UsageError):
        make_trifeature(0)


def test_builtin_spec_and_npz_round_trip(tmp_path) -> None:
    assert "trifeature" in BUILTINS
    ds = load_dataset("trifeature:200")
    assert ds.n_samples == 200 and ds.x.shape == (200, 32, 32, 3)
    assert list(ds.sensitive_features) == ["color", "texture"]
    assert ds.extras["preprocess"] == PREPROCESS
    assert ds.fingerprint == load_dataset("trifeature:200").fingerprint
    assert ds.fingerprint != load_dataset("trifeature:100").fingerprint
    only = load_dataset("trifeature:50", sensitive=["texture"])
    assert list(only.sensitive_features) == ["texture"]
    with pytest.raises(UsageError):
        load_dataset("trifeature:abc")
    with pytest.raises(UsageError):
        load_dataset("trifeature:10", sensitive=["size"])
    arrays = make_trifeature(30, seed=0, split="test")
    path = save_trifeature_npz(tmp_path / "t.npz", arrays)
    back = load_dataset(path)
    np.testing.assert_array_equal(back.x, arrays["x"])
    np.testing.assert_array_equal(back.y_true, arrays["y"])
    np.testing.assert_array_equal(back.sensitive_features["color"], arrays["sensitive_color"])
    # the built-in default equals the test split with seed 0
    np.testing.assert_array_equal(load_dataset("trifeature:30").x, arrays["x"])


@pytest.mark.slow
def test_ten_thousand_images() -> None:
    # speed is a benchmark's business (no wall-clock assertions in tests); this checks the size
    arrays = make_trifeature(10000, seed=0)
    assert arrays["x"].shape[0] == arrays["y"].shape[0] == 10000
    assert np.isfinite(arrays["x"]).all()
