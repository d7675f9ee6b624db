"""Webhooks: POST the finished job to the URL the client gave, signed, retried a few times.

Every delivery goes through the outbound guard: a URL whose host resolves to an internal
address at delivery time is never connected to (logged, counted as `blocked`)."""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import logging
from collections.abc import Awaitable, Callable
from typing import Any

import httpx
from tenacity import AsyncRetrying, retry_if_exception_type, stop_after_attempt, wait_exponential

from gateway.errors import redact
from gateway.jobs import Job
from gateway.metrics import Metrics
from gateway.outbound import OutboundGuard, OutboundRefused, ResponseTooLarge

log = logging.getLogger("imagegate.webhooks")
SIGNATURE_HEADER = "X-Imagegate-Signature"
MAX_ANSWER_BYTES = 64 * 1024  # a receiver's answer is not read past this


class WebhookError(Exception):
    pass


class Notifier:
    def __init__(
        self,
        guard: OutboundGuard,
        secret: bytes,
        present: Callable[[Job], Awaitable[dict[str, Any]]],
        *,
        metrics: Metrics,
    ) -> None:
        self.guard = guard
        self.secret = secret
        self.present = present
        self.metrics = metrics
        self._tasks: set[asyncio.Task[None]] = set()

    async def jobs_finished(self, jobs: list[Job]) -> None:
        for job in jobs:
            if job.spec.webhook_url:
                task = asyncio.create_task(self._deliver(job.spec.webhook_url, job))
                self._tasks.add(task)
                task.add_done_callback(self._tasks.discard)

    async def _deliver(self, url: str, job: Job) -> None:
        body = json.dumps({"ok": True, "data": await self.present(job)}).encode()
        signature = hmac.new(self.secret, body, hashlib.sha256).hexdigest()
        headers = {"Content-Type": "application/json", SIGNATURE_HEADER: f"sha256={signature}"}
        try:
            async for attempt in AsyncRetrying(
                stop=stop_after_attempt(4),
                wait=wait_exponential(multiplier=0.5, max=10),
                retry=retry_if_exception_type(
                    (httpx.HTTPError, TimeoutError, ResponseTooLarge, WebhookError)
                ),
                reraise=True,
            ):
                with attempt:
                    response = await self.guard.request(
                        "POST", url, content=body, headers=headers, max_bytes=MAX_ANSWER_BYTES
                    )
                    if response.status_code >= 500 or response.status_code == 429:
                        raise WebhookError(f"webhook answered {response.status_code}")
        except OutboundRefused as exc:
            self.metrics.webhook_delivery("blocked")
            log.warning("webhook for job %s not sent: its URL was refused: %s", job.id, exc)
        except Exception as exc:
            self.metrics.webhook_delivery("failed")
            log.warning("webhook for job %s not delivered: %s", job.id, redact(str(exc)))
        else:  # a 4xx answer is final: the receiver refused the delivery
            self.metrics.webhook_delivery("delivered" if response.is_success else "rejected")

    async def aclose(self, timeout: float = 5.0) -> None:
        if self._tasks:
            await asyncio.wait(set(self._tasks), timeout=timeout)
        for task in self._tasks:
            task.cancel()
