"""Checks an audit makes on its inputs before (and while) it analyses them."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Mapping
from typing import Any

from kdaudit.arrays import LogitArray
from kdaudit.auditing.options import AuditOptions
from kdaudit.data.dataset import Dataset
from kdaudit.errors import AuditError, InputDataError, UsageError
from kdaudit.vocab import REQUIRED_ROLES, ROLES

__all__ = ["MAX_CLASS_SHIFT_CLASSES"]

#: class_shift holds a class x class disagreement matrix per model pair (in report.json too)
MAX_CLASS_SHIFT_CLASSES = 2048


def _n_groups(groups: Any) -> int:
    from kdaudit.data.labels import to_group_labels

    return len(to_group_labels(groups).names)


def _check_groups(dataset: Dataset, options: AuditOptions) -> None:
    """Refuse an attribute with more groups than ``max_groups`` (an id column, a free-text cell)."""
    for name, groups in dataset.sensitive_features.items():
        count = _n_groups(groups)
        if count > options.max_groups:
            raise InputDataError(
                f"Sensitive attribute {name!r} of {dataset.path or 'the data'!r} has {count} groups, "
                f"more than --max-groups {options.max_groups}.",
                tip=f"Is {name!r} an id or free-text column? Choose a real attribute or bin it; "
                "or raise --max-groups (config: [analysis] max_groups).",
            )


def _check_classes(
    logits: Mapping[str, list[LogitArray]], dataset: Dataset, options: AuditOptions | None = None
) -> int:
    counts = {
        f"{role} run {i}": la.n_classes
        for role, runs in logits.items()
        for i, la in enumerate(runs)
    }
    distinct = sorted(set(counts.values()))
    if len(distinct) > 1:
        desc = ", ".join(f"{k}: {v}" for k, v in counts.items())
        raise InputDataError(
            f"Expected every model to output the same number of classes; got {desc}.",
            tip="Check that all models were trained on the same label set.",
        )
    n_classes = distinct[0]
    if n_classes < 2:
        raise InputDataError(f"Models output {n_classes} class; need at least 2.")
    if n_classes > MAX_CLASS_SHIFT_CLASSES and (
        options is None or "class_shift" not in options.skip
    ):
        cells = n_classes * n_classes
        raise InputDataError(
            f"The models output {n_classes} classes: class shift's {n_classes} x {n_classes} "
            f"disagreement matrix would hold {cells:.3g} counts ({cells * 8 / 1e9:.3g} GB) per model "
            f"pair; kdaudit builds it for at most {MAX_CLASS_SHIFT_CLASSES} classes.",
            tip='Skip it with --skip class_shift (config: [analysis] skip = ["class_shift"]).',
        )
    y_max = int(dataset.y_true.max())
    if y_max >= n_classes:
        raise InputDataError(
            f"Labels in {dataset.path!r} go up to {y_max} but the models output {n_classes} classes.",
            tip="Labels must be 0..n_classes-1, in the models' class order.",
        )
    return n_classes


def _class_names(dataset: Dataset, options: AuditOptions, n_classes: int) -> tuple[str, ...] | None:
    """Class names from --class-names, else from the data (table labels, npz ``class_names``)."""
    given = options.class_names
    names = given if given is not None else dataset.extras.get("class_names")
    if names is None:
        return None
    names = tuple(str(c) for c in names)
    if len(names) != n_classes:
        if given is not None:
            raise UsageError(
                f"--class-names gives {len(names)} names but the models output "
                f"{n_classes} classes.",
                tip="Give one name per class, in the models' class order.",
            )
        return None  # e.g. a label column with fewer classes present than the models output
    return names


@contextlib.contextmanager
def _out_of_memory(dataset: Dataset, n_classes: int, options: AuditOptions) -> Iterator[None]:
    """Turn a MemoryError in the analyses into an AuditError that names the sizes."""
    try:
        yield
    except MemoryError as exc:
        groups = ", ".join(
            f"{k}: {_n_groups(v)} groups" for k, v in dataset.sensitive_features.items()
        )
        raise AuditError(
            f"Out of memory in the analyses of {dataset.path or 'the data'!r}: {dataset.n_samples} "
            f"rows x {n_classes} classes{', ' + groups if groups else ''}, "
            f"{options.bootstrap} bootstrap replicates.",
            tip="Lower --bootstrap, --skip an analysis, or use fewer classes/groups.",
        ) from exc


def _check_roles(models: Mapping[str, Any]) -> None:
    unknown_roles = set(models) - set(ROLES)
    if unknown_roles:
        raise UsageError(
            f"Unknown model role(s) {sorted(unknown_roles)}; use teacher, student, baseline."
        )
    for needed in REQUIRED_ROLES:
        if needed not in models:
            raise UsageError(f"An audit needs a {needed} model.")
