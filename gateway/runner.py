"""Run one job: walk the model's route, attempt each target under the retry/cost policy,
check and store the images, and build the result record (or the public error)."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable, Mapping
from decimal import Decimal

from tenacity import RetryError

from backends.base import Backend, BackendError, GenerationRequest
from backends.imaging import NotAnImage
from gateway.budgets import Budget, Budgets
from gateway.errors import redact
from gateway.fingerprint import prompt_digest
from gateway.jobs import Attempt, Job, JobError, JobResult, JobSpec, StoredImage
from gateway.quotas import RateLimiter, Refused
from gateway.retry import retrying, upload_retrying
from gateway.settings import Settings, Target
from gateway.spend import JobSpend
from gateway.state.base import StateStore
from gateway.storage import ImageStore, PreparedImage, StorageUnavailable
from gateway.units import parse_size

log = logging.getLogger("imagegate.runner")

Sleep = Callable[[float], Awaitable[None]]
FAIL_FAST = frozenset({"content_rejected", "budget_exhausted"})  # no retry, no fallback


def generation_request(spec: JobSpec, vendor_model: str) -> GenerationRequest:
    width, height = parse_size(spec.size)
    return GenerationRequest(
        prompt=spec.prompt,
        model=vendor_model,
        width=width,
        height=height,
        n=spec.n,
        seed=spec.seed,
        negative_prompt=spec.negative_prompt,
        quality=spec.quality,
        output_format=spec.output_format,
    )


class JobRunner:
    def __init__(
        self,
        *,
        settings: Settings,
        backends: Mapping[str, Backend],
        images: ImageStore,
        state: StateStore,
        rates: RateLimiter,
        budgets: Budgets,
        sleep: Sleep = asyncio.sleep,
    ) -> None:
        self.settings = settings
        self.backends = backends
        self.images = images
        self.state = state
        self.rates = rates
        self.budgets = budgets
        self.sleep = sleep

    def spend_for(self, job: Job) -> JobSpend:
        plan = self.settings.plan_for(job.tenant)
        return JobSpend(
            job.tenant,
            plan.max_cost_per_job,
            Budget.parse(plan.budget),
            self.budgets,
            job.reserved,
        )

    async def run(self, job: Job) -> JobResult | JobError:
        """The job's result record, or the public error it failed with."""
        spend = self.spend_for(job)
        try:
            return await self._run(job, spend)
        finally:
            await spend.settle()

    async def _run(self, job: Job, spend: JobSpend) -> JobResult | JobError:
        ledger = spend.ledger
        failure = JobError("backend_unavailable", "no backend could serve the request")
        for target in self.settings.models[job.spec.model].targets:
            backend = self.backends[target.backend]
            request = generation_request(job.spec, target.model)
            estimate = backend.estimate_cost(request)
            if not ledger.can_afford(estimate):
                failure = _cap_failure(failure, ledger.limit, ledger.spent, ledger.attempts)
                break
            started = time.monotonic()
            try:
                prepared = await self._attempt_target(job, target, backend, request, spend)
            except BackendError as error:
                failure = _failure_from(error, spend, estimate)
                if error.code in FAIL_FAST:
                    break
                continue
            try:
                stored = await self._store(prepared)
            except StorageUnavailable as exc:
                # The image exists and was paid for: no fallback target, no new vendor call.
                log.error("job %s: storing its images failed: %s", job.id, exc)
                return JobError(
                    "storage_unavailable",
                    "the image was generated but could not be stored; retry later",
                )
            return JobResult(
                prompt_sha256=prompt_digest(job.spec.prompt),
                model=job.spec.model,
                size=job.spec.size,
                backend=target.backend,
                duration_ms=round((time.monotonic() - started) * 1000),
                attempts=ledger.attempts,
                cost=ledger.spent,
                images=stored,
            )
        return failure

    async def _attempt_target(
        self,
        job: Job,
        target: Target,
        backend: Backend,
        request: GenerationRequest,
        spend: JobSpend,
    ) -> list[PreparedImage]:
        estimate = backend.estimate_cost(request)
        try:
            async for attempt in retrying(
                self.settings.retry, spend.ledger, lambda: estimate, sleep=self.sleep
            ):
                with attempt:
                    return await self._one_attempt(job, target, backend, request, spend)
        except RetryError:  # stopped before any attempt was made
            raise BackendError(
                "retry_budget_exhausted", "no attempt fits the budget", retryable=False
            ) from None
        raise AssertionError("unreachable: tenacity either returns or raises")

    async def _one_attempt(
        self,
        job: Job,
        target: Target,
        backend: Backend,
        request: GenerationRequest,
        spend: JobSpend,
    ) -> list[PreparedImage]:
        estimate = backend.estimate_cost(request)
        if not await spend.reserve(estimate):
            raise BackendError(
                "budget_exhausted",
                f"the tenant's spend budget cannot hold another attempt ({estimate} USD)",
                retryable=False,
            )
        await self._vendor_rate(target.backend)
        started = time.monotonic()
        outcome, cost = "ok", estimate
        try:
            generated = await backend.generate(request)
            if len(generated) != request.n:
                raise BackendError(
                    "backend_unavailable",
                    f"backend returned {len(generated)} images, expected {request.n}",
                    retryable=True,
                    charged=True,
                )
            try:
                return [
                    await self.images.prepare(image.data, request.output_format)
                    for image in generated
                ]
            except NotAnImage as exc:
                raise BackendError(
                    "backend_unavailable",
                    "backend returned bytes that are not a whole image",
                    retryable=True,
                    charged=True,
                ) from exc
        except BackendError as error:
            outcome, cost = error.code, (estimate if error.charged else Decimal("0"))
            raise
        except Exception as exc:
            # A bug in a backend must not take the job down with a traceback to the client.
            log.error(
                "backend %s raised %s: %s", target.backend, type(exc).__name__, redact(str(exc))
            )
            outcome, cost = "internal_error", estimate
            raise BackendError(
                "backend_unavailable",
                f"backend {target.backend!r} failed unexpectedly",
                retryable=True,
                charged=True,
            ) from exc
        finally:
            spend.ledger.charge(cost)
            await self.state.add_attempt(
                job.id,
                Attempt(
                    backend=target.backend,
                    model=target.model,
                    outcome=outcome,
                    cost=cost,
                    duration_ms=round((time.monotonic() - started) * 1000),
                ),
            )

    async def _vendor_rate(self, backend: str) -> None:
        """Wait (the job stays claimed) until the vendor's shared rate window has room."""
        rule = self.settings.backends[backend].rate
        while True:
            try:
                await self.rates.hit(rule, "backend", backend)
                return
            except Refused as refused:
                await self.sleep(max(0.05, float(refused.state.reset)))

    async def _store(self, prepared: list[PreparedImage]) -> tuple[StoredImage, ...]:
        """Upload each image under the bounded upload policy; the bytes stay in memory
        meanwhile, so a storage fault never sends the job back to the vendor."""
        stored: list[StoredImage] = []
        for image in prepared:
            async for attempt in upload_retrying(self.settings.storage.upload_attempts, self.sleep):
                with attempt:
                    stored.append(await self.images.upload(image))
        return tuple(stored)


def _cap_failure(
    previous: JobError, limit: Decimal | None, spent: Decimal, attempts: int
) -> JobError:
    detail = f"; last error: {previous.message}" if attempts else ""
    return JobError(
        "retry_budget_exhausted",
        f"the job's cost cap ({limit} USD) cannot pay for another attempt "
        f"(spent {spent} USD in {attempts} attempts){detail}",
    )


def _failure_from(error: BackendError, spend: JobSpend, estimate: Decimal) -> JobError:
    ledger = spend.ledger
    message = redact(error.message)
    if not error.retryable:
        return JobError(error.code, message)
    if not ledger.can_afford(estimate):
        return _cap_failure(
            JobError(error.code, message), ledger.limit, ledger.spent, ledger.attempts
        )
    return JobError(
        "retry_budget_exhausted",
        f"{ledger.attempts} attempts failed; last error: {error.code}: {message}",
    )
