"""The streaming previews store, over `memory://` and a real Redis."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from gateway.previews import Preview, PreviewStore, previews_from_url
from gateway.settings import ConfigError


@pytest.fixture
async def store(state_url: str) -> AsyncIterator[PreviewStore]:
    made = previews_from_url(state_url)
    yield made
    await made.aclose()


async def test_previews_are_read_in_order_from_a_position(store: PreviewStore) -> None:
    first, second = Preview(0, 0, "images/aa/a.png"), Preview(0, 1, "images/bb/b.png")
    assert await store.since("job_p", 0) == []
    await store.add("job_p", first)
    await store.add("job_p", second)
    await store.add("job_other", Preview(0, 0, "images/cc/c.png"))
    assert await store.since("job_p", 0) == [first, second]
    assert await store.since("job_p", 1) == [second]
    assert await store.since("job_p", 2) == []


def test_an_unknown_scheme_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match=r"state\.url"):
        previews_from_url("mongodb://x")
