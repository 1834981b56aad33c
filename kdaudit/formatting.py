"""One number style for every renderer (HTML, Markdown, gate text, CLI lines, model card).

Conventions (JSON keeps full precision; only human-facing text goes through here):

* rates and levels (accuracy, selection rate, DPD as a level) in percent: ``pct(0.115) == "11.5%"``;
* differences between two rates in percentage points, signed: ``pp(0.061) == "+6.1 pp"``;
  a change that rounds to zero is ``"±0.0 pp"``, never ``"+0.0 pp"``;
* p-values: ``pval(0.0123) == "p = 0.012"``, ``pval(0.0) == "p < 0.001"`` (a bootstrap or
  exact p is never exactly zero; it is below the resolution);
* other numbers with 3 significant digits, no scientific notation in the ordinary range:
  ``num(0.0505105382922) == "0.0505"``;
* ``None``/NaN render as an em dash (or the ``missing`` text given).

Pure functions over floats; imports nothing from kdaudit.
"""

from __future__ import annotations

import math
from decimal import ROUND_HALF_UP, Decimal

__all__ = [
    "MISSING",
    "ci",
    "count",
    "is_missing",
    "level",
    "num",
    "number",
    "pct",
    "pp",
    "pval",
    "signed_num",
    "with_ci",
]

#: What a missing (null/NaN) number renders as.
MISSING = "—"


def is_missing(x: float | int | None) -> bool:
    """True for ``None``, NaN and infinities (nothing sensible to print)."""
    return x is None or (isinstance(x, float) and not math.isfinite(x))


def number(x: object) -> float | None:
    """``x`` as a finite float, or None (booleans, strings, None, NaN and infinities).

    The one reader of "a number from a report" for the gate and the renderers.
    """
    if isinstance(x, bool) or not isinstance(x, (int, float)):
        return None
    return float(x) if math.isfinite(x) else None


def _sig(x: float, digits: int) -> str:
    """``x`` with ``digits`` significant digits, plain notation for 1e-4 <= |x| < 1e6."""
    if x == 0:
        return "0"
    ax = abs(x)
    if ax < 1e-4 or ax >= 1e6:
        return f"{x:.{digits - 1}e}"
    decimals = max(0, digits - 1 - math.floor(math.log10(ax)))
    text = f"{x:.{decimals}f}"
    # rounding can carry to one more digit (0.09996 -> 0.1000): trim the extra trailing zero
    if "." in text and len(text.replace("-", "").replace(".", "").lstrip("0")) > digits:
        text = text[:-1]
    return text


def _fixed(x: float, decimals: int) -> str:
    """``x`` with ``decimals`` decimals, halves rounded away from zero.

    Binary noise is dropped first (``3.7499999999`` and ``3.7500000001`` both read
    ``3.75``), so one number reaches every page with the same digits whichever way it
    was computed (``-(a - b)`` or ``b - a``).
    """
    d = Decimal(repr(round(x, 9))).quantize(Decimal(1).scaleb(-decimals), rounding=ROUND_HALF_UP)
    text = f"{d:f}"
    return text[1:] if text.startswith("-") and float(d) == 0 else text


def num(x: float | int | None, digits: int = 3, *, missing: str = MISSING) -> str:
    """A plain number with ``digits`` significant digits (integers stay integers)."""
    if is_missing(x):
        return missing
    assert x is not None
    if isinstance(x, int) and not isinstance(x, bool):
        return f"{x:,}"
    return _sig(float(x), digits)


def signed_num(x: float | None, digits: int = 3, *, missing: str = MISSING) -> str:
    """Like :func:`num` with an explicit sign (``+0.012``, ``-0.3``, ``0``)."""
    if is_missing(x):
        return missing
    assert x is not None
    text = num(float(x), digits)
    if text.lstrip("-").strip("0.") == "":
        return "0"
    return text if text.startswith("-") else "+" + text


def pct(x: float | None, decimals: int = 1, *, missing: str = MISSING) -> str:
    """A rate or level in percent: ``0.115 -> "11.5%"``."""
    if is_missing(x):
        return missing
    assert x is not None
    return f"{_fixed(100.0 * float(x), decimals)}%"


def pp(x: float | None, decimals: int = 1, *, missing: str = MISSING) -> str:
    """A difference of rates in signed percentage points: ``0.061 -> "+6.1 pp"``.

    A difference that rounds to zero at the shown precision is ``"±0.0 pp"``.
    """
    if is_missing(x):
        return missing
    assert x is not None
    value = 100.0 * float(x)
    text = _fixed(abs(value), decimals)
    if float(text) == 0.0:
        return f"±{text} pp"
    return f"{'+' if value > 0 else '-'}{text} pp"


def pval(p: float | None, *, missing: str = MISSING) -> str:
    """A p-value: ``"p = 0.012"``, ``"p = 0.31"``, ``"p < 0.001"``, ``"p = 1"``."""
    if is_missing(p):
        return missing
    assert p is not None
    p = float(p)
    if p < 0.001:
        return "p < 0.001"
    if p >= 0.9995:
        return "p = 1"
    if p < 0.01:
        return f"p = {p:.3f}"
    return f"p = {_sig(p, 2)}"


def ci(low: float | None, high: float | None, *, unit: str = "pp", missing: str = MISSING) -> str:
    """An interval in the unit of its estimate: ``"[-1.2, +3.4] pp"``, ``"[10.1%, 12.3%]"``.

    ``unit`` is ``"pp"`` (signed percentage points), ``"%"`` (rates) or ``""`` (plain numbers).
    """
    if is_missing(low) or is_missing(high):
        return missing
    assert low is not None and high is not None
    if unit == "pp":
        lo, hi = (_signed_fixed(100.0 * v) for v in (low, high))
        return f"[{lo}, {hi}] pp"
    if unit == "%":
        return f"[{pct(low)}, {pct(high)}]"
    return f"[{num(low)}, {num(high)}]"


def count(n: int | None, *, missing: str = MISSING) -> str:
    """An integer count with thousands separators: ``12345 -> "12,345"``."""
    if n is None:
        return missing
    return f"{int(n):,}"


def _signed_fixed(x: float, decimals: int = 1) -> str:
    text = _fixed(x, decimals)
    return text if text.startswith("-") else "+" + text


def level(x: float | None, unit: str = "%", *, missing: str = MISSING) -> str:
    """A level in its unit: ``"%"`` rates, ``"pp"`` signed changes, ``""`` plain numbers."""
    if unit == "%":
        return pct(x, missing=missing)
    if unit == "pp":
        return pp(x, missing=missing)
    if unit == "+":
        return signed_num(x, missing=missing)
    return num(x, missing=missing)


def with_ci(
    x: float | None,
    low: float | None,
    high: float | None,
    *,
    unit: str = "pp",
    missing: str = MISSING,
) -> str:
    """An estimate and its interval in one unit, the way every renderer shows uncertainty.

    ``with_ci(0.005, -0.015, 0.055) == "+0.5 pp [-1.5, +5.5]"``,
    ``with_ci(0.115, 0.098, 0.131, unit="%") == "11.5% [9.8%, 13.1%]"``,
    ``with_ci(0.0123, 0.01, 0.015, unit="") == "0.0123 [0.0100, 0.0150]"``;
    ``unit="+"`` is a signed plain number (a change of a unit-free quantity).
    Without an interval only the estimate is shown.
    """
    head = level(x, unit, missing=missing)
    if is_missing(x) or is_missing(low) or is_missing(high):
        return head
    assert low is not None and high is not None
    if unit == "pp":
        lo, hi = (_signed_fixed(100.0 * v) for v in (low, high))
        return f"{head} [{lo}, {hi}]"
    if unit == "%":
        return f"{head} [{pct(low)}, {pct(high)}]"
    if unit == "+":
        return f"{head} [{signed_num(low)}, {signed_num(high)}]"
    return f"{head} [{num(low)}, {num(high)}]"
