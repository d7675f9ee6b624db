"""Jobs whose backend is full go back to the queue instead of holding a worker, and run later:
no attempt added, no target re-run, nothing lost."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Callable
from typing import Any

import pytest
from starlette.testclient import TestClient

from backends.base import Generation, GenerationRequest, Progress, Usage
from backends.errors import AuthError, VendorUnavailable
from backends.mock import MockBackend
from backends.procedural import render_all
from gateway.settings import Settings
from tests.conftest import AUTH
from tests.metrics_text import Scrape
from tests.polling import wait_for_job

SIZE = "256x256"


def gated(gate: threading.Event) -> Callable[[GenerationRequest, Progress], Any]:
    """A call that runs until the test opens `gate` (the test thread's event)."""

    async def call(request: GenerationRequest, progress: Progress) -> Generation:
        while not gate.is_set():
            await asyncio.sleep(0.01)
        images = await render_all(request)
        return Generation(images, Usage(images=len(images)))

    return call


def two_model_config(**gpu: Any) -> dict[str, Any]:
    """A "gpu" alias on a capped backend beside the default procedural one."""
    return {
        "backends": {"gpu": {"type": "procedural", **gpu}},
        "models": {"gpu": {"sizes": [SIZE], "targets": [{"backend": "gpu", "model": "sd"}]}},
    }


def submit(client: TestClient, prompt: str, model: str | None = None) -> str:
    body = {"prompt": prompt, **({"model": model} if model else {})}
    answer = client.post("/images/jobs", json=body, headers=AUTH)
    assert answer.status_code == 202, answer.text
    job_id: str = answer.json()["data"]["jobId"]
    return job_id


def status(client: TestClient, job_id: str) -> str:
    value: str = client.get(f"/images/jobs/{job_id}", headers=AUTH).json()["data"]["status"]
    return value


def deferred_count(client: TestClient, reason: str) -> float:
    scrape = Scrape(client.get("/metrics").text)
    return scrape.value("imagegate_jobs_deferred_total", reason=reason)


@pytest.mark.parametrize("scope", ["process", "global"])
def test_a_full_backend_does_not_hold_a_worker(
    make_client: Callable[..., TestClient],
    make_settings: Callable[..., Settings],
    store_url: str,
    scope: str,
) -> None:
    settings = make_settings(
        state={"url": store_url},
        workers={"concurrency": 2},
        **two_model_config(max_concurrency=1, concurrency_scope=scope),
    )
    gate = threading.Event()
    gpu = MockBackend("gpu", script=[gated(gate)])
    client = make_client(settings, backends={"gpu": gpu, "procedural": MockBackend()})
    holder = submit(client, "holds the only gpu slot", "gpu")
    deadline = time.monotonic() + 15
    while gpu.active == 0:
        assert time.monotonic() < deadline, "the first gpu job never started"
        time.sleep(0.01)
    waiting = submit(client, "waits for the gpu", "gpu")
    # Two workers: one runs the holder; the other must not sit on the waiting gpu job.
    elsewhere = wait_for_job(client, submit(client, "needs no gpu"), AUTH)
    assert elsewhere["status"] == "SUCCEEDED"
    assert status(client, holder) == "RUNNING"
    assert status(client, waiting) in ("PENDING", "RUNNING")
    assert deferred_count(client, "concurrency") >= 1
    gate.set()
    done = [wait_for_job(client, job_id, AUTH) for job_id in (holder, waiting)]
    assert [job["status"] for job in done] == ["SUCCEEDED", "SUCCEEDED"]
    assert [job["attempts"] for job in done] == [1, 1]
    assert [[a["outcome"] for a in job["attemptLog"]] for job in done] == [["ok"], ["ok"]]
    assert gpu.calls == 2 and gpu.peak == 1


def test_a_job_over_the_vendor_rate_runs_later(
    make_client: Callable[..., TestClient],
    make_settings: Callable[..., Settings],
    store_url: str,
) -> None:
    settings = make_settings(
        state={"url": store_url}, workers={"concurrency": 2}, **two_model_config(rate="1/2second")
    )
    gpu = MockBackend("gpu")
    client = make_client(settings, backends={"gpu": gpu, "procedural": MockBackend()})
    ids = [submit(client, f"rate {i}", "gpu") for i in range(2)]
    jobs = [wait_for_job(client, job_id, AUTH, timeout=30) for job_id in ids]
    assert [job["status"] for job in jobs] == ["SUCCEEDED", "SUCCEEDED"]
    assert [job["attempts"] for job in jobs] == [1, 1]
    assert gpu.calls == 2
    assert deferred_count(client, "rate") >= 1


def test_a_retry_deferred_by_the_rate_resumes_with_its_tries(
    make_client: Callable[..., TestClient],
    make_settings: Callable[..., Settings],
    store_url: str,
) -> None:
    settings = make_settings(
        state={"url": store_url},
        retry={"max_attempts": 2},
        **two_model_config(rate="1/3second"),
    )
    # The retry after the 503 finds the window used by the first try: deferred, not waited.
    gpu = MockBackend("gpu", script=[VendorUnavailable("503 from the vendor")])
    client = make_client(settings, backends={"gpu": gpu, "procedural": MockBackend()})
    job = wait_for_job(client, submit(client, "retried later", "gpu"), AUTH, timeout=30)
    assert job["status"] == "SUCCEEDED", job["error"]
    assert [a["outcome"] for a in job["attemptLog"]] == ["vendor_unavailable", "ok"]
    assert job["attempts"] == 2 and gpu.calls == 2
    assert deferred_count(client, "rate") >= 1


def test_a_deferred_fallback_resumes_at_the_fallback(
    make_client: Callable[..., TestClient],
    make_settings: Callable[..., Settings],
    store_url: str,
) -> None:
    settings = make_settings(
        state={"url": store_url},
        backends={
            "first": {"type": "procedural"},
            "second": {"type": "procedural", "rate": "1/6second"},
        },
        models={
            "second": {"sizes": [SIZE], "targets": [{"backend": "second", "model": "m"}]},
            "chain": {
                "sizes": [SIZE],
                "targets": [
                    {"backend": "first", "model": "m"},
                    {"backend": "second", "model": "m"},
                ],
            },
        },
    )
    first = MockBackend("first", script=[AuthError("the key was revoked")])
    second = MockBackend("second")
    client = make_client(
        settings, backends={"first": first, "second": second, "procedural": MockBackend()}
    )
    used = wait_for_job(client, submit(client, "takes the fallback's unit", "second"), AUTH)
    assert used["status"] == "SUCCEEDED"
    job = wait_for_job(client, submit(client, "falls back", "chain"), AUTH, timeout=30)
    assert job["status"] == "SUCCEEDED", job["error"]
    assert [(a["backend"], a["outcome"]) for a in job["attemptLog"]] == [
        ("first", "auth_error"),
        ("second", "ok"),
    ]
    assert first.calls == 1  # resumed at the fallback: the first target is not asked again
    assert second.calls == 2
    assert deferred_count(client, "rate") >= 1


def queue_deferred(client: TestClient) -> float:
    return Scrape(client.get("/metrics").text).value("imagegate_queue_deferred")


@pytest.mark.parametrize("ending", ["cancel", "deadline"])
def test_a_job_ended_while_deferred_is_no_longer_counted_or_run(
    make_client: Callable[..., TestClient],
    make_settings: Callable[..., Settings],
    store_url: str,
    ending: str,
) -> None:
    settings = make_settings(
        state={"url": store_url}, workers={"concurrency": 1}, **two_model_config(rate="1/minute")
    )
    gpu = MockBackend("gpu")
    client = make_client(settings, backends={"gpu": gpu, "procedural": MockBackend()})
    first = wait_for_job(client, submit(client, "takes the minute's unit", "gpu"), AUTH)
    assert first["status"] == "SUCCEEDED"
    body: dict[str, Any] = {"prompt": "waits for the next minute", "model": "gpu"}
    if ending == "deadline":
        body["deadline"] = 2
    answer = client.post("/images/jobs", json=body, headers=AUTH)
    assert answer.status_code == 202, answer.text
    waiting = answer.json()["data"]["jobId"]
    until = time.monotonic() + 15
    while queue_deferred(client) != 1:  # deferred for about a minute
        assert time.monotonic() < until, "the job was never deferred"
        time.sleep(0.02)
    if ending == "cancel":
        canceled = client.post(f"/images/jobs/{waiting}/cancel", headers=AUTH)
        assert canceled.status_code == 200, canceled.text
    job = wait_for_job(client, waiting, AUTH)
    code = "canceled" if ending == "cancel" else "deadline_exceeded"
    assert job["status"] == "CANCELED" and job["error"]["code"] == code
    assert queue_deferred(client) == 0  # at once, not when its minute is up
    assert gpu.calls == 1
