"""One money format everywhere a client or a log sees it: USD as a canonical decimal
string with two or more places ("0.00", "0.04", "0.0025"), on fresh, failed, charged,
cached and batched jobs, their attempts, live status events, usage records, refusals and
log lines, the admin API, webhook bodies and the stored job, over `memory://` and a real
Redis; and `usd()` itself, as a property over every amount a config or a charge can hold."""

from __future__ import annotations

import logging
import re
from collections.abc import Callable, Iterator
from decimal import Decimal
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st
from standardwebhooks.webhooks import Webhook
from starlette.testclient import TestClient

from backends.errors import VendorUnavailable
from backends.mock import MockBackend, ok
from gateway.auth import key_hash
from gateway.jobs import Attempt, Hold, Job, JobSpec, JobStatus
from gateway.money.format import MAX_USD, from_micros, to_micro_dollar, to_micros, usd
from gateway.openapi.components import USD
from gateway.settings import Settings
from gateway.units import parse_money
from tests.conftest import AUTH
from tests.fakes.kit import serving
from tests.fakes.receiver import Receiver, event
from tests.polling import wait_for_job
from tests.sse import read_events
from tests.test_admin import ADMIN, ADMIN_KEY
from tests.webhook_kit import ENVIRON, SECRET, settled, webhook_settings

CANONICAL = re.compile(r"^(0|[1-9][0-9]*)\.[0-9]{2}([0-9]{0,4})$")
MONEY_KEYS = {
    *("cost", "estimatedCost", "chargedUsd", "savedUsd"),  # jobs, attempts, usage
    "maxCostPerJob",  # the admin API's plan limits
    *("amount", "estimated_cost"),  # the stored job's attempts and holds
}
MONEY_MAPS = {"budgetSpent"}  # tenant -> amount (the admin history)
BUDGET_KEYS = {"limit", "spent", "remaining"}  # of a budget reading (it has periodSeconds)
USD_IN_TEXT = re.compile(r"(-?[0-9][0-9.eE+-]*) USD")


def money_values(document: Any) -> Iterator[str]:
    """Every value of a money member, however deep."""
    if isinstance(document, dict):
        budget = "periodSeconds" in document
        for key, value in document.items():
            if (key in MONEY_KEYS or (budget and key in BUDGET_KEYS)) and value is not None:
                yield value
            elif key in MONEY_MAPS and value is not None:
                yield from value.values()
            else:
                yield from money_values(value)
    elif isinstance(document, list):
        for item in document:
            yield from money_values(item)


def assert_canonical(text: str) -> None:
    assert isinstance(text, str) and CANONICAL.match(text), text
    assert usd(Decimal(text)) == text, text
    trailing = text.split(".")[1][2:]
    assert not trailing.endswith("0"), text  # "0.0250" would be "0.025"


def test_every_amount_is_one_canonical_string(
    make_client: Callable[..., TestClient],
    make_settings: Callable[..., Settings],
    store_url: str,
    caplog: pytest.LogCaptureFixture,
) -> None:
    backend = MockBackend("procedural")
    # An uncharged failure, then a success: attempts cost "0.00" and "0.0025".
    backend.will(VendorUnavailable("503 from the vendor"), ok())
    settings = make_settings(
        state={"url": store_url},
        retry={"initial": "1ms", "max": "1ms"},
        plans={"free": {"budget": "0.0075/day", "max_cost_per_job": "0.01", "rate": None}},
        backends={"procedural": {"prices": {"procedural-v1": "0.0025"}}},
    )
    client = make_client(settings, backends={"procedural": backend})
    documents: list[Any] = []
    with caplog.at_level(logging.DEBUG):
        body = {"prompt": "money", "size": "256x256"}
        fresh = client.post("/images/jobs", json=body, headers=AUTH).json()["data"]
        job = wait_for_job(client, fresh["jobId"], AUTH)
        assert [a["cost"] for a in job["attemptLog"]] == ["0.00", "0.0025"]
        assert job["cost"] == "0.0025"
        cached = client.post("/images/jobs", json=body, headers=AUTH).json()["data"]
        cached_job = wait_for_job(client, cached["jobId"], AUTH)
        assert cached_job["cached"] is True and cached_job["cost"] == "0.00"
        batch = client.post(
            "/images/batches",
            json={"jobs": [{"prompt": "batched", "size": "256x256"}]},
            headers=AUTH,
        ).json()["data"]
        wait_for_job(client, batch["items"][0]["jobId"], AUTH)
        documents += [job, cached_job]
        documents.append(client.get(f"/images/batches/{batch['batchId']}", headers=AUTH).json())
        events = read_events(client, f"/images/jobs/{fresh['jobId']}/events", AUTH)
        documents += [event.data for event in events]
        documents.append(client.get("/v1/usage", headers=AUTH).json())
        # 0.005 charged of the 0.0075 budget: a 4-image job (0.01) is refused, and the
        # refusal names both amounts canonically.
        refusal = client.post(
            "/images/jobs", json={"prompt": "over", "size": "256x256", "n": 4}, headers=AUTH
        )
    assert refusal.status_code == 429, refusal.text
    message = refusal.json()["error"]["message"]
    amounts = USD_IN_TEXT.findall(message)
    assert amounts == ["0.0075", "0.01"], message
    values = [value for document in documents for value in money_values(document)]
    assert len(values) >= 10 and "0.00" in values and "0.0025" in values
    for value in values:
        assert_canonical(value)
    logged = [
        found for record in caplog.records for found in USD_IN_TEXT.findall(record.getMessage())
    ]
    for value in logged:
        assert_canonical(value)


def test_the_admin_api_webhook_bodies_and_stored_jobs_use_it_too(
    make_client: Callable[..., TestClient],
    make_settings: Callable[..., Settings],
    store_url: str,
) -> None:
    backend = MockBackend("procedural")
    backend.will(VendorUnavailable("503 from the vendor"), ok())
    settings = webhook_settings(
        make_settings,
        store_url,
        admin={"keys": [key_hash(ADMIN_KEY)]},
        retry={"initial": "1ms", "max": "1ms"},
        plans={"free": {"budget": "5/day", "max_cost_per_job": "1", "rate": None}},
        backends={"procedural": {"prices": {"procedural-v1": "0.0025"}}},
    )
    with serving(Receiver()) as receiver:
        client = make_client(settings, backends={"procedural": backend}, environ=ENVIRON)
        body = {"prompt": "hooked", "size": "256x256", "webhookUrl": receiver.url}
        answer = client.post("/images/jobs", json=body, headers=AUTH)
        assert answer.status_code == 202, answer.text
        job_id = answer.json()["data"]["jobId"]
        assert settled(client, job_id)["webhook"]["status"] == "delivered"
        (delivery,) = receiver.deliveries
        Webhook(SECRET).verify(delivery.body, delivery.headers)
    hooked = event(delivery)["data"]
    assert [a["cost"] for a in hooked["attemptLog"]] == ["0.00", "0.0025"]
    documents: list[Any] = [hooked]
    for path in ("/admin/tenants", "/admin/overview", "/admin/history", "/admin/usage"):
        answer = client.get(path, headers=ADMIN)
        assert answer.status_code == 200, (path, answer.text)
        documents.append(answer.json())
    (demo,) = [t for t in documents[1]["data"]["tenants"] if t["name"] == "demo"]
    assert demo["budget"]["limit"] == "5.00" and demo["budget"]["spent"] == "0.0025"
    assert demo["limits"]["maxCostPerJob"] == "1.00" and demo["limits"]["budget"] == "5.00/day"
    gateway: Any = client.app.state.gateway  # type: ignore[attr-defined]
    assert client.portal is not None
    stored = client.portal.call(gateway.state.get_job, job_id)
    documents.append(stored.to_json())
    values = [value for document in documents for value in money_values(document)]
    assert {"0.00", "0.0025", "5.00", "1.00"} <= set(values), values
    for value in values:
        assert_canonical(value)


# Every amount the gateway keeps: six places at most, within what a config may name.
KEPT = st.decimals(min_value=0, max_value=MAX_USD, places=6, allow_nan=False, allow_infinity=False)
ANY = st.decimals(min_value=0, max_value=MAX_USD, allow_nan=False, allow_infinity=False)


@given(KEPT)
def test_usd_writes_every_kept_amount_canonically_and_exactly(amount: Decimal) -> None:
    text = usd(amount)
    assert_canonical(text)
    assert re.match(USD["pattern"], text)  # what the OpenAPI document promises
    assert Decimal(text) == amount
    assert from_micros(to_micros(amount)) == amount
    assert usd(parse_money(text)) == text


@given(ANY)
def test_usd_rounds_any_amount_half_up_to_the_micro_dollar(amount: Decimal) -> None:
    text = usd(amount)
    assert_canonical(text)
    assert Decimal(text) == to_micro_dollar(amount)
    assert abs(Decimal(text) - amount) <= Decimal("0.0000005")


@given(st.lists(KEPT, max_size=4), st.lists(KEPT, max_size=3))
def test_a_stored_job_writes_its_money_canonically(
    costs: list[Decimal], holds: list[Decimal]
) -> None:
    spec = JobSpec(prompt="p", model="m", size="1x1")
    attempts = tuple(Attempt("b", "m", "ok", cost, 1, estimated_cost=cost) for cost in costs)
    job = Job(
        "job_1",
        "demo",
        spec,
        "fp",
        status=JobStatus.FAILED,
        attempts=attempts,
        reserved=tuple(Hold(f"k{i}", amount) for i, amount in enumerate(holds)),
    )
    stored = job.to_json()
    for value in money_values(stored):
        assert_canonical(value)
    assert Job.from_json(stored) == job


@pytest.mark.parametrize("text", ["0", "0.0", "0.040", "0.0250", "00.04", "-0.04", "1e1", ".04"])
def test_the_openapi_pattern_refuses_what_usd_never_writes(text: str) -> None:
    assert not re.match(USD["pattern"], text)


def test_a_config_amount_past_the_largest_is_refused() -> None:
    assert usd(parse_money(str(MAX_USD))) == "1000000000.00"
    with pytest.raises(ValueError, match="at most 1000000000 USD"):
        parse_money("1e25")
