"""`memory://` batch records: a dict in the process, expired lazily."""

from __future__ import annotations

import time

from gateway.batches.base import Batch


class MemoryBatches:
    def __init__(self) -> None:
        self._batches: dict[str, tuple[float, Batch]] = {}

    async def put(self, batch: Batch, ttl: float) -> None:
        now = time.monotonic()
        self._batches = {k: v for k, v in self._batches.items() if v[0] >= now}
        self._batches[batch.id] = (now + ttl, batch)

    async def get(self, batch_id: str) -> Batch | None:
        entry = self._batches.get(batch_id)
        if entry is None or entry[0] < time.monotonic():
            return None
        return entry[1]

    async def aclose(self) -> None:
        return None
