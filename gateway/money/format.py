"""One money format: USD as a `Decimal`, kept to the micro-dollar, written one canonical way.

`usd()` is what every job, attempt, usage record, error message and log line shows: two
decimal places at least, more only when the amount needs them (`"0.00"`, `"0.04"`,
`"0.0025"`, `"12.50"`). Amounts that cross a process boundary in counters are integer
micro-dollars, so Redis adds them exactly.
"""

from __future__ import annotations

from decimal import ROUND_HALF_UP, Decimal

ZERO = Decimal("0")
CENT = Decimal("0.01")
MICRO = Decimal("0.000001")
MICROS_PER_USD = 1_000_000
PLACES = 6  # prices and charges are exact to the micro-dollar
# The largest amount a config may name: its micro-dollars fit Redis' 64-bit counters and
# the Lua scripts' doubles exactly, and `usd()` can always write it.
MAX_USD = Decimal(1_000_000_000)


def to_micros(amount: Decimal) -> int:
    """USD -> integer micro-dollars (half up past the sixth place)."""
    return int((amount * MICROS_PER_USD).to_integral_value(ROUND_HALF_UP))


def from_micros(micros: int) -> Decimal:
    return (Decimal(micros) / MICROS_PER_USD).quantize(MICRO)


def to_micro_dollar(amount: Decimal) -> Decimal:
    """`amount` rounded (half up) to the micro-dollar: what a charge is recorded at."""
    return amount.quantize(MICRO, rounding=ROUND_HALF_UP)


def usd(amount: Decimal | int) -> str:
    """The canonical USD string: `Decimal("0.250000")` -> `"0.25"`, `0` -> `"0.00"`."""
    value = to_micro_dollar(Decimal(amount))
    if value == value.quantize(CENT):
        return str(value.quantize(CENT))
    return str(value.normalize())


def parse_usd(text: str) -> Decimal:
    """The inverse of `usd()` for stored amounts (no validation: our own writing)."""
    return Decimal(text)
