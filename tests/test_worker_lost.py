"""A job whose workers keep dying ends `worker_lost` through the one finish pipeline, ended by
a gateway's own worker: the job and its follower FAILED, their webhooks delivered
and verified, the unspent reservation refunded, the charged attempt in the usage records
and the failure in the metrics. Redis only: `memory://` never redelivers a job."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from decimal import Decimal
from typing import Any

import pytest
from standardwebhooks.webhooks import Webhook
from starlette.testclient import TestClient

from gateway.budgets import Budget
from gateway.jobs import Attempt, Job, delivery_exhausted
from gateway.settings import Settings
from tests.conftest import AUTH
from tests.fakes.kit import serving
from tests.fakes.receiver import Receiver
from tests.metrics_text import Scrape
from tests.webhook_kit import ENVIRON, SECRET, settled, webhook_settings

BUDGET = "5.00/day"
PRICE = Decimal("0.04")


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    with serving(Receiver()) as running:
        yield running


def test_a_job_that_outlives_its_workers_ends_worker_lost_through_the_pipeline(
    make_client: Callable[..., TestClient],
    make_settings: Callable[..., Settings],
    redis_url: str,
    receiver: Receiver,
) -> None:
    def settings(workers: int) -> Settings:
        return webhook_settings(
            make_settings,
            redis_url,
            workers={"concurrency": workers, "visibility_timeout": "100ms"},
            plans={"free": {"budget": BUDGET, "rate": None, "poll_rate": None}},
            backends={"procedural": {"prices": {"procedural-v1": str(PRICE)}}},
        )

    # No worker of its own: the test plays the five workers that die.
    client = make_client(settings(0), environ=ENVIRON)
    gateway: Any = client.app.state.gateway  # type: ignore[attr-defined]
    portal = client.portal
    assert portal is not None
    body = {"prompt": "outlives five workers", "n": 2, "webhookUrl": receiver.url}
    ids = [client.post("/images/jobs", json=body, headers=AUTH).json()["data"]["jobId"]]
    ids.append(client.post("/images/jobs", json=body, headers=AUTH).json()["data"]["jobId"])
    leader: Job = portal.call(gateway.state.get_job, ids[0])
    follower: Job = portal.call(gateway.state.get_job, ids[1])
    assert follower.leader_id == leader.id and leader.reserved_total > PRICE
    budget = Budget.parse(BUDGET)
    assert portal.call(gateway.budgets.spent, "demo", budget) == leader.reserved_total

    async def delivered(worker: str) -> Job:
        """The next delivery of the job, once its last holder's visibility has lapsed."""
        while (job := await gateway.state.claim(worker, 0.05)) is None:
            pass
        assert job.id == leader.id
        return job

    async def die_five_times() -> None:
        for number in range(1, gateway.state.max_deliveries + 1):
            job = await delivered(f"doomed-{number}")
            assert job.deliveries == number and not delivery_exhausted(
                job, gateway.state.max_deliveries
            )
            if number == 1:  # the first one was charged by the vendor before it died
                await gateway.state.add_attempt(job.id, Attempt("procedural", "v1", "ok", PRICE, 9))

    portal.call(die_five_times)
    # Then a gateway process with a worker of its own (and the webhook dispatcher) comes up:
    # its worker takes the sixth delivery and ends the job.
    worker = make_client(settings(1), environ=ENVIRON)
    documents = [settled(worker, job_id) for job_id in ids]
    for document in documents:
        assert document["status"] == "FAILED" and document["error"]["code"] == "worker_lost"
        assert document["webhook"]["status"] == "delivered"
    assert [document["cost"] for document in documents] == ["0.04", "0.00"]
    verifier = Webhook(SECRET)
    payloads = [verifier.verify(d.body, d.headers) for d in receiver.deliveries]
    assert sorted(p["data"]["id"] for p in payloads) == sorted(ids)
    assert {p["type"] for p in payloads} == {"job.failed"}
    assert {p["data"]["error"]["code"] for p in payloads} == {"worker_lost"}

    # Refunded = reserved - charged: the counter keeps only the charged attempt.
    assert portal.call(gateway.budgets.spent, "demo", budget) == PRICE
    until = time.monotonic() + 10
    while not (records := client.get("/v1/usage", headers=AUTH).json()["data"]):
        assert time.monotonic() < until, "no usage record"
        time.sleep(0.02)
    (record,) = records
    assert (record["jobs"], record["attempts"], record["chargedUsd"]) == (1, 1, "0.04")
    scrape = Scrape(worker.get("/metrics").text)
    assert scrape.value("imagegate_job_failures_total", code="worker_lost") == 2
