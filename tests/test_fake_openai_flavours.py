"""The Azure OpenAI and OpenAI-compatible fakes answer the official `openai` SDK."""

from __future__ import annotations

import base64
from collections.abc import Iterator

import httpx
import openai
import pytest

from tests.fakes.azure_openai_server import FakeAzureOpenAI, content_filtered, rate_limit_body
from tests.fakes.kit import decoded, serving
from tests.fakes.openai_compatible_server import FakeOpenAICompatible, no_model_loaded
from tests.fakes.script import error, rate_limited

AZURE_KEY = "azure0123456789abcdef"
VERSION = "2024-10-21"
DEPLOYMENTS = {"images-dalle3": "dall-e-3", "images-gpt": "gpt-image-1"}


@pytest.fixture
def azure() -> Iterator[FakeAzureOpenAI]:
    with serving(FakeAzureOpenAI(AZURE_KEY, DEPLOYMENTS)) as fake:
        yield fake


def azure_sdk(fake: FakeAzureOpenAI, key: str = AZURE_KEY) -> openai.AzureOpenAI:
    return openai.AzureOpenAI(
        azure_endpoint=fake.base_url, api_key=key, api_version=VERSION, max_retries=0
    )


def test_azure_deployment_answers_the_sdk(azure: FakeAzureOpenAI) -> None:
    with azure_sdk(azure) as sdk:
        answer = sdk.images.generate(
            model="images-dalle3", prompt="a fox", size="64x48", response_format="b64_json"
        )
    [request] = azure.requests_to("/openai/deployments/images-dalle3/images/generations")
    assert request.headers["api-key"] == AZURE_KEY
    [image] = answer.data or []
    assert image.revised_prompt
    assert decoded(base64.b64decode(image.b64_json or "")) == (64, 48)


def test_azure_dalle_url_answers_are_downloadable(azure: FakeAzureOpenAI) -> None:
    with azure_sdk(azure) as sdk:
        answer = sdk.images.generate(model="images-dalle3", prompt="a fox", size="64x48")
    url = (answer.data or [])[0].url or ""
    assert decoded(httpx.get(url).content) == (64, 48)


def test_azure_errors(azure: FakeAzureOpenAI) -> None:
    azure.will(error(400, content_filtered()), rate_limited(rate_limit_body(6), "6"))
    with azure_sdk(azure, "wrong") as sdk, pytest.raises(openai.AuthenticationError):
        sdk.images.generate(model="images-gpt", prompt="a fox")
    with azure_sdk(azure) as sdk:
        with pytest.raises(openai.NotFoundError) as missing:
            sdk.images.generate(model="nope", prompt="a fox")
        assert missing.value.code == "DeploymentNotFound"
        with pytest.raises(openai.BadRequestError) as refused:
            sdk.images.generate(model="images-gpt", prompt="a fox")
        assert refused.value.code == "content_policy_violation"
        assert refused.value.body["inner_error"]["code"] == "ResponsibleAIPolicyViolation"  # type: ignore[index]
        with pytest.raises(openai.RateLimitError) as limited:
            sdk.images.generate(model="images-gpt", prompt="a fox")
        assert limited.value.response.headers["retry-after"] == "6"
        with pytest.raises(openai.BadRequestError):  # dall-e-3 takes one image per call
            sdk.images.generate(model="images-dalle3", prompt="a fox", n=2)


def test_azure_unknown_api_version_is_resource_not_found(azure: FakeAzureOpenAI) -> None:
    answer = httpx.post(
        f"{azure.base_url}/openai/deployments/images-gpt/images/generations",
        params={"api-version": "1999-01-01"},
        json={"prompt": "x"},
        headers={"api-key": AZURE_KEY},
    )
    assert (answer.status_code, answer.json()["error"]["message"]) == (404, "Resource not found")


@pytest.fixture
def local() -> Iterator[FakeOpenAICompatible]:
    with serving(FakeOpenAICompatible(key=None, models=("sdxl",))) as fake:
        yield fake


def test_self_hosted_server_answers_urls_by_default(local: FakeOpenAICompatible) -> None:
    with openai.OpenAI(base_url=f"{local.base_url}/v1", api_key="unused", max_retries=0) as sdk:
        answer = sdk.images.generate(
            model="sdxl",
            prompt="a fox",
            size="48x32",
            n=2,
            extra_body={"negative_prompt": "blur", "seed": 5},
        )
    [request] = local.requests_to("/v1/images/generations")
    assert request.json["negative_prompt"] == "blur"
    urls = [item.url or "" for item in answer.data or []]
    assert len(urls) == 2 and all("/generated-images/" in url for url in urls)
    assert decoded(httpx.get(urls[0]).content) == (48, 32)


def test_self_hosted_server_errors(local: FakeOpenAICompatible) -> None:
    local.will(error(503, no_model_loaded()))
    with openai.OpenAI(base_url=f"{local.base_url}/v1", api_key="unused", max_retries=0) as sdk:
        with pytest.raises(openai.InternalServerError) as loading:
            sdk.images.generate(model="sdxl", prompt="a fox")
        assert loading.value.status_code == 503
        with pytest.raises(openai.NotFoundError):
            sdk.images.generate(model="flux", prompt="a fox")


def test_a_keyed_self_hosted_server_wants_the_bearer_key() -> None:
    with serving(FakeOpenAICompatible(key="sk-local")) as fake:
        refused = httpx.post(f"{fake.base_url}/v1/images/generations", json={"model": "sdxl"})
        assert refused.status_code == 401
        assert refused.json()["error"]["code"] == 401
