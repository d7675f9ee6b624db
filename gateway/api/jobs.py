"""The job API: `POST /images/jobs`, `GET /images/jobs/{id}` and
`POST /images/jobs/{id}/cancel` (adapters over Submissions)."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from gateway.api.envelope import ok, read_json_bytes
from gateway.api.idempotent import idempotent
from gateway.api.image_refs import read_image_ref
from gateway.api.job_listing import list_jobs
from gateway.api.job_request import input_refs, parse_deadline, parse_job_request
from gateway.api.json_body import decode_json
from gateway.api.prefer import preferences
from gateway.errors import ApiError
from gateway.input_images import Inputs, checked
from gateway.services import Gateway
from gateway.settings import Settings


def _gateway(request: Request) -> Gateway:
    gateway: Gateway = request.app.state.gateway
    return gateway


def body_limit(settings: Settings) -> int:
    """A body carrying input images may be up to `inputs.max_request_bytes`; any other body
    is held to `server.max_body_bytes` once read (see `_inputs`)."""
    return max(settings.server.max_body_bytes, settings.inputs.max_request_bytes)


def _carries_images(body: object) -> bool:
    return isinstance(body, dict) and bool(body.get("images"))


def _held_to_limit(body: object, size: int, settings: Settings) -> None:
    limit = settings.server.max_body_bytes
    if size > limit and not _carries_images(body):
        raise ApiError(413, "payload_too_large", f"the body is larger than {limit} bytes")


async def _inputs(gateway: Gateway, body: object) -> Inputs | None:
    """An edit's input images, read and checked; None for a plain generation."""
    settings = gateway.settings
    if not _carries_images(body):
        return None
    assert isinstance(body, dict)
    refs, mask = input_refs(body)
    parts = [(part, await read_image_ref(gateway, url, part)) for part, url in refs]
    mask_part = (mask[0], await read_image_ref(gateway, mask[1], mask[0])) if mask else None
    return await checked(parts, mask_part, settings.inputs)


async def submit_job(request: Request) -> JSONResponse:
    gateway = _gateway(request)
    tenant = gateway.keyring.authenticate(request.headers)
    raw = await read_json_bytes(request, body_limit(gateway.settings))
    # Checked before decoding too: a big body that cannot be an edit is not parsed at all.
    _held_to_limit({"images": True} if b'"images"' in raw else None, len(raw), gateway.settings)
    body = decode_json(raw)
    _held_to_limit(body, len(raw), gateway.settings)
    spec = parse_job_request(body, gateway.settings)
    deadline = parse_deadline(body, request.headers)
    inputs = await _inputs(gateway, body)
    submitted = await gateway.submissions.submit(tenant, spec, inputs, deadline=deadline)
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


_submit = idempotent(submit_job, body_limit)


async def jobs_collection(request: Request) -> Response:
    """`/images/jobs`: GET lists the tenant's jobs, POST submits one."""
    if request.method == "POST":
        return await _submit(request)
    return await list_jobs(request)


routes = [
    Route("/images/jobs", jobs_collection, methods=["GET", "POST"]),
    Route("/images/jobs/{job_id}", get_job, methods=["GET"]),
    Route("/images/jobs/{job_id}/cancel", idempotent(cancel_job), methods=["POST"]),
]
