"""KD loss against an independent numpy/scipy formula and its gradient at T = 1."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from scipy.special import log_softmax, softmax
from torch.nn import functional as F

from kdaudit.errors import UsageError
from kdaudit.train.kd import effective_weights, kd_loss


def _oracle(s: np.ndarray, t: np.ndarray, y: np.ndarray, temp: float, w: float) -> float:
    s64, t64 = s.astype(np.float64), t.astype(np.float64)
    ce = -np.mean(log_softmax(s64, axis=1)[np.arange(len(y)), y])
    p_t = softmax(t64 / temp, axis=1)
    kl = np.sum(p_t * (np.log(p_t) - log_softmax(s64 / temp, axis=1))) / len(y)
    return (1 - w) * ce + w * temp**2 * kl


@pytest.mark.parametrize("temp", [1.0, 2.0, 4.0, 10.0])
@pytest.mark.parametrize("w", [0.0, 0.5, 0.9, 1.0])
def test_kd_loss_matches_independent_formula(
    rng: np.random.Generator, temp: float, w: float
) -> None:
    s = rng.normal(size=(16, 7)).astype(np.float32) * 3
    t = rng.normal(size=(16, 7)).astype(np.float32) * 3
    y = rng.integers(0, 7, size=16)
    got = kd_loss(
        torch.from_numpy(s),
        torch.from_numpy(t),
        torch.from_numpy(y),
        temperature=temp,
        soft_weight=w,
    )
    assert got.dtype == torch.float32
    assert float(got) == pytest.approx(_oracle(s, t, y, temp, w), rel=1e-5, abs=1e-6)


def test_gradient_at_t1_equals_soft_target_cross_entropy(rng: np.random.Generator) -> None:
    s = torch.tensor(rng.normal(size=(8, 5)), dtype=torch.float32, requires_grad=True)
    t = torch.tensor(rng.normal(size=(8, 5)), dtype=torch.float32)
    y = torch.from_numpy(rng.integers(0, 5, size=8))
    kd_loss(s, t, y, temperature=1.0, soft_weight=1.0).backward()
    grad_kd = s.grad.clone()
    s.grad = None
    F.cross_entropy(s, F.softmax(t, dim=1)).backward()
    torch.testing.assert_close(grad_kd, s.grad, rtol=1e-5, atol=1e-7)
    # closed form: (softmax(s) - softmax(t)) / batch
    closed = (F.softmax(s.detach(), 1) - F.softmax(t, 1)) / 8
    torch.testing.assert_close(grad_kd, closed, rtol=1e-5, atol=1e-7)


def test_zero_weight_is_exactly_cross_entropy(rng: np.random.Generator) -> None:
    s = torch.tensor(rng.normal(size=(8, 5)), dtype=torch.float32)
    y = torch.from_numpy(rng.integers(0, 5, size=8))
    assert torch.equal(kd_loss(s, None, y, temperature=4.0, soft_weight=0.0), F.cross_entropy(s, y))


def test_identical_logits_give_no_soft_loss(rng: np.random.Generator) -> None:
    s = torch.tensor(rng.normal(size=(8, 5)), dtype=torch.float32)
    y = torch.from_numpy(rng.integers(0, 5, size=8))
    assert float(kd_loss(s, s.clone(), y, temperature=3.0, soft_weight=1.0)) == pytest.approx(
        0, abs=1e-6
    )


def test_effective_weights_logged() -> None:
    w = effective_weights(temperature=4.0, soft_weight=0.9)
    assert w["hard"] == pytest.approx(0.1)
    assert w["soft"] == pytest.approx(14.4)


@pytest.mark.parametrize(
    "kwargs",
    [
        {"temperature": 0.0, "soft_weight": 0.5},
        {"temperature": 2.0, "soft_weight": 1.5},
        {"temperature": 2.0, "soft_weight": -0.1},
    ],
)
def test_bad_parameters_raise_usage_error(kwargs: dict[str, float]) -> None:
    s = torch.zeros(2, 3)
    with pytest.raises(UsageError):
        kd_loss(s, s, torch.zeros(2, dtype=torch.int64), **kwargs)


def test_shape_mismatch_and_missing_teacher() -> None:
    y = torch.zeros(2, dtype=torch.int64)
    with pytest.raises(UsageError, match="same shape"):
        kd_loss(torch.zeros(2, 3), torch.zeros(2, 4), y, temperature=1, soft_weight=0.5)
    with pytest.raises(UsageError, match="teacher"):
        kd_loss(torch.zeros(2, 3), None, y, temperature=1, soft_weight=0.5)
