"""Live status: the event cursor as a pure function, and `GET /images/jobs/{id}/events`."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable
from dataclasses import replace
from decimal import Decimal
from typing import Any

from starlette.testclient import TestClient

from backends.base import Generation, GenerationRequest, Progress
from backends.errors import VendorUnavailable
from backends.mock import MockBackend
from gateway.jobs import Attempt, Job, JobSpec, JobStatus
from gateway.live_status import Seen, changes
from gateway.settings import Settings
from tests.conftest import AUTH, OTHER_AUTH
from tests.sse import read_events

JOB = Job(id="job_1", tenant="demo", spec=JobSpec("p", "procedural", "64x64"), fingerprint="f")
TRY = Attempt("openai", "gpt-image-1", "backend_unavailable", Decimal("0"), 120)
OK = replace(TRY, outcome="ok", cost=Decimal("0.04"))


def kinds(events: list) -> list[str]:
    return [f"{e.kind}:{e.data.get('status') or e.data.get('outcome')}" for e in events]


def test_a_new_follower_sees_the_status_then_the_attempts_so_far() -> None:
    running = replace(JOB, status=JobStatus.RUNNING, deliveries=1, attempts=(TRY,))
    events, seen = changes(Seen(), running)
    assert kinds(events) == ["status:RUNNING", "attempt:backend_unavailable"]
    assert seen == Seen(1, 1, "RUNNING") and events[-1].id == "1.1.RUNNING"
    assert events[1].data == {
        "jobId": "job_1",
        "attempt": 1,
        "backend": "openai",
        "model": "gpt-image-1",
        "outcome": "backend_unavailable",
        "cost": "0.00",
        "durationMs": 120,
    }


def test_a_finished_job_gives_its_attempts_before_its_final_status() -> None:
    done = replace(JOB, status=JobStatus.SUCCEEDED, deliveries=1, attempts=(TRY, OK))
    events, seen = changes(Seen(1, 1, "RUNNING"), done)
    assert kinds(events) == ["attempt:ok", "status:SUCCEEDED"]
    assert [e.id for e in events] == ["1.2.RUNNING", "1.2.SUCCEEDED"]
    assert changes(seen, done) == ([], seen)  # nothing new: nothing sent twice


def test_a_redelivery_is_a_status_change_even_when_the_status_reads_the_same() -> None:
    again = replace(JOB, status=JobStatus.RUNNING, deliveries=2)
    events, _ = changes(Seen(1, 0, "RUNNING"), again)
    assert kinds(events) == ["status:RUNNING"]
    requeued = replace(JOB, status=JobStatus.PENDING, deliveries=1)
    assert kinds(changes(Seen(1, 0, "RUNNING"), requeued)[0]) == ["status:PENDING"]


def test_a_last_event_id_resumes_and_a_foreign_one_starts_over() -> None:
    assert Seen.parse("1.2.RUNNING") == Seen(1, 2, "RUNNING")
    for foreign in (None, "", "42", "a.b.RUNNING", "1.2.DANCING", "-1.0.PENDING", "1.2.3.4"):
        assert Seen.parse(foreign) == Seen(), foreign


def test_the_stream_follows_a_job_to_its_end(
    make_client: Callable[..., TestClient], make_settings: Callable[..., Settings], store_url: str
) -> None:
    settings = make_settings(
        state={"url": store_url}, backends={"procedural": {"latency": "200ms"}}
    )
    client = make_client(settings)
    job_id = client.post("/images/jobs", json={"prompt": "live"}, headers=AUTH).json()["data"][
        "jobId"
    ]
    events = read_events(client, f"/images/jobs/{job_id}/events", AUTH)
    names = [e.event for e in events]
    assert names[-3:] == ["attempt", "status", "job"], names
    assert [e.data["status"] for e in events if e.event == "status"][-1] == "SUCCEEDED"
    assert "RUNNING" in [e.data["status"] for e in events if e.event == "status"]
    assert events[-3].data["outcome"] == "ok"
    final = events[-1].data
    polled = client.get(f"/images/jobs/{job_id}", headers=AUTH).json()["data"]
    assert final["id"] == job_id and final["status"] == "SUCCEEDED"
    assert {k: v for k, v in final.items() if k not in ("images", "imageUrl")} == {
        k: v for k, v in polled.items() if k not in ("images", "imageUrl")
    }
    assert len({e.id for e in events}) == len(events) - 1  # the job document repeats the last id

    resumed = read_events(
        client, f"/images/jobs/{job_id}/events", {**AUTH, "Last-Event-ID": events[-3].id}
    )
    assert [e.event for e in resumed] == ["status", "job"]
    assert resumed[0].data == {"jobId": job_id, "status": "SUCCEEDED"}


def test_a_failing_job_streams_its_error(
    make_client: Callable[..., TestClient], make_settings: Callable[..., Settings]
) -> None:
    settings = make_settings(backends={"procedural": {"fail_rate": 1.0}}, retry={"max_attempts": 2})
    client = make_client(settings)
    job_id = client.post("/images/jobs", json={"prompt": "doomed"}, headers=AUTH).json()["data"][
        "jobId"
    ]
    events = read_events(client, f"/images/jobs/{job_id}/events", AUTH)
    assert [e.data["attempt"] for e in events if e.event == "attempt"] == [1, 2]
    assert events[-1].event == "job"
    assert events[-1].data["status"] == "FAILED" and events[-1].data["error"]["code"]


def test_another_tenants_job_is_404_and_no_key_is_401(
    make_client: Callable[..., TestClient],
) -> None:
    client = make_client()
    job_id = client.post("/images/jobs", json={"prompt": "mine"}, headers=AUTH).json()["data"][
        "jobId"
    ]
    foreign = client.get(f"/images/jobs/{job_id}/events", headers=OTHER_AUTH)
    assert foreign.status_code == 404 and foreign.json()["error"]["code"] == "job_not_found"
    assert client.get(f"/images/jobs/{job_id}/events").status_code == 401


def test_an_open_stream_counts_as_one_read(
    make_client: Callable[..., TestClient], make_settings: Callable[..., Settings], store_url: str
) -> None:
    settings = make_settings(
        state={"url": store_url},
        plans={"free": {"poll_rate": "2/minute"}},
        retry={"max_attempts": 3},
    )
    gate = threading.Event()
    failing = VendorUnavailable("503 from the vendor")
    backend = MockBackend("procedural", script=[gated(gate, failing), failing])
    client = make_client(settings, backends={"procedural": backend})
    job_id = client.post("/images/jobs", json={"prompt": "counted"}, headers=AUTH).json()["data"][
        "jobId"
    ]
    # The job changes many times while its stream is open: the first event comes while the
    # backend holds the first attempt; only then does the job go on.
    seen = read_events(
        client, f"/images/jobs/{job_id}/events", AUTH, on_event=lambda event: gate.set()
    )
    assert seen[0].event == "status" and seen[0].data["status"] in ("PENDING", "RUNNING")
    assert [e.data["outcome"] for e in seen if e.event == "attempt"] == [
        "vendor_unavailable",
        "vendor_unavailable",
        "ok",
    ]
    assert seen[-1].event == "job" and seen[-1].data["status"] == "SUCCEEDED"
    assert client.get(f"/images/jobs/{job_id}", headers=AUTH).status_code == 200  # the second
    refused = client.get(f"/images/jobs/{job_id}/events", headers=AUTH)
    assert refused.status_code == 429 and refused.json()["error"]["code"] == "rate_limited"


def gated(gate: threading.Event, outcome: Exception) -> Callable[..., Any]:
    """A call that fails with `outcome` once the test opens `gate`."""

    async def call(request: GenerationRequest, progress: Progress) -> Generation:
        while not gate.is_set():
            await asyncio.sleep(0.01)
        raise outcome

    return call
