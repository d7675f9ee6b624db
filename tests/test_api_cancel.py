"""`POST /images/jobs/{id}/cancel` and `POST /images/batches/{id}/cancel`, over memory://
and a real Redis: every state, joined jobs, money, Idempotency-Key, tenants."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from decimal import Decimal
from typing import Any

import pytest
from starlette.testclient import TestClient

from backends.base import Generation, GenerationRequest, Progress, Usage
from backends.mock import MockBackend
from backends.procedural import render_all
from gateway import jobs, submissions
from gateway.budgets import Budget
from gateway.cancels import Cancels
from gateway.events.base import Watch
from gateway.events.redis import RedisJobEvents
from gateway.jobs import VendorJob
from gateway.settings import Settings
from gateway.state.base import Canceled
from tests.conftest import AUTH, OTHER_AUTH
from tests.polling import wait_for_job

PRICE = "0.04"


class Gate:
    """A vendor call that reports its handle, then waits until the test opens the gate."""

    def __init__(self) -> None:
        self.opened = asyncio.Event()
        self.started = 0

    async def __call__(self, request: GenerationRequest, progress: Progress) -> Generation:
        self.started += 1
        await progress.submitted(f"pred-{self.started}")
        await self.opened.wait()
        images = await render_all(request)
        return Generation(images, Usage(images=len(images)))


def priced(make_settings: Callable[..., Settings], store_url: str, **workers: Any) -> Settings:
    return make_settings(
        state={"url": store_url},
        workers={"concurrency": 2, **workers},
        plans={"free": {"budget": "5.00/day", "rate": None, "poll_rate": None}},
        backends={"procedural": {"prices": {"procedural-v1": PRICE}}},
    )


def spent(client: TestClient) -> Decimal:
    gateway = client.app.state.gateway  # type: ignore[attr-defined]
    assert client.portal is not None
    return client.portal.call(gateway.budgets.spent, "demo", Budget.parse("5.00/day"))


def submit(client: TestClient, prompt: str = "a quiet harbour", **extra: Any) -> str:
    answer = client.post("/images/jobs", json={"prompt": prompt, **extra}, headers=AUTH)
    assert answer.status_code == 202, answer.text
    job_id: str = answer.json()["data"]["jobId"]
    return job_id


def wait_until(check: Callable[[], bool], timeout: float = 15.0) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError("condition not reached")
        time.sleep(0.02)


def status(client: TestClient, job_id: str) -> str:
    value: str = client.get(f"/images/jobs/{job_id}", headers=AUTH).json()["data"]["status"]
    return value


def test_a_pending_job_ends_canceled_at_once_and_gets_its_money_back(
    make_client: Callable[..., TestClient], make_settings: Callable[..., Settings], store_url: str
) -> None:
    client = make_client(priced(make_settings, store_url, concurrency=0))
    job_id = submit(client)
    assert spent(client) == Decimal(PRICE)  # reserved at admission
    answer = client.post(f"/images/jobs/{job_id}/cancel", headers=AUTH)
    assert answer.status_code == 200, answer.text
    job = answer.json()["data"]
    assert job["status"] == "CANCELED" and job["error"]["code"] == "canceled"
    assert job["cost"] == "0.00" and job["finishedAt"] is not None
    assert spent(client) == Decimal("0")
    again = client.post(f"/images/jobs/{job_id}/cancel", headers=AUTH)
    assert again.status_code == 409
    assert again.json()["error"]["code"] == "job_not_cancelable"
    assert "CANCELED" in again.json()["error"]["message"]


def test_another_tenants_job_or_none_is_not_found(
    make_client: Callable[..., TestClient], make_settings: Callable[..., Settings], store_url: str
) -> None:
    client = make_client(priced(make_settings, store_url, concurrency=0))
    job_id = submit(client)
    for path, headers in ((job_id, OTHER_AUTH), ("job_missing", AUTH)):
        answer = client.post(f"/images/jobs/{path}/cancel", headers=headers)
        assert answer.status_code == 404
        assert answer.json()["error"]["code"] == "job_not_found"
    assert status(client, job_id) == "PENDING"
    assert client.post(f"/images/jobs/{job_id}/cancel").status_code == 401


def test_a_finished_job_answers_409_with_its_status(
    make_client: Callable[..., TestClient], make_settings: Callable[..., Settings], store_url: str
) -> None:
    client = make_client(priced(make_settings, store_url))
    job_id = submit(client)
    assert wait_for_job(client, job_id, AUTH)["status"] == "SUCCEEDED"
    answer = client.post(f"/images/jobs/{job_id}/cancel", headers=AUTH)
    assert answer.status_code == 409
    assert "SUCCEEDED" in answer.json()["error"]["message"]
    assert spent(client) == Decimal(PRICE)


def test_a_running_job_is_stopped_its_vendor_job_canceled_and_its_charge_kept(
    make_client: Callable[..., TestClient], make_settings: Callable[..., Settings], store_url: str
) -> None:
    gate = Gate()
    backend = MockBackend("procedural", script=[gate])
    client = make_client(priced(make_settings, store_url), backends={"procedural": backend})
    job_id = submit(client)
    wait_until(lambda: backend.active == 1)
    gateway = client.app.state.gateway  # type: ignore[attr-defined]
    assert client.portal is not None
    # The prediction is recorded on the job, so any process could cancel it. (The backend
    # counts itself active before it reports the handle: wait for the record.)
    portal = client.portal

    def recorded() -> VendorJob | None:
        stored = portal.call(gateway.state.get_job, job_id)
        return stored.vendor_job if stored else None

    wait_until(lambda: recorded() is not None)
    assert recorded() == VendorJob("procedural", "pred-1")
    answer = client.post(f"/images/jobs/{job_id}/cancel", headers=AUTH)
    assert answer.status_code == 200, answer.text
    job = answer.json()["data"]
    assert job["status"] == "CANCELED" and job["error"]["code"] == "canceled"
    assert backend.canceled == ["pred-1"]  # the vendor's cancel was called
    # The abandoned call may have been billed: it stays charged, and nothing more.
    assert [a["outcome"] for a in job["attemptLog"]] == ["canceled"]
    assert job["cost"] == PRICE
    assert spent(client) == Decimal(PRICE)
    assert backend.calls == 1


def test_a_cancel_the_workers_watch_did_not_hear_still_stops_the_job(
    make_client: Callable[..., TestClient],
    make_settings: Callable[..., Settings],
    redis_url: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The worker's stop watch subscribes while the attempt starts, so a cancel can be
    published before it listens (a slow subscription on a loaded cluster did that): the
    watch's periodic re-read must still find `stop` while the cancel waits (200, not 202).
    Here the worker's watch is held until the cancel has been applied and published."""
    canceled = asyncio.Event()
    held: list[str] = []
    watch, apply = RedisJobEvents.watch, Cancels.cancel

    @asynccontextmanager
    async def late_watch(self: RedisJobEvents, *job_ids: str) -> AsyncIterator[Watch]:
        if not held:  # the first watch is the worker's
            held.extend(job_ids)
            await canceled.wait()
        async with watch(self, *job_ids) as opened:
            yield opened

    async def noted_cancel(self: Cancels, *args: Any, **kwargs: Any) -> Canceled:
        outcome = await apply(self, *args, **kwargs)
        canceled.set()
        return outcome

    monkeypatch.setattr(RedisJobEvents, "watch", late_watch)
    monkeypatch.setattr(Cancels, "cancel", noted_cancel)
    gate = Gate()
    backend = MockBackend("procedural", script=[gate])
    client = make_client(priced(make_settings, redis_url), backends={"procedural": backend})
    job_id = submit(client)
    wait_until(lambda: backend.active == 1)
    answer = client.post(f"/images/jobs/{job_id}/cancel", headers=AUTH)
    assert answer.status_code == 200, answer.text
    assert answer.json()["data"]["status"] == "CANCELED"
    assert held == [job_id] and backend.canceled == ["pred-1"]


def test_cancel_takes_an_idempotency_key(
    make_client: Callable[..., TestClient], make_settings: Callable[..., Settings], store_url: str
) -> None:
    client = make_client(priced(make_settings, store_url, concurrency=0))
    job_id = submit(client)
    headers = {**AUTH, "Idempotency-Key": "cancel-1"}
    first = client.post(f"/images/jobs/{job_id}/cancel", headers=headers)
    second = client.post(f"/images/jobs/{job_id}/cancel", headers=headers)
    assert first.status_code == second.status_code == 200
    assert second.headers["Idempotent-Replayed"] == "true"
    assert second.json() == first.json()


def test_a_joined_job_cancels_only_itself(
    make_client: Callable[..., TestClient], make_settings: Callable[..., Settings], store_url: str
) -> None:
    gate = Gate()
    backend = MockBackend("procedural", script=[gate])
    client = make_client(priced(make_settings, store_url), backends={"procedural": backend})
    leader = submit(client)
    wait_until(lambda: backend.active == 1)
    follower = submit(client)
    canceled = client.post(f"/images/jobs/{follower}/cancel", headers=AUTH)
    assert canceled.status_code == 200 and canceled.json()["data"]["status"] == "CANCELED"
    assert status(client, leader) == "RUNNING" and backend.canceled == []
    assert client.portal is not None
    client.portal.call(gate.opened.set)
    assert wait_for_job(client, leader, AUTH)["status"] == "SUCCEEDED"
    assert status(client, follower) == "CANCELED"


def test_a_canceled_leader_runs_on_for_its_follower_then_ends_canceled(
    make_client: Callable[..., TestClient], make_settings: Callable[..., Settings], store_url: str
) -> None:
    gate = Gate()
    backend = MockBackend("procedural", script=[gate])
    client = make_client(priced(make_settings, store_url), backends={"procedural": backend})
    leader = submit(client)
    wait_until(lambda: backend.active == 1)
    follower = submit(client)
    answer = client.post(f"/images/jobs/{leader}/cancel", headers=AUTH)
    assert answer.status_code == 202
    assert answer.json()["data"]["status"] == "RUNNING"
    assert answer.json()["data"]["cancelRequested"] is True
    assert client.portal is not None
    client.portal.call(gate.opened.set)
    followed = wait_for_job(client, follower, AUTH)
    assert followed["status"] == "SUCCEEDED" and followed["images"]
    led = wait_for_job(client, leader, AUTH)
    assert led["status"] == "CANCELED" and led["images"] == [] and led["cost"] == PRICE
    assert backend.calls == 1 and backend.canceled == []
    assert spent(client) == Decimal(PRICE)


def test_the_last_waiter_leaving_stops_a_canceled_execution(
    make_client: Callable[..., TestClient], make_settings: Callable[..., Settings], store_url: str
) -> None:
    gate = Gate()
    backend = MockBackend("procedural", script=[gate])
    client = make_client(priced(make_settings, store_url), backends={"procedural": backend})
    leader = submit(client)
    wait_until(lambda: backend.active == 1)
    follower = submit(client)
    assert client.post(f"/images/jobs/{leader}/cancel", headers=AUTH).status_code == 202
    assert client.post(f"/images/jobs/{follower}/cancel", headers=AUTH).status_code == 200
    led = wait_for_job(client, leader, AUTH)
    assert led["status"] == "CANCELED" and backend.canceled == ["pred-1"]
    assert spent(client) == Decimal(PRICE)


def test_a_batch_cancel_cancels_what_has_not_ended(
    make_client: Callable[..., TestClient], make_settings: Callable[..., Settings], store_url: str
) -> None:
    client = make_client(priced(make_settings, store_url, concurrency=0))
    body = {"jobs": [{"prompt": f"item {i}"} for i in range(3)]}
    batch = client.post("/images/batches", json=body, headers=AUTH).json()["data"]
    first = batch["items"][0]["jobId"]
    assert client.post(f"/images/jobs/{first}/cancel", headers=AUTH).status_code == 200
    path = f"/images/batches/{batch['batchId']}/cancel"
    assert client.post(path, headers=OTHER_AUTH).status_code == 404
    answer = client.post(path, headers={**AUTH, "Idempotency-Key": "b1"})
    assert answer.status_code == 200, answer.text
    data = answer.json()["data"]
    assert data == {
        "batchId": batch["batchId"],
        "canceled": 2,
        "canceling": 0,
        "ended": 1,
        "expired": 0,
    }
    counts = client.get(f"/images/batches/{batch['batchId']}", headers=AUTH).json()["data"]
    assert counts["counts"]["CANCELED"] == 3
    assert spent(client) == Decimal("0")
    replay = client.post(path, headers={**AUTH, "Idempotency-Key": "b1"})
    assert replay.json() == answer.json() and replay.headers["Idempotent-Replayed"] == "true"
    missing = client.post("/images/batches/batch_nope/cancel", headers=AUTH)
    assert missing.status_code == 404 and missing.json()["error"]["code"] == "batch_not_found"


def test_a_worker_taking_over_a_stopped_job_cancels_its_vendor_job(
    make_client: Callable[..., TestClient],
    make_settings: Callable[..., Settings],
    store_url: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # The worker holding the job is dead: the cancel waits for it in vain, then answers 202.
    monkeypatch.setattr(submissions, "CANCEL_WAIT", 0.2)
    backend = MockBackend("procedural")
    client = make_client(
        priced(make_settings, store_url, concurrency=0), backends={"procedural": backend}
    )
    job_id = submit(client)
    gateway = client.app.state.gateway  # type: ignore[attr-defined]
    portal = client.portal
    assert portal is not None
    # A worker claims it, starts a prediction, is told to stop, and dies before it does.
    portal.call(gateway.state.claim, "doomed", 1)
    portal.call(
        gateway.state.patch, job_id, jobs.vendor_job_started(VendorJob("procedural", "pred-7"))
    )
    assert client.post(f"/images/jobs/{job_id}/cancel", headers=AUTH).status_code == 202
    portal.call(gateway.state.requeue, job_id)  # (a reclaim, on Redis)
    again = portal.call(gateway.state.claim, gateway.workers.name, 1)  # this pool is the heir
    ended = portal.call(gateway.workers.process, again)
    assert [job.status.value for job in ended] == ["CANCELED"]
    assert backend.canceled == ["pred-7"] and backend.calls == 0
    assert spent(client) == Decimal("0")
