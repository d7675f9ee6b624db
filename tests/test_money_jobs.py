"""Jobs priced from a size x quality table: the estimate, the reservation and the charge."""

from __future__ import annotations

from collections.abc import Callable
from decimal import Decimal
from typing import Any

from starlette.testclient import TestClient

from gateway.budgets import Budget
from gateway.settings import Settings
from tests.conftest import AUTH
from tests.polling import wait_for_job

TABLE = {
    "1024x1024": {"low": "0.011", "medium": "0.042", "high": "0.167"},
    "1536x1024": {"low": "0.016", "medium": "0.063", "high": "0.25"},
}


def table_settings(make_settings: Callable[..., Settings], store_url: str, **plan: Any) -> Settings:
    return make_settings(
        state={"url": store_url},
        plans={"free": {"budget": "5.00/day", "rate": None, "max_cost_per_job": "1.00", **plan}},
        models={"procedural": {"sizes": ["1024x1024", "1536x1024"]}},
        backends={"procedural": {"prices": {"procedural-v1": TABLE}}},
    )


def spent(client: TestClient, budget: str = "5.00/day") -> Decimal:
    gateway = client.app.state.gateway  # type: ignore[attr-defined]
    assert client.portal is not None
    return client.portal.call(gateway.budgets.spent, "demo", Budget.parse(budget))


def submit(client: TestClient, **body: Any) -> dict[str, Any]:
    answer = client.post("/images/jobs", json={"prompt": "priced", **body}, headers=AUTH)
    assert answer.status_code == 202, answer.text
    return wait_for_job(client, answer.json()["data"]["jobId"], AUTH)


def test_size_by_quality_table_prices_reserves_and_charges(
    make_client: Callable[..., TestClient], make_settings: Callable[..., Settings], store_url: str
) -> None:
    client = make_client(table_settings(make_settings, store_url))
    job = submit(client, size="1536x1024", quality="high", n=2)
    assert job["status"] == "SUCCEEDED"
    assert job["cost"] == "0.50" and [a["cost"] for a in job["attemptLog"]] == ["0.50"]
    assert spent(client) == Decimal("0.50")
    # No quality: the size's highest, since the vendor may choose it.
    job = submit(client, size="1024x1024", prompt="no quality")
    assert job["cost"] == "0.167"
    assert spent(client) == Decimal("0.667")


def test_the_budget_refusal_names_the_tables_estimate(
    make_client: Callable[..., TestClient], make_settings: Callable[..., Settings], store_url: str
) -> None:
    client = make_client(table_settings(make_settings, store_url, budget="0.60/day"))
    submit(client, size="1536x1024", quality="high", n=2)
    answer = client.post("/images/jobs", json={"prompt": "over", "size": "1024x1024"}, headers=AUTH)
    assert answer.status_code == 429
    error = answer.json()["error"]
    assert error["code"] == "budget_exhausted"
    assert "(0.60 USD per 86400s)" in error["message"] and "0.167 USD" in error["message"]
    assert spent(client, "0.60/day") == Decimal("0.50")


def test_a_job_whose_first_attempt_exceeds_the_cap_is_refused_at_submit(
    make_client: Callable[..., TestClient], make_settings: Callable[..., Settings], store_url: str
) -> None:
    client = make_client(table_settings(make_settings, store_url, max_cost_per_job="0.25"))
    body = {"prompt": "too dear", "size": "1536x1024", "quality": "high", "n": 2}
    answer = client.post("/images/jobs", json=body, headers=AUTH)
    assert answer.status_code == 400
    error = answer.json()["error"]
    assert error["code"] == "cost_cap_exceeded"
    assert "estimated at 0.50 USD" in error["message"]
    assert "max_cost_per_job of 0.25 USD" in error["message"]
    assert spent(client) == 0
    assert submit(client, size="1536x1024", quality="high", n=1)["cost"] == "0.25"


def test_each_attempt_records_its_estimate_charge_and_usage(
    make_client: Callable[..., TestClient], make_settings: Callable[..., Settings], store_url: str
) -> None:
    client = make_client(table_settings(make_settings, store_url))
    job = submit(client, size="1024x1024", quality="low", n=3)
    assert job["attemptLog"][0]["estimatedCost"] == "0.033"
    assert job["attemptLog"][0]["cost"] == "0.033"
    assert job["attemptLog"][0]["usage"] == {"images": 3}
