"""What a finished /v1 call answers: the images (`url` or `b64_json`), the `ImagesResponse`
body, and the error for a job that did not succeed in time."""

from __future__ import annotations

import base64
from typing import Any

from gateway.api.openai_request import Generation
from gateway.errors import ApiError, from_job_error
from gateway.jobs import Job
from gateway.services import Gateway
from gateway.storage import StorageUnavailable


def unfinished(job: Job, limit: float, headers: dict[str, str]) -> ApiError:
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


async def result_images(gateway: Gateway, job: Job, generation: Generation) -> list[dict[str, str]]:
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


def created(job: Job) -> int:
    return int((job.finished_at or job.created_at).timestamp())


def answer(job: Job, generation: Generation, images: list[dict[str, str]]) -> dict[str, Any]:
    spec = generation.spec
    body: dict[str, Any] = {
        "created": created(job),
        "data": images,
        "size": spec.size,
        "quality": spec.quality or "auto",
        "output_format": spec.output_format,
    }
    reported = token_usage(job)
    if reported is not None:
        body["usage"] = reported
    return body


def token_usage(job: Job) -> dict[str, Any] | None:
    """OpenAI's `usage` from the tokens the succeeding attempt's vendor reported (GPT image
    models); None when it reported none (other vendors, a cached or joined job)."""
    ok = [attempt for attempt in job.attempts if attempt.outcome == "ok" and attempt.usage]
    reported = ok[-1].usage if ok else None
    if not reported or "outputTokens" not in reported:
        return None
    text = int(reported.get("inputTextTokens", 0))
    image = int(reported.get("inputImageTokens", 0))
    total_in = int(reported.get("inputTokens", text + image))
    output = int(reported["outputTokens"])
    return {
        "input_tokens": total_in,
        "input_tokens_details": {"text_tokens": text, "image_tokens": image},
        "output_tokens": output,
        "total_tokens": total_in + output,
    }
