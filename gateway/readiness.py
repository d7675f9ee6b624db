"""Readiness: the parts a process needs to do its work, each checked with a short timeout.

`config` (loaded and validated: always true once the gateway is open), `state` and
`storage` (reachable), `workers` (the workers' claim loop still running, so every
configured worker can take a job; "none" in an API-only process). `/readyz` answers 503
naming the failed parts.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable

from gateway.services import Gateway
from gateway.state.base import StateUnavailable
from gateway.storage import StorageUnavailable

CHECK_TIMEOUT = 2.0  # seconds; a frozen Redis must not hold the probe


async def _reachable(probe: Awaitable[None]) -> str:
    try:
        async with asyncio.timeout(CHECK_TIMEOUT):
            await probe
    except (StateUnavailable, StorageUnavailable, TimeoutError, OSError):
        return "unavailable"
    return "ok"


def _workers(gateway: Gateway) -> str:
    pool = gateway.workers
    if pool.concurrency == 0:
        return "none"
    alive = pool.alive
    return "ok" if alive == pool.concurrency else f"{alive} of {pool.concurrency} running"


async def readiness(gateway: Gateway | None) -> dict[str, str]:
    """Part -> "ok" (or "none"), or what is wrong with it."""
    if gateway is None:
        return {"config": "not loaded"}
    state, storage = await asyncio.gather(
        _reachable(gateway.state.ping()), _reachable(gateway.images.ping())
    )
    return {"config": "ok", "state": state, "storage": storage, "workers": _workers(gateway)}


def failed(checks: dict[str, str]) -> list[str]:
    return [part for part, status in checks.items() if status not in ("ok", "none")]
