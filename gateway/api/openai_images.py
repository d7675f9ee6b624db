"""The OpenAI-compatible surface: `POST /v1/images/generations`, `GET /v1/models[/{id}]`.

The official SDK works against it by changing `base_url` to `<gateway>/v1`; its bearer key
is the tenant key. Each call is a job of the job API (same admission, quotas, budget and
cache: an identical request through either surface costs one vendor call), which the call
waits for (`openai_api.wait_limit`) without polling. `Prefer: respond-async` answers 202
with the job and its Location instead. Errors are OpenAI's `{"error": {...}}`
(gateway/api/openai_errors.py).
"""

from __future__ import annotations

import base64
import json
from collections.abc import AsyncIterator
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Route

from gateway.api.envelope import read_json
from gateway.api.openai_request import Generation, parse_generation
from gateway.errors import ApiError, from_job_error
from gateway.jobs import Job, JobStatus
from gateway.services import Gateway
from gateway.storage import StorageUnavailable

JOB_HEADER = "X-Imagegate-Job-Id"  # the job behind the answer, readable on the job API


def prefers_async(request: Request) -> bool:
    preferences = request.headers.get("prefer", "").lower().replace(" ", "").split(",")
    return "respond-async" in preferences


async def generations(request: Request) -> Response:
    gateway: Gateway = request.app.state.gateway
    tenant = gateway.keyring.authenticate(request.headers)
    body = await read_json(request, gateway.settings.server.max_body_bytes)
    generation = parse_generation(body, gateway.settings)
    submitted = await gateway.submissions.submit(tenant, generation.spec)
    headers = {**submitted.headers, JOB_HEADER: submitted.job.id}
    if prefers_async(request):
        document = await gateway.present(submitted.job)
        return JSONResponse(document, 202, headers={"Location": submitted.location, **headers})
    limit = gateway.settings.openai_api.wait_limit
    job = await gateway.submissions.wait(submitted.job, limit)
    if job.status is not JobStatus.SUCCEEDED:
        raise _unfinished(job, limit, headers)
    images = await _images(gateway, job, generation)
    if generation.stream:
        return StreamingResponse(
            _events(job, generation, images),
            media_type="text/event-stream",
            headers={**headers, "Cache-Control": "no-cache"},
        )
    return JSONResponse(_answer(job, generation, images), headers=headers)


def _unfinished(job: Job, limit: float, headers: dict[str, str]) -> ApiError:
    if job.error is not None:
        error = from_job_error(job.error)
    elif job.status.terminal:
        error = ApiError(409, "job_canceled", f"job {job.id} was canceled while this call waited")
    else:
        # Retrying is safe and cheap: an identical request joins this same execution.
        error = ApiError(
            504,
            "timeout",
            f"job {job.id} is still {job.status.value} after {limit:g}s; it keeps running "
            f"and can be fetched from /images/jobs/{job.id}",
        )
    error.headers = {**headers, **error.headers}
    return error


async def _images(gateway: Gateway, job: Job, generation: Generation) -> list[dict[str, str]]:
    """`url` items (the gateway's own signed or CDN URLs) or `b64_json` of the stored bytes."""
    stored = job.result.images if job.result else ()
    if generation.response_format == "url" and not generation.stream:
        return [{"url": await gateway.urls.url_for(image)} for image in stored]
    items = []
    for image in stored:
        found = await gateway.images.get(image.key)
        if found is None:
            raise StorageUnavailable(f"image {image.key} of job {job.id} is missing")
        items.append({"b64_json": base64.b64encode(found.data).decode()})
    return items


def _created(job: Job) -> int:
    return int((job.finished_at or job.created_at).timestamp())


def _answer(job: Job, generation: Generation, images: list[dict[str, str]]) -> dict[str, Any]:
    spec = generation.spec
    return {
        "created": _created(job),
        "data": images,
        "size": spec.size,
        "quality": spec.quality or "auto",
        "output_format": spec.output_format,
    }


async def _events(
    job: Job, generation: Generation, images: list[dict[str, str]]
) -> AsyncIterator[bytes]:
    """The vendor did not stream: one `image_generation.completed` event per image."""
    spec = generation.spec
    for item in images:
        event = {
            "type": "image_generation.completed",
            "b64_json": item["b64_json"],
            "created_at": _created(job),
            "size": spec.size,
            "quality": spec.quality or "auto",
            "background": "auto",
            "output_format": spec.output_format,
        }
        yield f"event: {event['type']}\ndata: {json.dumps(event)}\n\n".encode()


def _model(alias: str, name: str | None = None) -> dict[str, Any]:
    return {"id": name or alias, "object": "model", "created": 0, "owned_by": "imagegate"}


def _listed(gateway: Gateway) -> dict[str, dict[str, Any]]:
    """Every model id a key may use: the aliases and the OpenAI names they answer to."""
    listed = {}
    for alias, model in gateway.settings.models.items():
        listed[alias] = _model(alias)
        for name in model.openai_names:
            listed[name] = _model(alias, name)
    return listed


async def list_models(request: Request) -> JSONResponse:
    gateway: Gateway = request.app.state.gateway
    gateway.plan(gateway.keyring.authenticate(request.headers))
    return JSONResponse({"object": "list", "data": list(_listed(gateway).values())})


async def get_model(request: Request) -> JSONResponse:
    gateway: Gateway = request.app.state.gateway
    gateway.plan(gateway.keyring.authenticate(request.headers))
    model_id = request.path_params["model_id"]
    found = _listed(gateway).get(model_id)
    if found is None:
        raise ApiError(404, "model_not_found", f"no model {model_id[:64]!r}", param="model")
    return JSONResponse(found)


routes = [
    Route("/v1/images/generations", generations, methods=["POST"]),
    Route("/v1/models", list_models, methods=["GET"]),
    Route("/v1/models/{model_id:path}", get_model, methods=["GET"]),
]
