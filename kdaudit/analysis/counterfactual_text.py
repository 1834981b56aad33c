"""Counterfactual fairness for text: do a model's outputs move when identity terms are swapped?

For each row whose text contains at least one swappable term (``changed``), with p and
p' the softmax probabilities on the original and the counterfactual text:

* flip rate: share of those rows whose argmax changes;
* mean TV distance: mean of ``0.5 * sum |p - p'|`` over those rows (in [0, 1]).

Both are reported overall and per group of each sensitive attribute (groups smaller
than ``min_group_size`` changed rows are reported with a note and no interval), and as
paired changes between models (B minus A on the same rows).

Uncertainty: percentile bootstrap over the changed rows (B resamples, seeded); a
group's replicate is its mean over the resampled rows that fall in it, and paired
deltas use the same resampled rows for both models. p-value of a delta:
``min(1, 2 * min(share delta* <= 0, share delta* >= 0))`` (:mod:`kdaudit.analysis.stats`).
Coverage of these intervals is checked by simulation in the tests.

Pure numpy: no model, tokenizer or renderer is imported here.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from kdaudit.analysis import stats
from kdaudit.analysis.individual_fairness import total_variation
from kdaudit.analysis.pairs import check_pairs, pair_name
from kdaudit.errors import InputDataError
from kdaudit.results import Estimate, Record, to_native

__all__ = [
    "CounterfactualGroup",
    "CounterfactualTextResult",
    "counterfactual_text_fairness",
]

_CHUNK = 128  # bootstrap replicates per block (bounds memory at _CHUNK * n_changed indices)


@dataclasses.dataclass(frozen=True, slots=True, kw_only=True)
class CounterfactualGroup(Record):
    """One group's flip rate and mean TV distance (a model's, or a paired change)."""

    group: str
    n: int
    flip_rate: Estimate
    mean_tv_distance: Estimate


@dataclasses.dataclass(frozen=True, slots=True, kw_only=True)
class CounterfactualTextResult(Record):
    """Counterfactual text fairness of every model, and paired changes between models.

    Attributes
    ----------
    config : dict
        n_samples, n_changed, n_swaps, bootstrap, confidence, seed, min_group_size.
    models : dict of role -> dict
        ``flip_rate``, ``mean_tv_distance`` (Estimates) and ``by_group``
        (attribute -> list of :class:`CounterfactualGroup`).
    delta : dict of pair -> dict
        The same fields for B minus A, with p-values.
    """

    config: dict[str, Any]
    models: dict[str, dict[str, Any]]
    delta: dict[str, dict[str, Any]]

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"config": to_native(self.config)}
        out.update({role: to_native(block) for role, block in self.models.items()})
        out["delta"] = to_native(self.delta)
        return out


def _per_row(probs: np.ndarray, probs_cf: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    flip = (np.argmax(probs, axis=1) != np.argmax(probs_cf, axis=1)).astype(np.float64)
    tv = total_variation(np.asarray(probs, np.float64), np.asarray(probs_cf, np.float64))
    return flip, tv


def _replicates(
    values: np.ndarray, masks: Sequence[np.ndarray], n_bootstrap: int, seed: int
) -> list[np.ndarray]:
    """Bootstrap replicates of the mean of ``values`` (shape (m, k)) within each mask.

    Returns one array of shape (n_bootstrap, k) per mask (NaN where a replicate has no
    row of the mask).
    """
    m = values.shape[0]
    rng = np.random.default_rng(seed)
    out = [np.empty((n_bootstrap, values.shape[1])) for _ in masks]
    for lo in range(0, n_bootstrap, _CHUNK):
        b = min(_CHUNK, n_bootstrap - lo)
        idx = rng.integers(0, m, size=(b, m))
        drawn = values[idx]  # (b, m, k)
        for j, mask in enumerate(masks):
            w = mask[idx].astype(np.float64)  # (b, m)
            count = w.sum(axis=1)
            with np.errstate(invalid="ignore", divide="ignore"):
                out[j][lo : lo + b] = np.einsum("bm,bmk->bk", w, drawn) / count[:, None]
    return out


def counterfactual_text_fairness(
    probs: Mapping[str, np.ndarray],
    probs_counterfactual: Mapping[str, np.ndarray],
    changed: np.ndarray,
    *,
    sensitive_features: Mapping[str, np.ndarray] | None = None,
    pairs: Sequence[tuple[str, str] | str] = (),
    n_swaps: int | None = None,
    n_bootstrap: int = 1000,
    seed: int = 0,
    confidence: float = 0.95,
    min_group_size: int = 30,
) -> CounterfactualTextResult:
    """Flip rate and mean TV distance under identity-term swaps, per model, group and pair.

    Parameters
    ----------
    probs, probs_counterfactual : mapping of role -> ndarray of shape (n_samples, n_classes)
        Probabilities on the original and the counterfactual texts (same rows).
    changed : ndarray of shape (n_samples,), bool
        Rows whose text had at least one term swapped; only these are measured.
    sensitive_features : mapping of name -> ndarray of shape (n_samples,), optional
        Group labels; each attribute gets per-group values.
    pairs : sequence of (A, B) or "A_vs_B"
        Paired changes B minus A.
    n_swaps : int, optional
        Total number of swapped terms (informational).
    n_bootstrap, seed, confidence, min_group_size
        Bootstrap replicates (0: no intervals), seed, interval level, smallest group
        (in changed rows) that gets an interval.

    Returns
    -------
    CounterfactualTextResult

    Examples
    --------
    >>> import numpy as np
    >>> p = {"teacher": np.array([[0.9, 0.1], [0.2, 0.8]])}
    >>> p_cf = {"teacher": np.array([[0.4, 0.6], [0.2, 0.8]])}
    >>> res = counterfactual_text_fairness(p, p_cf, np.array([True, True]), n_bootstrap=0)
    >>> res.models["teacher"]["flip_rate"].value, res.models["teacher"]["mean_tv_distance"].value
    (0.5, 0.25)
    """
    changed = np.asarray(changed, dtype=bool)
    roles = list(probs)
    checked = check_pairs(pairs, roles)
    rows = np.flatnonzero(changed)
    values = _values(probs, probs_counterfactual, changed.shape[0], rows, roles, checked)
    groups = _groups(sensitive_features, rows)
    reps = (
        _replicates(values, [mk for _, _, mk in groups], n_bootstrap, seed)
        if n_bootstrap > 0 and rows.size > 0
        else [None] * len(groups)
    )
    blocks = _Blocks(
        values=values,
        groups=groups,
        reps=reps,
        confidence=confidence,
        min_group_size=min_group_size,
        undefined="no text contains a term to swap" if rows.size == 0 else None,
    )
    models = {role: blocks.block(2 * i, 2 * i + 1, False) for i, role in enumerate(roles)}
    base = 2 * len(roles)
    delta = {
        pair_name(a, b): blocks.block(base + 2 * i, base + 2 * i + 1, True)
        for i, (a, b) in enumerate(checked)
    }
    config = {
        "n_samples": changed.shape[0],
        "n_changed": rows.size,
        "n_swaps": n_swaps,
        "bootstrap": n_bootstrap,
        "confidence": confidence,
        "seed": seed,
        "min_group_size": min_group_size,
        "resampling": "percentile bootstrap over changed rows",
    }
    return CounterfactualTextResult(config=config, models=models, delta=delta)


def _values(
    probs: Mapping[str, np.ndarray],
    probs_counterfactual: Mapping[str, np.ndarray],
    n: int,
    rows: np.ndarray,
    roles: list[str],
    pairs: list[tuple[str, str]],
) -> np.ndarray:
    """Stages 1-2: per changed row, flip and TV of every role, then of every pair (B - A).

    Columns (flip_r0, tv_r0, flip_r1, ..., flip_pair0, tv_pair0, ...).
    """
    for role in roles:
        for name, arr in (
            ("probs", probs[role]),
            ("probs_counterfactual", probs_counterfactual[role]),
        ):
            if np.asarray(arr).shape[0] != n:
                raise InputDataError(
                    f"{name} of the {role} has {np.asarray(arr).shape[0]} rows; expected {n}."
                )
    cols = []
    for role in roles:
        flip, tv = _per_row(
            np.asarray(probs[role])[rows], np.asarray(probs_counterfactual[role])[rows]
        )
        cols += [flip, tv]
    values = np.stack(cols, axis=1) if cols else np.zeros((rows.size, 0))
    for a, b in pairs:
        ia, ib = roles.index(a), roles.index(b)
        values = np.concatenate(
            [
                values,
                values[:, [2 * ib]] - values[:, [2 * ia]],
                values[:, [2 * ib + 1]] - values[:, [2 * ia + 1]],
            ],
            axis=1,
        )
    return values


def _groups(
    sensitive_features: Mapping[str, np.ndarray] | None, rows: np.ndarray
) -> list[tuple[str, str, np.ndarray]]:
    """(attribute, group, mask over the changed rows); the first entry is every row."""
    groups: list[tuple[str, str, np.ndarray]] = [("", "", np.ones(rows.size, dtype=bool))]
    for attr, labels in (sensitive_features or {}).items():
        lab = np.asarray(labels).astype(str)[rows]
        for g in sorted(set(lab.tolist())):
            groups.append((attr, g, lab == g))
    return groups


@dataclasses.dataclass(frozen=True, slots=True, kw_only=True)
class _Blocks:
    """Stage 4: the records of a model (or a pair) from the values and replicates."""

    values: np.ndarray
    groups: list[tuple[str, str, np.ndarray]]
    reps: list[np.ndarray] | list[None]
    confidence: float
    min_group_size: int
    undefined: str | None

    def est(self, j: int, k: int, paired: bool) -> Estimate:
        _, _, mask = self.groups[j]
        size = int(mask.sum())
        if self.undefined is not None or size == 0:
            return Estimate(
                value=None, undefined_reason=self.undefined or "no changed row in this group"
            )
        value = float(self.values[mask, k].mean())
        rep = self.reps[j]
        if rep is None or (j > 0 and size < self.min_group_size):
            return Estimate(value=value)  # a small group: the point value only
        return stats.estimate(value, rep[:, k], self.confidence, paired=paired)

    def block(self, k_flip: int, k_tv: int, paired: bool) -> dict[str, Any]:
        out: dict[str, Any] = {
            "flip_rate": self.est(0, k_flip, paired),
            "mean_tv_distance": self.est(0, k_tv, paired),
            "by_group": {},
        }
        for j, (attr, g, mask) in enumerate(self.groups[1:], start=1):
            out["by_group"].setdefault(attr, []).append(
                CounterfactualGroup(
                    group=g,
                    n=int(mask.sum()),
                    flip_rate=self.est(j, k_flip, paired),
                    mean_tv_distance=self.est(j, k_tv, paired),
                )
            )
        return out
