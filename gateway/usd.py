"""Money as clients read it: a canonical USD string."""

from __future__ import annotations

from decimal import Decimal

CENT = Decimal("0.01")


def usd(amount: Decimal) -> str:
    """At least cents, no trailing zeros past them: "4.96", "0.0125", "10.00"."""
    exact = amount.normalize()
    exponent = exact.as_tuple().exponent
    return str(amount.quantize(CENT) if isinstance(exponent, int) and exponent >= -2 else exact)
