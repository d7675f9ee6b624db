"""StabilityBackend against a local server speaking the Stable Image (v2beta) wire format."""

from __future__ import annotations

import os
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from backends.base import BackendError, GenerationRequest
from backends.stability import StabilityBackend
from gateway.backend_setup import build_backend
from gateway.settings import BackendSettings
from tests.fakes.kit import decoded, raised, serving
from tests.fakes.script import Step, error, ok
from tests.fakes.stability_server import FakeStability, error_body

KEY = "sk-test-stability-0123456789"
ENV = "IMAGEGATE_TEST_STABILITY_KEY"


@pytest.fixture
def fake() -> Iterator[FakeStability]:
    with serving(FakeStability(KEY)) as fake:
        yield fake


@pytest.fixture(autouse=True)
def api_key(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(ENV, KEY)


def make(fake: FakeStability, http: httpx.AsyncClient, **overrides: Any) -> StabilityBackend:
    fields: dict[str, Any] = {
        "type": "stability",
        "base_url": fake.base_url,
        "api_key_env": ENV,
        "timeout": 5.0,
        "prices": {"core": "0.03", "default": "0.08"},
    }
    backend = build_backend("stability", BackendSettings(**(fields | overrides)), http, os.environ)
    assert isinstance(backend, StabilityBackend)
    return backend


def request(model: str = "core", **overrides: Any) -> GenerationRequest:
    fields: dict[str, Any] = {"prompt": "a lighthouse", "model": model, "width": 80, "height": 48}
    return GenerationRequest(**(fields | overrides))


async def failure(backend: StabilityBackend, req: GenerationRequest | None = None) -> BackendError:
    return await raised(backend.generate(req or request()))


async def test_core_sends_multipart_and_result_is_fitted_to_the_size(
    fake: FakeStability, http: httpx.AsyncClient
) -> None:
    req = request(negative_prompt="fog", seed=42)
    [image] = (await make(fake, http).generate(req)).images

    assert decoded(image.data) == (80, 48)  # the fake answered 128x72 for 16:9
    [sent] = fake.requests_to("/v2beta/stable-image/generate/core")
    assert sent.headers["authorization"] == f"Bearer {KEY}"
    assert sent.headers["accept"] == "image/*"
    assert sent.headers["content-type"].startswith("multipart/form-data")
    assert sent.form == {
        "prompt": "a lighthouse",
        "aspect_ratio": "16:9",
        "output_format": "png",
        "negative_prompt": "fog",
        "seed": "42",
    }


@pytest.mark.parametrize(
    ("model", "path", "form_model"),
    [
        ("ultra", "ultra", None),
        ("stable-image-core", "core", None),
        ("sd3.5-large", "sd3", "sd3.5-large"),
    ],
)
async def test_model_chooses_the_endpoint(
    fake: FakeStability, http: httpx.AsyncClient, model: str, path: str, form_model: str | None
) -> None:
    await make(fake, http).generate(request(model, width=48, height=80))

    [sent] = fake.requests_to(f"/generate/{path}")
    assert sent.form.get("model") == form_model
    assert sent.form["aspect_ratio"] == "9:16"  # nearest to 48x80 (0.6)


async def test_sd3_gets_png_when_webp_is_asked(
    fake: FakeStability, http: httpx.AsyncClient
) -> None:
    [image] = (
        await make(fake, http).generate(request("sd3.5-medium", output_format="webp"))
    ).images

    [sent] = fake.requests_to("/generate/sd3")
    assert sent.form["output_format"] == "png"
    assert image.media_type == "image/png"  # the gateway converts to webp when it stores


async def test_n_images_are_n_calls_with_distinct_seeds(
    fake: FakeStability, http: httpx.AsyncClient
) -> None:
    images = (await make(fake, http).generate(request(n=3, seed=7))).images

    assert len(images) == 3
    assert sorted(r.form["seed"] for r in fake.requests_to("/generate/core")) == ["7", "8", "9"]


async def test_one_failed_call_of_n_fails_the_attempt_as_charged(
    fake: FakeStability, http: httpx.AsyncClient
) -> None:
    fake.will(ok(), error(500, error_body("internal_error", "boom")))
    err = await failure(make(fake, http), request(n=2))

    assert (err.retryable, err.charged) == (True, True)


async def test_unknown_model_fails_without_a_call(
    fake: FakeStability, http: httpx.AsyncClient
) -> None:
    err = await failure(make(fake, http), request("dall-e-3"))

    assert (err.retryable, err.charged) == (False, False)
    assert fake.received == []


async def test_filtered_output_is_content_rejected(
    fake: FakeStability, http: httpx.AsyncClient
) -> None:
    fake.will(Step("filtered"))
    err = await failure(make(fake, http))

    assert (err.code, err.retryable) == ("content_rejected", False)


@pytest.mark.parametrize("status", [400, 413, 422])
async def test_request_errors_are_not_retried(
    fake: FakeStability, http: httpx.AsyncClient, status: int
) -> None:
    fake.will(error(status, error_body("bad_request", "aspect_ratio: invalid")))
    err = await failure(make(fake, http))

    assert (err.code, err.retryable) == ("backend_unavailable", False)
    assert "aspect_ratio: invalid" in err.message


async def test_error_messages_never_carry_secrets(
    fake: FakeStability, http: httpx.AsyncClient
) -> None:
    fake.will(
        error(
            400,
            error_body(
                "bad_request",
                f"authorization: Bearer {KEY}",
                "keys seen: sk-live-abc123456789 r8_ABCDEFGH123456",
                "Authorization: Token abcdef0123456789",
                "https://x.s3.amazonaws.com/o.png?X-Amz-Signature=f00d&X-Amz-Date=20240101",
            ),
        )
    )
    err = await failure(make(fake, http))

    assert "bad_request" in err.message
    for secret in (
        KEY,
        "sk-live-abc123456789",
        "r8_ABCDEFGH123456",
        "abcdef0123456789",
        "X-Amz-Signature=f00d",
        "amazonaws.com",
    ):
        assert secret not in repr(err)
