"""The usage store contract, over `memory://` and a real Redis: records by (day, tenant,
model, backend), filtered by tenant and day, exact to the micro-dollar, and exact when
many writers (two processes' clients) add at once."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import date
from decimal import Decimal

import pytest

from gateway.money.format import to_micros
from gateway.settings import ConfigError
from gateway.usage import UsageDelta, UsageKey, UsageRecord, UsageStore, usage_from_url

DAY = date(2026, 12, 1)
NEXT = date(2026, 12, 2)


def charged(day: date, tenant: str, usd: str, model: str = "gpt-image", backend: str = "openai"):
    counts = {"jobs": 1, "attempts": 1, "images": 2, "charged_micros": to_micros(Decimal(usd))}
    return UsageDelta(UsageKey(day, tenant, model, backend), counts)


def saved(day: date, tenant: str, usd: str) -> UsageDelta:
    counts = {"saved_jobs": 1, "saved_micros": to_micros(Decimal(usd))}
    return UsageDelta(UsageKey(day, tenant, "gpt-image", "openai"), counts)


@pytest.fixture
async def store(state_url: str) -> AsyncIterator[UsageStore]:
    made = usage_from_url(state_url)
    yield made
    await made.aclose()


async def test_records_add_up_by_day_tenant_model_and_backend(store: UsageStore) -> None:
    await store.add([charged(DAY, "acme", "0.496665"), saved(DAY, "acme", "0.25")])
    await store.add([charged(DAY, "acme", "0.0025"), charged(NEXT, "acme", "0.04")])
    await store.add([charged(DAY, "acme", "0.01", backend="stability")])
    await store.add([charged(DAY, "zeta", "1.00")])
    records = await store.records("acme", DAY)
    assert records == [
        UsageRecord(
            DAY, "acme", "gpt-image", "openai", 2, 2, 4, Decimal("0.49916500"), 1, Decimal("0.25")
        ),
        UsageRecord(DAY, "acme", "gpt-image", "stability", 1, 1, 2, Decimal("0.01")),
        UsageRecord(NEXT, "acme", "gpt-image", "openai", 1, 1, 2, Decimal("0.04")),
    ]
    assert records[0].to_json() == {
        "day": "2026-12-01",
        "tenant": "acme",
        "model": "gpt-image",
        "backend": "openai",
        "jobs": 2,
        "attempts": 2,
        "images": 4,
        "chargedUsd": "0.499165",
        "savedJobs": 1,
        "savedUsd": "0.25",
    }


async def test_records_filter_by_tenant_and_since(store: UsageStore) -> None:
    await store.add([charged(DAY, "acme", "0.04"), charged(NEXT, "zeta", "0.08")])
    assert [(r.day, r.tenant) for r in await store.records(None, DAY)] == [
        (DAY, "acme"),
        (NEXT, "zeta"),
    ]
    assert [(r.day, r.tenant) for r in await store.records(None, NEXT)] == [(NEXT, "zeta")]
    assert await store.records("acme", NEXT) == []
    assert await store.records("nobody", DAY) == []


async def test_concurrent_writers_add_exactly(state_url: str) -> None:
    writers = [usage_from_url(state_url)]
    # On Redis a second client stands for a second process; memory:// is one process.
    writers.append(usage_from_url(state_url) if not state_url.startswith("memory") else writers[0])
    try:
        await asyncio.gather(
            *(
                writers[i % 2].add([charged(DAY, "acme", "0.000001"), charged(DAY, "acme", "0.1")])
                for i in range(200)
            )
        )
        (record,) = await writers[0].records("acme", DAY)
    finally:
        for writer in {id(w): w for w in writers}.values():
            await writer.aclose()
    assert record.jobs == 400 and record.images == 800
    assert record.charged == Decimal("20.0002")  # 200 x (0.000001 + 0.1), not a float sum


def test_an_unknown_scheme_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match=r"state\.url"):
        usage_from_url("mongodb://x")
