"""The last hour of this process's totals, sampled every few seconds: the ops view's charts.

A bounded ring of snapshots (counters since start, the shared queue, each tenant's budget
window), so a console opened now draws the hour before it without Prometheus. Counters
are cumulative; the console charts their differences. Memory stays flat (`keep` samples).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections import deque
from collections.abc import AsyncIterator
from typing import TYPE_CHECKING, Any

from gateway.money.format import usd
from gateway.readings import budget_readings
from gateway.state.base import StateUnavailable
from gateway.tasks import cancel_and_wait

if TYPE_CHECKING:
    from gateway.services import Gateway

log = logging.getLogger("imagegate.ops")
EVERY = 10.0  # seconds between samples
KEEP = 360  # one hour of samples


async def snapshot(gateway: Gateway) -> dict[str, Any]:
    """This process's totals now, and the shared queue and budgets (null while the state
    store is down: a chart shows the gap rather than a made-up zero)."""
    totals = gateway.metrics.overview()
    submitted = totals["jobsSubmitted"]
    sample: dict[str, Any] = {
        "at": round(time.time(), 3),
        "jobsSubmitted": sum(submitted.values()),
        "jobsReused": submitted.get("cached", 0) + submitted.get("joined", 0),
        "jobsFailed": totals["jobsFinished"].get("FAILED", 0),
        "refusals": sum(totals["refusalsByReason"].values()),
        "chargedUsd": totals["chargedUsd"],
        "savedUsd": totals["savedUsd"],
        "workersBusy": gateway.workers.busy,
        "queueDepth": None,
        "budgetSpent": None,
    }
    try:
        queue, readings = await asyncio.gather(
            gateway.state.queue_stats(), budget_readings(gateway.budgets, gateway.plans)
        )
    except StateUnavailable:
        return sample
    sample["queueDepth"] = queue.depth
    sample["budgetSpent"] = {tenant: usd(reading.spent) for tenant, reading in readings.items()}
    return sample


class OpsHistory:
    """Snapshots taken every `every` seconds by `run()`, the newest `keep` kept."""

    def __init__(self, every: float = EVERY, keep: int = KEEP) -> None:
        self.every = every
        self._samples: deque[dict[str, Any]] = deque(maxlen=keep)

    def samples(self) -> list[dict[str, Any]]:
        return list(self._samples)

    async def run(self, gateway: Gateway) -> None:
        """Sample until cancelled (the app's lifespan owns the task)."""
        while True:
            try:
                self._samples.append(await snapshot(gateway))
            except Exception as exc:  # a failed sample leaves a gap, never stops the loop
                log.warning("ops history sample failed: %s", type(exc).__name__)
            await asyncio.sleep(self.every)

    @contextlib.asynccontextmanager
    async def running(self, gateway: Gateway) -> AsyncIterator[OpsHistory]:
        task = asyncio.create_task(self.run(gateway), name="ops-history")
        try:
            yield self
        finally:
            await cancel_and_wait(task)
