"""The guard in the gateway: submit refuses internal `webhookUrl`s, delivery re-checks (a
name that turns internal is never connected to), vendor result URLs are downloaded
through it except on the backend's own configured host. No traffic leaves the machine."""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Callable, Iterator

import httpx
import pytest
from starlette.testclient import TestClient

from backends.base import GenerationRequest
from backends.errors import BadResponse
from gateway.backend_setup import build_backends
from gateway.outbound import OutboundGuard
from gateway.settings import Settings
from tests.conftest import AUTH
from tests.fakes.kit import decoded, serving
from tests.fakes.network import PUBLIC, RecordingTransport, StubResolver
from tests.fakes.openai_server import FakeOpenAI
from tests.fakes.script import Step
from tests.webhook_kit import settled

KEY = "sk-test-openai-0123456789abcdef"
ENV = "IMAGEGATE_TEST_OPENAI_KEY"


def blocked_count(client: TestClient) -> float:
    value = client.app.state.metrics.registry.get_sample_value(  # type: ignore[attr-defined]
        "imagegate_webhook_deliveries_total", {"outcome": "blocked"}
    )
    return value or 0.0


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1:6379/",
        "http://2130706433/",
        "http://0x7f000001/",
        "http://127.1/",
        "http://[::ffff:127.0.0.1]/",
        "http://0.0.0.0/",
        "http://169.254.169.254@127.0.0.1/",
        "http://169.254.169.254/latest/meta-data/",
        "http://10.0.0.1/",
        "http://192.168.1.1/",
        "http://[fd00::1]/",
        "http://metadata.google.internal/computeMetadata/v1/",
        "http://nowhere.invalid/hook",
    ],
)
def test_submit_refuses_an_internal_webhook_url(
    url: str, make_client: Callable[..., TestClient]
) -> None:
    resolver = StubResolver({"metadata.google.internal": [["169.254.169.254"]]})
    transport = RecordingTransport()
    client = make_client(outbound=OutboundGuard(resolver=resolver, transport=transport))
    answer = client.post("/images/jobs", json={"prompt": "x", "webhookUrl": url}, headers=AUTH)
    assert answer.status_code == 400
    error = answer.json()["error"]
    assert error["code"] == "invalid_request" and "webhookUrl" in error["message"]
    assert "169.254.169.254" not in error["message"] or "169.254.169.254" in url
    assert transport.sent == []


def test_batch_items_are_checked_too(make_client: Callable[..., TestClient]) -> None:
    client = make_client(outbound=OutboundGuard(transport=RecordingTransport()))
    items = [{"prompt": "a"}, {"prompt": "b", "webhookUrl": "http://10.0.0.1/"}]
    answer = client.post("/images/batches", json={"jobs": items}, headers=AUTH).json()["data"]
    assert answer["admitted"] == 1 and answer["refused"] == 1
    error = answer["items"][1]["error"]
    assert error["code"] == "invalid_request" and "webhookUrl" in error["message"]


def wait_for(check: Callable[[], bool], seconds: float = 60.0) -> None:
    deadline = time.monotonic() + seconds
    while not check():
        assert time.monotonic() < deadline, "condition not reached in time"
        time.sleep(0.02)


def test_a_public_webhook_is_delivered_to_the_checked_address(
    make_client: Callable[..., TestClient],
) -> None:
    resolver = StubResolver({"hooks.example": [[PUBLIC]]})
    transport = RecordingTransport(204)
    client = make_client(outbound=OutboundGuard(resolver=resolver, transport=transport))
    body = {"prompt": "call me", "webhookUrl": "https://hooks.example/in"}
    assert client.post("/images/jobs", json=body, headers=AUTH).status_code == 202
    wait_for(lambda: len(transport.sent) == 1)
    (sent,) = transport.sent
    assert sent.url.host == PUBLIC and sent.headers["host"] == "hooks.example"
    assert sent.extensions["sni_hostname"] == "hooks.example"


def test_a_name_that_turns_internal_by_delivery_is_never_connected_to(
    make_client: Callable[..., TestClient], caplog: pytest.LogCaptureFixture
) -> None:
    # Public when the job is submitted, loopback when it is delivered (DNS rebinding).
    resolver = StubResolver({"rebind.example": [[PUBLIC], ["127.0.0.1"]]})
    transport = RecordingTransport()
    client = make_client(outbound=OutboundGuard(resolver=resolver, transport=transport))
    body = {"prompt": "rebind me", "webhookUrl": "http://rebind.example/in"}
    with caplog.at_level(logging.WARNING, logger="imagegate.webhooks"):
        job = client.post("/images/jobs", json=body, headers=AUTH).json()["data"]
        wait_for(lambda: blocked_count(client) == 1)
    assert transport.sent == []
    lines = [r.getMessage() for r in caplog.records if job["jobId"] in r.getMessage()]
    assert lines and all("127.0.0.1" not in line for line in lines)


@pytest.fixture
def fake() -> Iterator[FakeOpenAI]:
    with serving(FakeOpenAI(KEY)) as fake:
        yield fake


def vendor_settings(make_settings: Callable[..., Settings], base_url: str) -> Settings:
    backend = {"type": "openai", "base_url": base_url, "api_key_env": ENV, "timeout": "5s"}
    backend["prices"] = {"default": "0.04"}
    return make_settings(
        backends={"openai": backend},
        models={"dalle": {"targets": [{"backend": "openai", "model": "dall-e-2"}]}},
    )


async def generate_with(settings: Settings, guard: OutboundGuard, fake: FakeOpenAI) -> object:
    fake.will(Step("url"))  # answer a result URL (as dall-e does unless asked for b64_json)
    request = GenerationRequest(prompt="a fox", model="dall-e-2", width=64, height=48)
    async with httpx.AsyncClient() as http:
        backend = build_backends(settings, http, os.environ, guard)["openai"]
        try:
            return await backend.generate(request)
        except BadResponse as exc:
            return exc
        finally:
            await backend.aclose()
            await guard.aclose()


async def test_results_on_the_backends_own_host_are_the_operators_choice(
    fake: FakeOpenAI, make_settings: Callable[..., Settings], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(ENV, KEY)
    settings = vendor_settings(make_settings, f"{fake.base_url}/v1")  # 127.0.0.1: trusted
    generation = await generate_with(settings, OutboundGuard(), fake)
    assert not isinstance(generation, BadResponse)
    assert decoded(generation.images[0].data) == (64, 48)  # type: ignore[attr-defined]
    assert len(fake.requests_to("/files/", "GET")) == 1


async def test_results_elsewhere_go_through_the_guard(
    fake: FakeOpenAI, make_settings: Callable[..., Settings], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(ENV, KEY)
    port = fake.base_url.rsplit(":", 1)[1]
    # The vendor hands back a URL on another (loopback) host than its configured one.
    fake.files_base = f"http://localhost:{port}/"
    settings = vendor_settings(make_settings, f"{fake.base_url}/v1")
    refused = await generate_with(settings, OutboundGuard(), fake)
    assert isinstance(refused, BadResponse) and refused.charged
    assert "refused" in refused.message and "127.0.0.1" not in refused.message
    assert fake.requests_to("/files/", "GET") == []  # never connected to
    # The same URL once loopback is allowed: downloaded, through the guard.
    allowed = OutboundGuard(allow_networks=["127.0.0.0/8", "::1/128"])
    generation = await generate_with(settings, allowed, fake)
    assert decoded(generation.images[0].data) == (64, 48)  # type: ignore[attr-defined]


async def test_metadata_result_urls_are_refused_unsent(
    fake: FakeOpenAI, make_settings: Callable[..., Settings], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(ENV, KEY)
    fake.files_base = "http://metadata.google.internal/"
    resolver = StubResolver({"metadata.google.internal": [["169.254.169.254"]]})
    transport = RecordingTransport(200, b"secret-token")
    settings = vendor_settings(make_settings, f"{fake.base_url}/v1")
    refused = await generate_with(
        settings, OutboundGuard(resolver=resolver, transport=transport), fake
    )
    assert isinstance(refused, BadResponse)
    assert transport.sent == []


async def test_result_downloads_are_capped(
    fake: FakeOpenAI, make_settings: Callable[..., Settings], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(ENV, KEY)
    settings = vendor_settings(make_settings, f"{fake.base_url}/v1")
    settings = settings.model_copy(
        update={"outbound": settings.outbound.model_copy(update={"max_download_bytes": 100})}
    )
    refused = await generate_with(settings, OutboundGuard(), fake)
    assert isinstance(refused, BadResponse) and "too large" in refused.message


@pytest.mark.parametrize(
    ("status", "body", "error"),
    [
        (200, b"x" * (64 * 1024 + 1), "the answer was larger than 65536 bytes"),
        (302, b"", "the receiver answered 302"),
    ],
)
def test_webhook_answers_are_capped_and_redirects_are_not_followed(
    status: int,
    body: bytes,
    error: str,
    make_client: Callable[..., TestClient],
    make_settings: Callable[..., Settings],
) -> None:
    resolver = StubResolver({"hooks.example": [[PUBLIC]]})
    transport = RecordingTransport(status, body, {"Location": "http://127.0.0.1:6379/"})
    settings = make_settings(webhooks={"retry_schedule": ["0s"]})
    client = make_client(settings, outbound=OutboundGuard(resolver=resolver, transport=transport))
    body_json = {"prompt": f"answer {status}", "webhookUrl": "https://hooks.example/in"}
    job_id = client.post("/images/jobs", json=body_json, headers=AUTH).json()["data"]["jobId"]
    webhook = settled(client, job_id)["webhook"]
    assert webhook["status"] == "failed" and webhook["lastError"] == error
    assert [request.url.host for request in transport.sent] == [PUBLIC]  # one, not followed
