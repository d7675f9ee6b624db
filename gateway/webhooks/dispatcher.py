"""Delivers the outbox: whichever process runs workers claims due events from the shared
state, POSTs each through the outbound guard, signed, and records how it went.

The event was recorded in the same atomic step that ended the job (the state's outbox), so
nothing is lost when a process dies: a claim leases the event (its next attempt moves to
the lease's end), and an event whose deliverer died is due again once the lease runs out,
in this process or any other (at least once; receivers deduplicate by `webhook-id`). A
record is written only by the claim it belongs to (compare-and-set on the attempt count).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import time
from collections.abc import Awaitable, Callable
from typing import Any

import httpx

from gateway.jobs import Job
from gateway.metrics import Metrics
from gateway.outbound import OutboundGuard, OutboundRefused, ResponseTooLarge
from gateway.settings import ConfigError, WebhookSettings
from gateway.state.base import StateStore, StateUnavailable
from gateway.tasks import cancel_and_wait
from gateway.webhooks.events import event_body, event_id
from gateway.webhooks.schedule import Outcome, after_attempt, refused
from gateway.webhooks.secrets import TenantSecrets
from gateway.webhooks.signing import signed_headers

log = logging.getLogger("imagegate.webhooks")
MAX_ANSWER_BYTES = 64 * 1024  # a receiver's answer is not read past this
USER_AGENT = "imagegate-webhooks/1"

Present = Callable[[Job], Awaitable[dict[str, Any]]]


class Dispatcher:
    def __init__(
        self,
        state: StateStore,
        guard: OutboundGuard,
        secrets: TenantSecrets,
        present: Present,
        settings: WebhookSettings,
        *,
        lease: float,
        attempt_timeout: float,
        metrics: Metrics,
        clock: Callable[[], float] = time.time,
        rand: Callable[[], float] = random.random,
    ) -> None:
        self.state = state
        self.guard = guard
        self.secrets = secrets
        self.present = present
        self.settings = settings
        self.lease = lease
        self.attempt_timeout = attempt_timeout  # below the lease: no attempt outlives it
        self.metrics = metrics
        self.clock = clock
        self.rand = rand
        self._wake = asyncio.Event()
        self._loop: asyncio.Task[None] | None = None
        self._deliveries: set[asyncio.Task[None]] = set()
        self._closing = False  # checked by the loop: a cancel alone can be swallowed

    def start(self) -> None:
        self._loop = asyncio.create_task(self._run(), name="webhook-dispatcher")

    async def jobs_finished(self, jobs: list[Job]) -> None:
        """The finish pipeline's hook: an ending here is delivered at once (other
        processes find it at their next look)."""
        if any(job.webhook is not None for job in jobs):
            self.wake()

    def wake(self) -> None:
        """Look for due events now rather than at the next tick."""
        self._wake.set()

    async def aclose(self, grace: float = 5.0) -> None:
        """Stop claiming; give deliveries in flight `grace` seconds. One cut short keeps
        its lease and is delivered again once the lease runs out."""
        self._closing = True
        await cancel_and_wait(self._loop)
        if self._deliveries:
            await asyncio.wait(set(self._deliveries), timeout=grace)
        await cancel_and_wait(*self._deliveries)

    async def _run(self) -> None:
        while not self._closing:
            self._wake.clear()  # before the claim: a wake during it is not lost
            claimed: list[Job] = []
            free = self.settings.concurrency - len(self._deliveries)
            if free > 0:
                try:
                    claimed = await self.state.outbox.claim(free, self.lease)
                except StateUnavailable as exc:
                    log.warning("webhook outbox unavailable: %s", exc)
                except Exception as exc:  # the loop outlives any one failure
                    log.error("webhook outbox claim failed: %s", type(exc).__name__)
            for job in claimed:
                task = asyncio.create_task(self._deliver(job))
                self._deliveries.add(task)
                task.add_done_callback(self._done)
            if free <= 0 or len(claimed) < free:  # no slot, or nothing more due: wait
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout(self.settings.poll_interval):
                        await self._wake.wait()

    def _done(self, task: asyncio.Task[None]) -> None:
        self._deliveries.discard(task)
        self._wake.set()  # a slot is free

    async def _deliver(self, job: Job) -> None:
        webhook = job.webhook
        assert webhook is not None
        try:
            outcome = await self._attempt(job)
        except Exception as exc:  # unrecorded: the lease runs out and it is tried again
            log.error("webhook for job %s failed: %s", job.id, type(exc).__name__)
            return
        try:
            await self.state.outbox.record(
                job.id, webhook.attempts, outcome.state, outcome.retry_in
            )
        except StateUnavailable as exc:  # the lease runs out and the event is tried again
            log.warning("webhook outcome for job %s not recorded: %s", job.id, exc)
            return
        self.metrics.webhook_delivery(outcome.metric)
        log.log(
            logging.INFO if outcome.metric == "delivered" else logging.WARNING,
            "webhook for job %s attempt %d: %s (%s)",
            job.id,
            webhook.attempts,
            outcome.metric,
            outcome.state.last_error or outcome.state.last_status,
        )

    async def _attempt(self, job: Job) -> Outcome:
        webhook = job.webhook
        assert webhook is not None
        try:
            keys = self.secrets.keys(job.tenant)
        except (LookupError, ConfigError):
            return refused(webhook, "the tenant has no webhook secret")
        body = event_body(job, await self.present(job))
        headers = {
            "Content-Type": "application/json",
            "User-Agent": USER_AGENT,
            **signed_headers(keys, event_id(job), int(self.clock()), body),
        }
        status: int | None = None
        try:
            response = await self.guard.request(
                "POST",
                webhook.url,
                content=body,
                headers=headers,
                max_bytes=MAX_ANSWER_BYTES,
                timeout=self.attempt_timeout,
            )
        except OutboundRefused as exc:
            return refused(webhook, f"webhookUrl refused: {exc}")
        except ResponseTooLarge:
            error: str | None = f"the answer was larger than {MAX_ANSWER_BYTES} bytes"
        except (httpx.TransportError, TimeoutError) as exc:
            error = _describe(exc)
        else:
            status = response.status_code
            error = None if 200 <= status < 300 else f"the receiver answered {status}"
        return after_attempt(
            webhook,
            status=status,
            error=error,
            schedule=self.settings.retry_schedule,
            jitter=self.settings.jitter,
            rand=self.rand,
        )


def _describe(exc: Exception) -> str:
    """What went wrong, by type only: exception texts may hold the URL."""
    if isinstance(exc, httpx.ConnectError):
        return "could not connect"
    if isinstance(exc, TimeoutError | httpx.TimeoutException):
        return "no answer in time"
    return f"the connection failed ({type(exc).__name__})"
