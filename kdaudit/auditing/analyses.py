"""The analyses of one audit: each analyzer of :mod:`kdaudit.analysis` called with the audit's options.

Pure wiring: the statistics live in the analyzers; this module decides which
analyses run (``--skip``, what the data allows) and says why one is skipped.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from kdaudit.analysis.pairs import present_pairs
from kdaudit.arrays import LogitArray
from kdaudit.auditing.acquire import _counterfactual_logits
from kdaudit.auditing.checks import _n_groups
from kdaudit.auditing.options import AuditOptions
from kdaudit.data.dataset import Dataset
from kdaudit.errors import InputDataError, UsageError


def _analyse(
    dataset: Dataset,
    logits: Mapping[str, Sequence[LogitArray]],
    preds: Mapping[str, list[np.ndarray]],
    n_classes: int,
    options: AuditOptions,
    *,
    specs: Mapping[str, Sequence[Any]],
    cache: Any,
    graph: Any,
) -> dict[str, Any]:
    pairs = present_pairs(logits)
    first = {role: runs[0] for role, runs in preds.items()}
    out: dict[str, Any] = {"skipped": {}, "warnings": []}
    out.update(_accuracy(dataset, first, pairs, options))

    if "class_shift" in options.skip:
        out["skipped"]["class_shift"] = "skipped with --skip"
    else:
        out["class_shift"] = _class_shift(dataset, preds, n_classes, pairs, options)

    if "group_fairness" in options.skip:
        out["skipped"]["group_fairness"] = "skipped with --skip"
    elif not dataset.sensitive_features:
        out["skipped"]["group_fairness"] = "no sensitive attribute given (--sensitive)"
    else:
        out["group_fairness"] = _group_fairness(dataset, first, n_classes, pairs, options)

    if graph is None:
        out["skipped"]["individual_fairness"] = _individual_fairness_skip_reason(dataset, options)
    else:
        out["individual_fairness"] = _individual_fairness(
            dataset, logits, first, pairs, options, specs=specs, cache=cache, graph=graph
        )

    if options.counterfactual_terms is not None and "individual_fairness" not in options.skip:
        from kdaudit.auditing.text import counterfactual_text

        out["counterfactual_text"] = counterfactual_text(
            dataset, logits, pairs, options, specs, cache
        )

    if "robustness" in options.skip:
        out["skipped"]["robustness"] = "skipped with --skip"
    elif dataset.split is None and not dataset.sensitive_features:
        out["skipped"]["robustness"] = "the data has no 'split' array and no sensitive attribute"
    else:
        out["robustness"] = _robustness(dataset, first, pairs, options)
    return out


def _accuracy(
    dataset: Dataset,
    first: Mapping[str, np.ndarray],
    pairs: Sequence[tuple[str, str]],
    options: AuditOptions,
) -> dict[str, Any]:
    from kdaudit.analysis.accuracy import accuracy_analysis

    acc = accuracy_analysis(
        dataset.y_true,
        first,
        pairs=pairs,
        n_bootstrap=options.bootstrap,
        seed=options.seed,
        confidence=options.confidence,
    ).to_dict()
    return {"accuracy": acc["accuracy"], "accuracy_delta": acc["accuracy_delta"]}


def _class_shift(
    dataset: Dataset,
    preds: Mapping[str, list[np.ndarray]],
    n_classes: int,
    pairs: Sequence[tuple[str, str]],
    options: AuditOptions,
) -> dict[str, Any]:
    """Per pair: Welch's t-test over runs when both sides have several, else McNemar's."""
    from kdaudit.analysis.class_shift import class_shift, class_shift_multirun

    y = dataset.y_true
    shift: dict[str, Any] = {}
    for a, b in pairs:
        if len(preds[a]) >= 2 and len(preds[b]) >= 2:
            res = class_shift_multirun(
                y,
                preds[a],
                preds[b],
                n_classes=n_classes,
                alpha=options.alpha,
                correction=options.correction,
            )
        else:
            res = class_shift(
                y,
                preds[a][0],
                preds[b][0],
                n_classes=n_classes,
                alpha=options.alpha,
                correction=options.correction,
            )
        shift[f"{a}_vs_{b}"] = res.to_dict()
    return shift


def _robustness(
    dataset: Dataset,
    first: Mapping[str, np.ndarray],
    pairs: Sequence[tuple[str, str]],
    options: AuditOptions,
) -> dict[str, Any]:
    from kdaudit.analysis.robustness import robustness

    # the first sensitive attribute is the bias attribute (per-bias-type runs: one audit each)
    attr_name, attr = next(iter(dataset.sensitive_features.items()), ("", None))
    return robustness(
        dataset.y_true,
        first,
        split=dataset.split,
        bias_attribute=attr,
        attribute_name=attr_name,
        pairs=pairs,
        n_bootstrap=options.bootstrap,
        seed=options.seed,
        confidence=options.confidence,
        min_group_size=options.min_group_size,
    ).to_dict()


def _group_fairness(
    dataset: Dataset,
    predictions: Mapping[str, np.ndarray],
    n_classes: int,
    pairs: Sequence[tuple[str, str]],
    options: AuditOptions,
    *,
    n_bootstrap: int | None = None,
) -> dict[str, Any]:
    from kdaudit.analysis.group_fairness import group_fairness, intersectional_groups

    attributes = dict(dataset.sensitive_features)
    if options.intersectional and len(attributes) >= 2:
        combined = intersectional_groups(dataset.sensitive_features)
        if _n_groups(combined) > options.max_groups:
            raise InputDataError(
                f"The intersection {'+'.join(attributes)!r} has {_n_groups(combined)} groups, more "
                f"than --max-groups {options.max_groups}.",
                tip="Drop --intersectional, use fewer attributes, or raise --max-groups.",
            )
        attributes["+".join(attributes)] = combined
    result = {}
    for name, groups in attributes.items():
        result[name] = group_fairness(
            dataset.y_true,
            predictions,
            groups,
            n_classes=n_classes,
            pairs=pairs,
            positive_label=options.positive_label,
            n_bootstrap=options.bootstrap if n_bootstrap is None else n_bootstrap,
            seed=options.seed,
            confidence=options.confidence,
            min_group_size=options.min_group_size,
        ).to_dict()
    return result


def _individual_fairness_skip_reason(dataset: Dataset, options: AuditOptions) -> str | None:
    if "individual_fairness" in options.skip:
        return "skipped with --skip"
    has_embedding = options.embedding is not None or "embedding" in dataset.extras
    if not dataset.has_inputs and not has_embedding:
        return (
            "the data has no inputs ('x') and no embedding was given, so no neighbours can be found"
        )
    from kdaudit.data.text import TextInputs

    if isinstance(dataset.x, TextInputs) and not has_embedding and not options.embedding_model:
        return (
            "the data is text, so no input space defines similarity; pass --embedding FILE.npy "
            "or --embedding-model ROLE (that model's pooled hidden state)"
        )
    if isinstance(dataset.x, dict) and not has_embedding:
        return (
            "the model takes several inputs (x_<name> arrays), so no input space defines "
            "similarity; pass --embedding FILE.npy (one row per sample) to compare neighbours there"
        )
    return None


def _knn(
    dataset: Dataset, options: AuditOptions, models: Mapping[str, Sequence[Any]] | None = None
) -> Any:
    """The one neighbour graph of an audit, shared by every model and the sweep."""
    from kdaudit.analysis.individual_fairness import DEFAULT_SPARE
    from kdaudit.analysis.neighbors import knn_graph, representation

    embedding = None
    if options.embedding_model is not None and options.embedding is None:
        from kdaudit.models.loader import model_embedding

        embedding = model_embedding(
            dataset, options.embedding_model, models or {}, device=options.device
        )
    elif options.embedding is not None:
        from kdaudit.data.dataset import load_arrays

        if not Path(options.embedding).suffix.lower() == ".npy":
            raise InputDataError(f"The embedding {options.embedding!r} must be a .npy file.")
        embedding = load_arrays(options.embedding, "embedding")["arr_0"]
    elif "embedding" in dataset.extras:
        embedding = dataset.extras["embedding"]
    if embedding is not None and (embedding.ndim != 2 or embedding.dtype.kind not in "fiub"):
        raise InputDataError(
            f"The embedding {options.embedding or 'array of the data'!r} must be a numeric "
            f"(n_samples, n_features) array; got {embedding.dtype} of shape {embedding.shape}."
        )
    if embedding is not None and embedding.shape[0] != dataset.n_samples:
        raise InputDataError(
            f"The embedding has {embedding.shape[0]} rows but the data has {dataset.n_samples}."
        )
    x = (
        None
        if isinstance(dataset.x, dict) or not isinstance(dataset.x, np.ndarray | None)
        else dataset.x
    )  # multi-input and text data need an embedding
    space = "embedding" if embedding is not None else options.space
    rep = representation(x, space=space, embedding=embedding)
    if space == "auto":
        space = "standardized" if x is not None and x.ndim == 2 else "flat"
    metric = options.distance
    if metric == "auto":  # cosine for text representations, euclidean otherwise
        from kdaudit.data.text import TextInputs

        metric = "cosine" if isinstance(dataset.x, TextInputs) else "euclidean"
    from kdaudit.analysis.anchored import AnchorPlan, use_anchors
    from kdaudit.analysis.ann import choose_graph

    n_anchors = use_anchors(rep.shape[0], options.anchors)
    if n_anchors is not None:  # large data (or --anchors): a hash-drawn anchor subsample
        return AnchorPlan(rep=rep, k=options.knn_k, metric=metric, space=space, n_anchors=n_anchors)
    # exact where it is fast enough (with the spares the jackknife rebuilds from), else HNSW
    return choose_graph(
        rep,
        k=options.knn_k,
        metric=metric,
        space=space,
        seed=options.seed,
        exact=functools.partial(knn_graph, spare=DEFAULT_SPARE),
    )


def _individual_fairness(
    dataset: Dataset,
    logits: Mapping[str, Sequence[LogitArray]],
    predictions: Mapping[str, np.ndarray],
    pairs: Sequence[tuple[str, str]],
    options: AuditOptions,
    *,
    specs: Mapping[str, Sequence[Any]],
    cache: Any,
    graph: Any,
) -> dict[str, Any]:
    from kdaudit.analysis.anchored import AnchorPlan
    from kdaudit.analysis.individual_fairness import individual_fairness

    if isinstance(graph, AnchorPlan):
        if options.counterfactual is not None:
            raise UsageError(
                "--counterfactual needs the exact all-rows neighbour graph, not anchors.",
                tip="Pass --anchors 0 (exact), or drop --counterfactual.",
            )
        return graph.evaluate(
            {role: runs[0] for role, runs in logits.items()},
            predictions=predictions,
            seed=options.seed,
            confidence=options.confidence,
            pairs=pairs,
        )
    counterfactual = None
    if options.counterfactual is not None:
        counterfactual = _counterfactual_logits(dataset, options, specs, cache)
    first_sensitive = next(iter(dataset.sensitive_features.values()), None)
    result = individual_fairness(
        graph,
        {role: runs[0] for role, runs in logits.items()},
        predictions=predictions,
        counterfactual=counterfactual,
        sensitive_features=first_sensitive,
        n_bootstrap=options.bootstrap,
        seed=options.seed,
        confidence=options.confidence,
        pairs=pairs,
    ).to_dict()
    if getattr(graph, "ann", None):  # approximate neighbours: say how close to exact
        result["config"]["neighbors"] = {"method": "approximate", **graph.ann}
    return result
