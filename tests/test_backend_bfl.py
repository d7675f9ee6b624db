"""BFLBackend against the local BFL fake: tasks, polling, signed samples, moderation."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest

from backends.bfl import BFLBackend
from backends.errors import (
    ContentRefused,
    OutputFiltered,
    QuotaExhausted,
    VendorFailed,
)
from backends.urls import same_api
from tests.fakes.bfl_server import FakeBFL, insufficient_credits
from tests.fakes.kit import built, decoded, raised, request, serving
from tests.fakes.script import Step, error, ok

KEY = "bfl_test_key_0123456789"
MODEL = "flux-pro-1.1"


@pytest.fixture
def fake() -> Iterator[FakeBFL]:
    with serving(FakeBFL(KEY)) as fake:
        yield fake


def make(fake: FakeBFL, http: httpx.AsyncClient, key: str = KEY, **options: object) -> BFLBackend:
    backend: BFLBackend = built(
        BFLBackend, fake.base_url, http, key=key, timeout=3.0, poll_interval=0.01, **options
    )
    return backend


async def test_n_tasks_with_consecutive_seeds_fitted_to_the_size(
    fake: FakeBFL, http: httpx.AsyncClient
) -> None:
    fake.will(ok(polls=1), ok(polls=2))
    generation = await make(fake, http).generate(request(MODEL, n=2, seed=5, width=100, height=70))

    assert [decoded(image.data) for image in generation.images] == [(100, 70), (100, 70)]
    assert generation.usage.images == 2
    submits = fake.requests_to(f"/v1/{MODEL}")
    assert sorted(s.json["seed"] for s in submits) == [5, 6]
    assert {(s.json["width"], s.json["height"]) for s in submits} == {(96, 64)}  # multiples of 16
    assert all(s.headers["x-key"] == KEY for s in submits)
    samples = fake.requests_to("/delivery/", method="GET")
    assert len(samples) == 2 and all("x-key" not in s.headers for s in samples)


@pytest.mark.parametrize(
    ("step", "kind", "retryable", "charged"),
    [
        (error(402, insufficient_credits()), QuotaExhausted, False, False),
        (Step("request_moderated"), ContentRefused, False, False),
        (Step("content_moderated"), OutputFiltered, False, True),
        (Step("failed", reason="worker crashed"), VendorFailed, True, True),
        (Step("lost"), VendorFailed, True, True),
        (Step("expired"), VendorFailed, True, True),
    ],
)
async def test_failures_map_to_their_types(
    fake: FakeBFL,
    http: httpx.AsyncClient,
    step: Step,
    kind: type,
    retryable: bool,
    charged: bool,
) -> None:
    fake.will(step)
    err = await raised(make(fake, http).generate(request(MODEL)))
    assert type(err) is kind
    assert (err.retryable, err.charged) == (retryable, charged)
    assert KEY not in err.message and "http" not in err.message


async def test_an_unknown_model_is_a_404(fake: FakeBFL, http: httpx.AsyncClient) -> None:
    bad = await raised(make(fake, http).generate(request("flux-nope")))
    assert not bad.retryable and "404" in bad.message


def test_the_key_follows_polling_urls_only_to_bfl_hosts() -> None:
    assert same_api(
        "https://api.us1.bfl.ai/v1/get_result?id=1", "https://api.bfl.ai", subdomains=True
    )
    assert not same_api("https://evil.example/v1/get_result", "https://api.bfl.ai", subdomains=True)
    assert not same_api("http://api.eu.bfl.ai/x", "https://api.bfl.ai", subdomains=True)
    assert not same_api("http://127.0.0.2:80/x", "http://127.0.0.1:80", subdomains=True)
