"""Preprocessing order and options against hand computations."""

from __future__ import annotations

import numpy as np
import pytest

from kdaudit.errors import InputDataError, UsageError
from kdaudit.models.preprocess import Preprocess, apply_preprocess


def test_order_scale_transpose_reshape_then_per_channel_chw(rng):
    x = rng.integers(0, 256, size=(5, 4, 3, 2)).astype(
        np.uint8
    )  # HWC images, 4x3 pixels, 2 channels
    spec = Preprocess(scale=1 / 255, transpose=(2, 0, 1), mean=[0.5, 0.25], std=[0.5, 2.0])
    got = spec.apply(x, np.float32)
    # by hand: cast, scale, HWC -> CHW, then per channel along axis 0 of one sample
    hand = x.astype(np.float32) * np.float32(1 / 255)
    hand = hand.transpose(0, 3, 1, 2)
    hand[:, 0] = (hand[:, 0] - 0.5) / 0.5
    hand[:, 1] = (hand[:, 1] - 0.25) / 2.0
    assert got.dtype == np.float32 and got.shape == (5, 2, 4, 3)
    assert got.flags.c_contiguous
    np.testing.assert_allclose(got, hand, rtol=1e-6, atol=1e-6)


def test_per_channel_hwc_uses_last_axis(rng):
    x = rng.normal(size=(3, 2, 2, 3)).astype(np.float32)
    spec = Preprocess(mean=[1.0, 2.0, 3.0], std=[1.0, 2.0, 4.0], channel_axis=-1)
    got = spec.apply(x, np.float32)
    hand = (x - np.array([1.0, 2.0, 3.0], dtype=np.float32)) / np.array(
        [1.0, 2.0, 4.0], dtype=np.float32
    )
    np.testing.assert_allclose(got, hand, rtol=1e-6)


def test_reshape_comes_before_mean_std(rng):
    x = rng.normal(size=(4, 12)).astype(np.float64)
    spec = Preprocess(reshape=(3, 2, 2), mean=[0.0, 1.0, 2.0], std=2.0)
    got = spec.apply(x, np.float32)
    hand = x.astype(np.float32).reshape(4, 3, 2, 2)
    hand = (hand - np.array([0.0, 1.0, 2.0], dtype=np.float32).reshape(1, 3, 1, 1)) / 2.0
    assert got.shape == (4, 3, 2, 2)
    np.testing.assert_allclose(got, hand, rtol=1e-6)


def test_flatten_with_scalar_stats(rng):
    x = rng.integers(0, 256, size=(2, 28, 28)).astype(np.uint8)
    spec = Preprocess.from_dict({"scale": 1 / 255, "mean": 0.5, "std": 0.5, "reshape": [784]})
    got = spec.apply(x, np.float32)
    hand = ((x.astype(np.float32) * np.float32(1 / 255)).reshape(2, 784) - 0.5) / 0.5
    np.testing.assert_allclose(got, hand, rtol=1e-6, atol=1e-6)


def test_integer_inputs_skip_numeric_steps(rng):
    ids = rng.integers(0, 100, size=(3, 7))
    spec = Preprocess(scale=0.5, mean=3.0, std=2.0)
    got = spec.apply(ids, np.int64)
    assert got.dtype == np.int64
    np.testing.assert_array_equal(got, ids)


def test_dtype_override_and_none_spec():
    x = np.arange(6, dtype=np.float64).reshape(2, 3)
    assert Preprocess(dtype="float16").apply(x, np.float32).dtype == np.float16
    out = apply_preprocess(None, x, np.float32)
    assert out.dtype == np.float32
    np.testing.assert_array_equal(out, x)


def test_from_dict_round_trip_and_layout_alias():
    d = {
        "scale": 0.1,
        "mean": [1, 2, 3],
        "std": [1, 1, 1],
        "transpose": [2, 0, 1],
        "channel_axis": 0,
    }
    spec = Preprocess.from_dict(d)
    assert spec is not None
    assert Preprocess.from_dict(spec.to_dict()) == spec
    assert spec.to_dict()["mean"] == [1.0, 2.0, 3.0]
    assert Preprocess.from_dict({"layout": "NHWC", "mean": [0, 0, 0]}).channel_axis == -1
    assert Preprocess.from_dict(None) is None and Preprocess.from_dict({}) is None
    hash(spec)  # usable as part of a cache key


@pytest.mark.parametrize(
    "bad",
    [
        {"scael": 1.0},
        {"std": 0.0},
        {"transpose": [0, 0, 1]},
        {"reshape": [-1, -1]},
        {"dtype": "notadtype"},
        {"layout": "NCWH"},
    ],
)
def test_bad_specs_are_usage_errors(bad):
    with pytest.raises(UsageError):
        Preprocess.from_dict(bad)


def test_shape_errors_say_what_was_expected(rng):
    x = rng.normal(size=(2, 10)).astype(np.float32)
    with pytest.raises(InputDataError, match="reshape"):
        Preprocess(reshape=(3, 3)).apply(x, np.float32)
    with pytest.raises(InputDataError, match="transpose"):
        Preprocess(transpose=(1, 0, 2)).apply(x, np.float32)
    with pytest.raises(InputDataError, match="has 3 values"):
        Preprocess(mean=[0.0, 1.0, 2.0]).apply(x, np.float32)


def test_sample_shape():
    spec = Preprocess(transpose=(2, 0, 1))
    assert spec.sample_shape((32, 32, 3)) == (3, 32, 32)
