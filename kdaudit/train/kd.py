"""The knowledge-distillation loss (METHODS.md section 5).

``loss = (1 - w) * CE(y, s) + w * T^2 * KL(softmax(t / T) || softmax(s / T))``

with the KL divergence averaged over the batch (``batchmean``) and everything
computed in float32. ``w`` (``soft_weight``) is the weight on the soft term;
some papers and libraries call it alpha, others put alpha on the hard term, so
:func:`effective_weights` spells out both multipliers actually applied.
"""

from __future__ import annotations

import torch
from torch.nn import functional as F

from kdaudit.errors import UsageError

__all__ = [
    "check_kd_params",
    "effective_weights",
    "kd_loss",
]


def check_kd_params(temperature: float, soft_weight: float) -> None:
    """Raise UsageError unless ``temperature > 0`` and ``0 <= soft_weight <= 1``."""
    if not float(temperature) > 0:
        raise UsageError(f"Expected a temperature > 0; got {temperature!r}.")
    if not 0.0 <= float(soft_weight) <= 1.0:
        raise UsageError(
            f"Expected soft_weight (the weight on the soft KD term) in [0, 1]; got {soft_weight!r}.",
            tip="Use 0 for the baseline (hard labels only) and e.g. 0.9 for a student.",
        )


def effective_weights(*, temperature: float, soft_weight: float) -> dict[str, float | str]:
    """The multipliers applied to each term: ``hard = 1 - w``, ``soft = w * T^2``.

    Returned with the inputs so logs and manifests say which convention was used.
    """
    t, w = float(temperature), float(soft_weight)
    return {
        "hard": 1.0 - w,
        "soft": w * t * t,
        "soft_weight": w,
        "temperature": t,
        "convention": "(1-w)*CE + w*T^2*KL(teacher||student), KL batchmean",
    }


def kd_loss(
    student_logits: torch.Tensor,
    teacher_logits: torch.Tensor | None,
    y: torch.Tensor,
    *,
    temperature: float,
    soft_weight: float,
) -> torch.Tensor:
    """Knowledge-distillation loss of one batch.

    Parameters
    ----------
    student_logits : Tensor of shape (batch, n_classes)
    teacher_logits : Tensor of shape (batch, n_classes), or None when ``soft_weight == 0``
        Treated as constants (detached).
    y : Tensor of shape (batch,), int64
        Hard labels.
    temperature : float
        T > 0 softens both distributions in the KL term.
    soft_weight : float in [0, 1]
        w, the weight on the T^2-scaled KL term; ``1 - w`` weighs cross-entropy.

    Returns
    -------
    Tensor
        A float32 scalar. With ``soft_weight == 0`` it is exactly the
        cross-entropy (the KL term is not computed), so the baseline and a
        ``w = 0`` student follow the same arithmetic.
    """
    check_kd_params(temperature, soft_weight)
    s = student_logits.float()
    hard = F.cross_entropy(s, y)
    if soft_weight == 0:
        return hard
    if teacher_logits is None:
        raise UsageError("kd_loss needs teacher logits when soft_weight > 0.")
    if teacher_logits.shape != student_logits.shape:
        raise UsageError(
            f"Expected teacher and student logits of the same shape; got "
            f"{tuple(teacher_logits.shape)} and {tuple(student_logits.shape)}.",
            tip="Check that both models were trained on the same label set.",
        )
    t = float(temperature)
    log_p_student = F.log_softmax(s / t, dim=1)
    log_p_teacher = F.log_softmax(teacher_logits.detach().float() / t, dim=1)
    soft = F.kl_div(log_p_student, log_p_teacher, reduction="batchmean", log_target=True)
    w = float(soft_weight)
    return (1.0 - w) * hard + (w * t * t) * soft
