"""The idempotency store contract, over `memory://` and a real Redis."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest

from gateway.idempotency import (
    Answer,
    IdempotencyStore,
    InProgress,
    Lease,
    Mismatch,
    Replay,
    idempotency_from_url,
)
from gateway.settings import ConfigError

ANSWER = Answer(202, (("location", "/images/jobs/job_1"), ("ratelimit-remaining", "4")), b'{"a":1}')


@pytest.fixture
async def store(state_url: str) -> AsyncIterator[IdempotencyStore]:
    made = idempotency_from_url(state_url)
    yield made
    await made.aclose()


async def test_a_new_key_is_leased_then_in_progress_or_mismatched(
    store: IdempotencyStore,
) -> None:
    lease = await store.begin("acme", "k1", "fp-a", lease=30)
    assert isinstance(lease, Lease)
    assert isinstance(await store.begin("acme", "k1", "fp-a", lease=30), InProgress)
    assert isinstance(await store.begin("acme", "k1", "fp-b", lease=30), Mismatch)


async def test_a_completed_key_replays_its_answer_for_the_same_request_only(
    store: IdempotencyStore,
) -> None:
    lease = await store.begin("acme", "k1", "fp-a", lease=30)
    assert isinstance(lease, Lease)
    await store.complete("acme", "k1", lease, "fp-a", ANSWER, ttl=60)
    assert await store.begin("acme", "k1", "fp-a", lease=30) == Replay(ANSWER)
    assert isinstance(await store.begin("acme", "k1", "fp-b", lease=30), Mismatch)


async def test_an_error_answer_round_trips(store: IdempotencyStore) -> None:
    error = Answer(400, (), error_code="invalid_request", error_message="'prompt' is required")
    lease = await store.begin("acme", "k1", "fp-a", lease=30)
    assert isinstance(lease, Lease)
    await store.complete("acme", "k1", lease, "fp-a", error, ttl=60)
    assert await store.begin("acme", "k1", "fp-a", lease=30) == Replay(error)


async def test_a_released_key_is_leased_afresh(store: IdempotencyStore) -> None:
    lease = await store.begin("acme", "k1", "fp-a", lease=30)
    assert isinstance(lease, Lease)
    await store.release("acme", "k1", lease)
    assert isinstance(await store.begin("acme", "k1", "fp-b", lease=30), Lease)


async def test_keys_are_per_tenant(store: IdempotencyStore) -> None:
    assert isinstance(await store.begin("acme", "k1", "fp-a", lease=30), Lease)
    assert isinstance(await store.begin("globex", "k1", "fp-a", lease=30), Lease)


async def test_a_lapsed_lease_changes_nothing_of_its_successor(store: IdempotencyStore) -> None:
    first = await store.begin("acme", "k1", "fp-a", lease=0.05)
    assert isinstance(first, Lease)
    await asyncio.sleep(0.2)  # the first request's process died: its lease lapses
    second = await store.begin("acme", "k1", "fp-a", lease=30)
    assert isinstance(second, Lease) and second != first
    await store.complete("acme", "k1", first, "fp-a", ANSWER, ttl=60)  # the late first
    await store.release("acme", "k1", first)
    await store.renew("acme", "k1", first, 60)
    assert isinstance(await store.begin("acme", "k1", "fp-a", lease=30), InProgress)
    await store.complete("acme", "k1", second, "fp-a", ANSWER, ttl=60)
    assert await store.begin("acme", "k1", "fp-a", lease=30) == Replay(ANSWER)


async def test_a_renewed_lease_outlives_its_first_term(store: IdempotencyStore) -> None:
    lease = await store.begin("acme", "k1", "fp-a", lease=0.1)
    assert isinstance(lease, Lease)
    await store.renew("acme", "k1", lease, 30)
    await asyncio.sleep(0.3)
    assert isinstance(await store.begin("acme", "k1", "fp-a", lease=30), InProgress)


async def test_a_completed_answer_expires_after_its_ttl(store: IdempotencyStore) -> None:
    lease = await store.begin("acme", "k1", "fp-a", lease=30)
    assert isinstance(lease, Lease)
    await store.complete("acme", "k1", lease, "fp-a", ANSWER, ttl=0.05)
    await asyncio.sleep(0.2)
    assert isinstance(await store.begin("acme", "k1", "fp-b", lease=30), Lease)


async def test_of_fifty_concurrent_begins_exactly_one_is_leased(store: IdempotencyStore) -> None:
    claims = await asyncio.gather(*(store.begin("acme", "k1", "fp-a", lease=30) for _ in range(50)))
    assert sum(isinstance(claim, Lease) for claim in claims) == 1
    assert sum(isinstance(claim, InProgress) for claim in claims) == 49


def test_an_unknown_scheme_is_a_configuration_error() -> None:
    with pytest.raises(ConfigError, match="nosuch://x"):
        idempotency_from_url("nosuch://x")
