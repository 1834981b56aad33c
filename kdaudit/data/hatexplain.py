"""HateXplain (Mathew et al., AAAI 2021) as text data, read from a local file.

``hatexplain:PATH`` reads one of the processed split files (``df_test_processed.csv``,
``df_val_processed.csv``: the Hugging Face ``hatexplain`` records, see
``shared/data/README.md``). Nothing is downloaded.

* text: ``' '.join(post_tokens)`` (the original tokens; placeholders like ``<user>`` kept);
* label: the majority of the 3 annotators' labels, coded as upstream
  (0 hatespeech, 1 normal, 2 offensive); posts without a majority are dropped;
* ``target``: the communities that at least 2 of the 3 annotators chose (upstream's
  ``Bias_Calculation_NB`` rule), ``None`` and ``Other`` left out. It is a list column, so
  it becomes one yes/no attribute per community (``target:Women``...) with at least 30
  posts, or the ones named (``--sensitive target:Women``).
"""

from __future__ import annotations

import ast
from collections import Counter
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from kdaudit.data.dataset import Dataset, fingerprint
from kdaudit.data.text import TextInputs, expand_multilabel, split_sensitive_names
from kdaudit.errors import InputDataError, UsageError
from kdaudit.hashing import file_sha256

__all__ = [
    "CLASS_NAMES",
    "EXCLUDED_TARGETS",
    "MIN_GROUP_SIZE",
    "load_hatexplain",
    "read_hatexplain",
]

CLASS_NAMES = ["hatespeech", "normal", "offensive"]
EXCLUDED_TARGETS = frozenset({"None", "Other"})
MIN_GROUP_SIZE = 30


def read_hatexplain(path: str | Path) -> dict[str, Any]:
    """Texts, majority labels and >= 2-of-3 target lists of one processed split file.

    Returns a dict with ``ids``, ``texts`` (list of str), ``y`` (int64 array), ``targets``
    (list of lists) and ``n_dropped`` (posts without a majority label).
    """
    import pandas as pd

    p = Path(path)
    if not p.is_file():
        raise InputDataError(
            f"HateXplain file {str(path)!r} does not exist.",
            tip="Give df_test_processed.csv or df_val_processed.csv (hatexplain:PATH).",
        )
    try:
        df = pd.read_csv(p)
    except Exception as exc:  # pandas raises many types
        raise InputDataError(f"Could not read HateXplain file {str(path)!r}: {exc}") from exc
    missing = {"id", "annotators", "post_tokens"} - set(df.columns)
    if missing:
        raise InputDataError(
            f"{str(path)!r} does not look like a processed HateXplain split "
            f"(no {sorted(missing)} columns)."
        )
    ids, texts, ys, targets = [], [], [], []
    dropped = 0
    for pid, ann_text, tokens_text in zip(
        df["id"], df["annotators"], df["post_tokens"], strict=True
    ):
        try:
            ann = ast.literal_eval(ann_text)
            tokens = ast.literal_eval(tokens_text)
        except (ValueError, SyntaxError) as exc:
            raise InputDataError(
                f"Post {pid!r} in {str(path)!r} has unreadable annotations: {exc}"
            ) from exc
        label, votes = Counter(ann["label"]).most_common(1)[0]
        if votes < 2:
            dropped += 1
            continue
        chosen = Counter(t for per in ann["target"] for t in set(per))
        ids.append(str(pid))
        texts.append(" ".join(str(t) for t in tokens))
        ys.append(int(label))
        targets.append(sorted(t for t, c in chosen.items() if c >= 2 and t not in EXCLUDED_TARGETS))
    return {
        "ids": ids,
        "texts": texts,
        "y": np.asarray(ys, dtype=np.int64),
        "targets": targets,
        "n_dropped": dropped,
    }


def load_hatexplain(arg: str | None, sensitive: Sequence[str] | None) -> Dataset:
    """``hatexplain:PATH``: one processed split file as text data with ``target:*`` attributes."""
    if not arg:
        raise UsageError("hatexplain needs a file: hatexplain:PATH/df_test_processed.csv.")
    data = read_hatexplain(arg)
    names = split_sensitive_names(list(sensitive) if sensitive else ["target"], ["target"])
    if any(col != "target" for col, _ in names):
        raise UsageError("HateXplain's sensitive attribute is 'target' (or 'target:COMMUNITY').")
    members = None if any(m is None for _, m in names) else [m for _, m in names if m is not None]
    sens = expand_multilabel(
        data["targets"], "target", members=members, min_group_size=MIN_GROUP_SIZE
    )
    sha = file_sha256(arg)
    return Dataset(
        y_true=data["y"],
        x=TextInputs(np.array(data["texts"], dtype=object), "post_tokens"),
        sensitive_features=sens,
        path=f"hatexplain:{arg}",
        sha256=sha,
        fingerprint=fingerprint(sha, kind="hatexplain", version=1),
        label="majority label",
        extras={
            "class_names": list(CLASS_NAMES),
            "ids": data["ids"],
            "n_dropped": data["n_dropped"],
        },
    )
