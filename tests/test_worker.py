"""Workers: long jobs stay claimed, shutdown loses nothing, a vendor's rate makes jobs wait,
and a worker whose delivery was reclaimed neither goes on nor ends the job."""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from collections.abc import Callable
from decimal import Decimal

import pytest
from redis import Redis as SyncRedis
from starlette.testclient import TestClient

from backends.mock import MockBackend, delay
from gateway.jobs import Attempt, Job
from gateway.settings import Settings
from gateway.state.keys import Keys
from gateway.state.redis import GROUP, RedisState
from tests.conftest import AUTH
from tests.polling import wait_for_job
from tests.test_state_contract import RESULT


def slow_backend(seconds: float) -> MockBackend:
    backend = MockBackend("procedural")
    backend.will(*(delay(seconds) for _ in range(8)))
    return backend


def test_a_job_longer_than_the_visibility_timeout_runs_once(
    make_client: Callable[..., TestClient], make_settings: Callable[..., Settings], redis_url: str
) -> None:
    settings = make_settings(
        state={"url": redis_url}, workers={"concurrency": 3, "visibility_timeout": "600ms"}
    )
    backend = slow_backend(2.0)
    client = make_client(settings, backends={"procedural": backend})
    accepted = client.post("/images/jobs", json={"prompt": "a long one"}, headers=AUTH)
    job = wait_for_job(client, accepted.json()["data"]["jobId"], AUTH)
    assert job["status"] == "SUCCEEDED" and job["attempts"] == 1
    assert backend.calls == 1


def test_shutdown_on_memory_drains_the_queue(
    make_client: Callable[..., TestClient], make_settings: Callable[..., Settings]
) -> None:
    settings = make_settings(workers={"concurrency": 1, "shutdown_grace": "10s"})
    backend = slow_backend(0.2)
    client = make_client(settings, backends={"procedural": backend})
    for i in range(4):
        assert client.post("/images/jobs", json={"prompt": f"d{i}"}, headers=AUTH).is_success
    client.__exit__(None, None, None)  # shutdown while jobs are queued and running
    assert backend.calls == 4


def test_shutdown_on_redis_hands_running_jobs_back(
    make_client: Callable[..., TestClient], make_settings: Callable[..., Settings], redis_url: str
) -> None:
    settings = make_settings(
        state={"url": redis_url}, workers={"concurrency": 1, "shutdown_grace": "200ms"}
    )
    first = make_client(settings, backends={"procedural": slow_backend(3.0)})
    accepted = first.post("/images/jobs", json={"prompt": "interrupted"}, headers=AUTH)
    job_id = accepted.json()["data"]["jobId"]
    deadline = time.monotonic() + 10
    while first.get(f"/images/jobs/{job_id}", headers=AUTH).json()["data"]["status"] != "RUNNING":
        assert time.monotonic() < deadline, "the job never started"
        time.sleep(0.02)
    first.__exit__(None, None, None)  # grace runs out: the job goes back to the queue

    rescuer = MockBackend("procedural")
    second = make_client(settings, backends={"procedural": rescuer})
    job = wait_for_job(second, job_id, AUTH)
    assert job["status"] == "SUCCEEDED" and rescuer.calls == 1


def test_a_vendor_rate_makes_jobs_wait_not_fail(
    make_client: Callable[..., TestClient], make_settings: Callable[..., Settings], store_url: str
) -> None:
    settings = make_settings(
        state={"url": store_url},
        backends={"procedural": {"rate": "2/minute"}},
        workers={"concurrency": 3, "shutdown_grace": "100ms"},
    )
    backend = MockBackend("procedural")
    client = make_client(settings, backends={"procedural": backend})
    ids = [
        client.post("/images/jobs", json={"prompt": f"r{i}"}, headers=AUTH).json()["data"]["jobId"]
        for i in range(3)
    ]
    # Three workers race for the two rate units, so which two jobs run first is arbitrary.
    deadline = time.monotonic() + 15.0
    while True:
        jobs = [client.get(f"/images/jobs/{i}", headers=AUTH).json()["data"] for i in ids]
        succeeded = [job for job in jobs if job["status"] == "SUCCEEDED"]
        if len(succeeded) == 2 or time.monotonic() > deadline:
            break
        time.sleep(0.02)
    assert len(succeeded) == 2, [job["status"] for job in jobs]
    (waiting,) = [job for job in jobs if job["status"] != "SUCCEEDED"]
    assert waiting["status"] in ("PENDING", "RUNNING") and waiting["error"] is None
    assert backend.calls == 2


def reclaim_once_started(raw: SyncRedis, backend: MockBackend, job_id: str) -> float:
    """Once the job's run started here, hand its delivery to another process's consumer
    (as a reclaim by XCLAIM would); returns the test's deadline."""
    deadline = time.monotonic() + 10
    while backend.active == 0:
        assert time.monotonic() < deadline, "the job never started"
        time.sleep(0.02)
    keys = Keys()
    entry = raw.get(keys.entry(job_id))
    assert entry is not None
    raw.xclaim(keys.queue, GROUP, "another-process", 0, [entry], justid=True)
    return deadline


def test_a_worker_whose_delivery_was_reclaimed_stops_its_run_and_the_job_still_ends_once(
    make_client: Callable[..., TestClient], make_settings: Callable[..., Settings], redis_url: str
) -> None:
    """This process stalled past the visibility timeout and another consumer reclaimed the
    job (the test's XCLAIM plays that consumer). The next heartbeat stops the run here:
    its abandoned call is recorded, charged its estimate; the job is neither ended nor
    handed back by this worker. The reclaimed delivery, left idle, is then reclaimed and
    run to the end: one job, two calls, both in its attempt log."""
    settings = make_settings(
        state={"url": redis_url}, workers={"concurrency": 1, "visibility_timeout": "900ms"}
    )
    backend = MockBackend("procedural")
    backend.will(delay(30.0))  # the stalled run: never ends on its own in this test
    client = make_client(settings, backends={"procedural": backend})
    job_id = client.post("/images/jobs", json={"prompt": "stalled"}, headers=AUTH).json()["data"][
        "jobId"
    ]
    raw = SyncRedis.from_url(redis_url)
    try:
        deadline = reclaim_once_started(raw, backend, job_id)
        keys = Keys()
        while backend.active:  # the next heartbeat (every 300 ms) stops the run
            assert time.monotonic() < deadline, "the stalled run went on"
            time.sleep(0.02)
        job = client.get(f"/images/jobs/{job_id}", headers=AUTH).json()["data"]
        assert job["status"] == "RUNNING"
        assert [a["outcome"] for a in job["attemptLog"]] == ["canceled"]
        assert raw.xlen(keys.queue) == 1  # not handed back: the entry is the other one's
        done = wait_for_job(client, job_id, AUTH, timeout=15)
    finally:
        raw.close()
    assert done["status"] == "SUCCEEDED"
    assert [a["outcome"] for a in done["attemptLog"]] == ["canceled", "ok"]
    assert backend.calls == 2


async def run_as(url: str, job_id: str, consumer: str, attempt: Attempt) -> list[Job]:
    """Another process's worker that holds the job's delivery: its call, then its ending."""
    state = RedisState.from_url(url, job_ttl=60, cache_ttl=60, visibility_timeout=30)
    try:
        await state.add_attempt(job_id, attempt)
        ended: list[Job] = await state.finish(job_id, result=RESULT, worker_id=consumer)
        return ended
    finally:
        await state.aclose()


def test_a_worker_whose_delivery_was_reclaimed_before_its_heartbeat_cannot_end_the_job(
    make_client: Callable[..., TestClient],
    make_settings: Callable[..., Settings],
    redis_url: str,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """This process stalled and another consumer reclaimed the job (the test's XCLAIM), but
    the stall ends before a heartbeat could tell (they come every 10 s here): the call
    returns and the worker's finish is refused. The other consumer's call is recorded too,
    and its finish ends the job: both billed calls are on it."""
    settings = make_settings(
        state={"url": redis_url}, workers={"concurrency": 1, "visibility_timeout": "30s"}
    )
    gate = threading.Event()

    async def stall() -> None:
        while not gate.is_set():
            await asyncio.sleep(0.01)

    backend = MockBackend("procedural", before=stall)
    client = make_client(settings, backends={"procedural": backend})
    job_id = client.post("/images/jobs", json={"prompt": "stalled"}, headers=AUTH).json()["data"][
        "jobId"
    ]
    keys = Keys()
    raw = SyncRedis.from_url(redis_url)
    try:
        deadline = reclaim_once_started(raw, backend, job_id)
        with caplog.at_level(logging.WARNING, logger="imagegate.worker"):
            gate.set()  # the stall is over: the call returns, the worker tries to finish
            while "not ended here" not in caplog.text:
                assert time.monotonic() < deadline, "the worker never tried to finish"
                time.sleep(0.02)
        job = client.get(f"/images/jobs/{job_id}", headers=AUTH).json()["data"]
        assert job["status"] == "RUNNING"
        assert [a["outcome"] for a in job["attemptLog"]] == ["ok"]  # its call is recorded
        pending = raw.xpending_range(keys.queue, GROUP, "-", "+", 10)
        assert [each["consumer"] for each in pending] == [b"another-process"]
    finally:
        raw.close()
    theirs = Attempt("procedural", "v1", "ok", Decimal("0.040"), 9)
    [ended] = asyncio.run(run_as(redis_url, job_id, "another-process", theirs))
    assert ended.status.value == "SUCCEEDED" and len(ended.attempts) == 2
    done = client.get(f"/images/jobs/{job_id}", headers=AUTH).json()["data"]
    assert done["status"] == "SUCCEEDED"
    assert [a["outcome"] for a in done["attemptLog"]] == ["ok", "ok"]
    assert backend.calls == 1  # this process made one call, and went on to nothing else
