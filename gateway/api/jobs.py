"""The job API: `POST /images/jobs` and `GET /images/jobs/{id}`."""

from __future__ import annotations

import asyncio

from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from gateway.api.envelope import ok, read_json
from gateway.api.idempotent import idempotent
from gateway.api.job_request import parse_job_request
from gateway.errors import job_not_found
from gateway.fingerprint import fingerprint
from gateway.jobs import Job, new_job_id
from gateway.quotas import Refused, rate_limited
from gateway.services import Gateway


def _gateway(request: Request) -> Gateway:
    gateway: Gateway = request.app.state.gateway
    return gateway


async def submit_job(request: Request) -> JSONResponse:
    gateway = _gateway(request)
    settings = gateway.settings
    tenant = gateway.keyring.authenticate(request.headers)
    spec = parse_job_request(await read_json(request, settings.server.max_body_bytes), settings)
    gateway.check_honoured(spec)
    scope = tenant if settings.cache.scope == "tenant" else None
    job = Job(id=new_job_id(), tenant=tenant, spec=spec, fingerprint=fingerprint(spec, scope))
    stored, quota_headers = await gateway.admission.admit(
        job, gateway.plan(tenant), gateway.first_attempt_estimate(spec)
    )
    if stored.status.terminal:
        await gateway.endings.announce([stored])
    return ok(
        {"jobId": stored.id, "status": stored.status.value, "cached": stored.cached},
        status=202,
        headers={"Location": f"/images/jobs/{stored.id}", **quota_headers},
    )


async def _load_polled(gateway: Gateway, tenant: str, job_id: str) -> Job | None:
    """The job, after the tenant's poll rate; both go out together (one wait)."""
    rule = gateway.plan(tenant).poll_rate
    if not rule:
        return await gateway.state.get_job(job_id)
    polled, loaded = await asyncio.gather(
        gateway.admission.rates.acquire(rule, "poll", tenant),
        gateway.state.get_job(job_id),
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


async def get_job(request: Request) -> JSONResponse:
    gateway = _gateway(request)
    tenant = gateway.keyring.authenticate(request.headers)
    job_id = request.path_params["job_id"]
    job = await _load_polled(gateway, tenant, job_id)
    # Another tenant's job answers exactly like a missing one.
    if job is None or job.tenant != tenant:
        raise job_not_found(job_id)
    return ok(await gateway.present(job))


routes = [
    Route("/images/jobs", idempotent(submit_job), methods=["POST"]),
    Route("/images/jobs/{job_id}", get_job, methods=["GET"]),
]
