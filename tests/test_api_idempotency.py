"""`Idempotency-Key` on `POST /images/jobs`: replay, 422, 409, per tenant, transient release."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from starlette.testclient import TestClient

from gateway.jobs import Job
from gateway.settings import Settings
from gateway.state.base import StateUnavailable
from gateway.state.memory import MemoryState
from tests.conftest import AUTH, OTHER_AUTH

BODY = {"prompt": "a keyed lighthouse", "size": "256x256", "metadata": {"a": "1", "b": "2"}}


def keyed(key: str, auth: dict[str, str] = AUTH) -> dict[str, str]:
    return {**auth, "Idempotency-Key": key}


def test_the_same_key_and_body_replay_the_first_answer(
    make_client: Callable[..., TestClient], make_settings: Callable[..., Settings], store_url: str
) -> None:
    client = make_client(make_settings(state={"url": store_url}))
    first = client.post("/images/jobs", json=BODY, headers=keyed("order-1"))
    again = client.post("/images/jobs", json=BODY, headers=keyed("order-1"))
    assert first.status_code == again.status_code == 202, first.text
    assert again.json() == first.json()
    for header in ("location", "ratelimit-limit", "ratelimit-remaining", "ratelimit-reset"):
        assert again.headers[header] == first.headers[header]
    assert again.headers["idempotent-replayed"] == "true"
    assert "idempotent-replayed" not in first.headers
    # The replay admitted nothing: the next new job takes the next rate unit.
    fresh = client.post("/images/jobs", json=BODY, headers=AUTH)
    assert fresh.json()["data"]["jobId"] != first.json()["data"]["jobId"]
    remaining = int(first.headers["ratelimit-remaining"])
    assert int(fresh.headers["ratelimit-remaining"]) == remaining - 1


def test_key_order_and_spacing_do_not_make_a_body_different(
    make_client: Callable[..., TestClient],
) -> None:
    client = make_client()
    first = client.post("/images/jobs", json=BODY, headers=keyed("k"))
    reordered = (
        '{ "metadata": {"b": "2", "a": "1"}, "size": "256x256", "prompt": "a keyed lighthouse" }'
    )
    again = client.post(
        "/images/jobs",
        content=reordered,
        headers={**keyed('"k"'), "Content-Type": "application/json"},  # RFC 8941 string form
    )
    assert again.status_code == 202
    assert again.json()["data"]["jobId"] == first.json()["data"]["jobId"]


def test_the_same_key_with_another_body_is_422(make_client: Callable[..., TestClient]) -> None:
    client = make_client()
    assert client.post("/images/jobs", json=BODY, headers=keyed("k")).status_code == 202
    other = client.post("/images/jobs", json={**BODY, "n": 2}, headers=keyed("k"))
    assert other.status_code == 422
    assert other.json()["error"]["code"] == "idempotency_key_reused"


def test_keys_belong_to_one_tenant(make_client: Callable[..., TestClient]) -> None:
    client = make_client()
    mine = client.post("/images/jobs", json=BODY, headers=keyed("shared-key"))
    theirs = client.post("/images/jobs", json=BODY, headers=keyed("shared-key", OTHER_AUTH))
    assert mine.status_code == theirs.status_code == 202
    assert mine.json()["data"]["jobId"] != theirs.json()["data"]["jobId"]
    assert "idempotent-replayed" not in theirs.headers


def test_a_bad_key_is_refused_naming_the_header(make_client: Callable[..., TestClient]) -> None:
    client = make_client()
    for bad in (b'""', b"x" * 256, "caf\u00e9".encode(), b"tab\there"):
        answer = client.post("/images/jobs", json=BODY, headers={**AUTH, "Idempotency-Key": bad})
        assert answer.status_code == 400, bad
        assert "Idempotency-Key" in answer.json()["error"]["message"]


def test_an_unauthenticated_keyed_request_is_401(make_client: Callable[..., TestClient]) -> None:
    answer = make_client().post("/images/jobs", json=BODY, headers={"Idempotency-Key": "k"})
    assert answer.status_code == 401


def test_a_client_error_is_replayed_too(make_client: Callable[..., TestClient]) -> None:
    client = make_client()
    first = client.post("/images/jobs", json={"size": "256x256"}, headers=keyed("k"))
    again = client.post("/images/jobs", json={"size": "256x256"}, headers=keyed("k"))
    assert first.status_code == again.status_code == 400
    assert again.json() == first.json()
    assert again.headers["idempotent-replayed"] == "true"
    fixed = client.post("/images/jobs", json=BODY, headers=keyed("k"))
    assert fixed.status_code == 422


class FailingOnce(MemoryState):
    """The first submit finds the state store down (a 503), later ones work."""

    failed = False

    async def submit(self, job: Job, **options: Any) -> Job:
        if not self.failed:
            self.failed = True
            raise StateUnavailable("redis is unavailable (ConnectionError)")
        return await super().submit(job, **options)


def test_a_503_releases_the_key_so_the_retry_runs(
    make_client: Callable[..., TestClient], make_settings: Callable[..., Settings]
) -> None:
    settings = make_settings()
    client = make_client(settings, state=FailingOnce(job_ttl=3600, cache_ttl=3600))
    down = client.post("/images/jobs", json=BODY, headers=keyed("k"))
    assert down.status_code == 503
    retried = client.post("/images/jobs", json=BODY, headers=keyed("k"))
    assert retried.status_code == 202, retried.text
    assert "idempotent-replayed" not in retried.headers
    replayed = client.post("/images/jobs", json=BODY, headers=keyed("k"))
    assert replayed.json()["data"]["jobId"] == retried.json()["data"]["jobId"]


class Gated(MemoryState):
    """Submits wait at a gate the test opens; `inside` says one has arrived."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.inside = threading.Event()
        self.gate = threading.Event()

    async def submit(self, job: Job, **options: Any) -> Job:
        self.inside.set()
        await asyncio.to_thread(self.gate.wait, 10)
        return await super().submit(job, **options)


def test_a_key_whose_first_request_is_running_is_409(
    make_client: Callable[..., TestClient], make_settings: Callable[..., Settings]
) -> None:
    state = Gated(job_ttl=3600, cache_ttl=3600)
    client = make_client(make_settings(), state=state)
    with ThreadPoolExecutor(1) as pool:
        first = pool.submit(client.post, "/images/jobs", json=BODY, headers=keyed("k"))
        assert state.inside.wait(10)
        busy = client.post("/images/jobs", json=BODY, headers=keyed("k"))
        state.gate.set()
        answered = first.result(10)
    assert busy.status_code == 409
    assert busy.json()["error"]["code"] == "idempotency_key_in_use"
    assert busy.headers["retry-after"] == "1"
    assert answered.status_code == 202
    replayed = client.post("/images/jobs", json=BODY, headers=keyed("k"))
    assert replayed.json() == answered.json()
