"""`memory://` idempotency records: a dict in the process, expired lazily and in a sweep.

Each method runs without awaiting in the middle, so it is atomic on the event loop.
"""

from __future__ import annotations

import time

from gateway.idempotency.base import Answer, Claim, Lease, completed_doc, judge, pending_doc

SWEEP_EVERY = 60.0


class MemoryIdempotency:
    def __init__(self) -> None:
        self._records: dict[tuple[str, str], tuple[float, str]] = {}
        self._next_sweep = time.monotonic() + SWEEP_EVERY

    def _get(self, name: tuple[str, str]) -> str | None:
        entry = self._records.get(name)
        if entry is None:
            return None
        if entry[0] < time.monotonic():
            del self._records[name]
            return None
        return entry[1]

    async def begin(self, scope: str, key: str, fingerprint: str, *, lease: float) -> Claim:
        self._sweep()
        existing = self._get((scope, key))
        if existing is not None:
            return judge(existing, fingerprint)
        doc = pending_doc(fingerprint)
        self._records[(scope, key)] = (time.monotonic() + lease, doc)
        return Lease(doc)

    async def renew(self, scope: str, key: str, lease: Lease, seconds: float) -> None:
        if self._get((scope, key)) == lease.doc:
            self._records[(scope, key)] = (time.monotonic() + seconds, lease.doc)

    async def complete(
        self, scope: str, key: str, lease: Lease, fingerprint: str, answer: Answer, ttl: float
    ) -> None:
        if self._get((scope, key)) == lease.doc:
            self._records[(scope, key)] = (
                time.monotonic() + ttl,
                completed_doc(fingerprint, answer),
            )

    async def release(self, scope: str, key: str, lease: Lease) -> None:
        if self._get((scope, key)) == lease.doc:
            del self._records[(scope, key)]

    async def aclose(self) -> None:
        return None

    def _sweep(self) -> None:
        now = time.monotonic()
        if now < self._next_sweep:
            return
        self._next_sweep = now + SWEEP_EVERY
        self._records = {name: entry for name, entry in self._records.items() if entry[0] >= now}
