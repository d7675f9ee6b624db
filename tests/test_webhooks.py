"""Standard Webhooks deliveries, verified with the official `standardwebhooks` package by a
receiver on 127.0.0.1; retries, 410, giving up, redelivery; over both state stores."""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator

import pytest
from standardwebhooks.webhooks import Webhook, WebhookVerificationError
from starlette.testclient import TestClient

from gateway.settings import Settings
from gateway.webhooks import new_secret, secret_key, signed_headers
from tests.conftest import AUTH, OTHER_AUTH
from tests.fakes.kit import serving
from tests.fakes.receiver import Receiver, by_id, event
from tests.webhook_kit import ENVIRON, SECRET, settled, webhook_settings


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    with serving(Receiver()) as running:
        yield running


def submit(client: TestClient, url: str, **body: object) -> str:
    answer = client.post("/images/jobs", json={"webhookUrl": url, **body}, headers=AUTH)
    assert answer.status_code == 202, answer.text
    job_id: str = answer.json()["data"]["jobId"]
    return job_id


def test_every_delivery_verifies_with_the_standardwebhooks_package(
    make_client: Callable[..., TestClient],
    make_settings: Callable[..., Settings],
    receiver: Receiver,
    store_url: str,
) -> None:
    settings = webhook_settings(make_settings, store_url)
    client = make_client(settings, environ=ENVIRON)
    jobs = [submit(client, receiver.url, prompt=f"lighthouse {i}") for i in range(5)]
    for job_id in jobs:
        settled(client, job_id)
    jobs.append(submit(client, receiver.url, prompt="lighthouse 0"))  # born cached
    settled(client, jobs[-1])

    verifier = Webhook(SECRET)
    assert len(receiver.deliveries) == len(jobs)
    for delivery in receiver.deliveries:
        payload = verifier.verify(delivery.body, delivery.headers)  # raises if it does not
        assert payload["type"] == "job.succeeded"
        assert payload["timestamp"] == payload["data"]["finishedAt"]
        assert delivery.id == "msg_" + payload["data"]["id"].removeprefix("job_")
    documents = [event(delivery)["data"] for delivery in receiver.deliveries]
    assert sorted(doc["id"] for doc in documents) == sorted(jobs)
    assert documents[-1]["cached"] is True and documents[-1]["imageUrl"]


def test_failed_and_canceled_jobs_send_their_own_types(
    make_client: Callable[..., TestClient],
    make_settings: Callable[..., Settings],
    receiver: Receiver,
) -> None:
    procedural = {"type": "procedural", "free": True}
    settings = webhook_settings(
        make_settings,
        backends={
            "broken": {**procedural, "fail_rate": 1.0},
            "slow": {**procedural, "latency": "30s"},
        },
        models={
            alias: {"targets": [{"backend": alias, "model": "procedural-v1"}]}
            for alias in ("broken", "slow")
        },
    )
    client = make_client(settings, environ=ENVIRON)
    failed = submit(client, receiver.url, prompt="doomed", model="broken")
    slow = submit(client, receiver.url, prompt="never mind", model="slow")
    assert client.post(f"/images/jobs/{slow}/cancel", headers=AUTH).status_code == 200
    for job_id in (failed, slow):
        settled(client, job_id)
    types = {event(d)["data"]["id"]: event(d)["type"] for d in receiver.deliveries}
    assert types == {failed: "job.failed", slow: "job.canceled"}
    for delivery in receiver.deliveries:
        Webhook(SECRET).verify(delivery.body, delivery.headers)


def test_tampering_a_wrong_secret_and_a_stale_timestamp_are_rejected(
    make_client: Callable[..., TestClient],
    make_settings: Callable[..., Settings],
    receiver: Receiver,
) -> None:
    client = make_client(webhook_settings(make_settings), environ=ENVIRON)
    settled(client, submit(client, receiver.url, prompt="evidence"))
    (delivery,) = receiver.deliveries
    verifier = Webhook(SECRET)
    verifier.verify(delivery.body, delivery.headers)

    tampered = json.loads(delivery.body)
    tampered["data"]["status"] = "FAILED"
    with pytest.raises(WebhookVerificationError):
        verifier.verify(json.dumps(tampered), delivery.headers)
    with pytest.raises(WebhookVerificationError):
        Webhook(new_secret()).verify(delivery.body, delivery.headers)
    # Signed correctly, but 6 minutes ago: a replayed capture.
    for offset, accepted in ((-360, False), (360, False), (-10, True)):
        headers = signed_headers(
            [secret_key(SECRET)], delivery.id, int(time.time()) + offset, delivery.body
        )
        if accepted:
            verifier.verify(delivery.body, headers)
        else:
            with pytest.raises(WebhookVerificationError):
                verifier.verify(delivery.body, headers)


def test_a_receiver_failing_three_times_gets_one_event_four_times(
    make_client: Callable[..., TestClient],
    make_settings: Callable[..., Settings],
    receiver: Receiver,
    store_url: str,
) -> None:
    receiver.answers.extend([503, 500, 429])
    client = make_client(webhook_settings(make_settings, store_url), environ=ENVIRON)
    job = settled(client, submit(client, receiver.url, prompt="persistent"))
    assert job["webhook"] == {
        "status": "delivered",
        "attempts": 4,
        "lastStatus": 200,
        "lastError": None,
        "nextAttemptAt": None,
    }
    (deliveries,) = by_id(receiver.deliveries).values()
    assert len(deliveries) == 4
    for delivery in deliveries:
        Webhook(SECRET).verify(delivery.body, delivery.headers)
    metrics = client.get("/metrics").text
    assert 'imagegate_webhook_deliveries_total{outcome="retry"} 3.0' in metrics
    assert 'imagegate_webhook_deliveries_total{outcome="delivered"} 1.0' in metrics


def test_410_gone_stops_and_an_exhausted_schedule_gives_up(
    make_client: Callable[..., TestClient],
    make_settings: Callable[..., Settings],
    receiver: Receiver,
    store_url: str,
) -> None:
    settings = webhook_settings(
        make_settings, store_url, webhooks={"retry_schedule": ["0s", "10ms", "10ms"]}
    )
    client = make_client(settings, environ=ENVIRON)
    receiver.answers.append(410)
    gone = settled(client, submit(client, receiver.url, prompt="unsubscribed"))
    assert gone["webhook"]["status"] == "failed" and gone["webhook"]["attempts"] == 1
    assert gone["webhook"]["lastStatus"] == 410 and "410" in gone["webhook"]["lastError"]
    assert gone["webhook"]["nextAttemptAt"] is None

    receiver.then = 500
    failing = settled(client, submit(client, receiver.url, prompt="broken receiver"))
    assert failing["webhook"]["status"] == "failed" and failing["webhook"]["attempts"] == 3
    assert failing["webhook"]["lastError"] == "the receiver answered 500"
    assert len(receiver.deliveries) == 1 + 3
    metrics = client.get("/metrics").text
    assert 'imagegate_webhook_deliveries_total{outcome="gone"} 1.0' in metrics
    assert 'imagegate_webhook_deliveries_total{outcome="given_up"} 1.0' in metrics


def test_redelivery_on_request_keeps_the_event_id(
    make_client: Callable[..., TestClient],
    make_settings: Callable[..., Settings],
    receiver: Receiver,
    store_url: str,
) -> None:
    settings = webhook_settings(make_settings, store_url, webhooks={"retry_schedule": ["0s"]})
    client = make_client(settings, environ=ENVIRON)
    receiver.answers.append(500)
    job_id = submit(client, receiver.url, prompt="again please")
    assert settled(client, job_id)["webhook"]["status"] == "failed"

    answer = client.post(f"/images/jobs/{job_id}/webhook", headers=AUTH)
    assert answer.status_code == 202
    assert answer.json()["data"]["webhook"]["status"] == "pending"
    job = settled(client, job_id)
    assert job["webhook"]["status"] == "delivered" and job["webhook"]["attempts"] == 2
    assert len(by_id(receiver.deliveries)) == 1 and len(receiver.deliveries) == 2

    other = client.post(f"/images/jobs/{job_id}/webhook", headers=OTHER_AUTH)
    assert other.status_code == 404 and other.json()["error"]["code"] == "job_not_found"
    plain = client.post("/images/jobs", json={"prompt": "no hook"}, headers=AUTH).json()["data"]
    refused = client.post(f"/images/jobs/{plain['jobId']}/webhook", headers=AUTH)
    assert refused.status_code == 409
    assert refused.json()["error"]["code"] == "webhook_not_redeliverable"


def test_a_job_without_a_webhook_shows_none(
    make_client: Callable[..., TestClient], make_settings: Callable[..., Settings]
) -> None:
    client = make_client(webhook_settings(make_settings), environ=ENVIRON)
    job_id = client.post("/images/jobs", json={"prompt": "quiet"}, headers=AUTH).json()["data"]
    assert (
        client.get(f"/images/jobs/{job_id['jobId']}", headers=AUTH).json()["data"]["webhook"]
        is None
    )


def test_the_tenants_default_url_and_its_allowed_hosts(
    make_client: Callable[..., TestClient],
    make_settings: Callable[..., Settings],
    receiver: Receiver,
) -> None:
    settings = webhook_settings(make_settings)
    demo = settings.tenants["demo"].model_copy(
        update={"webhook_url": receiver.url, "webhook_hosts": ("127.0.0.1", "*.hooks.example")}
    )
    settings = settings.model_copy(update={"tenants": {**settings.tenants, "demo": demo}})
    client = make_client(settings, environ=ENVIRON)
    answer = client.post("/images/jobs", json={"prompt": "by default"}, headers=AUTH)
    job = settled(client, answer.json()["data"]["jobId"])
    assert job["webhook"]["status"] == "delivered"
    assert event(receiver.deliveries[0])["data"]["id"] == job["id"]
    # A job's own URL overrides it, on a listed host only.
    settled(client, submit(client, receiver.url + "?own=1", prompt="my own"))
    assert len(receiver.deliveries) == 2
    refused = client.post(
        "/images/jobs",
        json={"prompt": "elsewhere", "webhookUrl": "https://attacker.example/x"},
        headers=AUTH,
    )
    assert refused.status_code == 400
    error = refused.json()["error"]
    assert error["code"] == "invalid_request" and "webhookUrl" in error["message"]
    assert "attacker.example" in error["message"]
