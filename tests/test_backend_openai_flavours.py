"""Azure OpenAI and OpenAI-compatible backends against their local fakes."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest

from backends.azure_openai import AzureOpenAIBackend
from backends.errors import (
    AuthError,
    InvalidRequest,
)
from backends.openai_compatible import OpenAICompatibleBackend
from tests.fakes.azure_openai_server import FakeAzureOpenAI
from tests.fakes.kit import built, decoded, raised, request, serving
from tests.fakes.openai_compatible_server import FakeOpenAICompatible

AZURE_KEY = "azure0123456789abcdef"
DEPLOYMENTS = {"images-dalle3": "dall-e-3", "images-gpt": "gpt-image-1"}


@pytest.fixture
def azure() -> Iterator[FakeAzureOpenAI]:
    with serving(FakeAzureOpenAI(AZURE_KEY, DEPLOYMENTS)) as fake:
        yield fake


def make_azure(
    fake: FakeAzureOpenAI, http: httpx.AsyncClient, key: str = AZURE_KEY, **options: object
) -> AzureOpenAIBackend:
    fields = {"deployments": DEPLOYMENTS, "api_version": "2024-10-21"} | options
    backend: AzureOpenAIBackend = built(AzureOpenAIBackend, fake.base_url, http, key=key, **fields)
    return backend


async def test_azure_deployments_with_the_api_key_and_version(
    azure: FakeAzureOpenAI, http: httpx.AsyncClient
) -> None:
    backend = make_azure(azure, http)
    gpt = await backend.generate(request("images-gpt", n=2, width=64, height=48))
    dalle = await backend.generate(request("images-dalle3", n=2, width=64, height=48))

    assert [decoded(i.data) for i in [*gpt.images, *dalle.images]] == [(64, 48)] * 4
    [gpt_call] = azure.requests_to("/deployments/images-gpt/")
    assert gpt_call.headers["api-key"] == AZURE_KEY
    assert "authorization" not in gpt_call.headers
    assert "response_format" not in gpt_call.json and gpt_call.json["n"] == 2
    dalle_calls = azure.requests_to("/deployments/images-dalle3/")
    assert len(dalle_calls) == 2  # dall-e-3: one image per call
    assert all(c.json["response_format"] == "b64_json" for c in dalle_calls)
    assert backend.capabilities("images-dalle3").qualities == frozenset({"standard", "hd"})


async def test_azure_configuration_errors(azure: FakeAzureOpenAI, http: httpx.AsyncClient) -> None:
    assert isinstance(
        await raised(make_azure(azure, http, key="wrong").generate(request("images-gpt"))),
        AuthError,
    )
    missing = await raised(make_azure(azure, http).generate(request("no-such-deployment")))
    assert isinstance(missing, InvalidRequest) and "DeploymentNotFound" in missing.message
    old = make_azure(azure, http, api_version="1999-01-01")
    assert isinstance(await raised(old.generate(request("images-gpt"))), InvalidRequest)


@pytest.fixture
def local() -> Iterator[FakeOpenAICompatible]:
    with serving(FakeOpenAICompatible(key=None, models=("sdxl",))) as fake:
        yield fake


def make_local(
    fake: FakeOpenAICompatible, http: httpx.AsyncClient, key: str | None = None, **options: object
) -> OpenAICompatibleBackend:
    backend: OpenAICompatibleBackend = built(
        OpenAICompatibleBackend, f"{fake.base_url}/v1", http, key=key, **options
    )
    return backend


async def test_self_hosted_server_with_declared_extras(
    local: FakeOpenAICompatible, http: httpx.AsyncClient
) -> None:
    backend = make_local(local, http, seed=True, negative_prompt=True, response_format="url")
    generation = await backend.generate(
        request("sdxl", n=3, seed=4, negative_prompt="blur", width=48, height=32)
    )
    assert [decoded(i.data) for i in generation.images] == [(48, 32)] * 3
    [call] = local.requests_to("/v1/images/generations")
    assert (call.json["seed"], call.json["negative_prompt"], call.json["n"]) == (4, "blur", 3)
    assert "authorization" not in call.headers
    downloads = local.requests_to("/generated-images/", method="GET")
    assert len(downloads) == 3


async def test_undeclared_extras_are_refused_not_dropped(
    local: FakeOpenAICompatible, http: httpx.AsyncClient
) -> None:
    caps = make_local(local, http).capabilities("sdxl")
    refused = caps.check(request("sdxl", seed=4))
    assert refused is not None and refused.param == "seed"
    generation = await make_local(local, http).generate(request("sdxl"))  # b64 by default
    assert len(generation.images) == 1
    assert local.requests_to("/v1/images/generations")[0].json["response_format"] == "b64_json"


async def test_a_keyed_server_gets_the_bearer_key(http: httpx.AsyncClient) -> None:
    with serving(FakeOpenAICompatible(key="sk-local-0123456789")) as fake:
        refused = await raised(make_local(fake, http).generate(request("sdxl")))
        assert isinstance(refused, AuthError)
        keyed = make_local(fake, http, key="sk-local-0123456789")
        assert len((await keyed.generate(request("sdxl"))).images) == 1
