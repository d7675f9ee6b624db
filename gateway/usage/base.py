"""Usage records: what each tenant spent and saved, per UTC day, by model alias and backend.

A record holds, for one (day, tenant, model, backend):

- `jobs`: jobs that made at least one attempt at the backend (skipped targets do not count),
  `attempts` (backend calls), `images` (delivered by a job that succeeded there) and
  `charged` (USD, the sum of those attempts' charges);
- `saved_jobs` and `saved`: jobs that succeeded from the result cache or by joining an
  identical job in flight, and what their first attempt would have cost (the estimate the
  budget would have reserved) at the first target of their route.

Each job is written once, when it ends (by the finish pipeline's caller that ended it: one
per job across processes), on the UTC day it ended; a cached job when it is born. Counters
are integers (micro-dollars for money), so Redis adds them exactly with HINCRBY.

    store = usage_from_url("redis://127.0.0.1:6379/0")
    await store.records(tenant="acme", since=date(2026, 12, 1))   # -> [UsageRecord, ...]
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal
from typing import Any, Protocol

from gateway.money.format import from_micros, usd

# The integer counters of a record, in the order they are shown.
COUNTERS = ("jobs", "attempts", "images", "charged_micros", "saved_jobs", "saved_micros")


@dataclass(frozen=True)
class UsageKey:
    """Which record a delta adds to."""

    day: date
    tenant: str
    model: str  # the model alias the job asked for
    backend: str


@dataclass(frozen=True)
class UsageDelta:
    """Increments of one record's counters (integers; money in micro-dollars)."""

    key: UsageKey
    counts: dict[str, int] = field(default_factory=dict)


@dataclass(frozen=True)
class UsageRecord:
    day: date
    tenant: str
    model: str
    backend: str
    jobs: int = 0
    attempts: int = 0
    images: int = 0
    charged: Decimal = Decimal("0")
    saved_jobs: int = 0
    saved: Decimal = Decimal("0")

    @classmethod
    def of(cls, key: UsageKey, counts: dict[str, int]) -> UsageRecord:
        return cls(
            key.day,
            key.tenant,
            key.model,
            key.backend,
            jobs=counts.get("jobs", 0),
            attempts=counts.get("attempts", 0),
            images=counts.get("images", 0),
            charged=from_micros(counts.get("charged_micros", 0)),
            saved_jobs=counts.get("saved_jobs", 0),
            saved=from_micros(counts.get("saved_micros", 0)),
        )

    def to_json(self) -> dict[str, Any]:
        """The record as `GET /v1/usage`, `/admin/usage` and `imagegate usage --json` show it."""
        return {
            "day": self.day.isoformat(),
            "tenant": self.tenant,
            "model": self.model,
            "backend": self.backend,
            "jobs": self.jobs,
            "attempts": self.attempts,
            "images": self.images,
            "chargedUsd": usd(self.charged),
            "savedJobs": self.saved_jobs,
            "savedUsd": usd(self.saved),
        }


def ordered(records: Iterable[UsageRecord]) -> list[UsageRecord]:
    """Oldest day first, then tenant, model, backend: a stable order for every reader."""
    return sorted(records, key=lambda r: (r.day, r.tenant, r.model, r.backend))


class UsageStore(Protocol):
    async def add(self, deltas: list[UsageDelta]) -> None:
        """Add every delta, all together (atomic on Redis: one script call)."""
        ...

    async def records(self, tenant: str | None, since: date) -> list[UsageRecord]:
        """Records of `tenant` (every tenant when None) from the UTC day `since` on,
        `ordered`."""
        ...

    async def aclose(self) -> None: ...
