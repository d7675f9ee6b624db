"""How every /v1 Images call is answered once its request is parsed: submit the job, then
`202` (`Prefer: respond-async`), or wait for it without polling and answer OpenAI's
`ImagesResponse` (`url` or `b64_json` items), or a `text/event-stream` when `stream` is set.
"""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse

from gateway.api.openai_request import Generation
from gateway.api.openai_results import answer, result_images, unfinished
from gateway.api.openai_stream import completed_events, live_events
from gateway.api.prefer import preferences
from gateway.input_images import Inputs
from gateway.jobs import JobStatus
from gateway.services import Gateway

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
    stream_headers = {**headers, "Cache-Control": "no-cache"}
    if generation.stream and generation.spec.partial_images:
        # Partial images are passed on as the worker stores them: the stream starts now.
        events = live_events(gateway, submitted.job, generation, limit)
        return StreamingResponse(events, media_type="text/event-stream", headers=stream_headers)
    job = await gateway.submissions.wait(submitted.job, limit)
    if job.status is not JobStatus.SUCCEEDED:
        raise unfinished(job, limit, headers)
    images = await result_images(gateway, job, generation)
    if generation.stream:
        events = completed_events(job, generation, images)
        return StreamingResponse(events, media_type="text/event-stream", headers=stream_headers)
    return JSONResponse(answer(job, generation, images), headers=headers)
