"""ReplicateBackend against a local server speaking Replicate's predictions wire format."""

from __future__ import annotations

import os
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from backends.base import BackendError, GenerationRequest
from backends.replicate import ReplicateBackend
from gateway.backend_setup import build_backend
from gateway.settings import BackendSettings
from tests.fakes.kit import decoded, raised, serving
from tests.fakes.replicate_server import FakeReplicate, problem
from tests.fakes.script import Step, error, ok

KEY = "r8_TESTKEY0123456789abcdef"
ENV = "IMAGEGATE_TEST_REPLICATE_KEY"
FLUX = "black-forest-labs/flux-schnell"


@pytest.fixture
def fake() -> Iterator[FakeReplicate]:
    with serving(FakeReplicate(KEY)) as fake:
        yield fake


@pytest.fixture(autouse=True)
def api_key(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(ENV, KEY)


def make(fake: FakeReplicate, http: httpx.AsyncClient, **overrides: Any) -> ReplicateBackend:
    fields: dict[str, Any] = {
        "type": "replicate",
        "base_url": fake.base_url,
        "api_key_env": ENV,
        "timeout": 5.0,
        "prices": {FLUX: "0.003"},
        "options": {"poll_interval": 0.02},
    }
    backend = build_backend("replicate", BackendSettings(**(fields | overrides)), http, os.environ)
    assert isinstance(backend, ReplicateBackend)
    return backend


def request(model: str = FLUX, **overrides: Any) -> GenerationRequest:
    fields: dict[str, Any] = {"prompt": "a koi pond", "model": model, "width": 64, "height": 64}
    return GenerationRequest(**(fields | overrides))


async def failure(backend: ReplicateBackend, req: GenerationRequest | None = None) -> BackendError:
    return await raised(backend.generate(req or request()))


async def test_model_prediction_is_polled_until_it_succeeds(
    fake: FakeReplicate, http: httpx.AsyncClient
) -> None:
    fake.will(ok(polls=2))
    images = (await make(fake, http).generate(request(n=2, seed=5, width=96, height=54))).images

    assert [decoded(image.data) for image in images] == [(96, 54), (96, 54)]
    [create] = fake.requests_to(f"/v1/models/{FLUX}/predictions")
    assert create.headers["authorization"] == f"Bearer {KEY}"
    assert create.headers["prefer"] == "wait=2"  # half of the 5 s attempt
    assert create.headers["cancel-after"] == "5s"
    assert create.json == {
        "input": {
            "prompt": "a koi pond",
            "num_outputs": 2,
            "output_format": "png",
            "aspect_ratio": "16:9",
            "seed": 5,
        }
    }
    assert len(fake.requests_to("/v1/predictions/", method="GET")) == 3  # 2 processing + done
    downloads = fake.requests_to("/files/", method="GET")
    assert len(downloads) == 2
    assert all("authorization" not in d.headers for d in downloads)


async def test_versioned_model_uses_the_predictions_endpoint(
    fake: FakeReplicate, http: httpx.AsyncClient
) -> None:
    await make(fake, http).generate(request("stability-ai/sdxl:39ed52f2a78e"))

    [create] = fake.requests_to("/v1/predictions")
    assert create.path == "/v1/predictions"
    assert create.json["version"] == "39ed52f2a78e"


async def test_pixel_sized_models_get_width_and_height(
    fake: FakeReplicate, http: httpx.AsyncClient
) -> None:
    backend = make(fake, http, options={"poll_interval": 0.02, "size_input": "pixels"})
    [image] = (await backend.generate(request(width=72, height=40, negative_prompt="blur"))).images

    [create] = fake.requests_to("/predictions")
    assert create.json["input"]["width"] == 72
    assert create.json["input"]["height"] == 40
    assert create.json["input"]["negative_prompt"] == "blur"
    assert "aspect_ratio" not in create.json["input"]
    assert decoded(image.data) == (72, 40)


async def test_sync_answer_needs_no_poll_and_a_single_url_output_works(
    fake: FakeReplicate, http: httpx.AsyncClient
) -> None:
    fake.will(Step("single"))
    [image] = (await make(fake, http).generate(request())).images

    assert decoded(image.data) == (64, 64)
    assert fake.requests_to("/v1/predictions/", method="GET") == []


async def test_other_failure_is_retryable_and_charged(
    fake: FakeReplicate, http: httpx.AsyncClient
) -> None:
    fake.will(Step("failed", reason="CUDA out of memory"))
    err = await failure(make(fake, http))

    assert (err.code, err.retryable, err.charged) == ("backend_unavailable", True, True)
    assert "CUDA out of memory" in err.message


async def test_422_validation_is_not_retried(fake: FakeReplicate, http: httpx.AsyncClient) -> None:
    fake.will(error(422, problem(422, "Input validation failed", "num_outputs: must be <= 4")))
    err = await failure(make(fake, http))

    assert (err.retryable, err.charged) == (False, False)
    assert "num_outputs: must be <= 4" in err.message


async def test_timeout_cancels_the_prediction(fake: FakeReplicate, http: httpx.AsyncClient) -> None:
    fake.will(Step("stuck"))
    err = await failure(make(fake, http, timeout=0.3))

    assert (err.code, err.retryable, err.charged) == ("timeout", True, True)
    [cancel] = fake.requests_to("/cancel")
    assert cancel.headers["authorization"] == f"Bearer {KEY}"
    [prediction] = fake.predictions.values()
    assert prediction.json["status"] == "canceled"


async def test_a_failed_poll_cancels_and_is_charged(
    fake: FakeReplicate, http: httpx.AsyncClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    fake.will(Step("stuck"))
    backend = make(fake, http)
    real_get = http.get

    async def flaky_get(url: str, **kwargs: Any) -> httpx.Response:
        if "/v1/predictions/" in url:
            return httpx.Response(503, json=problem(503, "Unavailable", "down"))
        return await real_get(url, **kwargs)

    monkeypatch.setattr(http, "get", flaky_get)
    err = await failure(backend)

    assert (err.retryable, err.charged) == (True, True)
    assert len(fake.requests_to("/cancel")) == 1


async def test_poll_urls_on_another_origin_are_not_followed(
    fake: FakeReplicate, http: httpx.AsyncClient
) -> None:
    prediction = {"id": "abc", "urls": {"get": "https://evil.example/steal"}}
    url = make(fake, http)._api_url(prediction, "get")

    assert url == f"{fake.base_url}/v1/predictions/abc"


@pytest.mark.parametrize("where", ["http_error", "failed_prediction"])
async def test_error_messages_never_carry_secrets(
    fake: FakeReplicate, http: httpx.AsyncClient, where: str
) -> None:
    leak = (
        f"token {KEY} / r8_ABCDEFGH123456 / sk-live-abc123456789 / "
        "Authorization: Token zzz999yyy / Bearer xyz.abc-123 / "
        "https://replicate.delivery/x/out.png?X-Amz-Signature=cafe&X-Amz-Credential=AKIA1"
    )
    if where == "http_error":
        fake.will(error(500, problem(500, "Internal Server Error", leak)))
    else:
        fake.will(Step("failed", reason=leak))
    err = await failure(make(fake, http))

    for secret in (
        KEY,
        "r8_ABCDEFGH123456",
        "sk-live-abc123456789",
        "zzz999yyy",
        "xyz.abc-123",
        "X-Amz-Signature=cafe",
        "replicate.delivery",
    ):
        assert secret not in err.message
        assert secret not in repr(err)
