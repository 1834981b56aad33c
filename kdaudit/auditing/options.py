"""Every choice an audit makes (:class:`AuditOptions`), checked when it is made."""

from __future__ import annotations

import dataclasses
from typing import Any

from kdaudit.errors import UsageError
from kdaudit.vocab import ANALYSES, CORRECTIONS, DEVICES, DISTANCES

__all__ = ["ANALYSES", "MAX_BOOTSTRAP", "AuditOptions"]

#: replicates beyond this only cost time (the CI's Monte Carlo error is already negligible)
MAX_BOOTSTRAP = 100_000


@dataclasses.dataclass(frozen=True, kw_only=True)
class AuditOptions:
    """Every choice an audit makes; all of them are written into report.json's ``config``."""

    alpha: float = 0.05
    correction: str = "fdr_bh"
    bootstrap: int = 1000
    seed: int = 0
    confidence: float = 0.95
    min_group_size: int = 30
    max_groups: int = 1000
    positive_label: int | None = None
    intersectional: bool = False
    knn_k: int = 5
    anchors: int | None = None
    distance: str = "auto"
    space: str = "auto"
    embedding: str | None = None
    embedding_model: str | None = None
    counterfactual: str | None = None
    counterfactual_terms: str | None = None
    device: str = "auto"
    batch_size: int | None = None
    cache_dir: str | None = None
    use_cache: bool = True
    skip: frozenset[str] = frozenset()
    progress: bool = False
    trust_code: bool = False
    class_names: tuple[str, ...] | None = None

    def __post_init__(self) -> None:
        if self.class_names is not None:
            if isinstance(self.class_names, str):
                raise UsageError(
                    "class_names must be a list of names, one per class; got a string."
                )
            object.__setattr__(self, "class_names", tuple(str(c) for c in self.class_names))
        if not 0.0 < self.alpha < 1.0:
            raise UsageError(f"--alpha must be between 0 and 1; got {self.alpha}.")
        if self.correction not in CORRECTIONS:
            raise UsageError(
                f"Unknown --correction {self.correction!r}; choose one of {', '.join(CORRECTIONS)}."
            )
        if self.seed < 0:
            raise UsageError(f"--seed must be >= 0; got {self.seed}.")
        if (
            isinstance(self.max_groups, bool)
            or not isinstance(self.max_groups, int)
            or self.max_groups < 1
        ):
            raise UsageError(f"max_groups must be a positive integer; got {self.max_groups!r}.")
        if self.min_group_size < 0:
            raise UsageError(f"--min-group-size must be >= 0; got {self.min_group_size}.")
        if self.bootstrap < 0:
            raise UsageError(f"--bootstrap must be >= 0; got {self.bootstrap}.")
        if self.bootstrap > MAX_BOOTSTRAP:
            raise UsageError(
                f"--bootstrap must be at most {MAX_BOOTSTRAP}; got {self.bootstrap}.",
                tip="A few thousand replicates give stable 95% intervals.",
            )
        if not 0.5 <= self.confidence < 1.0:
            raise UsageError(f"confidence must be in [0.5, 1); got {self.confidence}.")
        if self.batch_size is not None and self.batch_size <= 0:
            raise UsageError(f"--batch-size must be a positive integer; got {self.batch_size}.")
        if self.device not in DEVICES:
            raise UsageError(f"--device must be auto, cpu or cuda; got {self.device!r}.")
        if self.knn_k < 1:
            raise UsageError(f"k for nearest neighbours must be >= 1; got {self.knn_k}.")
        if self.anchors is not None and (isinstance(self.anchors, bool) or self.anchors < 0):
            raise UsageError(
                f"anchors must be an integer >= 0 (0: exact, all rows); got {self.anchors!r}."
            )
        if self.distance not in DISTANCES:
            raise UsageError(f"distance must be euclidean, cosine or auto; got {self.distance!r}.")
        unknown = set(self.skip) - set(ANALYSES)
        if unknown:
            raise UsageError(
                f"Unknown analysis in --skip: {', '.join(sorted(unknown))}; "
                f"choose from {', '.join(ANALYSES)}."
            )

    def to_config(self) -> dict[str, Any]:
        cfg = dataclasses.asdict(self)
        cfg["skip"] = sorted(self.skip)
        cfg["class_names"] = None if self.class_names is None else list(self.class_names)
        cfg.pop("progress")
        return cfg
