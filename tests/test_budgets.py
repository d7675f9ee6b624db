"""Tenant spend budgets: reserve at admission, reserve per attempt, settle and refund."""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from decimal import Decimal

import pytest
from starlette.testclient import TestClient

from backends.errors import Timeout
from backends.mock import MockBackend
from gateway.budgets import Budget
from gateway.settings import Settings
from tests.conftest import AUTH
from tests.polling import wait_for_job


def budget_settings(
    make_settings: Callable[..., Settings], store_url: str, **backend: object
) -> Settings:
    return make_settings(
        state={"url": store_url},
        plans={"free": {"budget": "0.10/day", "rate": None, "max_concurrent": None}},
        backends={"procedural": {"prices": {"default": "0.04"}, **backend}},
        retry={"max_attempts": 1},
    )


def spent(client: TestClient, tenant: str = "demo", budget: str = "0.10/day") -> Decimal:
    gateway = client.app.state.gateway  # type: ignore[attr-defined]
    assert client.portal is not None
    return client.portal.call(gateway.budgets.spent, tenant, Budget.parse(budget))


def test_concurrent_submits_admit_what_the_budget_holds(
    make_client: Callable[..., TestClient], make_settings: Callable[..., Settings], store_url: str
) -> None:
    client = make_client(budget_settings(make_settings, store_url, latency="1s"))
    with ThreadPoolExecutor(10) as pool:
        answers = list(
            pool.map(
                lambda i: client.post("/images/jobs", json={"prompt": f"b{i}"}, headers=AUTH),
                range(10),
            )
        )
    admitted = [a for a in answers if a.status_code == 202]
    refused = [a for a in answers if a.status_code == 429]
    assert len(admitted) == 2 and len(refused) == 8
    for answer in refused:
        assert answer.json()["error"]["code"] == "budget_exhausted"
        assert int(answer.headers["Retry-After"]) > 0
    for answer in admitted:
        assert wait_for_job(client, answer.json()["data"]["jobId"], AUTH)["cost"] == "0.04"
    assert spent(client) == Decimal("0.08")


def test_a_failed_uncharged_job_is_refunded(
    make_client: Callable[..., TestClient], make_settings: Callable[..., Settings], store_url: str
) -> None:
    client = make_client(budget_settings(make_settings, store_url, fail_rate=1.0))
    job_id = client.post("/images/jobs", json={"prompt": "fails"}, headers=AUTH).json()["data"][
        "jobId"
    ]
    job = wait_for_job(client, job_id, AUTH)
    assert job["status"] == "FAILED" and job["cost"] == "0.00"
    assert spent(client) == Decimal("0")


def test_cached_jobs_cost_nothing(
    make_client: Callable[..., TestClient], make_settings: Callable[..., Settings], store_url: str
) -> None:
    client = make_client(budget_settings(make_settings, store_url))
    first = client.post("/images/jobs", json={"prompt": "same"}, headers=AUTH).json()["data"]
    wait_for_job(client, first["jobId"], AUTH)
    for _ in range(5):
        again = client.post("/images/jobs", json={"prompt": "same"}, headers=AUTH)
        assert again.status_code == 202 and again.json()["data"]["cached"] is True
    assert spent(client) == Decimal("0.04")


def flaky_backends() -> dict[str, MockBackend]:
    """The first attempt times out after sending (billed), then the backend succeeds."""
    return {"procedural": MockBackend("procedural", script=[Timeout("timed out", sent=True)])}


@pytest.mark.parametrize(
    ("budget", "status", "cost"),
    [
        ("0.10/day", "SUCCEEDED", "0.08"),  # the retry's reservation fits
        ("0.05/day", "FAILED", "0.04"),  # it does not: no second attempt is made
    ],
)
def test_each_retry_reserves_before_it_is_made(
    make_client: Callable[..., TestClient],
    make_settings: Callable[..., Settings],
    store_url: str,
    budget: str,
    status: str,
    cost: str,
) -> None:
    settings = make_settings(
        state={"url": store_url},
        plans={"free": {"budget": budget, "max_cost_per_job": None}},
        backends={"procedural": {"prices": {"default": "0.04"}}},
    )
    backends = flaky_backends()
    client = make_client(settings, backends=backends)
    answer = client.post("/images/jobs", json={"prompt": "retry me"}, headers=AUTH)
    job = wait_for_job(client, answer.json()["data"]["jobId"], AUTH)
    assert (job["status"], job["cost"]) == (status, cost)
    if status == "FAILED":
        assert job["error"]["code"] == "budget_exhausted"
        assert backends["procedural"].calls == 1
    assert spent(client, budget=budget) == Decimal(cost)
