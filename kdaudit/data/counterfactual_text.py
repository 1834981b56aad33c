"""Counterfactual texts: swap identity terms (women <-> men, muslim <-> christian, ...).

A swap list is a set of pairs. Every occurrence of either term of a pair, as a whole
word (``men`` in "the men," but not in "mensch" or "women"), is replaced by the other
term in one simultaneous pass (so "women and men" becomes "men and women"), keeping
the case pattern of the original: ``MEN`` -> ``WOMEN``, ``Men`` -> ``Women``,
``men`` -> ``women``. Possessives and punctuation stay (``Women's`` -> ``Men's``).

File format (``--counterfactual-terms FILE``): one pair per line, ``term,other``, with
an optional third field naming the category (``women,men,gender``); ``#`` starts a
comment; blank lines are ignored. Terms may hold several words (``african american``).
``builtin`` selects :data:`BUILTIN_PAIRS`, which covers the gender, religion, race and
sexual-orientation communities of HateXplain.

A term may appear in only one pair: a term that maps to two others (``black`` ->
``white`` and ``black`` -> ``asian``) would make the swap ambiguous.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Iterable, Sequence
from pathlib import Path

from kdaudit.errors import InputDataError, UsageError

__all__ = ["BUILTIN_PAIRS", "TermSwapper"]

#: (term, other, category); lower case; both directions are swapped
BUILTIN_PAIRS: tuple[tuple[str, str, str], ...] = (
    # gender (HateXplain: Women, Men)
    ("women", "men", "gender"),
    ("woman", "man", "gender"),
    ("girls", "boys", "gender"),
    ("girl", "boy", "gender"),
    ("she", "he", "gender"),
    ("her", "his", "gender"),
    ("herself", "himself", "gender"),
    ("female", "male", "gender"),
    ("females", "males", "gender"),
    ("mother", "father", "gender"),
    ("mothers", "fathers", "gender"),
    ("sister", "brother", "gender"),
    ("sisters", "brothers", "gender"),
    ("wife", "husband", "gender"),
    ("wives", "husbands", "gender"),
    ("daughter", "son", "gender"),
    ("daughters", "sons", "gender"),
    ("lady", "gentleman", "gender"),
    ("ladies", "gentlemen", "gender"),
    ("feminist", "masculinist", "gender"),
    # religion (HateXplain: Islam, Jewish, Christian, Hindu, Buddhism)
    ("muslim", "christian", "religion"),
    ("muslims", "christians", "religion"),
    ("islam", "christianity", "religion"),
    ("jew", "hindu", "religion"),
    ("jews", "hindus", "religion"),
    ("jewish", "buddhist", "religion"),
    ("judaism", "hinduism", "religion"),
    ("mosque", "church", "religion"),
    ("synagogue", "temple", "religion"),
    # race and origin (HateXplain: African, Caucasian, Asian, Arab, Hispanic, Refugee, Indian)
    ("black", "white", "race"),
    ("blacks", "whites", "race"),
    ("african", "european", "race"),
    ("africans", "europeans", "race"),
    ("arab", "asian", "race"),
    ("arabs", "asians", "race"),
    ("hispanic", "caucasian", "race"),
    ("hispanics", "caucasians", "race"),
    ("mexican", "canadian", "race"),
    ("mexicans", "canadians", "race"),
    ("refugee", "citizen", "race"),
    ("refugees", "citizens", "race"),
    ("immigrant", "native", "race"),
    ("immigrants", "natives", "race"),
    ("indian", "chinese", "race"),
    ("indians", "americans", "race"),
    # sexual orientation (HateXplain: Homosexual, Heterosexual)
    ("gay", "straight", "orientation"),
    ("gays", "straights", "orientation"),
    ("lesbian", "heterosexual", "orientation"),
    ("lesbians", "heterosexuals", "orientation"),
    ("homosexual", "hetero", "orientation"),
    ("homosexuals", "heteros", "orientation"),
    ("queer", "cis", "orientation"),
    ("bisexual", "monosexual", "orientation"),
)


@dataclasses.dataclass(frozen=True)
class TermSwapper:
    """Simultaneous, whole-word, case-preserving swaps of term pairs.

    Attributes
    ----------
    pairs : tuple of (term, other, category)
        Lower-case terms; each is swapped both ways.
    """

    pairs: tuple[tuple[str, str, str], ...]

    def __post_init__(self) -> None:
        mapping: dict[str, str] = {}
        category: dict[str, str] = {}
        for a, b, cat in self.pairs:
            a, b = _norm(a), _norm(b)
            if not a or not b or a == b:
                raise UsageError(
                    f"Counterfactual term pair {a!r},{b!r} must name two different terms."
                )
            for x, y in ((a, b), (b, a)):
                if x in mapping and mapping[x] != y:
                    raise UsageError(
                        f"Counterfactual term {x!r} is paired with both {mapping[x]!r} and {y!r}.",
                        tip="Give each term one partner, so that the swap is well defined.",
                    )
                mapping[x] = y
                category[x] = cat
        object.__setattr__(self, "_mapping", mapping)
        object.__setattr__(self, "_category", category)
        # longest first, so "african american" wins over "african"; whole words only:
        # no letter, digit or underscore may touch the match on either side
        alternatives = sorted(mapping, key=lambda t: (-len(t), t))
        body = "|".join(r"\s+".join(re.escape(w) for w in t.split()) for t in alternatives)
        object.__setattr__(
            self, "_pattern", re.compile(rf"(?<![\w])(?:{body})(?![\w])", re.IGNORECASE)
        )

    @classmethod
    def builtin(cls, categories: Iterable[str] | None = None) -> TermSwapper:
        """The built-in list (optionally only some categories: gender, religion, race, orientation)."""
        wanted = set(categories) if categories is not None else None
        return cls(tuple(p for p in BUILTIN_PAIRS if wanted is None or p[2] in wanted))

    @classmethod
    def from_file(cls, path: str | Path) -> TermSwapper:
        """Read pairs from a file (``term,other[,category]`` per line), or ``builtin``."""
        if str(path) == "builtin":
            return cls.builtin()
        p = Path(path)
        if not p.is_file():
            raise InputDataError(
                f"Counterfactual terms file {str(path)!r} does not exist.",
                tip="Give a file of 'term,other' lines, or 'builtin'.",
            )
        pairs = []
        for number, raw in enumerate(p.read_text(encoding="utf-8").splitlines(), start=1):
            line = raw.split("#", 1)[0].strip()
            if not line:
                continue
            fields = [f.strip() for f in line.split(",")]
            if len(fields) not in (2, 3) or not all(fields):
                raise InputDataError(
                    f"Line {number} of {str(path)!r} is not 'term,other[,category]': {raw.strip()!r}."
                )
            pairs.append((fields[0], fields[1], fields[2] if len(fields) == 3 else "custom"))
        if not pairs:
            raise InputDataError(f"Counterfactual terms file {str(path)!r} names no pairs.")
        return cls(tuple(pairs))

    def swap(self, text: str) -> tuple[str, int]:
        """The counterfactual of ``text`` and how many terms were swapped."""
        count = 0
        mapping: dict[str, str] = self._mapping  # type: ignore[attr-defined]

        def repl(m: re.Match[str]) -> str:
            nonlocal count
            count += 1
            found = m.group(0)
            return _match_case(found, mapping[_norm(found)])

        out = self._pattern.sub(repl, text)  # type: ignore[attr-defined]
        return out, count

    def swap_all(self, texts: Sequence[str]) -> tuple[list[str], list[int]]:
        """Counterfactuals of many texts and each one's number of swaps."""
        out, counts = [], []
        for t in texts:
            s, c = self.swap(t)
            out.append(s)
            counts.append(c)
        return out, counts

    def categories_found(self, text: str) -> set[str]:
        """Categories of the terms present in ``text``."""
        category: dict[str, str] = self._category  # type: ignore[attr-defined]
        return {category[_norm(m.group(0))] for m in self._pattern.finditer(text)}  # type: ignore[attr-defined]


def _norm(term: str) -> str:
    return " ".join(term.lower().split())


def _match_case(original: str, replacement: str) -> str:
    """``replacement`` written in ``original``'s case pattern (UPPER, Title, lower)."""
    letters = [c for c in original if c.isalpha()]
    if letters and all(c.isupper() for c in letters) and len(letters) > 1:
        return replacement.upper()
    words = original.split()
    if words and all(w[:1].isupper() for w in words):
        return " ".join(w[:1].upper() + w[1:] for w in replacement.split())
    if original[:1].isupper():
        return replacement[:1].upper() + replacement[1:]
    return replacement
