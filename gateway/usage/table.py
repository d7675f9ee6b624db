"""Usage records as a plain-text table (what `imagegate usage` prints), with a total row."""

from __future__ import annotations

from decimal import Decimal

from gateway.money.format import usd
from gateway.usage.base import UsageRecord

HEADER = (
    "day",
    "tenant",
    "model",
    "backend",
    "jobs",
    "attempts",
    "images",
    "charged",
    "saved jobs",
    "saved",
)
NUMERIC = frozenset(range(4, len(HEADER)))


def _row(record: UsageRecord) -> tuple[str, ...]:
    return (
        record.day.isoformat(),
        record.tenant,
        record.model,
        record.backend,
        str(record.jobs),
        str(record.attempts),
        str(record.images),
        usd(record.charged),
        str(record.saved_jobs),
        usd(record.saved),
    )


def _total(records: list[UsageRecord]) -> tuple[str, ...]:
    def add(name: str) -> int:
        return sum(getattr(record, name) for record in records)

    charged = sum((record.charged for record in records), Decimal("0"))
    saved = sum((record.saved for record in records), Decimal("0"))
    return (
        "total",
        "",
        "",
        "",
        str(add("jobs")),
        str(add("attempts")),
        str(add("images")),
        usd(charged),
        str(add("saved_jobs")),
        usd(saved),
    )


def render_table(records: list[UsageRecord]) -> str:
    if not records:
        return "no usage recorded"
    rows = [HEADER, *(_row(record) for record in records), _total(records)]
    widths = [max(len(row[i]) for row in rows) for i in range(len(HEADER))]

    def line(row: tuple[str, ...]) -> str:
        cells = [
            cell.rjust(widths[i]) if i in NUMERIC else cell.ljust(widths[i])
            for i, cell in enumerate(row)
        ]
        return "  ".join(cells).rstrip()

    return "\n".join(line(row) for row in rows)
