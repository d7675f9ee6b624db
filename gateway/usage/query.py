"""What a reader of usage records asks for: from which UTC day on (`since`)."""

from __future__ import annotations

import re
from datetime import UTC, date, datetime, timedelta

DEFAULT_DAYS = 30  # without `since`: today and the 30 UTC days before it
_DAY = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")


def today() -> date:
    return datetime.now(UTC).date()


def parse_since(text: str | None, now: date | None = None) -> date:
    """`YYYY-MM-DD` (a UTC day), or the default window; ValueError naming the problem."""
    if text is None or text == "":
        return (now or today()) - timedelta(days=DEFAULT_DAYS)
    try:
        if not _DAY.fullmatch(text):
            raise ValueError
        return date.fromisoformat(text)
    except ValueError:
        raise ValueError(f"since: {text[:32]!r} is not a day written YYYY-MM-DD") from None
