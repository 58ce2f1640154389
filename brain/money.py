"""Dollars as people read them: one format for every table, card, note and chart label."""

from __future__ import annotations

import math

# Below $1 a figure keeps this many significant digits (a $0.00004 request is still a price).
SIGNIFICANT = 3
# Past this many decimals a non-zero amount is shown as "<$0.00000001".
MAX_DECIMALS = 8


def usd(x: float | None, missing: str = "-") -> str:
    """`$1,234.56` from $1 up, three significant digits below ($0.427, $0.03, $0.0000551), `$0` for
    zero and `missing` for None (an unknown amount, e.g. unpriced usage, is never shown as $0).

    Never scientific notation; at least two decimals below $1 ($0.50, not $0.5).
    """
    if x is None:
        return missing
    x = float(x)
    if math.isnan(x):
        return missing
    if x == 0:
        return "$0"
    sign, a = ("-" if x < 0 else ""), abs(x)
    if a >= 1:
        return f"{sign}${a:,.2f}"
    decimals = SIGNIFICANT - 1 - math.floor(math.log10(a))
    if decimals > MAX_DECIMALS:
        return f"{sign}<${10.0 ** -MAX_DECIMALS:.{MAX_DECIMALS}f}"
    text = f"{a:.{decimals}f}".rstrip("0")
    whole, _, frac = text.partition(".")
    return f"{sign}${whole}.{frac.ljust(2, '0')}"


def count(n: int, noun: str) -> str:
    """`1 request`, `0 requests`, `12,345 tokens`: a count with its noun, plural unless one."""
    return f"{n:,} {noun}" if n == 1 else f"{n:,} {noun}s"
