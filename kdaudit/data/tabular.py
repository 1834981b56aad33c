"""A generated tabular task with a planted bias, for the foundation demo and tests.

Binary label; features depend on the label; one sensitive attribute ``group``
(``a`` majority, ``b`` minority) whose minority rows have noisier, shifted
features, so that small models treat the groups differently. A second
attribute ``age_band`` (3 levels) is independent of everything.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from kdaudit.data.dataset import Dataset, as_group_labels, fingerprint
from kdaudit.errors import UsageError
from kdaudit.hashing import arrays_sha256

__all__ = ["load_tabular", "make_tabular"]


def make_tabular(
    n_samples: int = 6000,
    *,
    n_features: int = 12,
    minority_share: float = 0.25,
    seed: int = 0,
) -> dict[str, np.ndarray]:
    """Generate the arrays: ``x`` (n, n_features) float32, ``y``, ``sensitive_group``, ``sensitive_age_band``."""
    # the task (feature weights) is fixed; the seed only draws the samples
    w = np.random.default_rng(20240607).normal(size=n_features) * np.linspace(1.5, 0.1, n_features)
    rng = np.random.default_rng(seed)
    group = (rng.random(n_samples) < minority_share).astype(np.int64)
    y = (rng.random(n_samples) < np.where(group == 1, 0.35, 0.5)).astype(np.int64)
    signal = (2 * y - 1)[:, None] * w[None, :] * 0.6
    noise_scale = np.where(group == 1, 1.6, 1.0)[:, None]
    x = signal + rng.normal(size=(n_samples, n_features)) * noise_scale
    # interaction only the minority group needs: a nonlinearity a tiny model misses
    x[:, 0] += np.where(group == 1, 1.5 * np.sin(3 * x[:, 1]), 0.0)
    x[:, -1] = group + rng.normal(scale=0.3, size=n_samples)  # a proxy for the attribute
    age = rng.integers(0, 3, size=n_samples)
    return {
        "x": x.astype(np.float32),
        "y": y,
        "sensitive_group": np.where(group == 1, "b", "a"),
        "sensitive_age_band": np.array(["18-30", "31-50", "51+"])[age],
    }


def load_tabular(arg: str | None, sensitive: Sequence[str] | None) -> Dataset:
    """``tabular`` or ``tabular:N`` (N rows, default 6000), seed 0 for the eval split (seed 1)."""
    try:
        n = int(arg) if arg else 6000
    except ValueError as exc:
        raise UsageError(f"Expected 'tabular:N' with an integer N; got {arg!r}.") from exc
    arrays = make_tabular(n, seed=1)
    names = list(sensitive) if sensitive else ["group", "age_band"]
    sens = {}
    for s in names:
        if f"sensitive_{s}" not in arrays:
            raise UsageError(
                f"The tabular dataset has no sensitive attribute {s!r}; it has group, age_band."
            )
        sens[s] = as_group_labels(arrays[f"sensitive_{s}"], s)
    sha = arrays_sha256(arrays)
    return Dataset(
        y_true=arrays["y"],
        x=arrays["x"],
        sensitive_features=sens,
        path=f"builtin:tabular:{n}",
        sha256=sha,
        fingerprint=fingerprint(sha, kind="builtin", sensitive=names),
        label="y",
    )
