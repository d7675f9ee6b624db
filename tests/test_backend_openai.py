"""OpenAIBackend against a local server speaking the OpenAI Images wire format."""

from __future__ import annotations

import base64
import json
import os
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from obstore.store import MemoryStore

from backends import b64_answer
from backends.base import BackendError, GenerationRequest
from backends.errors import BadImage, BadResponse, InvalidRequest, QuotaExhausted
from backends.image_check import STRUCTURE_CHECKS, png_is_whole
from backends.imaging import INLINE_BYTES
from backends.openai import OpenAIBackend, _json
from gateway.backend_setup import build_backend
from gateway.settings import BackendSettings, ConfigError
from gateway.storage import ImageStore
from tests.fakes.kit import decoded, raised, serving
from tests.fakes.openai_server import FakeOpenAI, content_policy, error_body
from tests.fakes.script import Step, error, png, rate_limited

KEY = "sk-test-openai-0123456789abcdef"
ENV = "IMAGEGATE_TEST_OPENAI_KEY"


@pytest.fixture
def fake() -> Iterator[FakeOpenAI]:
    with serving(FakeOpenAI(KEY)) as fake:
        yield fake


@pytest.fixture(autouse=True)
def api_key(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(ENV, KEY)


def make(base_url: str, http: httpx.AsyncClient, **overrides: Any) -> OpenAIBackend:
    fields: dict[str, Any] = {
        "type": "openai",
        "base_url": f"{base_url}/v1",
        "api_key_env": ENV,
        "timeout": 5.0,
        "prices": {"default": "0.04", "dall-e-3": "0.08"},
    }
    backend = build_backend("openai", BackendSettings(**(fields | overrides)), http, os.environ)
    assert isinstance(backend, OpenAIBackend)
    return backend


def request(model: str = "dall-e-2", **overrides: Any) -> GenerationRequest:
    fields: dict[str, Any] = {"prompt": "a red fox", "model": model, "width": 64, "height": 48}
    return GenerationRequest(**(fields | overrides))


async def failure(backend: OpenAIBackend, req: GenerationRequest | None = None) -> BackendError:
    return await raised(backend.generate(req or request()))


async def test_dall_e_asks_for_b64_json_and_returns_real_pngs(
    fake: FakeOpenAI, http: httpx.AsyncClient
) -> None:
    images = (await make(fake.base_url, http).generate(request(n=2))).images

    assert [decoded(image.data) for image in images] == [(64, 48), (64, 48)]
    assert {image.media_type for image in images} == {"image/png"}
    [sent] = fake.requests_to("/v1/images/generations")
    assert sent.headers["authorization"] == f"Bearer {KEY}"
    assert sent.headers["content-type"] == "application/json"
    assert sent.json == {
        "model": "dall-e-2",
        "prompt": "a red fox",
        "n": 2,
        "size": "64x48",
        "response_format": "b64_json",
    }


@pytest.mark.parametrize(
    "body",
    [
        {
            "model": "gpt-image-1",
            "prompt": "un renard roux, à l'aube — 狐",
            "n": 1,
            "seed": 2**63 - 1,
        },
        {"prompt": 'quotes " and \\ and \n', "stream": True, "partial_images": 2},
        {"seed": 2**70},  # past 64 bits: the standard library encodes it
    ],
)
def test_a_generation_body_is_the_bytes_httpx_json_would_send(body: dict[str, Any]) -> None:
    assert _json(body) == httpx.Request("POST", "http://vendor/", json=body).content


async def test_gpt_image_never_sends_response_format(
    fake: FakeOpenAI, http: httpx.AsyncClient
) -> None:
    req = request("gpt-image-1", quality="low", output_format="webp")
    [image] = (await make(fake.base_url, http).generate(req)).images

    assert decoded(image.data) == (64, 48)
    assert image.media_type == "image/webp"
    [sent] = fake.requests_to("/v1/images/generations")
    assert "response_format" not in sent.json
    assert sent.json["quality"] == "low"
    assert sent.json["output_format"] == "webp"


async def test_url_results_are_downloaded_without_our_key(
    fake: FakeOpenAI, http: httpx.AsyncClient
) -> None:
    fake.will(Step("url"))
    [image] = (await make(fake.base_url, http).generate(request())).images

    assert decoded(image.data) == (64, 48)
    [download] = fake.requests_to("/files/", method="GET")
    assert "authorization" not in download.headers


async def test_dall_e_3_n_above_one_becomes_single_image_calls(
    fake: FakeOpenAI, http: httpx.AsyncClient
) -> None:
    images = (await make(fake.base_url, http).generate(request("dall-e-3", n=3))).images

    assert len(images) == 3
    assert [r.json["n"] for r in fake.requests_to("/v1/images/generations")] == [1, 1, 1]


def answer_of(data: bytes, indent: int | None = None) -> str:
    return json.dumps(
        {"created": 1, "data": [{"b64_json": base64.b64encode(data).decode()}]}, indent=indent
    )


async def test_b64_json_is_read_however_the_answer_is_encoded(
    fake: FakeOpenAI, http: httpx.AsyncClient
) -> None:
    data = png(128, 96)  # over b64_answer.MIN_BYTES: read from the body's bytes
    assert len(answer_of(data)) > b64_answer.MIN_BYTES
    answers = [
        answer_of(data, indent=2),  # pretty-printed, as OpenAI answers
        answer_of(data).replace("/", "\\/"),  # slashes escaped, as PHP's encoder writes them
        answer_of(data).replace('"b64_json"', '"b64\\u005fjson"'),  # the key itself escaped
        answer_of(data).replace('"created": 1', '"created": NaN'),  # orjson refuses, json takes
    ]
    assert "/" in base64.b64encode(data).decode()
    assert b64_answer.loads_decoding(answers[0].encode()) is not None  # the first: from bytes
    backend = make(fake.base_url, http)
    for answer in answers:
        fake.will(Step("raw", body=answer.encode()))
        [image] = (await backend.generate(request(width=128, height=96))).images
        assert image.data == data


@pytest.mark.parametrize(
    ("answer", "kind"),
    [
        (answer_of(png(128, 96))[:-1], BadResponse),  # the JSON cut short: no image data
        (answer_of(png(128, 96)).replace("}]", "}]]"), BadResponse),
        (answer_of(png(128, 96)[:-20]), BadImage),  # a cut-short PNG
        ('{"data": [{"b64_json": "not base64!"}]}', BadImage),
        ('{"data": [{"b64_json": "iVBORw0KGgo"}]}', BadImage),  # a PNG's first bytes only
        ('{"data": [{"b64_json": 1}]}', BadResponse),
    ],
)
async def test_a_malformed_b64_json_answer_fails(
    fake: FakeOpenAI, http: httpx.AsyncClient, answer: str, kind: type[BackendError]
) -> None:
    fake.will(Step("raw", body=answer.encode()))
    err = await failure(make(fake.base_url, http), request(width=128, height=96))

    assert type(err) is kind and err.retryable and err.charged


async def test_a_large_image_is_checked_once_between_the_vendor_and_storage(
    fake: FakeOpenAI, http: httpx.AsyncClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    checks: list[int] = []

    def counted(data: bytes) -> bool:
        checks.append(len(data))
        return png_is_whole(data)

    monkeypatch.setitem(STRUCTURE_CHECKS, "png", counted)
    req = request("gpt-image-1", width=1200, height=900)
    [image] = (await make(fake.base_url, http).generate(req)).images
    assert len(image.data) > INLINE_BYTES
    store = ImageStore(MemoryStore(), keeps_attributes=True)
    prepared = await store.prepare(image.data, "png", image.checked)

    assert checks == [len(image.data)]  # the backend's check; storage hashes what it checked
    assert (prepared.data, prepared.width, prepared.height) == (image.data, 1200, 900)


@pytest.mark.parametrize("code", ["content_policy_violation", "moderation_blocked"])
async def test_safety_refusal_is_content_rejected(
    fake: FakeOpenAI, http: httpx.AsyncClient, code: str
) -> None:
    body = content_policy() if code == "content_policy_violation" else None
    fake.will(error(400, body or error_body("Request blocked by moderation.", code=code)))
    err = await failure(make(fake.base_url, http))

    assert (err.code, err.retryable, err.charged) == ("content_rejected", False, False)


async def test_other_400_is_not_retried(fake: FakeOpenAI, http: httpx.AsyncClient) -> None:
    fake.will(error(400, error_body("Invalid size '64x48'.", code="invalid_value")))
    err = await failure(make(fake.base_url, http))

    assert isinstance(err, InvalidRequest) and err.retryable is False
    assert "invalid_value" in err.message


async def test_429_out_of_quota_is_not_retried(fake: FakeOpenAI, http: httpx.AsyncClient) -> None:
    fake.will(rate_limited(error_body("You exceeded your quota.", code="insufficient_quota")))
    err = await failure(make(fake.base_url, http))

    assert isinstance(err, QuotaExhausted) and err.retryable is False


async def test_error_messages_never_carry_secrets(
    fake: FakeOpenAI, http: httpx.AsyncClient
) -> None:
    leak = (
        f"key {KEY} or sk-live-abc123456789 or r8_ABCDEFGH123456; "
        "sent Authorization: Basic dXNlcjpwYXNz and Bearer xyz.token-123; see "
        "https://bucket.s3.amazonaws.com/img.png?X-Amz-Signature=abc123&X-Amz-Credential=AKIA"
    )
    fake.will(error(500, error_body(leak, type="server_error")))
    err = await failure(make(fake.base_url, http))

    for secret in (
        KEY,
        "sk-live-abc123456789",
        "r8_ABCDEFGH123456",
        "dXNlcjpwYXNz",
        "xyz.token-123",
        "X-Amz-Signature=abc123",
        "amazonaws.com",
        "127.0.0.1",
    ):
        assert secret not in err.message
        assert secret not in repr(err)


async def test_missing_key_fails_at_construction_naming_the_variable(
    http: httpx.AsyncClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv(ENV)
    with pytest.raises(ConfigError, match=ENV):
        make("http://127.0.0.1:9", http)
