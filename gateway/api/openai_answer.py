"""How every /v1 Images call is answered once its request is parsed: submit the job, then
`202` (`Prefer: respond-async`), or wait for it without polling and answer OpenAI's
`ImagesResponse` (`url` or `b64_json` items), or a `text/event-stream` when `stream` is set.
"""

from __future__ import annotations

import base64
import json
from collections.abc import AsyncIterator
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse

from gateway.api.openai_request import Generation
from gateway.api.prefer import preferences
from gateway.errors import ApiError, from_job_error
from gateway.input_images import Inputs
from gateway.jobs import Job, JobStatus
from gateway.services import Gateway
from gateway.storage import StorageUnavailable

JOB_HEADER = "X-Imagegate-Job-Id"  # the job behind the answer, readable on the job API


async def respond(
    request: Request,
    gateway: Gateway,
    tenant: str,
    generation: Generation,
    inputs: Inputs | None = None,
) -> Response:
    submitted = await gateway.submissions.submit(tenant, generation.spec, inputs)
    headers = {**submitted.headers, JOB_HEADER: submitted.job.id}
    if preferences(request.headers).respond_async:
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
            "type": f"{generation.event_prefix}.completed",
            "b64_json": item["b64_json"],
            "created_at": _created(job),
            "size": spec.size,
            "quality": spec.quality or "auto",
            "background": "auto",
            "output_format": spec.output_format,
        }
        yield f"event: {event['type']}\ndata: {json.dumps(event)}\n\n".encode()
