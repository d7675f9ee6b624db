"""Usage records written by the finish pipeline and read with `GET /v1/usage`, over
`memory://` and a real Redis: charged attempts, a joined and a cached job's savings, only
the caller's own tenant, and the figures agree with the jobs' costs and the budget."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from starlette.testclient import TestClient

from backends.errors import Timeout
from backends.mock import MockBackend, ok
from gateway.budgets import Budget
from gateway.settings import Settings
from tests.conftest import AUTH, OTHER_AUTH
from tests.polling import wait_for_job

TABLE = {"1536x1024": {"low": "0.016", "medium": "0.063", "high": "0.25"}}
BODY = {"prompt": "a lighthouse", "size": "1536x1024", "quality": "high"}


def priced(make_settings: Callable[..., Settings], store_url: str) -> Settings:
    return make_settings(
        state={"url": store_url},
        plans={"free": {"budget": "5.00/day", "rate": None, "max_cost_per_job": "1.00"}},
        models={"procedural": {"sizes": ["1536x1024"]}},
        backends={"procedural": {"prices": {"procedural-v1": TABLE}}},
    )


def submit(client: TestClient, auth: dict[str, str], **body: Any) -> str:
    answer = client.post("/images/jobs", json={**BODY, **body}, headers=auth)
    assert answer.status_code == 202, answer.text
    return str(answer.json()["data"]["jobId"])


def wait_running(client: TestClient, job_id: str) -> None:
    deadline = time.monotonic() + 15
    while client.get(f"/images/jobs/{job_id}", headers=AUTH).json()["data"]["status"] != "RUNNING":
        assert time.monotonic() < deadline, "the job never started"
        time.sleep(0.02)


def test_usage_counts_charges_joins_and_cache_hits_per_tenant(
    make_client: Callable[..., TestClient], make_settings: Callable[..., Settings], store_url: str
) -> None:
    gate = asyncio.Event()
    backend = MockBackend("procedural", before=gate.wait)
    # The first call times out after it was sent (charged, retried), the second succeeds.
    backend.will(Timeout("no answer", sent=True), ok())
    client = make_client(priced(make_settings, store_url), backends={"procedural": backend})
    assert client.portal is not None
    leader = submit(client, AUTH)
    wait_running(client, leader)
    follower = submit(client, AUTH)  # identical, in flight: joined
    client.portal.call(gate.set)
    led, followed = wait_for_job(client, leader, AUTH), wait_for_job(client, follower, AUTH)
    assert (led["status"], led["cost"], followed["joined"]) == ("SUCCEEDED", "0.50", True)
    cached = wait_for_job(client, submit(client, AUTH), AUTH)
    assert cached["cached"] is True
    wait_for_job(client, submit(client, OTHER_AUTH, prompt="another tenant"), OTHER_AUTH)

    answer = client.get("/v1/usage", headers=AUTH)
    assert answer.status_code == 200, answer.text
    document = answer.json()
    assert document["object"] == "list" and document["tenant"] == "demo"
    assert document["data"] == [
        {
            "day": datetime.now(UTC).date().isoformat(),
            "tenant": "demo",
            "model": "procedural",
            "backend": "procedural",
            "jobs": 1,
            "attempts": 2,
            "images": 1,
            "chargedUsd": "0.50",
            "savedJobs": 2,
            "savedUsd": "0.50",
        }
    ]
    gateway = client.app.state.gateway  # type: ignore[attr-defined]
    spent = client.portal.call(gateway.budgets.spent, "demo", Budget.parse("5.00/day"))
    assert spent == Decimal("0.50") == Decimal(led["cost"])
    (theirs,) = client.get("/v1/usage", headers=OTHER_AUTH).json()["data"]
    assert (theirs["tenant"], theirs["chargedUsd"], theirs["savedJobs"]) == ("other", "0.25", 0)


def test_since_filters_and_bad_queries_answer_openai_errors(
    make_client: Callable[..., TestClient], make_settings: Callable[..., Settings], store_url: str
) -> None:
    client = make_client(priced(make_settings, store_url))
    wait_for_job(client, submit(client, AUTH), AUTH)
    today = datetime.now(UTC).date().isoformat()
    assert len(client.get(f"/v1/usage?since={today}", headers=AUTH).json()["data"]) == 1
    assert client.get("/v1/usage?since=2999-01-01", headers=AUTH).json()["data"] == []
    for query, param, text in (
        ("since=yesterday", "since", "since: "),
        ("since=2026-13-01", "since", "since: "),
        ("tenant=other", "tenant", "unknown query parameter 'tenant'"),
        ("since=2026-12-01&since=2026-12-02", "since", "'since' is given more than once"),
    ):
        answer = client.get(f"/v1/usage?{query}", headers=AUTH)
        assert answer.status_code == 400, query
        error = answer.json()["error"]
        assert (error["type"], error["code"], error["param"]) == (
            "invalid_request_error",
            "invalid_request",
            param,
        )
        assert text in error["message"], error
    unauthenticated = client.get("/v1/usage")
    assert unauthenticated.status_code == 401
    assert unauthenticated.json()["error"]["code"] == "invalid_api_key"
