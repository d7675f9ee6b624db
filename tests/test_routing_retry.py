"""Routing, retries and spend through the whole gateway, against fake vendors on 127.0.0.1."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from decimal import Decimal

import pytest
from starlette.testclient import TestClient

from gateway.settings import Settings
from tests.conftest import AUTH
from tests.fakes.kit import serving
from tests.fakes.openai_server import FakeOpenAI, error_body
from tests.fakes.script import error, rate_limited, slow
from tests.fakes.stability_server import FakeStability
from tests.metrics_text import Scrape
from tests.polling import wait_for_job

OPENAI_KEY = "sk-test-routing-0123456789"
STABILITY_KEY = "sk-test-stability-0123456789"


@pytest.fixture
def openai_fake(monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeOpenAI]:
    monkeypatch.setenv("TEST_OPENAI_KEY", OPENAI_KEY)
    with serving(FakeOpenAI(OPENAI_KEY)) as fake:
        yield fake


@pytest.fixture
def stability_fake(monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeStability]:
    monkeypatch.setenv("TEST_STABILITY_KEY", STABILITY_KEY)
    with serving(FakeStability(STABILITY_KEY)) as fake:
        yield fake


class Clock:
    """An injected `sleep`: records every wait and returns at once."""

    def __init__(self) -> None:
        self.waits: list[float] = []

    async def __call__(self, seconds: float) -> None:
        self.waits.append(seconds)


def vendor_settings(
    make_settings: Callable[..., Settings],
    openai: FakeOpenAI,
    stability: FakeStability | None = None,
    timeout: str = "1s",
    **overrides: object,
) -> Settings:
    backends: dict = {
        "openai": {
            "type": "openai",
            "base_url": f"{openai.base_url}/v1",
            "api_key_env": "TEST_OPENAI_KEY",
            "timeout": timeout,
            "prices": {"default": "0.04"},
        },
    }
    targets = [{"backend": "openai", "model": "dall-e-3"}]
    if stability is not None:
        backends["stability"] = {
            "type": "stability",
            "base_url": stability.base_url,
            "api_key_env": "TEST_STABILITY_KEY",
            "prices": {"default": "0.03"},
        }
        targets.append({"backend": "stability", "model": "core"})
    config: dict = {
        "backends": backends,
        "models": {
            "procedural": {"default": False},
            "vendor": {"default": True, "targets": targets, "sizes": ["1024x1024"]},
        },
        "retry": {"max_attempts": 3, "initial": "100ms", "max": "1s"},
    }
    config.update(overrides)
    return make_settings(**config)


def run_job(client: TestClient, prompt: str = "a harbour") -> dict:
    accepted = client.post("/images/jobs", json={"prompt": prompt}, headers=AUTH)
    assert accepted.status_code == 202, accepted.text
    return wait_for_job(client, accepted.json()["data"]["jobId"], AUTH)


def test_always_500_stops_at_the_attempt_cap_uncharged(
    make_client: Callable[..., TestClient],
    make_settings: Callable[..., Settings],
    openai_fake: FakeOpenAI,
) -> None:
    openai_fake.will(*[error(500, error_body("upstream exploded", "server_error"))] * 10)
    settings = vendor_settings(
        make_settings, openai_fake, plans={"free": {"max_cost_per_job": "0.10"}}
    )
    job = run_job(make_client(settings, sleep=Clock()))
    assert job["status"] == "FAILED"
    assert job["error"]["code"] == "retry_budget_exhausted"
    charged = [a for a in job["attemptLog"] if Decimal(a["cost"]) > 0]
    assert len(charged) <= 2 and Decimal(job["cost"]) <= Decimal("0.10")
    assert job["attempts"] == 3 == len(openai_fake.requests_to("/images/generations"))


def test_charged_failures_stop_when_the_next_attempt_would_pass_the_job_cap(
    make_client: Callable[..., TestClient],
    make_settings: Callable[..., Settings],
    openai_fake: FakeOpenAI,
) -> None:
    openai_fake.will(*[slow(3)] * 10)  # each attempt times out after sending: may be billed
    settings = vendor_settings(
        make_settings,
        openai_fake,
        plans={"free": {"max_cost_per_job": "0.10"}},
        retry={"max_attempts": 10, "initial": "10ms", "max": "10ms"},
    )
    job = run_job(make_client(settings, sleep=Clock()))
    assert job["status"] == "FAILED"
    assert job["error"]["code"] == "retry_budget_exhausted"
    assert job["attempts"] == 2
    assert Decimal(job["cost"]) == Decimal("0.08")
    assert "cost cap" in job["error"]["message"]


def test_fallback_chain_succeeds_on_the_second_vendor(
    make_client: Callable[..., TestClient],
    make_settings: Callable[..., Settings],
    openai_fake: FakeOpenAI,
    stability_fake: FakeStability,
) -> None:
    openai_fake.will(*[error(503, error_body("overloaded", "server_error"))] * 3)
    settings = vendor_settings(make_settings, openai_fake, stability_fake)
    job = run_job(make_client(settings, sleep=Clock()))
    assert job["status"] == "SUCCEEDED", job
    assert job["backend"] == "stability"
    assert [a["backend"] for a in job["attemptLog"]] == ["openai"] * 3 + ["stability"]
    assert [a["outcome"] for a in job["attemptLog"]][-1] == "ok"
    assert job["images"][0]["width"] == 1024 and job["images"][0]["height"] == 1024


def test_content_rejection_fails_fast_without_fallback(
    make_client: Callable[..., TestClient],
    make_settings: Callable[..., Settings],
    openai_fake: FakeOpenAI,
    stability_fake: FakeStability,
) -> None:
    from tests.fakes.openai_server import content_policy

    openai_fake.will(error(400, content_policy()))
    settings = vendor_settings(make_settings, openai_fake, stability_fake)
    job = run_job(make_client(settings, sleep=Clock()))
    assert job["status"] == "FAILED" and job["error"]["code"] == "content_rejected"
    assert job["attempts"] == 1 and stability_fake.received == []


def test_a_long_retry_after_is_waited_out_in_the_queue(
    make_client: Callable[..., TestClient],
    make_settings: Callable[..., Settings],
    openai_fake: FakeOpenAI,
) -> None:
    openai_fake.will(rate_limited(error_body("slow down", "requests", "rate_limit_exceeded"), "2"))
    clock = Clock()
    # A generous timeout: only the 429 may fail an attempt here, even on a loaded machine.
    settings = vendor_settings(make_settings, openai_fake, timeout="30s")
    client = make_client(settings, sleep=clock)
    job = run_job(client)
    assert job["status"] == "SUCCEEDED", (job["error"], job["attemptLog"])
    assert [a["outcome"] for a in job["attemptLog"]] == ["rate_limited", "ok"]
    assert job["attempts"] == 2
    # No worker slept through the vendor's 2 s: the job went back to the queue for them.
    assert not [wait for wait in clock.waits if wait >= 1.0]
    scrape = Scrape(client.get("/metrics").text)
    assert scrape.value("imagegate_jobs_deferred_total", backend="openai", reason="rate") == 1
    requests = openai_fake.requests_to("/images/generations")
    assert requests[1].at - requests[0].at >= 2.0  # and the vendor's wait was honoured


def test_error_messages_reaching_clients_are_redacted(
    make_client: Callable[..., TestClient],
    make_settings: Callable[..., Settings],
    openai_fake: FakeOpenAI,
) -> None:
    leak = (
        f"bad key {OPENAI_KEY} Authorization: Bearer sk-live-abcdef123456 see "
        "https://internal.vendor.example/v1/x?X-Amz-Signature=abc r8_ABCDEFGH123456"
    )
    openai_fake.will(error(401, error_body(leak, code="invalid_api_key")))
    job = run_job(make_client(vendor_settings(make_settings, openai_fake), sleep=Clock()))
    text = str(job["error"])
    assert job["status"] == "FAILED"
    for secret in (
        OPENAI_KEY,
        "sk-live",
        "internal.vendor",
        "X-Amz-Signature=abc",
        "r8_ABC",
        openai_fake.base_url,
    ):
        assert secret not in text
