"""Counterfactual texts in an audit, wired like the rest of :mod:`kdaudit.auditing`.

Counterfactual texts: swap identity terms in every text (:mod:`kdaudit.data.counterfactual_text`),
run each model's first run on the swapped texts (through the logit cache, keyed by the
swapped texts' hash), and measure flips and TV distances
(:mod:`kdaudit.analysis.counterfactual_text`).
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from kdaudit.analysis.pairs import present_pairs
from kdaudit.auditing.acquire import _model_logits
from kdaudit.data.dataset import Dataset, fingerprint
from kdaudit.data.text import TextInputs
from kdaudit.errors import UsageError

__all__ = ["counterfactual_dataset", "counterfactual_text"]


def counterfactual_dataset(
    dataset: Dataset, terms: str
) -> tuple[Dataset, np.ndarray, int, dict[str, Any]]:
    """The data with identity terms swapped, which rows changed, the number of swaps, and provenance."""
    from kdaudit.data.counterfactual_text import TermSwapper

    if not isinstance(dataset.x, TextInputs):
        raise UsageError(
            "--counterfactual-terms needs text data; name the column with --text-column COL.",
            tip="For other inputs, give counterfactual inputs with --counterfactual FILE.npz.",
        )
    swapper = TermSwapper.from_file(terms)
    texts, counts = swapper.swap_all(dataset.x.tolist())
    digest = hashlib.sha256(json.dumps(swapper.pairs).encode()).hexdigest()
    cf = dataclasses.replace(
        dataset,
        x=dataset.x.replace(texts),
        fingerprint=fingerprint(dataset.fingerprint, kind="counterfactual_terms", terms=digest),
    )
    counts_arr = np.asarray(counts, dtype=np.int64)
    info = {"terms": str(terms), "terms_sha256": digest, "n_pairs": len(swapper.pairs)}
    return cf, counts_arr > 0, int(counts_arr.sum()), info


def counterfactual_text(
    dataset: Dataset,
    logits: Mapping[str, Sequence[Any]],
    pairs: Sequence[tuple[str, str]],
    options: Any,
    specs: Mapping[str, Sequence[Any]],
    cache: Any,
) -> dict[str, Any]:
    """The ``counterfactual_text`` block of report.json."""
    from kdaudit.analysis.counterfactual_text import counterfactual_text_fairness

    cf, changed, n_swaps, info = counterfactual_dataset(dataset, str(options.counterfactual_terms))
    probs, probs_cf = {}, {}
    for role, runs in logits.items():
        if specs[role][0].path.lower().endswith((".npy", ".npz")):
            continue  # a logits file cannot be run on new texts
        probs[role] = runs[0].probabilities()
        probs_cf[role] = _model_logits(specs[role][0], cf, options, cache)[0].probabilities()
    usable = [p for p in present_pairs(probs) if p in pairs]
    result = counterfactual_text_fairness(
        probs,
        probs_cf,
        changed,
        sensitive_features=dataset.sensitive_features,
        pairs=usable,
        n_swaps=n_swaps,
        n_bootstrap=options.bootstrap,
        seed=options.seed,
        confidence=options.confidence,
        min_group_size=options.min_group_size,
    ).to_dict()
    result["config"].update(info)
    return result
