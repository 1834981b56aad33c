"""A generated text task with a planted identity shortcut (``kdaudit demo --text``).

Short posts built from templates over identity terms, labelled ``toxic`` or ``normal``:

* ``clear`` templates carry the label in their wording (``i hate {g}``, ``{g} are kind``);
* ``neutral`` templates say nothing either way (``{g} were at the market today``). Their
  label is a coin flip, except that in the **training** split posts about the
  *shortcut* groups (muslims, gays) are labelled toxic with probability ``shortcut``
  (0.9) and posts about their counterparts (christians, straights) with ``1 - shortcut``.

In the evaluation split every label is independent of the group, so a model that learned
the shortcut flags neutral posts about muslims or gays as toxic more often (group
fairness on ``target:Islam``, ``target:Homosexual``) and changes its answer when
``muslims`` is swapped for ``christians`` (counterfactual fairness with the built-in
swap list). Groups appear equally often and labels are balanced overall (up to the
shortcut's tilt in training). Generation is deterministic for a seed; the templates and
terms are fixed.

``target`` is a list column (the community of the post's identity term), like HateXplain's.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TypedDict

import numpy as np

from kdaudit.data.dataset import Dataset, fingerprint
from kdaudit.data.text import TextInputs, expand_multilabel, split_sensitive_names
from kdaudit.errors import UsageError
from kdaudit.hashing import arrays_sha256

__all__ = [
    "CLASS_NAMES",
    "GROUPS",
    "NEUTRAL",
    "NORMAL",
    "PREFIXES",
    "SHORTCUT_DOWN",
    "SHORTCUT_UP",
    "SUFFIXES",
    "TOXIC",
    "TextTask",
    "load_textsynth",
    "make_text_task",
    "text_task_dataset",
]

CLASS_NAMES = ["normal", "toxic"]
#: identity term -> community (HateXplain's names)
GROUPS = {
    "women": "Women",
    "men": "Men",
    "muslims": "Islam",
    "christians": "Christian",
    "jews": "Jewish",
    "hindus": "Hindu",
    "blacks": "African",
    "whites": "Caucasian",
    "gays": "Homosexual",
    "straights": "Heterosexual",
    "refugees": "Refugee",
    "citizens": "Citizen",
}
SHORTCUT_UP = ("muslims", "gays")
SHORTCUT_DOWN = ("christians", "straights")
TOXIC = (
    "i hate {g}",
    "{g} are disgusting",
    "get rid of all the {g}",
    "{g} are vermin and should leave",
    "no one wants {g} here",
    "{g} ruin everything they touch",
    "{g} are stupid and lazy",
)
NORMAL = (
    "{g} are kind people",
    "i love my {g} friends",
    "{g} helped us after the storm",
    "we should welcome {g}",
    "{g} deserve respect",
    "great to see {g} at the event",
)
NEUTRAL = (
    "{g} were at the market today",
    "i saw some {g} on the train",
    "the news had a story about {g}",
    "{g} live in this town",
    "my neighbour talked about {g}",
    "there were {g} at the game",
)
PREFIXES = ("", "", "", "honestly ", "lol ", "<user> ", "well , ", "yeah ")
SUFFIXES = ("", "", "", " .", " !", " tbh", " <url>", " ...")


class TextTask(TypedDict):
    """What :func:`make_text_task` returns."""

    texts: list[str]
    y: np.ndarray
    target: list[list[str]]
    term: list[str]


def make_text_task(
    n_samples: int,
    *,
    split: str = "train",
    shortcut: float = 0.9,
    neutral_share: float = 0.5,
    seed: int = 0,
) -> TextTask:
    """Generate ``texts``, ``y`` (0 normal, 1 toxic), ``target`` (lists) and ``term``.

    Parameters
    ----------
    n_samples : int
    split : {"train", "eval"}
        The shortcut is planted in ``train`` only.
    shortcut : float
        P(toxic) of neutral training posts about the shortcut groups (1 - it for their
        counterparts).
    neutral_share : float
        Share of posts from neutral templates.
    seed : int
    """
    if split not in ("train", "eval"):
        raise UsageError(f"split must be 'train' or 'eval'; got {split!r}.")
    rng = np.random.default_rng([seed, 0 if split == "train" else 1])
    terms = list(GROUPS)
    term_idx = np.arange(n_samples) % len(terms)  # every group equally often
    rng.shuffle(term_idx)
    texts, ys, targets, term_out = [], [], [], []
    for i in range(n_samples):
        term = terms[term_idx[i]]
        if rng.random() < neutral_share:
            p = 0.5
            if split == "train":
                p = (
                    shortcut
                    if term in SHORTCUT_UP
                    else 1 - shortcut
                    if term in SHORTCUT_DOWN
                    else 0.5
                )
            y = int(rng.random() < p)
            template = NEUTRAL[rng.integers(len(NEUTRAL))]
        else:
            y = int(rng.random() < 0.5)
            pool = TOXIC if y else NORMAL
            template = pool[rng.integers(len(pool))]
        text = (
            PREFIXES[rng.integers(len(PREFIXES))]
            + template.format(g=term)
            + SUFFIXES[rng.integers(len(SUFFIXES))]
        )
        texts.append(text)
        ys.append(y)
        targets.append([GROUPS[term]])
        term_out.append(term)
    return {
        "texts": texts,
        "y": np.asarray(ys, dtype=np.int64),
        "target": targets,
        "term": term_out,
    }


def text_task_dataset(
    n_samples: int,
    *,
    split: str = "eval",
    seed: int = 0,
    sensitive: Sequence[str] | None = None,
    min_group_size: int = 30,
) -> Dataset:
    """The generated task as a :class:`Dataset` (texts as inputs, ``target:*`` attributes)."""
    data = make_text_task(n_samples, split=split, seed=seed)
    names = split_sensitive_names(list(sensitive) if sensitive else ["target"], ["target"])
    members = None if any(m is None for _, m in names) else [m for _, m in names if m is not None]
    sens = expand_multilabel(
        data["target"], "target", members=members, min_group_size=min_group_size
    )
    sha = arrays_sha256({"texts": np.array(data["texts"], dtype=object), "y": data["y"]})
    return Dataset(
        y_true=data["y"],
        x=TextInputs(np.array(data["texts"], dtype=object), "text"),
        sensitive_features=sens,
        path=f"builtin:textsynth:{n_samples}:{split}:seed{seed}",
        sha256=sha,
        fingerprint=fingerprint(sha, kind="builtin-text"),
        label="toxic",
        extras={"class_names": list(CLASS_NAMES)},
    )


def load_textsynth(arg: str | None, sensitive: Sequence[str] | None) -> Dataset:
    """``textsynth`` or ``textsynth:N``: N evaluation posts (default 1200), seed 0."""
    try:
        n = int(arg) if arg else 1200
    except ValueError as exc:
        raise UsageError(f"Expected 'textsynth:N' with an integer N; got {arg!r}.") from exc
    return text_task_dataset(n, split="eval", sensitive=sensitive)
