"""GeminiBackend against the local Gemini API fake: generateContent and Imagen's predict."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest

from backends.errors import (
    AuthError,
    BadResponse,
    ContentRefused,
    OutputFiltered,
    RateLimited,
)
from backends.gemini import GeminiBackend
from tests.fakes.gemini_server import FakeGemini, quota_exceeded
from tests.fakes.kit import built, decoded, raised, request, serving
from tests.fakes.script import Step, error

KEY = "AIzaTestKey0123456789"
GEMINI = "gemini-2.5-flash-image"
IMAGEN = "imagen-4.0-generate-001"


@pytest.fixture
def fake() -> Iterator[FakeGemini]:
    with serving(FakeGemini(KEY)) as fake:
        yield fake


def make(fake: FakeGemini, http: httpx.AsyncClient, key: str = KEY) -> GeminiBackend:
    backend: GeminiBackend = built(GeminiBackend, fake.base_url, http, key=key)
    return backend


async def test_gemini_calls_per_image_with_seeds_and_the_nearest_ratio(
    fake: FakeGemini, http: httpx.AsyncClient
) -> None:
    generation = await make(fake, http).generate(request(GEMINI, n=2, seed=9, width=160, height=90))

    assert [decoded(image.data) for image in generation.images] == [(160, 90)] * 2
    calls = fake.requests_to(f"/v1beta/models/{GEMINI}:generateContent")
    assert sorted(c.json["generationConfig"]["seed"] for c in calls) == [9, 10]
    assert {c.json["generationConfig"]["imageConfig"]["aspectRatio"] for c in calls} == {"16:9"}
    assert all(c.headers["x-goog-api-key"] == KEY for c in calls)
    assert generation.usage.output_tokens == 2 * 1290


async def test_imagen_asks_for_n_samples_without_vertex_only_fields(
    fake: FakeGemini, http: httpx.AsyncClient
) -> None:
    generation = await make(fake, http).generate(request(IMAGEN, n=3, width=64, height=48))

    assert [decoded(image.data) for image in generation.images] == [(64, 48)] * 3
    [call] = fake.requests_to(f"{IMAGEN}:predict")
    assert call.json["parameters"]["sampleCount"] == 3
    assert call.json["parameters"]["aspectRatio"] == "4:3"
    assert "seed" not in call.json["parameters"]
    assert not make(fake, http).capabilities(IMAGEN).seed


async def test_imagen_asks_again_for_a_withheld_image(
    fake: FakeGemini, http: httpx.AsyncClient
) -> None:
    fake.will(Step("filtered"))
    generation = await make(fake, http).generate(request(IMAGEN, n=2))
    assert len(generation.images) == 2
    assert [c.json["parameters"]["sampleCount"] for c in fake.requests_to(":predict")] == [2, 1]


@pytest.mark.parametrize(
    ("model", "step", "kind", "retryable", "charged"),
    [
        (GEMINI, Step("blocked"), ContentRefused, False, False),
        (GEMINI, Step("image_safety"), OutputFiltered, False, True),
        (GEMINI, Step("text_only"), BadResponse, True, True),
        (IMAGEN, Step("all_filtered"), ContentRefused, False, False),
    ],
)
async def test_failures_map_to_their_types(
    fake: FakeGemini,
    http: httpx.AsyncClient,
    model: str,
    step: Step,
    kind: type,
    retryable: bool,
    charged: bool,
) -> None:
    fake.will(step, step)
    err = await raised(make(fake, http).generate(request(model)))
    assert type(err) is kind
    assert (err.retryable, err.charged) == (retryable, charged)


async def test_a_wrong_key_400_is_an_auth_error(fake: FakeGemini, http: httpx.AsyncClient) -> None:
    err = await raised(make(fake, http, key="AIzaWrong").generate(request(GEMINI)))
    assert isinstance(err, AuthError) and not err.retryable
    assert "AIzaWrong" not in err.message


async def test_quota_429_waits_for_retry_info(fake: FakeGemini, http: httpx.AsyncClient) -> None:
    fake.will(error(429, quota_exceeded("17s")))
    err = await raised(make(fake, http).generate(request(GEMINI)))
    assert isinstance(err, RateLimited) and err.retry_after == 17
