"""Parsers for the human units used in config: durations, money, budgets, sizes."""

from __future__ import annotations

import re
from decimal import Decimal, InvalidOperation

from gateway.money.format import MAX_USD

# One or more parts, summed: `30s`, `1.5s`, `5 m`, `1h30m` (Go's and Replicate's compound
# form). Only one run of blanks can sit between two parts, so matching stays linear.
_DURATION = re.compile(r"[ \t]*(?:[0-9]+(?:\.[0-9]+)?[ \t]*(?:ms|s|m|h|d)[ \t]*)+")
_PART = re.compile(r"([0-9]+(?:\.[0-9]+)?)[ \t]*(ms|s|m|h|d)")
_SECONDS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0}
_SIZE = re.compile(r"^([1-9]\d{0,4})x([1-9]\d{0,4})$")
_PERIODS = {"second": 1, "minute": 60, "hour": 3600, "day": 86400, "month": 30 * 86400}


def parse_duration(text: str | int | float) -> float:
    """`"500ms"`, `"30s"`, `"5m"`, `"7d"`, `"1h30m"` -> seconds. Bare numbers are seconds."""
    if isinstance(text, int | float) and not isinstance(text, bool):
        if text < 0:
            raise ValueError(f"duration must not be negative, got {text}")
        return float(text)
    if not _DURATION.fullmatch(str(text)):
        raise ValueError(f"invalid duration {text!r}: use a number and one of ms, s, m, h, d")
    return sum(float(number) * _SECONDS[unit] for number, unit in _PART.findall(str(text)))


def parse_money(text: str | int | float) -> Decimal:
    """USD as a decimal string (`"0.04"`) -> Decimal; never a float."""
    try:
        value = Decimal(str(text).strip())
    except InvalidOperation:
        raise ValueError(f'invalid amount {text!r}: use a decimal string such as "0.04"') from None
    if not value.is_finite() or value < 0:
        raise ValueError(f"invalid amount {text!r}: must be a non-negative number")
    if value > MAX_USD:
        raise ValueError(f"invalid amount {text!r}: at most {MAX_USD} USD")
    return value


def parse_budget(text: str) -> tuple[Decimal, int]:
    """`"5.00/day"` -> (Decimal("5.00"), 86400)."""
    amount, sep, period = str(text).partition("/")
    if not sep or period.strip() not in _PERIODS:
        raise ValueError(
            f"invalid budget {text!r}: use AMOUNT/PERIOD, PERIOD one of {sorted(_PERIODS)}"
        )
    return parse_money(amount), _PERIODS[period.strip()]


def parse_size(text: str) -> tuple[int, int]:
    """`"1024x768"` -> (1024, 768)."""
    match = _SIZE.match(text)
    if not match:
        raise ValueError(f'invalid size {text!r}: use WIDTHxHEIGHT, e.g. "512x512"')
    return int(match.group(1)), int(match.group(2))
