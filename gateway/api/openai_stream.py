"""`stream: true` on /v1: OpenAI's `text/event-stream` of Images events.

With `partial_images`, the stream starts at once and passes on each partial image a
streaming vendor sends (`image_generation.partial_image`, `image_edit.partial_image` for
edits) as the worker stores it, wherever it runs; then one `*.completed` event per image.
A vendor that does not stream gives only the completed events (emulated). A job that fails
or outlasts the wait limit ends the stream with an `error` event (`{"error": {...}}`, which
the SDK raises as `APIError`).
"""

from __future__ import annotations

import base64
import json
from collections.abc import AsyncIterator
from typing import Any

from gateway.api.openai_errors import openai_error_body
from gateway.api.openai_request import Generation
from gateway.api.openai_results import created, result_images, token_usage, unfinished
from gateway.jobs import Job, JobStatus
from gateway.previews.following import PreviewImage
from gateway.services import Gateway


def _sse(event: dict[str, Any], name: str | None = None) -> bytes:
    return f"event: {name or event['type']}\ndata: {json.dumps(event)}\n\n".encode()


def _common(generation: Generation, at: int) -> dict[str, Any]:
    spec = generation.spec
    return {
        "created_at": at,
        "size": spec.size,
        "quality": spec.quality or "auto",
        "background": "auto",
        "output_format": spec.output_format,
    }


async def completed_events(
    job: Job, generation: Generation, images: list[dict[str, str]]
) -> AsyncIterator[bytes]:
    """One `*.completed` event per image of the finished job (with the vendor's `usage`)."""
    reported = token_usage(job)
    for item in images:
        yield _sse(
            {
                "type": f"{generation.event_prefix}.completed",
                "b64_json": item["b64_json"],
                **_common(generation, created(job)),
                **({"usage": reported} if reported else {}),
            }
        )


def _partial(generation: Generation, shown: PreviewImage, at: int) -> bytes:
    return _sse(
        {
            "type": f"{generation.event_prefix}.partial_image",
            "b64_json": base64.b64encode(shown.data).decode(),
            "partial_image_index": shown.preview.index,
            **_common(generation, at),
        }
    )


async def live_events(
    gateway: Gateway, job: Job, generation: Generation, limit: float
) -> AsyncIterator[bytes]:
    """Partial images as they come, then the completed events or an `error` event."""
    ended = job
    async for item in gateway.submissions.follow(job, limit):
        if isinstance(item, PreviewImage):
            if item.preview.image == 0:  # OpenAI streams partials of one image
                yield _partial(generation, item, created(job))
        else:
            ended = item
    if ended.status is JobStatus.SUCCEEDED:
        images = await result_images(gateway, ended, generation)
        async for event in completed_events(ended, generation, images):
            yield event
        return
    yield _sse({"type": "error", **openai_error_body(unfinished(ended, limit, {}))}, "error")
