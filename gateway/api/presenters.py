"""Jobs as clients see them: the contract's fields, absolute URLs minted at read time."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from gateway.jobs import Job, WebhookState, iso
from gateway.money.format import usd
from gateway.storage import UrlBuilder


async def present_job(job: Job, urls: UrlBuilder) -> dict[str, Any]:
    result = job.result
    images = [
        {
            "url": await urls.url_for(image),
            "sha256": image.sha256,
            "width": image.width,
            "height": image.height,
            "bytes": image.bytes,
            "contentType": image.media_type,
        }
        for image in (result.images if result else ())
    ]
    spec = job.spec
    return {
        "id": job.id,
        "status": job.status.value,
        "prompt": spec.prompt,
        "model": spec.model,
        "size": spec.size,
        "n": spec.n,
        "seed": spec.seed,
        "outputFormat": spec.output_format,
        "metadata": spec.metadata,
        "operation": spec.operation,
        "inputImages": [await _input(key, urls) for key in spec.images],
        "mask": await _input(spec.mask, urls) if spec.mask else None,
        "imageUrl": images[0]["url"] if images else None,
        "images": images,
        "error": {"code": job.error.code, "message": job.error.message} if job.error else None,
        "cached": job.cached,
        "joined": job.leader_id is not None,
        "cancelRequested": job.cancel is not None and not job.status.terminal,
        "deadline": iso(job.deadline),
        "createdAt": iso(job.created_at),
        "startedAt": iso(job.started_at),
        "finishedAt": iso(job.finished_at),
        "durationMs": job.duration_ms,
        "cost": usd(job.cost),
        "attempts": job.calls,
        "attemptLog": [
            {
                "backend": a.backend,
                "model": a.model,
                "outcome": a.outcome,
                "estimatedCost": usd(a.estimated_cost) if a.estimated_cost is not None else None,
                "cost": usd(a.cost),
                "usage": a.usage,
                "durationMs": a.duration_ms,
            }
            for a in job.attempts
        ],
        "backend": result.backend if result else None,
        "webhook": present_webhook(job.webhook),
    }


def present_webhook(webhook: WebhookState | None) -> dict[str, Any] | None:
    """How the job's ending is being delivered (null: the job has no webhook)."""
    if webhook is None:
        return None
    due = webhook.next_attempt_ms
    return {
        "status": webhook.status,
        "attempts": webhook.attempts,
        "lastStatus": webhook.last_status,
        "lastError": webhook.last_error,
        "nextAttemptAt": iso(datetime.fromtimestamp(due / 1000, UTC)) if due is not None else None,
    }


async def _input(key: str, urls: UrlBuilder) -> dict[str, str]:
    """An edit's input image (stored under the key its sha256 names)."""
    return {"url": await urls.url_for_key(key), "sha256": key.rsplit("/", 1)[-1].split(".")[0]}
