"""`memory://` previews: one process, kept for `TTL` seconds after the last one."""

from __future__ import annotations

import time

from gateway.previews.base import TTL, Preview


class MemoryPreviews:
    def __init__(self) -> None:
        self._previews: dict[str, tuple[float, list[Preview]]] = {}

    async def add(self, job_id: str, preview: Preview) -> None:
        now = time.monotonic()
        # Forget executions nobody can still be streaming (bounded memory).
        for stale in [job for job, (at, _) in self._previews.items() if now - at > TTL]:
            del self._previews[stale]
        _, kept = self._previews.get(job_id, (now, []))
        self._previews[job_id] = (now, [*kept, preview])

    async def since(self, job_id: str, start: int) -> list[Preview]:
        return list(self._previews.get(job_id, (0.0, []))[1][start:])

    async def aclose(self) -> None:
        return None
