"""The job API: `POST /images/jobs` and `GET /images/jobs/{id}` (adapters over Submissions)."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from gateway.api.envelope import ok, read_json
from gateway.api.idempotent import idempotent
from gateway.api.job_request import parse_job_request
from gateway.services import Gateway


def _gateway(request: Request) -> Gateway:
    gateway: Gateway = request.app.state.gateway
    return gateway


async def submit_job(request: Request) -> JSONResponse:
    gateway = _gateway(request)
    tenant = gateway.keyring.authenticate(request.headers)
    body = await read_json(request, gateway.settings.server.max_body_bytes)
    submitted = await gateway.submissions.submit(tenant, parse_job_request(body, gateway.settings))
    job = submitted.job
    return ok(
        {"jobId": job.id, "status": job.status.value, "cached": job.cached},
        status=202,
        headers={"Location": submitted.location, **submitted.headers},
    )


async def get_job(request: Request) -> JSONResponse:
    gateway = _gateway(request)
    tenant = gateway.keyring.authenticate(request.headers)
    job = await gateway.submissions.poll(tenant, request.path_params["job_id"])
    return ok(await gateway.present(job))


routes = [
    Route("/images/jobs", idempotent(submit_job), methods=["POST"]),
    Route("/images/jobs/{job_id}", get_job, methods=["GET"]),
]
