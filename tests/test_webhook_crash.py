"""The outbox survives SIGKILL: a real `imagegate serve` holding undelivered events (its
attempts hang at the receiver) is killed; after a restart every event is delivered, each
with its original `webhook-id`, and verifies with the official `standardwebhooks` package."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from standardwebhooks.webhooks import Webhook

from tests.conftest import AUTH, config_dict
from tests.fakes.kit import serving
from tests.fakes.receiver import HANG, Receiver, by_id, event
from tests.processes import GatewayProcess, serve, write_config

JOBS = 5


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    with serving(Receiver(then=HANG)) as running:
        yield running
        running.release()


@pytest.fixture
def processes() -> Iterator[list[GatewayProcess]]:
    started: list[GatewayProcess] = []
    yield started
    for process in started:
        if process.process.poll() is None:
            process.stop()


def wait_until(check: object, seconds: float = 90.0) -> None:
    deadline = time.monotonic() + seconds
    while not check():  # type: ignore[operator]
        assert time.monotonic() < deadline, "not reached in time"
        time.sleep(0.05)


def test_events_held_by_a_killed_process_are_delivered_after_a_restart(
    tmp_path: Path, redis_url: str, receiver: Receiver, processes: list[GatewayProcess]
) -> None:
    config = config_dict(
        tmp_path,
        state={"url": redis_url},
        storage={"url": f"file://{tmp_path / 'images'}"},
        outbound={"allow_networks": ["127.0.0.0/8"], "timeout": "30s"},
        webhooks={
            "retry_schedule": ["0s"] + ["1s"] * 20,
            "jitter": 0.0,
            "poll_interval": "100ms",
            "lease": "2s",  # each attempt gives up after 1 s
        },
    )
    config["server"].pop("public_url")
    path = write_config(tmp_path / "gateway.toml", config)
    first, base = serve(path, tmp_path, "first")
    processes.append(first)
    submitted = []
    with httpx.Client(base_url=base, timeout=30) as client:
        for i in range(JOBS):
            body = {"prompt": f"crash test {i}", "webhookUrl": receiver.url}
            answer = client.post("/images/jobs", json=body, headers=AUTH)
            assert answer.status_code == 202, answer.text
            submitted.append(answer.json()["data"]["jobId"])
    # Every event is being delivered (each attempt hangs at the receiver): kill the holder.
    wait_until(lambda: len(by_id(receiver.deliveries)) == JOBS)
    first.kill()
    seen = {event(d)["data"]["id"]: d.id for d in receiver.deliveries}
    assert sorted(seen) == sorted(submitted)
    secret = json.loads((tmp_path / "data" / "webhooks" / "demo.json").read_text())
    secret = secret["secrets"][0]["secret"]
    assert first.output().count(secret) == 1  # shown once, at the first start

    receiver.then = 200
    delivered_from = len(receiver.deliveries)
    second, base = serve(path, tmp_path, "second")
    processes.append(second)
    with httpx.Client(base_url=base, timeout=30) as client:

        def all_delivered() -> bool:
            documents = [
                client.get(f"/images/jobs/{job_id}", headers=AUTH).json()["data"]
                for job_id in submitted
            ]
            return all(doc["webhook"]["status"] == "delivered" for doc in documents)

        wait_until(all_delivered)
    assert secret not in second.output()
    after = receiver.deliveries[delivered_from:]
    verifier = Webhook(secret)
    delivered = {}
    for delivery in after:
        payload = verifier.verify(delivery.body, delivery.headers)
        delivered.setdefault(payload["data"]["id"], set()).add(delivery.id)
    assert {job_id: {seen[job_id]} for job_id in submitted} == delivered
