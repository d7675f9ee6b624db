"""Submit a batch (each item admitted on its own, in order) and read one back.

An item is refused with the same public error a lone `POST /images/jobs` would have got
(`invalid_request`, `model_not_found`, `rate_limited`, `concurrency_limited`,
`budget_exhausted`, ...); a refusal stores nothing for that item and the others go on.
If the state store becomes unreachable mid-batch, the items not yet admitted are refused
`state_unavailable` at once (no two-second wait per item); the batch keeps what was
admitted before.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING

from gateway.batches.base import Batch, BatchItem, new_batch_id
from gateway.errors import ApiError
from gateway.jobs import Job, JobError, JobSpec, client_cancel, utcnow
from gateway.quotas import Refused, rate_limited
from gateway.state.base import StateUnavailable

if TYPE_CHECKING:
    from gateway.services import Gateway

QUOTA_HEADERS = ("RateLimit-Limit", "RateLimit-Remaining", "RateLimit-Reset")


@dataclass(frozen=True)
class Order:
    """One parsed item: what the job asks for, and its deadline."""

    spec: JobSpec
    deadline: datetime | None = None


@dataclass(frozen=True)
class Submitted:
    batch: Batch
    jobs: dict[str, Job]  # the admitted jobs as stored, by id
    headers: dict[str, str]  # RateLimit-* after the last item


def batch_not_found(batch_id: str) -> ApiError:
    return ApiError(404, "batch_not_found", f"no batch with id {batch_id[:64]!r}")


async def admit_one(gateway: Gateway, tenant: str, order: Order) -> tuple[Job, dict[str, str]]:
    """What `POST /images/jobs` does with one job: the stored job and its quota headers."""
    submitted = await gateway.submissions.submit(tenant, order.spec, deadline=order.deadline)
    return submitted.job, submitted.headers


async def submit_batch(gateway: Gateway, tenant: str, specs: list[Order | ApiError]) -> Submitted:
    """Admit each parsed job in order (an item that did not parse is refused as it is)."""
    items: list[BatchItem] = []
    jobs: dict[str, Job] = {}
    headers: dict[str, str] = {}
    unavailable: JobError | None = None
    for spec in specs:
        if unavailable is not None:
            items.append(BatchItem(refusal=unavailable))
            continue
        try:
            if isinstance(spec, ApiError):
                raise spec
            job, quota = await admit_one(gateway, tenant, spec)
        except ApiError as error:
            items.append(BatchItem(refusal=JobError(error.code, error.message)))
            quota = {k: v for k, v in error.headers.items() if k in QUOTA_HEADERS}
        except StateUnavailable:
            unavailable = JobError("state_unavailable", "the gateway's state store is unavailable")
            items.append(BatchItem(refusal=unavailable))
            continue
        else:
            items.append(BatchItem(job_id=job.id))
            jobs[job.id] = job
        headers = quota or headers
    batch = Batch(new_batch_id(), tenant, utcnow(), tuple(items))
    await gateway.batches.put(batch, gateway.settings.state.job_ttl)
    return Submitted(batch, jobs, headers)


async def load_batch(gateway: Gateway, tenant: str, batch_id: str) -> tuple[Batch, dict[str, Job]]:
    """The tenant's batch and its jobs still stored, after one read of its poll rate."""
    rule = gateway.plan(tenant).poll_rate
    if rule:
        try:
            await gateway.admission.rates.acquire(rule, "poll", tenant)
        except Refused as refused:
            raise rate_limited(refused.state, "poll") from None
    batch = await gateway.batches.get(batch_id)
    if batch is None or batch.tenant != tenant:  # another tenant's batch: like a missing one
        raise batch_not_found(batch_id)
    loaded = await asyncio.gather(*(gateway.state.get_job(job_id) for job_id in batch.job_ids))
    return batch, {job.id: job for job in loaded if job is not None}


@dataclass(frozen=True)
class BatchCanceled:
    batch: Batch
    counts: dict[str, int]  # canceled (ended now), canceling (stopping), ended, expired


async def cancel_batch(gateway: Gateway, tenant: str, batch_id: str) -> BatchCanceled:
    """Cancel each of the batch's jobs that has not ended (one read of its poll rate)."""
    batch, jobs = await load_batch(gateway, tenant, batch_id)
    counts = {"canceled": 0, "canceling": 0, "ended": 0, "expired": 0}
    for job_id in batch.job_ids:
        job = jobs.get(job_id)
        if job is None:
            counts["expired"] += 1
            continue
        if job.status.terminal:
            counts["ended"] += 1
            continue
        outcome = await gateway.cancels.cancel(job_id, client_cancel())
        if any(ended.id == job_id for ended in outcome.ended):
            counts["canceled"] += 1
        elif outcome.job is not None and not outcome.job.status.terminal:
            counts["canceling"] += 1
        else:
            counts["ended"] += 1
    return BatchCanceled(batch, counts)
