"""The admin API's record listings over `memory://` and a real Redis: `GET /admin/usage`
(every tenant's usage records, or one's) and its checks of query parameters."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from starlette.testclient import TestClient

from gateway.auth import key_hash
from gateway.settings import Settings
from tests.conftest import AUTH, OTHER_AUTH
from tests.polling import wait_for_job
from tests.test_admin import ADMIN, ADMIN_KEY


@pytest.fixture
def client(
    make_client: Callable[..., TestClient], make_settings: Callable[..., Settings], state_url: str
) -> TestClient:
    settings = make_settings(
        state={"url": state_url},
        admin={"keys": [key_hash(ADMIN_KEY)]},
        backends={"procedural": {"type": "procedural", "prices": {"default": "0.02"}}},
    )
    return make_client(settings)


def run(client: TestClient, auth: dict[str, str], prompt: str, n: int = 1) -> dict:
    answer = client.post("/images/jobs", json={"prompt": prompt, "n": n}, headers=auth)
    assert answer.status_code == 202, answer.text
    return wait_for_job(client, answer.json()["data"]["jobId"], auth)


def test_usage_lists_every_tenants_records_or_one(client: TestClient) -> None:
    jobs = [
        run(client, AUTH, "a pier", n=2),
        run(client, AUTH, "a pier", n=2),  # cached: saves its estimate
        run(client, OTHER_AUTH, "a dune"),
    ]
    assert [job["cost"] for job in jobs] == ["0.04", "0.00", "0.02"]
    today = datetime.now(UTC).date().isoformat()

    answer = client.get("/admin/usage", headers=ADMIN)
    assert answer.status_code == 200, answer.text
    data = answer.json()["data"]
    assert data["tenant"] is None
    assert data["since"] == (datetime.now(UTC).date() - timedelta(days=30)).isoformat()
    by_tenant = {record["tenant"]: record for record in data["records"]}
    assert set(by_tenant) == {"demo", "other"} and len(data["records"]) == 2
    assert by_tenant["demo"] == {
        "day": today,
        "tenant": "demo",
        "model": "procedural",
        "backend": "procedural",
        "jobs": 1,
        "attempts": 1,
        "images": 2,
        "chargedUsd": "0.04",
        "savedJobs": 1,
        "savedUsd": "0.04",
    }
    assert by_tenant["other"]["chargedUsd"] == "0.02"
    job_costs = sum((Decimal(job["cost"]) for job in jobs), Decimal("0"))
    assert data["totals"] == {
        "jobs": 2,
        "attempts": 2,
        "images": 3,
        "chargedUsd": str(job_costs),
        "savedJobs": 1,
        "savedUsd": "0.04",
    }

    one = client.get("/admin/usage", params={"tenant": "other", "since": today}, headers=ADMIN)
    assert [r["tenant"] for r in one.json()["data"]["records"]] == ["other"]
    assert one.json()["data"]["tenant"] == "other"
    later = (datetime.now(UTC).date() + timedelta(days=1)).isoformat()
    none = client.get("/admin/usage", params={"since": later}, headers=ADMIN).json()["data"]
    assert none["records"] == [] and none["totals"]["chargedUsd"] == "0.00"


@pytest.mark.parametrize(
    ("params", "named"),
    [
        ({"since": "yesterday"}, "since"),
        ({"since": "2026-13-01"}, "since"),
        ({"tenant": ""}, "tenant"),
        ({"tenant": "x" * 65}, "tenant"),
        ({"tennant": "demo"}, "tennant"),
    ],
)
def test_usage_refuses_bad_parameters_by_name(
    client: TestClient, params: dict[str, str], named: str
) -> None:
    answer = client.get("/admin/usage", params=params, headers=ADMIN)
    assert answer.status_code == 400
    error = answer.json()["error"]
    assert error["code"] == "invalid_request" and error["message"].startswith(f"{named}:")


def test_usage_is_for_admin_keys_only(client: TestClient) -> None:
    assert client.get("/admin/usage", headers=AUTH).status_code == 403
    assert client.get("/admin/usage").status_code == 401
