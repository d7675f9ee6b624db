"""The job API: `POST /images/jobs` and `GET /images/jobs/{id}`."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from gateway.api.envelope import ok, read_json
from gateway.api.job_request import parse_job_request
from gateway.errors import job_not_found
from gateway.fingerprint import fingerprint
from gateway.jobs import Job, new_job_id
from gateway.quotas import Refused, concurrency_limited, rate_limited
from gateway.services import Gateway
from gateway.state.base import ConcurrencyLimited


def _gateway(request: Request) -> Gateway:
    gateway: Gateway = request.app.state.gateway
    return gateway


async def _admit(gateway: Gateway, tenant: str, job: Job) -> tuple[Job, dict[str, str]]:
    """Apply the tenant's quotas and store the job; a refusal changes nothing."""
    plan = gateway.plans[tenant]
    limit = plan.max_concurrent
    # Checked before the rate hit so a refusal here does not spend a rate unit; the
    # store checks again atomically, so concurrent submits cannot overshoot the cap.
    if limit is not None and await gateway.state.count_active(tenant) >= limit:
        raise concurrency_limited(limit)
    try:
        quota = await gateway.rates.hit(plan.rate, "submit", tenant)
    except Refused as refused:
        raise rate_limited(refused.state, "submission") from None
    try:
        stored = await gateway.state.submit(job, max_active=limit)
    except ConcurrencyLimited:
        raise concurrency_limited(limit or 0) from None
    return stored, quota.headers() if quota else {}


async def submit_job(request: Request) -> JSONResponse:
    gateway = _gateway(request)
    settings = gateway.settings
    tenant = gateway.keyring.authenticate(request.headers)
    spec = parse_job_request(await read_json(request, settings.server.max_body_bytes), settings)
    scope = tenant if settings.cache.scope == "tenant" else None
    job = Job(id=new_job_id(), tenant=tenant, spec=spec, fingerprint=fingerprint(spec, scope))
    stored, quota_headers = await _admit(gateway, tenant, job)
    if stored.status.terminal:
        await gateway.notifier.jobs_finished([stored])
    return ok(
        {"jobId": stored.id, "status": stored.status.value, "cached": stored.cached},
        status=202,
        headers={"Location": f"/images/jobs/{stored.id}", **quota_headers},
    )


async def get_job(request: Request) -> JSONResponse:
    gateway = _gateway(request)
    tenant = gateway.keyring.authenticate(request.headers)
    try:
        quota = await gateway.rates.hit(gateway.plans[tenant].poll_rate, "poll", tenant)
    except Refused as refused:
        raise rate_limited(refused.state, "poll") from None
    job_id = request.path_params["job_id"]
    job = await gateway.state.get_job(job_id)
    # Another tenant's job answers exactly like a missing one.
    if job is None or job.tenant != tenant:
        raise job_not_found(job_id)
    return ok(gateway.present(job), headers=quota.headers() if quota else None)


routes = [
    Route("/images/jobs", submit_job, methods=["POST"]),
    Route("/images/jobs/{job_id}", get_job, methods=["GET"]),
]
