"""Run one job: walk the model's route, attempt each target under the retry/cost policy,
check and store the images, and build the result record (or the public error)."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from decimal import Decimal
from typing import cast

from tenacity import RetryError

from backends.base import Backend, GenerationRequest, Operation
from backends.errors import BackendError, ContentRefused
from gateway.attempt import Attempter, BudgetRefused, Call, Gate, NoAttemptFits, Sleep, always_open
from gateway.budgets import Budget, Budgets
from gateway.capacity import Capacity, LocalCapacity
from gateway.deferral import Deferred
from gateway.directory import Live
from gateway.errors import redact
from gateway.events.base import Changed, no_change
from gateway.fingerprint import prompt_digest
from gateway.jobs import Job, JobError, JobResult, JobSpec, Resume, StoredImage
from gateway.metrics import Metrics
from gateway.money.book import PriceBook
from gateway.money.format import usd
from gateway.previews import PreviewStore
from gateway.quotas import RateLimiter
from gateway.retry import retrying, upload_retrying
from gateway.settings import Settings
from gateway.spend import JobSpend
from gateway.state.base import StateStore
from gateway.storage import ImageStore, PreparedImage, StorageUnavailable
from gateway.units import parse_size

log = logging.getLogger("imagegate.runner")

FAIL_FAST = (ContentRefused, BudgetRefused)  # no retry, no fallback


@dataclass(frozen=True)
class InputBytes:
    """An edit's or variation's inputs as read back from storage, with URLs to them."""

    images: tuple[bytes, ...] = ()
    mask: bytes | None = None
    image_urls: tuple[str, ...] = ()
    mask_url: str | None = None


def counted_inputs(spec: JobSpec) -> InputBytes:
    """Stand-ins for checking capabilities, which count inputs and never read them."""
    return InputBytes(tuple(b"" for _ in spec.images), b"" if spec.mask else None)


def generation_request(
    spec: JobSpec, vendor_model: str, inputs: InputBytes | None = None
) -> GenerationRequest:
    width, height = parse_size(spec.size)
    inputs = inputs or counted_inputs(spec)
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
        operation=cast(Operation, spec.operation),
        images=inputs.images,
        mask=inputs.mask,
        image_urls=inputs.image_urls,
        mask_url=inputs.mask_url,
        input_fidelity=spec.input_fidelity,
        partial_images=spec.partial_images,
    )


class JobRunner:
    def __init__(
        self,
        *,
        live: Live,
        backends: Mapping[str, Backend],
        images: ImageStore,
        state: StateStore,
        rates: RateLimiter,
        budgets: Budgets,
        sleep: Sleep = asyncio.sleep,
        metrics: Metrics | None = None,
        capacity: Capacity | None = None,
        changed: Changed = no_change,
        gate: Gate = always_open,
        input_url: Callable[[str], Awaitable[str]] | None = None,
        previews: PreviewStore | None = None,
    ) -> None:
        self.live = live  # the tenant directory in force (a reload replaces it)
        settings = live.current.settings
        self.input_url = input_url  # the URL a vendor fetches a stored input from
        self.backends = backends
        self.images = images
        self.state = state
        self.rates = rates
        self.budgets = budgets
        self.sleep = sleep
        self.prices = PriceBook(settings.backends)
        self.metrics = metrics or Metrics(settings)
        self.attempter = Attempter(
            state,
            images,
            rates,
            {name: backend.rate for name, backend in settings.backends.items()},
            self.metrics,
            capacity or LocalCapacity({n: b.max_concurrency for n, b in settings.backends.items()}),
            self.prices,
            changed,
            previews,
            gate,
        )

    @property
    def settings(self) -> Settings:
        return self.live.current.settings

    def spend_for(self, job: Job) -> JobSpend:
        plan = self.settings.plan_for(job.tenant)
        return JobSpend(job, plan.max_cost_per_job, Budget.parse(plan.budget), self.budgets)

    async def run(self, job: Job) -> JobResult | JobError:
        """The job's result record, or the public error it failed with. (What was reserved
        and not charged goes back in the store's step that ends the job.)

        Raises `Deferred` (with `resume` set) when the next attempt cannot start yet."""
        return await self._run(job, self.spend_for(job))

    async def _run(self, job: Job, spend: JobSpend) -> JobResult | JobError:
        ledger = spend.ledger
        nothing_tried = failure = JobError(
            "backend_unavailable", "no backend could serve the request"
        )
        inputs = await self._inputs(job)
        if isinstance(inputs, JobError):
            return inputs
        targets = self.settings.models[job.spec.model].targets
        # A deferred job resumes at the target it stood at, with the tries made there.
        resume = job.resume if job.resume and job.resume.target < len(targets) else None
        for index, target in enumerate(targets):
            if resume is not None and index < resume.target:
                continue
            tried = resume.tries if resume is not None and index == resume.target else 0
            call = Call(
                job,
                target,
                self.backends[target.backend],
                generation_request(job.spec, target.model, inputs),
                self.prices.estimate(
                    target.backend, target.model, job.spec.size, job.spec.quality, job.spec.n
                ),
            )
            unsupported = call.backend.capabilities(target.model).check(call.request)
            if unsupported is not None:
                # A fallback that cannot honour the request is skipped, never half-served.
                await self.attempter.skipped(call, unsupported)
                if failure is nothing_tried:
                    failure = JobError(
                        "backend_unavailable", f"no target could honour it: {unsupported.message}"
                    )
                continue
            estimate = call.estimate
            if not ledger.can_afford(estimate):
                failure = _cap_failure(failure, ledger.limit, ledger.spent, ledger.attempts)
                break
            started = time.monotonic()
            before = ledger.attempts
            try:
                prepared = await self._attempt_target(call, spend, tried)
            except Deferred as deferred:
                deferred.resume = Resume(index, tried + ledger.attempts - before)
                raise
            except BackendError as error:
                failure = _failure_from(error, spend, estimate)
                if isinstance(error, FAIL_FAST):
                    break
                continue
            try:
                stored = await self._store(prepared)
            except StorageUnavailable as exc:
                # The image exists and was paid for: no fallback target, no new vendor call.
                self.metrics.storage_error("worker")
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

    async def _inputs(self, job: Job) -> InputBytes | JobError:
        """The job's input images read back from storage (and their URLs), once per run."""
        spec = job.spec
        if not spec.images:
            return InputBytes()
        keys = (*spec.images, *((spec.mask,) if spec.mask else ()))
        try:
            found = [await self.images.get(key) for key in keys]
        except StorageUnavailable as exc:
            self.metrics.storage_error("worker")
            log.error("job %s: reading its input images failed: %s", job.id, exc)
            return JobError("storage_unavailable", "the job's input images cannot be read")
        if any(item is None for item in found):
            return JobError("storage_unavailable", "an input image of the job is missing")
        data = [item.data for item in found if item is not None]
        urls = [await self.input_url(key) for key in keys] if self.input_url else []
        count = len(spec.images)
        return InputBytes(
            tuple(data[:count]),
            data[count] if spec.mask else None,
            tuple(urls[:count]),
            urls[count] if spec.mask and urls else None,
        )

    async def _attempt_target(
        self, call: Call, spend: JobSpend, tried: int = 0
    ) -> list[PreparedImage]:
        """Attempts at one target under the retry policy (attempt cap, job cost cap);
        `tried` attempts were made there by earlier deliveries (before a deferral)."""
        estimate = call.estimate
        try:
            async for attempt in retrying(
                self.settings.retry,
                spend.ledger,
                lambda: estimate,
                self.sleep,
                tried,
                call.target.backend,
            ):
                with attempt:
                    return await self.attempter.attempt(call, spend)
        except RetryError:  # stopped before any attempt was made
            raise NoAttemptFits("no attempt fits the budget") from None
        raise AssertionError("unreachable: tenacity either returns or raises")

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
    cap = usd(limit) if limit is not None else "none"
    return JobError(
        "retry_budget_exhausted",
        f"the job's cost cap ({cap} USD) cannot pay for another attempt "
        f"(spent {usd(spent)} USD in {attempts} attempts){detail}",
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
