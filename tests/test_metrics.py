"""`/metrics` after a scripted run: every counter equals what happened, money included."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterator
from decimal import Decimal

import pytest
from starlette.testclient import TestClient

from gateway import __version__
from gateway.auth import key_hash
from gateway.jobs import Job, JobSpec, JobStatus
from gateway.metrics import Metrics
from gateway.settings import Settings
from tests.conftest import API_KEY, AUTH, OTHER_AUTH, OTHER_KEY
from tests.fakes.kit import serving
from tests.fakes.openai_server import FakeOpenAI, error_body
from tests.fakes.script import error, slow
from tests.metrics_text import Scrape
from tests.polling import wait_for_job
from tests.test_admin import ADMIN, ADMIN_KEY
from tests.test_routing_retry import Clock

OPENAI_KEY = "sk-test-metrics-0123456789"
THIRD_KEY = "ig_test_key_gamma_0123456789"
THIRD_AUTH = {"Authorization": f"Bearer {THIRD_KEY}"}
FAILED_500 = error(500, error_body("upstream exploded", "server_error"))


@pytest.fixture
def openai_fake(monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeOpenAI]:
    monkeypatch.setenv("TEST_OPENAI_KEY", OPENAI_KEY)
    with serving(FakeOpenAI(OPENAI_KEY)) as fake:
        yield fake


def scripted_settings(
    make_settings: Callable[..., Settings], fake: FakeOpenAI, store_url: str
) -> Settings:
    return make_settings(
        state={"url": store_url},
        admin={"keys": [key_hash(ADMIN_KEY)]},
        backends={
            "openai": {
                "type": "openai",
                "base_url": f"{fake.base_url}/v1",
                "api_key_env": "TEST_OPENAI_KEY",
                "timeout": "10s",
                "prices": {"default": "0.04"},
            }
        },
        models={
            "procedural": {"default": False},
            "vendor": {
                "default": True,
                "targets": [{"backend": "openai", "model": "dall-e-3"}],
                "sizes": ["1024x1024"],
            },
        },
        plans={"free": {"rate": None, "poll_rate": None, "budget": None}},
        tenants={
            "demo": {"plan": "free", "keys": [key_hash(API_KEY)]},
            "other": {"plan": "free", "keys": [key_hash(OTHER_KEY)], "budget": "0.04/day"},
            "third": {"plan": "free", "keys": [key_hash(THIRD_KEY)], "rate": "1/minute"},
        },
    )


def done_failed_code(done: dict[str, dict]) -> str:
    (failed,) = [job for job in done.values() if job["status"] == "FAILED"]
    return str(failed["error"]["code"])


def submit(client: TestClient, prompt: str, auth: dict[str, str], status: int = 202) -> str:
    answer = client.post("/images/jobs", json={"prompt": prompt}, headers=auth)
    assert answer.status_code == status, answer.text
    return str(answer.json()["data"]["jobId"]) if status == 202 else answer.json()["error"]["code"]


def test_counters_equal_what_happened(
    make_client: Callable[..., TestClient],
    make_settings: Callable[..., Settings],
    openai_fake: FakeOpenAI,
    store_url: str,
) -> None:
    settings = scripted_settings(make_settings, openai_fake, store_url)
    client = make_client(settings, sleep=Clock())
    done: dict[str, dict] = {}

    def finish(job_id: str, auth: dict[str, str] = AUTH) -> dict:
        done[job_id] = wait_for_job(client, job_id, auth)
        return done[job_id]

    openai_fake.will(FAILED_500, FAILED_500)  # two retries, then the default ok
    assert finish(submit(client, "a lighthouse", AUTH))["attempts"] == 3
    assert finish(submit(client, "a lighthouse", AUTH))["cached"] is True
    openai_fake.will(slow(1.0))  # the leader is still running when the twin arrives
    leader, follower = submit(client, "a harbour", AUTH), submit(client, "a harbour", AUTH)
    assert finish(follower)["joined"] is True and finish(leader)["status"] == "SUCCEEDED"
    openai_fake.will(FAILED_500, FAILED_500, FAILED_500)
    assert finish(submit(client, "a storm", AUTH))["status"] == "FAILED"
    assert finish(submit(client, "a meadow", OTHER_AUTH), OTHER_AUTH)["cost"] == "0.04"
    assert submit(client, "a forest", OTHER_AUTH, 429) == "budget_exhausted"
    assert finish(submit(client, "a lighthouse", THIRD_AUTH), THIRD_AUTH)["cached"] is True
    assert submit(client, "a valley", THIRD_AUTH, 429) == "rate_limited"

    scrape = Scrape(client.get("/metrics").text)
    submitted = "imagegate_jobs_submitted_total"
    assert scrape.value(submitted, tenant="demo", kind="executed") == 3
    assert scrape.value(submitted, tenant="demo", kind="cached") == 1
    assert scrape.value(submitted, tenant="demo", kind="joined") == 1
    assert scrape.value(submitted, tenant="other", kind="executed") == 1
    assert scrape.value(submitted, tenant="third", kind="cached") == 1
    assert scrape.value(submitted) == 7 == len(done)
    finished = "imagegate_jobs_finished_total"
    assert scrape.value(finished, tenant="demo", status="SUCCEEDED", kind="executed") == 2
    assert scrape.value(finished, tenant="demo", status="SUCCEEDED", kind="joined") == 1
    assert scrape.value(finished, tenant="demo", status="SUCCEEDED", kind="cached") == 1
    assert scrape.value(finished, tenant="demo", status="FAILED", kind="executed") == 1
    assert scrape.value(finished, model="vendor") == 7
    attempts = "imagegate_vendor_attempts_total"
    logged = Counter(a["outcome"] for job in done.values() for a in job["attemptLog"])
    assert logged["ok"] == 3 and sum(logged.values()) == 8
    for outcome, count in logged.items():
        assert scrape.value(attempts, backend="openai", outcome=outcome) == count, outcome
    assert scrape.value(attempts) == 8
    assert scrape.value("imagegate_vendor_attempt_duration_seconds_count", backend="openai") == 8
    assert len(openai_fake.requests_to("/images/generations")) == 8
    assert scrape.value("imagegate_refusals_total", tenant="other", reason="budget_exhausted") == 1
    assert scrape.value("imagegate_refusals_total", tenant="third", reason="rate_limited") == 1
    assert scrape.value("imagegate_refusals_total") == 2

    charged = "imagegate_charged_usd_total"
    job_costs = sum((Decimal(job["cost"]) for job in done.values()), Decimal("0"))
    assert job_costs == Decimal("0.12")
    assert Decimal(str(scrape.value(charged))).quantize(Decimal("0.01")) == job_costs
    assert round(scrape.value(charged, tenant="demo", backend="openai"), 6) == 0.08
    assert round(scrape.value(charged, tenant="other", backend="openai"), 6) == 0.04
    assert scrape.value("imagegate_budget_spent_usd", tenant="other") == pytest.approx(0.04)
    assert scrape.value("imagegate_budget_limit_usd", tenant="other") == pytest.approx(0.04)
    assert scrape.value("imagegate_workers_total") == 2
    # Cached and joined jobs save their first attempt's estimate: 2 x 0.04 for demo.
    assert round(scrape.value("imagegate_saved_usd_total", tenant="demo"), 6) == 0.08
    assert round(scrape.value("imagegate_saved_usd_total", tenant="third"), 6) == 0.04
    failures = "imagegate_job_failures_total"
    assert scrape.value(failures, tenant="demo", code=done_failed_code(done)) == 1

    overview = client.get("/admin/overview", headers=ADMIN).json()["data"]
    assert overview["jobsSubmitted"] == {"executed": 4, "cached": 2, "joined": 1}
    assert overview["jobsFinished"] == {"SUCCEEDED": 6, "FAILED": 1}
    assert overview["failuresByCode"] == {done_failed_code(done): 1}
    assert overview["refusalsByReason"] == {"budget_exhausted": 1, "rate_limited": 1}
    assert overview["cacheHitRatio"] == round(3 / 7, 4)
    assert overview["chargedUsd"] == str(job_costs) == "0.12"
    assert overview["savedUsd"] == "0.12"
    assert overview["workers"] == {"busy": 0, "total": 2, "configured": 2}
    assert sum(overview["vendorAttempts"].values()) == 8

    requests = "imagegate_http_requests_total"
    assert scrape.value(requests, route="/images/jobs", method="POST", status="202") == 7
    assert scrape.value(requests, route="/images/jobs", method="POST", status="429") == 2
    polls = scrape.value(requests, route="/images/jobs/{job_id}", method="GET", status="200")
    assert polls >= 7
    # Ids never become label values: every polled job shares the route template.
    assert scrape.label_values(requests, "route") == {"/images/jobs", "/images/jobs/{job_id}"}


def test_label_values_are_bounded_by_config(make_settings: Callable[..., Settings]) -> None:
    metrics = Metrics(make_settings())
    stranger = Job(
        id="job_x",
        tenant="removed-by-reload",
        spec=JobSpec(prompt="p", model="no-such-alias", size="512x512"),
        fingerprint="f",
        status=JobStatus.FAILED,
    )
    metrics.jobs_ended([stranger])
    metrics.vendor_attempt("demo", "no-such-backend", "timeout", Decimal("0.02"), 1.5)
    metrics.http_request("other", "BREW", 418, 0.01)
    scrape = Scrape(metrics.render().decode())
    assert scrape.value("imagegate_jobs_finished_total", tenant="other", model="other") == 1
    assert scrape.value("imagegate_vendor_attempts_total", backend="other") == 1
    assert scrape.value("imagegate_charged_usd_total", tenant="demo", backend="other") == 0.02
    assert scrape.label_values("imagegate_http_requests_total", "method") == {"other"}


def test_metrics_answer_the_prometheus_content_type(
    make_client: Callable[..., TestClient],
) -> None:
    answer = make_client().get("/metrics")
    assert answer.status_code == 200
    assert answer.headers["content-type"].startswith("text/plain; version=")
    assert "imagegate_workers_busy 0.0" in answer.text
    assert f'imagegate_build_info{{version="{__version__}"}} 1.0' in answer.text
