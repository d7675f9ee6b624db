"""Deadlines: `deadline` in the body or `Cancel-After`; nothing starts after it, and a job
unfinished at it ends CANCELED with `deadline_exceeded`, PENDING or RUNNING, on memory://
and a real Redis."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import replace
from datetime import datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from starlette.testclient import TestClient

from backends.mock import MockBackend
from gateway import jobs
from gateway.cancels import Cancels, Stopped
from gateway.deadlines import DeadlineSweep, parse_cancel_after
from gateway.endings import Endings
from gateway.errors import ApiError
from gateway.events.memory import MemoryJobEvents
from gateway.jobs import JobStatus, VendorJob, utcnow
from gateway.settings import Settings, parse_settings
from gateway.units import parse_duration
from tests.conftest import AUTH, config_dict
from tests.polling import wait_for_job
from tests.test_api_cancel import PRICE, Gate, priced, spent, submit
from tests.test_state_contract import make_job, make_state, state

__all__ = ["make_state", "state"]  # fixtures used by name


# Every form a duration takes in the config, and Replicate's compound one.
DURATIONS = [
    ("30s", 30.0),
    ("5m", 300.0),
    ("1h", 3600.0),
    ("500ms", 0.5),
    ("1.5s", 1.5),
    ("2d", 172800.0),
    ("5 m", 300.0),
    ("1h30m", 5400.0),
    ("1m 30s", 90.0),
]


@pytest.mark.parametrize(("text", "seconds"), DURATIONS)
def test_cancel_after_takes_every_duration_the_config_takes(text: str, seconds: float) -> None:
    assert parse_cancel_after(text) == seconds == parse_duration(text)
    checked = parse_settings(config_dict(Path("/nonexistent"), cache={"ttl": text}))
    assert checked.cache.ttl == seconds  # the config reads it the same way


@pytest.mark.parametrize(
    "text", ["", "soon", "30", "-5s", "s30", "5x", "1e3s", "1h 30", "0x10s", "5 sec", "1,5s"]
)
def test_a_bad_cancel_after_is_refused_naming_the_header(text: str) -> None:
    with pytest.raises(ApiError) as caught:
        parse_cancel_after(text)
    assert caught.value.status == 400 and "'Cancel-After'" in caught.value.message
    assert caught.value.param == "Cancel-After"
    with pytest.raises(ValueError):
        parse_duration(text)  # nor does the config take it


def test_a_cancel_after_in_any_config_form_sets_the_deadline(
    make_client: Callable[..., TestClient], make_settings: Callable[..., Settings]
) -> None:
    settings = make_settings(
        workers={"concurrency": 0, "shutdown_grace": "10ms"},
        plans={"free": {"max_concurrent": 100}},
    )
    client = make_client(settings)
    for text, seconds in DURATIONS:
        before = utcnow()
        answer = client.post(
            "/images/jobs", json={"prompt": f"by {text}"}, headers={**AUTH, "Cancel-After": text}
        )
        assert answer.status_code == 202, (text, answer.text)
        job = client.get(answer.headers["Location"], headers=AUTH).json()["data"]
        deadline = datetime.fromisoformat(job["deadline"].replace("Z", "+00:00"))
        assert before + timedelta(seconds=seconds - 0.002) <= deadline, text
        assert deadline <= utcnow() + timedelta(seconds=seconds), text
    answer = client.post(
        "/images/jobs", json={"prompt": "by a week"}, headers={**AUTH, "Cancel-After": "1 week"}
    )
    assert answer.status_code == 400 and "'Cancel-After'" in answer.json()["error"]["message"]


def test_bad_deadlines_are_400s_naming_the_problem(
    make_client: Callable[..., TestClient], make_settings: Callable[..., Settings]
) -> None:
    client = make_client(make_settings(workers={"concurrency": 0}))
    cases: list[tuple[dict[str, Any], dict[str, str], str]] = [
        ({"deadline": 0}, {}, "'deadline'"),
        ({"deadline": -3}, {}, "'deadline'"),
        ({"deadline": "10"}, {}, "'deadline'"),
        ({"deadline": True}, {}, "'deadline'"),
        ({"deadline": 10**7}, {}, "'deadline'"),
        ({}, {"Cancel-After": "0s"}, "'Cancel-After'"),
        ({}, {"Cancel-After": "whenever"}, "'Cancel-After'"),
        ({"deadline": 5}, {"Cancel-After": "5s"}, "not both"),
    ]
    for body, headers, named in cases:
        answer = client.post(
            "/images/jobs", json={"prompt": "late", **body}, headers={**AUTH, **headers}
        )
        assert answer.status_code == 400, (body, headers, answer.text)
        error = answer.json()["error"]
        assert error["code"] == "invalid_request" and named in error["message"], error


def test_a_pending_job_ends_at_its_deadline_with_no_worker_and_is_refunded(
    make_client: Callable[..., TestClient], make_settings: Callable[..., Settings], store_url: str
) -> None:
    client = make_client(priced(make_settings, store_url, concurrency=0))
    by_body = submit(client, "by body", deadline=0.3)
    answer = client.post(
        "/images/jobs", json={"prompt": "by header"}, headers={**AUTH, "Cancel-After": "300ms"}
    )
    by_header = answer.json()["data"]["jobId"]
    later = submit(client, "much later", deadline=3600)
    assert spent(client) == 3 * Decimal(PRICE)
    for job_id in (by_body, by_header):
        job = wait_for_job(client, job_id, AUTH)
        assert job["status"] == "CANCELED", job
        assert job["error"]["code"] == "deadline_exceeded" and job["deadline"] is not None
    assert client.get(f"/images/jobs/{later}", headers=AUTH).json()["data"]["status"] == "PENDING"
    assert spent(client) == Decimal(PRICE)  # only the job still waiting holds money


def test_a_running_job_is_stopped_at_its_deadline(
    make_client: Callable[..., TestClient], make_settings: Callable[..., Settings], store_url: str
) -> None:
    gate = Gate()
    backend = MockBackend("procedural", script=[gate])
    client = make_client(priced(make_settings, store_url), backends={"procedural": backend})
    # Long enough that even a loaded machine starts the vendor call before the deadline
    # (at 0.5 s a slow first claim on the cluster once let it end still PENDING).
    job_id = submit(client, deadline=3)
    job = wait_for_job(client, job_id, AUTH)
    assert job["status"] == "CANCELED" and job["error"]["code"] == "deadline_exceeded"
    assert gate.started == 1, "the vendor call had not started by the deadline"
    assert backend.canceled == ["pred-1"] and job["cost"] == PRICE
    assert spent(client) == Decimal(PRICE)


def test_batch_items_take_the_batch_cancel_after_unless_they_have_their_own(
    make_client: Callable[..., TestClient], make_settings: Callable[..., Settings], store_url: str
) -> None:
    client = make_client(priced(make_settings, store_url, concurrency=0))
    body = {"jobs": [{"prompt": "shared"}, {"prompt": "own", "deadline": 3600}]}
    answer = client.post("/images/batches", json=body, headers={**AUTH, "Cancel-After": "200ms"})
    shared, own = (item["jobId"] for item in answer.json()["data"]["items"])
    assert wait_for_job(client, shared, AUTH)["error"]["code"] == "deadline_exceeded"
    assert client.get(f"/images/jobs/{own}", headers=AUTH).json()["data"]["status"] == "PENDING"


def cancels_over(state: Any, **backends: Any) -> Cancels:
    return Cancels(state, Endings(state), MemoryJobEvents(), backends)


async def test_no_attempt_starts_after_the_deadline(state: Any) -> None:
    job = replace(make_job(), deadline=utcnow() + timedelta(seconds=60))
    await state.submit(job)
    claimed = await state.claim("w1", 1)
    cancels = cancels_over(state)
    await cancels.gate(claimed)  # before the deadline: the attempt may start
    late = replace(claimed, deadline=utcnow() - timedelta(milliseconds=1))
    with pytest.raises(Stopped):
        await cancels.gate(late)
    stored = await state.get_job(job.id)
    assert stored.stop and stored.cancel is not None
    assert stored.cancel.code == "deadline_exceeded"


async def test_the_sweep_ends_a_running_job_its_dead_worker_never_stopped(state: Any) -> None:
    job = replace(make_job(), deadline=utcnow() + timedelta(seconds=1))
    await state.submit(job)
    await state.claim("w1", 1)  # it starts a prediction, and the worker dies
    await state.patch(job.id, jobs.vendor_job_started(VendorJob("vendor", "pred-9")))
    vendor = MockBackend("vendor")
    sweep = DeadlineSweep(state, cancels_over(state, vendor=vendor), grace=30)
    assert await sweep.sweep(time.time()) == 0
    assert await sweep.sweep(time.time() + 2) == 1
    told = await state.get_job(job.id)
    assert told.status is JobStatus.RUNNING and told.stop
    assert await sweep.sweep(time.time() + 2) == 0  # postponed by the grace
    assert await sweep.sweep(time.time() + 40) == 1
    ended = await state.get_job(job.id)
    assert ended.status is JobStatus.CANCELED and ended.error is not None
    assert ended.error.code == "deadline_exceeded"
    assert vendor.canceled == ["pred-9"]  # nobody else would have stopped it
    assert await state.count_active("demo") == 0
    assert await sweep.sweep(time.time() + 100) == 0
