"""Model pairs: the one rule every analyzer uses to name, parse and check them.

A pair ``(reference, other)`` is named ``"reference_vs_other"`` and its deltas are
``metric(other) - metric(reference)`` (METHODS.md section 0). Analyzers accept pairs as
``(a, b)`` tuples or ``"a_vs_b"`` names and check them with :func:`check_pairs`; the
audit compares the pairs of :data:`kdaudit.vocab.PAIRS` whose roles are present
(:func:`present_pairs`).
"""

from __future__ import annotations

from collections.abc import Collection, Iterable
from typing import Literal

from kdaudit.errors import UsageError
from kdaudit.vocab import PAIRS

__all__ = ["check_pairs", "pair_name", "present_pairs"]


def pair_name(a: str, b: str) -> str:
    """Name of the pair (a, b): the reference ``a`` first; deltas are b minus a.

    Examples
    --------
    >>> pair_name("teacher", "student")
    'teacher_vs_student'
    """
    return f"{a}_vs_{b}"


def _parse(pair: tuple[str, str] | str) -> tuple[str, str]:
    if isinstance(pair, str):
        if "_vs_" not in pair:
            raise UsageError(f"Expected a pair named 'A_vs_B'; got {pair!r}.")
        a, b = pair.split("_vs_", 1)
        return a, b
    if len(pair) != 2:
        raise UsageError(f"Expected each pair to be (reference, other); got {pair!r}.")
    a, b = pair
    return str(a), str(b)


def check_pairs(
    pairs: Iterable[tuple[str, str] | str],
    roles: Collection[str],
    *,
    absent: Literal["error", "skip"] = "error",
) -> list[tuple[str, str]]:
    """Pairs given as ``(a, b)`` tuples or ``"a_vs_b"`` names, checked against ``roles``.

    Parameters
    ----------
    pairs : iterable of (reference, other) or str
        Each pair as a tuple or by its name (:func:`pair_name`).
    roles : collection of str
        The roles that have predictions.
    absent : {"error", "skip"}
        What a pair naming an unknown role does: raise :class:`~kdaudit.errors.UsageError`
        (default), or drop out silently (analyzers that document "absent roles are
        ignored").

    Returns
    -------
    list of (str, str)

    Examples
    --------
    >>> check_pairs(["teacher_vs_student", ("baseline", "student")], ["teacher", "student"],
    ...             absent="skip")
    [('teacher', 'student')]
    """
    known = list(roles)
    out = []
    for pair in pairs:
        a, b = _parse(pair)
        missing = [role for role in (a, b) if role not in known]
        if missing and absent == "skip":
            continue
        if missing:
            raise UsageError(
                f"Pair {pair_name(a, b)} names {missing[0]!r}, which has no predictions; "
                f"known roles: {', '.join(known) or 'none'}."
            )
        out.append((a, b))
    return out


def present_pairs(roles: Collection[str]) -> list[tuple[str, str]]:
    """The audit's pairs (:data:`kdaudit.vocab.PAIRS`) whose two roles are both in ``roles``.

    Examples
    --------
    >>> present_pairs({"teacher": 0, "student": 1})
    [('teacher', 'student')]
    """
    return [(a, b) for a, b in PAIRS if a in roles and b in roles]
