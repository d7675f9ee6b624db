"""One attempt at one target of a job's route: pay, take a concurrency slot and a unit of the
vendor's rate window (or defer the job when either is full), generate, check the bytes, and
record what happened (backend, outcome, cost) on the job."""

from __future__ import annotations

import asyncio
import logging
import random
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from backends.base import NO_PROGRESS, Backend, GeneratedImage, GenerationRequest, Progress, Usage
from backends.errors import BackendError, BadImage, BadResponse, Unsupported
from backends.imaging import NotAnImage
from gateway import jobs
from gateway.capacity import Capacity, CapacityFull
from gateway.deferral import Deferred, capacity_delay
from gateway.errors import redact
from gateway.events.base import Changed, no_change
from gateway.jobs import SKIPPED, Attempt, Job, VendorJob
from gateway.metrics import Metrics
from gateway.money.book import PriceBook
from gateway.money.format import usd
from gateway.money.tokens import usage_to_json
from gateway.previews import PreviewStore
from gateway.previews.progress import JobProgress
from gateway.quotas import RateLimiter, Refused
from gateway.settings import Target
from gateway.spend import JobSpend
from gateway.state.base import StateStore, StateUnavailable
from gateway.storage import ImageStore, PreparedImage

log = logging.getLogger("imagegate.runner")

Sleep = Callable[[float], Awaitable[None]]
# Called before each attempt; raises to stop the execution (gateway/cancels.py `gate`).
Gate = Callable[[Job], Awaitable[None]]


async def always_open(job: Job) -> None:
    return None


class BudgetRefused(BackendError):
    """The tenant's budget cannot hold another attempt: no retry, no fallback."""

    code = "budget_exhausted"


class NoAttemptFits(BackendError):
    """The retry policy stopped before any attempt at a target was made."""

    code = "retry_budget_exhausted"


@dataclass(frozen=True)
class Call:
    """A job's request addressed to one target of its route."""

    job: Job
    target: Target
    backend: Backend
    request: GenerationRequest
    estimate: Decimal  # from the price book: the worst case one attempt may bill


class Reported:
    """The backend's progress, kept on the job: a vendor job it started is recorded, so a
    process other than this worker's can cancel it (gateway/cancels.py)."""

    def __init__(self, state: StateStore, call: Call, inner: Progress = NO_PROGRESS) -> None:
        self.state = state
        self.call = call
        self.inner = inner  # partial images: previews (gateway/previews/progress.py)

    async def submitted(self, handle: str) -> None:
        started = jobs.vendor_job_started(VendorJob(self.call.target.backend, handle))
        try:
            await self.state.patch(self.call.job.id, started)
        except StateUnavailable as exc:  # best effort: the attempt itself goes on
            log.warning("job %s: its vendor job was not recorded (%s)", self.call.job.id, exc)
        await self.inner.submitted(handle)

    async def partial(self, index: int, image: GeneratedImage) -> None:
        await self.inner.partial(index, image)


class Attempter:
    def __init__(
        self,
        state: StateStore,
        images: ImageStore,
        rates: RateLimiter,
        vendor_rates: dict[str, str | None],
        metrics: Metrics,
        capacity: Capacity,
        prices: PriceBook,
        changed: Changed = no_change,
        previews: PreviewStore | None = None,
        gate: Gate = always_open,
    ) -> None:
        self.state = state
        self.previews = previews  # where a streaming vendor's partial images go
        self.gate = gate
        self.changed = changed  # told of each stored preview and deferral (live streams)
        self.images = images
        self.rates = rates
        self.vendor_rates = vendor_rates
        self.metrics = metrics
        self.capacity = capacity
        self.prices = prices

    async def attempt(self, call: Call, spend: JobSpend) -> list[PreparedImage]:
        """Checked images, or `BackendError`; the attempt is recorded either way."""
        estimate = call.estimate
        await self.gate(call.job)  # no attempt starts after the job's deadline
        if not await spend.reserve(estimate):
            raise BudgetRefused(
                f"the tenant's spend budget cannot hold another attempt ({usd(estimate)} USD)"
            )
        # A reservation left by a deferral stays on the job; the resumed attempt reuses it.
        async with self._turn(call.target.backend):
            return await self._call(call, spend)

    async def _call(self, call: Call, spend: JobSpend) -> list[PreparedImage]:
        estimate = call.estimate
        started = time.monotonic()
        outcome, cost, detail = "ok", estimate, None
        reported: dict[str, Any] | None = None
        try:
            prepared, usage = await self._generate(call)
            cost = self.prices.charge(call.target.backend, call.target.model, estimate, usage)
            reported = usage_to_json(usage)
            return prepared
        except BackendError as error:
            outcome, cost = error.outcome, (estimate if error.charged else Decimal("0"))
            detail = redact(error.message)
            raise
        except asyncio.CancelledError:
            # Abandoned (a cancel, a deadline, a shutdown): the backend has canceled its
            # vendor job; the call may still be billed, so it stays charged its estimate.
            outcome = "canceled"
            raise
        except Exception as exc:
            # A bug in a backend must not take the job down with a traceback to the client.
            log.error(
                "backend %s raised %s: %s",
                call.target.backend,
                type(exc).__name__,
                redact(str(exc)),
            )
            outcome, detail = "internal_error", f"the backend raised {type(exc).__name__}"
            raise BadResponse(f"backend {call.target.backend!r} failed unexpectedly") from exc
        finally:
            spend.ledger.charge(cost)
            took = time.monotonic() - started
            self.metrics.vendor_attempt(
                call.job.tenant, call.target.backend, outcome, cost, took, detail
            )
            await self._record(
                call.job.id,
                Attempt(
                    backend=call.target.backend,
                    model=call.target.model,
                    outcome=outcome,
                    cost=cost,
                    duration_ms=round(took * 1000),
                    estimated_cost=estimate,
                    usage=reported,
                ),
            )

    async def skipped(self, call: Call, unsupported: Unsupported) -> None:
        """Record a target passed over because it cannot honour `unsupported.param`."""
        await self._record(
            call.job.id,
            Attempt(
                backend=call.target.backend,
                model=call.target.model,
                outcome=SKIPPED + unsupported.param,
                cost=Decimal("0"),
                duration_ms=0,
            ),
        )

    async def _record(self, job_id: str, attempt: Attempt) -> None:
        await self.state.add_attempt(job_id, attempt)  # and announces it (StateStore.events)

    async def _generate(self, call: Call) -> tuple[list[PreparedImage], Usage]:
        request = call.request
        generation = await call.backend.generate(
            request, Reported(self.state, call, self._progress(call))
        )
        images = generation.images
        if len(images) != request.n:
            raise BadResponse(f"backend returned {len(images)} images, expected {request.n}")
        try:
            prepared = [
                await self.images.prepare(image.data, request.output_format, image.checked)
                for image in images
            ]
        except NotAnImage as exc:
            raise BadImage("backend returned bytes that are not a whole image") from exc
        return prepared, generation.usage

    def _progress(self, call: Call) -> Progress:
        if self.previews is None or not call.request.partial_images:
            return NO_PROGRESS
        return JobProgress(
            call.job.id, call.request.output_format, self.images, self.previews, self.changed
        )

    @asynccontextmanager
    async def _turn(self, backend: str) -> AsyncIterator[None]:
        """A concurrency slot, then a unit of the vendor's rate window (in that order, so a
        full cap wastes no rate unit); `Deferred` when either is full."""
        try:
            async with self.capacity.slot(backend):
                await self._rate_unit(backend)
                yield
        except CapacityFull:  # raised on entry only: nothing in a call raises it
            raise Deferred(backend, "concurrency", capacity_delay()) from None

    async def _rate_unit(self, backend: str) -> None:
        try:
            await self.rates.acquire(self.vendor_rates.get(backend), "backend", backend)
        except Refused as refused:
            # The window frees a unit in `reset` seconds; jitter spreads the comeback.
            delay = refused.state.reset + random.uniform(0.0, 0.25)
            raise Deferred(backend, "rate", delay) from None
