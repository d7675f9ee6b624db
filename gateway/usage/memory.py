"""`memory://` usage records: counters in the process (gone with it, like the state)."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from datetime import date

from gateway.usage.base import UsageDelta, UsageKey, UsageRecord, ordered


class MemoryUsage:
    def __init__(self) -> None:
        self._counts: dict[UsageKey, dict[str, int]] = defaultdict(lambda: defaultdict(int))

    async def add(self, deltas: list[UsageDelta]) -> None:
        self.count(deltas)

    def count(self, deltas: Iterable[UsageDelta]) -> None:
        """`add`, without awaiting: the memory state's submit counts a cache hit's usage
        in the step that stores it."""
        for delta in deltas:
            counts = self._counts[delta.key]
            for name, amount in delta.counts.items():
                counts[name] += amount

    async def records(self, tenant: str | None, since: date) -> list[UsageRecord]:
        return ordered(
            UsageRecord.of(key, counts)
            for key, counts in self._counts.items()
            if key.day >= since and (tenant is None or key.tenant == tenant)
        )

    async def aclose(self) -> None:
        return None
