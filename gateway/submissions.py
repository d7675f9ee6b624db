"""The use cases every surface calls: submit a job, poll it, wait for it.

Handlers (the job API, batches, the OpenAI-compatible /v1 surface) authenticate, parse the
request into a `JobSpec`, call one method here and render what it returns; they never
touch admission, fingerprints or the state store themselves. Errors are raised from
`gateway.errors` and rendered by each surface's handler. A new use case is a new method
here that its handlers call.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, replace
from datetime import datetime
from typing import TYPE_CHECKING, TypeVar

from gateway.errors import (
    ApiError,
    job_not_cancelable,
    job_not_found,
    webhook_not_redeliverable,
)
from gateway.events import wait_until_ended
from gateway.fingerprint import fingerprint
from gateway.input_images import Inputs, prepare_inputs
from gateway.jobs import Job, JobSpec, client_cancel, new_job_id, utcnow
from gateway.previews.following import PreviewImage, follow_previews
from gateway.quotas import Refused, rate_limited
from gateway.state.base import ListQuery, Page
from gateway.usage.recorder import birth_usage
from gateway.webhooks.schedule import redelivery
from gateway.webhooks.target import webhook_target

if TYPE_CHECKING:
    from gateway.services import Gateway


@dataclass(frozen=True)
class Submitted:
    """An admitted job, as stored, and the RateLimit-* headers of the tenant's window."""

    job: Job
    headers: dict[str, str]

    @property
    def location(self) -> str:
        return f"/images/jobs/{self.job.id}"


T = TypeVar("T")
# How long a cancel waits for a RUNNING job's worker to stop it before answering 202.
# Longer than the worker's STOP_CHECK_EVERY (gateway/worker.py), its re-read of the job for
# a wake-up it did not get (a cancel published before its watch listened): such a cancel
# still sees the job stopped within this wait.
CANCEL_WAIT = 5.0


class Submissions:
    """Submit, poll and wait, with every quota, budget and cache rule applied once.

    It reads the gateway's parts at each call (settings and plans are swapped on reload).
    """

    def __init__(self, gateway: Gateway) -> None:
        self.gateway = gateway

    async def submit(
        self,
        tenant: str,
        spec: JobSpec,
        inputs: Inputs | None = None,
        *,
        deadline: datetime | None = None,
    ) -> Submitted:
        """Admit a job for `tenant`: cached at birth, joined to an identical job in flight,
        or queued; with a `deadline`, it ends CANCELED if still unfinished then. Raises 400
        for what the route cannot honour and the 429s of the tenant's limits (a refusal
        stores no job).

        `inputs` (an edit's or variation's checked images) are stored by sha256 once the
        route is known to take them; the job carries their keys, so identical inputs give
        identical fingerprints."""
        gateway = self.gateway
        plan = gateway.plan(tenant)
        if not gateway.settings.may_use(tenant, spec.model):
            raise ApiError(
                403, "model_forbidden", f"this key may not use model {spec.model!r}", param="model"
            )
        prepared = await prepare_inputs(gateway.images, inputs) if inputs else None
        if prepared is not None:
            spec = replace(spec, images=prepared.keys, mask=prepared.mask_key)
        gateway.check_honoured(spec)
        webhook = await webhook_target(gateway.settings, gateway.outbound, tenant, spec.webhook_url)
        if prepared is not None:
            await prepared.upload(gateway.images)
        scope = tenant if gateway.settings.cache.scope == "tenant" else None
        job = Job(
            id=new_job_id(),
            tenant=tenant,
            spec=spec,
            fingerprint=fingerprint(spec, scope),
            deadline=deadline,
            webhook=webhook,
        )
        target = gateway.first_target(spec)
        cached = None if spec.no_cache else birth_usage(tenant, spec, utcnow(), target)
        stored, headers = await gateway.admission.admit(job, plan, target[1], cached)
        if stored.status.terminal:
            # Born finished (from the cache): no worker will announce it, so we do (its
            # usage is already recorded, by the store, in the step that stored it).
            await gateway.endings.announce([stored])
        return Submitted(stored, headers)

    async def poll(self, tenant: str, job_id: str) -> Job:
        """The tenant's job, after its poll rate; another tenant's job is not found."""
        job = await self._load_polled(tenant, job_id)
        # Another tenant's job answers exactly like a missing one.
        if job is None or job.tenant != tenant:
            raise job_not_found(job_id)
        return job

    async def cancel(self, tenant: str, job_id: str) -> Job:
        """Cancel the tenant's job: a PENDING one ends CANCELED at once; a RUNNING one is
        stopped by its worker (waited for up to `CANCEL_WAIT`), or, when other jobs
        wait on its execution, ends CANCELED when that ends. 409 for a job that already
        ended; another tenant's job is not found."""
        job = await self.gateway.state.get_job(job_id)
        if job is None or job.tenant != tenant:
            raise job_not_found(job_id)
        if job.status.terminal:
            raise job_not_cancelable(job)
        outcome = await self.gateway.cancels.cancel(job_id, client_cancel())
        current = outcome.job or job
        if current.status.terminal and not outcome.ended:
            raise job_not_cancelable(current)  # it ended on its own meanwhile
        if outcome.stopping == job_id:
            current = await self.wait(current, CANCEL_WAIT)
        return current

    async def redeliver_webhook(self, tenant: str, job_id: str) -> Job:
        """Deliver the tenant's ended job's webhook again, now, with a fresh retry
        schedule and the same event id. 409 for a job without a webhook or not ended yet."""
        job = await self.gateway.state.get_job(job_id)
        if job is None or job.tenant != tenant:
            raise job_not_found(job_id)
        webhook = job.webhook
        if webhook is None:
            raise webhook_not_redeliverable(f"job {job.id} has no webhook URL")
        if not job.status.terminal:
            raise webhook_not_redeliverable(
                f"job {job.id} is {job.status.value}: its webhook is sent when it ends"
            )
        recorded = await self.gateway.state.outbox.record(
            job.id, webhook.attempts, redelivery(webhook), 0.0
        )
        # None: an attempt started meanwhile; it delivers (or reschedules) the event.
        current = recorded or await self.gateway.state.get_job(job_id) or job
        self.gateway.webhooks.wake()
        return current

    async def list_jobs(self, query: ListQuery) -> Page:
        """A page of the tenant's own jobs, newest first (one read of its poll rate)."""
        return await self._polled(query.tenant, lambda: self.gateway.state.list_jobs(query))

    async def wait(self, job: Job, timeout: float) -> Job:
        """The job once it is terminal, or as it is after `timeout` seconds.

        Wakes on the job's change notification (published by whichever process finished
        it), not by polling. A caller that goes away cancels only this wait: the job keeps
        running and can be fetched later.
        """
        if job.status.terminal or timeout <= 0:
            return job
        gateway = self.gateway
        ended = await wait_until_ended(gateway.state, gateway.events, job.id, timeout)
        return ended or job

    def follow(self, job: Job, timeout: float) -> AsyncIterator[PreviewImage | Job]:
        """For a stream: the partial images a streaming vendor sends for the job's
        execution, as they are stored (in any process), then the job once it ended (or as
        it is after `timeout` seconds)."""
        gateway = self.gateway
        return follow_previews(
            gateway.state, gateway.events, gateway.previews, gateway.images, job, timeout
        )

    async def _load_polled(self, tenant: str, job_id: str) -> Job | None:
        """The job, after the tenant's poll rate."""
        return await self._polled(tenant, lambda: self.gateway.state.get_job(job_id))

    async def _polled(self, tenant: str, read: Callable[[], Awaitable[T]]) -> T:
        """`read()`, after one unit of the tenant's poll rate; both go out together (one
        wait), and a refused poll answers 429 whatever the read found."""
        gateway = self.gateway
        rule = gateway.plan(tenant).poll_rate
        if not rule:
            return await read()
        polled, loaded = await asyncio.gather(
            gateway.admission.rates.acquire(rule, "poll", tenant),
            read(),
            return_exceptions=True,
        )
        if isinstance(polled, Refused):
            gateway.metrics.refused(tenant, "rate_limited")
            raise rate_limited(polled.state, "poll")
        if isinstance(polled, BaseException):
            raise polled
        if isinstance(loaded, BaseException):
            raise loaded
        return loaded
