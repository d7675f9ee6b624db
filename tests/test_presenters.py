"""A job's document: the fields kept for an ended job are exactly the ones it would have
computed, and a changed job (a new object) never gets an old document."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime
from decimal import Decimal

from gateway.api.presenters import _EndedFields, present_job
from gateway.fingerprint import fingerprint
from gateway.jobs import Job, JobResult, JobSpec, JobStatus, StoredImage, new_job_id
from gateway.signing import UrlSigner
from gateway.storage.urls import SignedRouteUrls

NOW = datetime(2026, 12, 4, 12, 0, tzinfo=UTC)
IMAGE = StoredImage(key="images/ab.png", sha256="ab" * 32, width=64, height=64, bytes=99)
RESULT = JobResult("00" * 32, "procedural", "64x64", "procedural", 5, 1, Decimal("0.04"), (IMAGE,))
URLS = SignedRouteUrls("http://gw.test", UrlSigner(b"a-signing-secret-of-16+", ttl=60))


def ended_job() -> Job:
    spec = JobSpec(prompt="a lighthouse", model="procedural", size="64x64")
    return Job(
        id=new_job_id(),
        tenant="demo",
        spec=spec,
        fingerprint=fingerprint(spec),
        status=JobStatus.SUCCEEDED,
        result=RESULT,
        created_at=NOW,
        finished_at=NOW,
    )


async def test_an_ended_job_is_presented_from_its_kept_fields_with_fresh_urls() -> None:
    job = ended_job()
    first, again = await present_job(job, URLS), await present_job(job, URLS)
    assert again == first
    assert again is not first and again["images"] is not first["images"]
    assert first["images"][0]["url"].startswith("http://gw.test/files/images/ab.png?exp=")
    assert list(first) == [
        *("id", "status", "prompt", "model", "size", "n", "seed", "outputFormat", "metadata"),
        *("operation", "inputImages", "mask", "imageUrl", "images", "error", "cached", "joined"),
        *("cancelRequested", "deadline", "createdAt", "startedAt", "finishedAt", "durationMs"),
        *("cost", "attempts", "attemptLog", "backend", "webhook"),
    ]


async def test_a_changed_job_gets_its_own_fields_never_the_kept_ones() -> None:
    job = ended_job()
    await present_job(job, URLS)
    changed = replace(job, status=JobStatus.FAILED, result=None)
    document = await present_job(changed, URLS)
    assert document["status"] == "FAILED" and document["images"] == []
    # An equal but distinct object is computed afresh too (identity, not equality).
    assert (await present_job(replace(job), URLS)) == await present_job(job, URLS)


def test_only_ended_jobs_are_kept_and_the_oldest_go_first() -> None:
    fields = _EndedFields(size=2)
    running = replace(ended_job(), status=JobStatus.RUNNING, result=None, finished_at=None)
    assert fields.get(running) is not fields.get(running)
    first, second, third = ended_job(), ended_job(), ended_job()
    kept = fields.get(first)
    assert fields.get(first) is kept
    fields.get(second)
    fields.get(third)  # past the size: `first`, the least recently used, is dropped
    assert fields.get(first) is not kept
