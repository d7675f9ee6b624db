"""The job API: `POST /images/jobs`, `GET /images/jobs/{id}` and
`POST /images/jobs/{id}/cancel` (adapters over Submissions)."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from gateway.api.envelope import ok, read_json
from gateway.api.idempotent import idempotent
from gateway.api.job_request import parse_deadline, parse_job_request
from gateway.api.prefer import preferences
from gateway.services import Gateway


def _gateway(request: Request) -> Gateway:
    gateway: Gateway = request.app.state.gateway
    return gateway


async def submit_job(request: Request) -> JSONResponse:
    gateway = _gateway(request)
    tenant = gateway.keyring.authenticate(request.headers)
    body = await read_json(request, gateway.settings.server.max_body_bytes)
    spec = parse_job_request(body, gateway.settings)
    deadline = parse_deadline(body, request.headers)
    submitted = await gateway.submissions.submit(tenant, spec, deadline=deadline)
    headers = {"Location": submitted.location, **submitted.headers}
    job = submitted.job
    wait = preferences(request.headers).wait
    if wait is not None:
        # `Prefer: wait=N`: the finished job if it ends within N seconds (capped), else 202.
        waited = min(wait, gateway.settings.openai_api.wait_limit)
        job = await gateway.submissions.wait(job, waited)
        headers["Preference-Applied"] = f"wait={waited:g}"
        if job.status.terminal:
            return ok(await gateway.present(job), headers=headers)
    return ok(
        {"jobId": job.id, "status": job.status.value, "cached": job.cached},
        status=202,
        headers=headers,
    )


async def get_job(request: Request) -> JSONResponse:
    gateway = _gateway(request)
    tenant = gateway.keyring.authenticate(request.headers)
    job = await gateway.submissions.poll(tenant, request.path_params["job_id"])
    return ok(await gateway.present(job))


async def cancel_job(request: Request) -> JSONResponse:
    """`200` with the job once CANCELED; `202` with it while its worker is still
    stopping it (or while others wait on its execution)."""
    gateway = _gateway(request)
    tenant = gateway.keyring.authenticate(request.headers)
    job = await gateway.submissions.cancel(tenant, request.path_params["job_id"])
    return ok(await gateway.present(job), status=200 if job.status.terminal else 202)


routes = [
    Route("/images/jobs", idempotent(submit_job), methods=["POST"]),
    Route("/images/jobs/{job_id}", get_job, methods=["GET"]),
    Route("/images/jobs/{job_id}/cancel", idempotent(cancel_job), methods=["POST"]),
]
