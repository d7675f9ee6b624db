"""The job carries its own money across a redelivery, through a real gateway: a delivery
abandoned at shutdown (its second, still-running attempt charged, since the vendor may
bill it) is handed back; the next delivery rebuilds the ledger from the recorded attempts,
so `max_cost_per_job` stops it before a third attempt, and the budget ends at the sum of
the charged attempts."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from decimal import Decimal
from typing import Any

from starlette.testclient import TestClient

from backends.errors import Timeout
from backends.mock import MockBackend, delay
from gateway.budgets import Budget
from gateway.settings import Settings
from tests.conftest import AUTH


def settings(make_settings: Callable[..., Settings], store_url: str) -> Settings:
    return make_settings(
        state={"url": store_url},
        workers={"concurrency": 0},  # this test delivers the job itself
        retry={"max_attempts": 5, "initial": "1ms", "max": "1ms"},
        plans={"free": {"budget": "5.00/day", "max_cost_per_job": "0.10", "rate": None}},
        backends={"procedural": {"prices": {"procedural-v1": "0.04"}}},
    )


def test_the_cost_cap_holds_across_a_requeue(
    make_client: Callable[..., TestClient], make_settings: Callable[..., Settings], store_url: str
) -> None:
    backend = MockBackend("procedural")
    backend.will(Timeout("no answer", sent=True), delay(3600))
    client = make_client(settings(make_settings, store_url), backends={"procedural": backend})
    gateway: Any = client.app.state.gateway  # type: ignore[attr-defined]
    portal = client.portal
    assert portal is not None
    answer = client.post("/images/jobs", json={"prompt": "twice delivered"}, headers=AUTH)
    job_id = answer.json()["data"]["jobId"]

    # Claimed under the pool's consumer name, as its claim loop would: only the delivery's
    # holder ends the job (StateStore.finish).
    async def first_delivery() -> None:
        job = await gateway.state.claim(gateway.workers.name, 5)
        running = asyncio.create_task(gateway.workers.process(job))
        while backend.calls < 2:  # the second attempt is at the vendor
            await asyncio.sleep(0.01)
        running.cancel()  # a shutdown abandons it
        await asyncio.gather(running, return_exceptions=True)
        await gateway.state.requeue(job_id)

    async def second_delivery() -> list[Any]:
        job = await gateway.state.claim(gateway.workers.name, 5)
        assert job is not None and job.id == job_id and job.deliveries == 2
        return list(await gateway.workers.process(job))

    portal.call(first_delivery)
    stored = portal.call(gateway.state.get_job, job_id)
    assert [(a.outcome, a.cost) for a in stored.attempts] == [
        ("timeout", Decimal("0.04")),
        ("canceled", Decimal("0.04")),
    ]
    ended = portal.call(second_delivery)
    assert backend.calls == 2  # 0.08 spent: a third 0.04 attempt would pass the 0.10 cap
    document = client.get(f"/images/jobs/{job_id}", headers=AUTH).json()["data"]
    assert [job.id for job in ended] == [job_id]
    assert document["status"] == "FAILED"
    assert document["error"]["code"] == "retry_budget_exhausted"
    assert "cost cap (0.10 USD)" in document["error"]["message"]
    assert (document["cost"], document["attempts"]) == ("0.08", 2)
    spent = portal.call(gateway.budgets.spent, "demo", Budget.parse("5.00/day"))
    assert spent == Decimal("0.08")
    deadline = time.monotonic() + 10
    while not client.get("/v1/usage", headers=AUTH).json()["data"]:
        assert time.monotonic() < deadline
        time.sleep(0.02)
    (record,) = client.get("/v1/usage", headers=AUTH).json()["data"]
    assert (record["jobs"], record["attempts"], record["chargedUsd"]) == (1, 2, "0.08")
