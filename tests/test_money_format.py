"""One money format everywhere a client or a log sees it: USD as a canonical decimal
string with two or more places ("0.00", "0.04", "0.0025"), on fresh, failed, charged,
cached and batched jobs, their attempts, live status events, usage records, refusals and
log lines, over `memory://` and a real Redis."""

from __future__ import annotations

import logging
import re
from collections.abc import Callable, Iterator
from decimal import Decimal
from typing import Any

import pytest
from starlette.testclient import TestClient

from backends.errors import VendorUnavailable
from backends.mock import MockBackend, ok
from gateway.money.format import usd
from gateway.settings import Settings
from tests.conftest import AUTH
from tests.polling import wait_for_job
from tests.sse import read_events

CANONICAL = re.compile(r"^(0|[1-9][0-9]*)\.[0-9]{2}([0-9]{0,4})$")
MONEY_KEYS = {"cost", "estimatedCost", "chargedUsd", "savedUsd"}
USD_IN_TEXT = re.compile(r"(-?[0-9][0-9.eE+-]*) USD")


def money_values(document: Any) -> Iterator[str]:
    """Every value of a money member, however deep."""
    if isinstance(document, dict):
        for key, value in document.items():
            if key in MONEY_KEYS and value is not None:
                yield value
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
    state_url: str,
    caplog: pytest.LogCaptureFixture,
) -> None:
    backend = MockBackend("procedural")
    # An uncharged failure, then a success: attempts cost "0.00" and "0.0025".
    backend.will(VendorUnavailable("503 from the vendor"), ok())
    settings = make_settings(
        state={"url": state_url},
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
