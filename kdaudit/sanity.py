"""Checks that stop a confident wrong answer before it is written.

* :func:`preflight` loads every model and runs it on the first rows of the data before
  any full inference, and reports the problems of *all* models in one error (a user
  fixing shapes one model per run wastes an audit per model).
* :func:`input_scale_findings` -- 0-255 (e.g. uint8) inputs reaching a model with no
  scaling, or a preprocessing that disagrees with the scale in the model's training
  manifest.
* :func:`prediction_findings` -- a model at or near chance, or predicting one class.
* :func:`annotate_small_groups` -- the small-group flag per rate: a TPR rests on the
  group's positives and an FPR on its negatives, not on its row count.

Findings are plain dicts ``{check, role, message}``; the audit records them in
report.json (``sanity`` and ``warnings``) and shows them as warnings.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np

from kdaudit.errors import InputDataError, KDAuditError, ModelLoadError, UsageError

__all__ = [
    "annotate_small_groups",
    "input_scale_findings",
    "looks_like_0_255",
    "prediction_findings",
    "preflight",
]

#: rows probed per model by :func:`preflight`
PROBE_ROWS = 2
_SAMPLE_ROWS = 512


def _finding(check: str, role: str, message: str) -> dict[str, Any]:
    return {"check": check, "role": role, "message": message}


# --------------------------------------------------------------------------- preflight
def preflight(
    entries: Sequence[tuple[str, Any]],
    dataset: Any,
    *,
    device: str,
    prepare: Callable[[Any], tuple[Any, dict[str, Any] | None]],
) -> list[dict[str, Any]]:
    """Load and probe every model; raise one error naming every model that cannot run.

    Parameters
    ----------
    entries : sequence of (label, ModelSpec)
        Every model of the audit (all roles, runs and sweep students); ``label`` names it
        in messages, e.g. ``"student run 2"``.
    dataset : Dataset
        Evaluation data; each model runs on its first :data:`PROBE_ROWS` rows (a
        logits file is checked for its row count instead).
    device : str
        Where models are loaded.
    prepare : callable
        ``spec -> (spec, manifest)``: fills a model's preprocessing from its training
        manifest, exactly as the audit will.

    Returns
    -------
    list of dict
        Per model that ran: ``label``, ``spec`` (prepared), ``manifest``, ``input_dtype``
        (numpy dtype of the model's first input, or None), ``logits_file`` (bool).

    Raises
    ------
    InputDataError
        At least one model cannot run on this data (shape, dtype, preprocessing, missing
        file, ...); the message lists every such model. A single problem is re-raised as is.
    ModelLoadError
        Every problem is a model that would not load.
    """
    from kdaudit.models.loader import load_model

    problems: list[tuple[str, KDAuditError]] = []
    facts: list[dict[str, Any]] = []
    for label, spec in entries:
        try:
            prepared, manifest = prepare(spec)
            adapter = load_model(prepared, device=device)
            try:
                if adapter.is_logits_file:
                    rows = adapter.logits().n_samples
                    if rows != dataset.n_samples:
                        raise InputDataError(
                            f"The {adapter.name} gives {rows} rows of logits but the data has "
                            f"{dataset.n_samples} rows.",
                            tip="Logits files must hold one row per data row, in the same order.",
                        )
                else:
                    adapter.predict_batch(dataset.inputs(0, min(PROBE_ROWS, dataset.n_samples)))
                inputs = getattr(adapter, "inputs", None)
                facts.append(
                    {
                        "label": label,
                        "spec": prepared,
                        "manifest": manifest,
                        "logits_file": bool(adapter.is_logits_file),
                        "input_dtype": inputs[0][2] if inputs else None,
                    }
                )
            finally:
                adapter.close()
        except (InputDataError, ModelLoadError, UsageError) as exc:
            problems.append((label, exc))
    if len(problems) == 1:
        raise problems[0][1]
    if problems:
        seen: dict[str, list[str]] = {}
        for where, problem in problems:
            seen.setdefault(str(problem), []).append(where)
        parts = [
            f"({i}) {msg}" + (f" [{', '.join(labels)}]" if len(labels) > 1 else "")
            for i, (msg, labels) in enumerate(seen.items(), 1)
        ]
        tips = list(dict.fromkeys(e.tip for _, e in problems if e.tip))
        cls = (
            ModelLoadError
            if all(isinstance(e, ModelLoadError) for _, e in problems)
            else InputDataError
        )
        raise cls(
            f"{len(problems)} of {len(entries)} models cannot run on this data: " + " ".join(parts),
            tip=" / ".join(tips) or None,
        )
    return facts


# --------------------------------------------------------------------------- input scale
def looks_like_0_255(x: Any) -> bool:
    """True when stored inputs look like raw 8-bit pixels (uint8, or whole numbers up to 255).

    Only image-like inputs count (more than one axis per sample, or at least 64 features):
    a table's columns (ages, counts) are often whole numbers below 256 and are not pixels.
    """
    if x is None or isinstance(x, dict):
        return False
    arr = np.asarray(x[:_SAMPLE_ROWS])
    if arr.size == 0:
        return False
    if arr.dtype == np.uint8:
        return True
    if arr.dtype.kind not in "fiu":
        return False
    image_like = arr.ndim >= 3 or (arr.ndim == 2 and arr.shape[1] >= 64)
    if not image_like:
        return False
    lo, hi = float(arr.min()), float(arr.max())
    return lo >= 0 and 1.5 < hi <= 255 and bool(np.all(arr == np.round(arr)))


def _scale(pre: Any) -> float | None:
    if pre is None:
        return None
    value = pre.get("scale") if isinstance(pre, Mapping) else getattr(pre, "scale", None)
    return None if value is None else float(value)


def _big_std(pre: Any) -> bool:
    """A std in pixel units (ImageNet's 58.4 ...) means the model normalises 0-255 itself."""
    std = (
        None
        if pre is None
        else (pre.get("std") if isinstance(pre, Mapping) else getattr(pre, "std", None))
    )
    if std is None:
        return False
    values = std if isinstance(std, (list, tuple)) else [std]
    return max(float(v) for v in values) > 10


def input_scale_findings(facts: Sequence[Mapping[str, Any]], x: Any) -> list[dict[str, Any]]:
    """Warn where 0-255 inputs reach a model unscaled, or the manifest's scale was overridden.

    Parameters
    ----------
    facts : sequence of dict
        :func:`preflight`'s result.
    x : ndarray or dict or None
        The stored inputs (``dataset.x``).

    Returns
    -------
    list of dict
        One finding per affected model (``check = "input_scale"``).
    """
    raw = looks_like_0_255(x)
    kind = "uint8" if raw and np.asarray(x[:1]).dtype == np.uint8 else "whole numbers in 0-255"
    out = []
    for fact in facts:
        if fact["logits_file"]:
            continue
        dtype = fact.get("input_dtype")
        if dtype is not None and np.dtype(dtype).kind in "iub":
            continue  # the model takes integers: it scales (or embeds) them itself
        pre = fact["spec"].preprocess
        given, trained = _scale(pre), _scale((fact.get("manifest") or {}).get("preprocess"))
        label = fact["label"]
        if trained is not None and not math.isclose(given or 1.0, trained, rel_tol=1e-6):
            out.append(
                _finding(
                    "input_scale",
                    label,
                    f"The {label} model was trained with inputs scaled by {trained:g} (its training "
                    f"manifest) but this audit scales them by {given or 1:g}; its numbers describe "
                    "inputs it never saw. Drop the preprocess you gave to use the manifest's, or "
                    f"add scale = {trained!r}.",
                )
            )
        elif raw and (given is None or given == 1.0) and not _big_std(pre):
            out.append(
                _finding(
                    "input_scale",
                    label,
                    f"The data's inputs are {kind} and the {label} model gets them unscaled (no "
                    "'scale' in its preprocess). A model trained on inputs in [0, 1] then sees "
                    "values 255 times too large and its accuracy and fairness numbers are wrong; "
                    f"if so, pass --{fact['spec'].role}-preprocess 'scale = 0.00392156862745098' "
                    "(1/255).",
                )
            )
    return out


# --------------------------------------------------------------------------- predictions
def prediction_findings(
    y_true: np.ndarray,
    predictions: Mapping[str, Sequence[np.ndarray]],
    n_classes: int,
    *,
    class_names: Sequence[str] | None = None,
) -> list[dict[str, Any]]:
    """Warn about models at or near chance and models that predict (almost) one class.

    Chance is the better of always predicting the most common class and guessing
    uniformly. A model is "near chance" when its accuracy is below chance plus two
    binomial standard errors (at least 1 percentage point).

    Parameters
    ----------
    y_true : ndarray of shape (n_samples,)
    predictions : mapping of role -> list of ndarray of shape (n_samples,)
        Predicted classes of every run of every role.
    n_classes : int
    class_names : sequence of str, optional
        Names shown in messages.

    Returns
    -------
    list of dict
        Findings with ``check`` ``"near_chance"`` or ``"one_class"``.
    """
    y = np.asarray(y_true)
    n = y.shape[0]
    if n == 0:
        return []
    counts = np.bincount(y, minlength=n_classes)
    majority = int(counts.argmax())
    chance = max(1.0 / n_classes, counts[majority] / n)
    margin = max(0.01, 2 * math.sqrt(chance * (1 - chance) / n))

    def name(k: int) -> str:
        return (
            repr(str(class_names[k]))
            if class_names is not None and k < len(class_names)
            else str(k)
        )

    out = []
    for role, runs in predictions.items():
        for i, pred in enumerate(runs):
            label = role if len(runs) == 1 else f"{role} (run {i + 1})"
            acc = float(np.mean(pred == y))
            share = np.bincount(pred, minlength=n_classes) / n
            top = int(share.argmax())
            if share[top] == 1.0:
                out.append(
                    _finding(
                        "one_class",
                        label,
                        f"The {label} model predicts class {name(top)} for every row; its "
                        "fairness numbers say nothing about how it treats groups. Check its "
                        "preprocessing and outputs.",
                    )
                )
            elif share[top] >= 0.98 and counts[top] / n < 0.9:
                out.append(
                    _finding(
                        "one_class",
                        label,
                        f"The {label} model predicts class {name(top)} for {share[top]:.1%} of rows "
                        f"(the data has {counts[top] / n:.1%} of them); check its preprocessing.",
                    )
                )
            if acc <= chance + margin and share[top] < 1.0:  # one class: said above
                out.append(
                    _finding(
                        "near_chance",
                        label,
                        f"The {label} model's accuracy ({acc:.1%}) is at or near chance for this "
                        f"data ({chance:.1%}: always predicting class {name(majority)} or guessing); "
                        "an audit of it measures noise. Check its preprocessing (scale, layout, "
                        "mean/std) and that labels follow the model's class order.",
                    )
                )
    return out


# --------------------------------------------------------------------------- small groups
def annotate_small_groups(
    block: dict[str, Any],
    y_true: np.ndarray,
    groups: np.ndarray,
    *,
    min_group_size: int,
) -> list[str]:
    """Add ``n_positive``, ``n_negative`` and ``small_for`` to every by_group row (binary tasks).

    A selection rate and an accuracy rest on the group's rows, a TPR on its positives and
    an FPR on its negatives; each is flagged when that count is below ``min_group_size``.
    The attribute block gains ``groups_flagged_rates``: ``{group, n, n_positive,
    n_negative, rates}`` per group with at least one flagged rate.

    Parameters
    ----------
    block : dict
        One attribute of report.json ``group_fairness`` (changed in place).
    y_true : ndarray of shape (n_samples,)
    groups : ndarray of shape (n_samples,)
        The attribute's group labels (codes + names, or values whose strings are the names in ``by_group``).
    min_group_size : int

    Returns
    -------
    list of str
        Warnings for groups whose TPR or FPR rests on fewer than ``min_group_size``
        samples although the group itself is large enough.
    """
    if block.get("task") != "binary" or block.get("positive_label") is None:
        return []
    from kdaudit.analysis.stats import factorize_labels

    y = np.asarray(y_true)
    # integer codes, one pass: no fixed-width string copy of the labels, no loop over groups
    names, codes = factorize_labels(groups)
    pos = y == int(block["positive_label"])
    n_rows = np.bincount(codes, minlength=len(names))
    n_posv = np.bincount(codes, weights=pos, minlength=len(names)).astype(np.int64)
    stats: dict[str, tuple[int, int, int]] = {
        str(name): (int(n), int(p), int(n - p))
        for name, n, p in zip(names, n_rows, n_posv, strict=True)
    }
    flagged: dict[str, dict[str, Any]] = {}
    for _role, rb in block.items():
        if not isinstance(rb, dict) or "by_group" not in rb:
            continue
        for row in rb["by_group"]:
            n, n_pos, n_neg = stats.get(row["group"], (row["n"], 0, 0))
            small_for = {
                "selection_rate": n < min_group_size,
                "accuracy": n < min_group_size,
                "tpr": n_pos < min_group_size,
                "fpr": n_neg < min_group_size,
            }
            row.update(n_positive=n_pos, n_negative=n_neg, small_for=small_for)
            rates = [k for k, v in small_for.items() if v]
            if rates:
                flagged[row["group"]] = {
                    "group": row["group"],
                    "n": n,
                    "n_positive": n_pos,
                    "n_negative": n_neg,
                    "rates": rates,
                }
    block["groups_flagged_rates"] = [flagged[k] for k in sorted(flagged)]
    warnings = []
    for rec in block["groups_flagged_rates"]:
        if rec["n"] < min_group_size:
            continue  # already warned about (and flagged) by its size
        parts = [
            f"{rec['n_positive']} positives (TPR)" if "tpr" in rec["rates"] else "",
            f"{rec['n_negative']} negatives (FPR)" if "fpr" in rec["rates"] else "",
        ]
        warnings.append(
            f"Group {rec['group']!r} has {rec['n']} rows but only "
            + " and ".join(p for p in parts if p)
            + f", fewer than {min_group_size}: its rate(s) and the equalized odds difference "
            "resting on them are noisy."
        )
    return warnings
