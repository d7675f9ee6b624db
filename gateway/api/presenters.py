"""Jobs as clients see them: the contract's fields, absolute URLs minted at read time."""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from gateway.jobs import Job, WebhookState, iso
from gateway.money.format import usd
from gateway.storage import UrlBuilder


async def present_job(job: Job, urls: UrlBuilder) -> dict[str, Any]:
    """The job's document: its fields (kept for an ended job, see `_EndedFields`) and
    URLs minted now. The nested values are shared between documents: never mutate them."""
    fields = _ended_fields.get(job)
    stored = job.result.images if job.result else ()
    images = [
        {"url": await urls.url_for(image), **image_fields}
        for image, image_fields in zip(stored, fields.images, strict=True)
    ]
    spec = job.spec
    return {
        **fields.head,
        "inputImages": [await _input(key, urls) for key in spec.images],
        "mask": await _input(spec.mask, urls) if spec.mask else None,
        "imageUrl": images[0]["url"] if images else None,
        "images": images,
        **fields.tail,
    }


@dataclass(frozen=True)
class _Fields:
    """A job's document but its URLs, in the contract's order around them."""

    head: dict[str, Any]
    images: list[dict[str, Any]]
    tail: dict[str, Any]


def _fields(job: Job) -> _Fields:
    result = job.result
    spec = job.spec
    head = {
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
    }
    images = [
        {
            "sha256": image.sha256,
            "width": image.width,
            "height": image.height,
            "bytes": image.bytes,
            "contentType": image.media_type,
        }
        for image in (result.images if result else ())
    ]
    tail = {
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
    return _Fields(head, images, tail)


class _EndedFields:
    """The fields of the last `size` ended jobs presented, kept with the very `Job` object
    they were computed from.

    Why: most reads are polls of a finished job, which both stores answer with the same
    object every time (the memory store's, a redis:// process's `FinishedJobs`); computing
    its fields (timestamps, money, the attempt log) was most of a poll's own CPU. Exact
    because a `Job` is immutable: any change is a new object, which misses (`is`), and an
    active job is never kept."""

    def __init__(self, size: int = 1024) -> None:
        self.size = size
        self._kept: OrderedDict[str, tuple[Job, _Fields]] = OrderedDict()

    def get(self, job: Job) -> _Fields:
        kept = self._kept.get(job.id)
        if kept is not None and kept[0] is job:
            self._kept.move_to_end(job.id)
            return kept[1]
        fields = _fields(job)
        if job.status.terminal:
            self._kept[job.id] = (job, fields)
            self._kept.move_to_end(job.id)
            if len(self._kept) > self.size:
                self._kept.popitem(last=False)
        return fields


_ended_fields = _EndedFields()


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
