"""Automatic1111Backend against the local web UI fake: txt2img, img2img, auth, errors."""

from __future__ import annotations

import base64
from collections.abc import Iterator

import httpx
import pytest

from backends.automatic1111 import Automatic1111Backend
from backends.errors import AuthError, InvalidRequest, Timeout
from tests.fakes.automatic1111_server import FakeAutomatic1111
from tests.fakes.kit import built, decoded, raised, request, serving
from tests.fakes.script import Step, png, slow

BASIC = ("imagegate", "s3cret")
KEY = "imagegate:s3cret"


@pytest.fixture
def fake() -> Iterator[FakeAutomatic1111]:
    with serving(FakeAutomatic1111(BASIC)) as fake:
        yield fake


def make(
    fake: FakeAutomatic1111, http: httpx.AsyncClient, key: str | None = KEY, **options: object
) -> Automatic1111Backend:
    backend: Automatic1111Backend = built(
        Automatic1111Backend, fake.base_url, http, key=key, **options
    )
    return backend


async def test_txt2img_batches_n_with_seed_negative_prompt_and_checkpoint(
    fake: FakeAutomatic1111, http: httpx.AsyncClient
) -> None:
    fake.will(Step("extra"))  # an extension appends a picture: only ours are kept
    generation = await make(fake, http, sampler_name="DPM++ 2M").generate(
        request("sd_xl_base_1.0", n=2, seed=8, negative_prompt="blur", width=100, height=60)
    )
    assert [decoded(i.data) for i in generation.images] == [(100, 60)] * 2
    [call] = fake.requests_to("/sdapi/v1/txt2img")
    body = call.json
    assert (body["batch_size"], body["seed"], body["negative_prompt"]) == (2, 8, "blur")
    assert (body["width"], body["height"]) == (96, 64)  # multiples of 8
    assert body["override_settings"] == {"sd_model_checkpoint": "sd_xl_base_1.0"}
    assert body["save_images"] is False and body["sampler_name"] == "DPM++ 2M"
    assert call.headers["authorization"] == "Basic " + base64.b64encode(KEY.encode()).decode()


async def test_an_edit_goes_to_img2img(fake: FakeAutomatic1111, http: httpx.AsyncClient) -> None:
    source = png(16, 16)
    edit = request("default", operation="edit", images=(source,), mask=png(16, 16))
    await make(fake, http).generate(edit)
    [call] = fake.requests_to("/sdapi/v1/img2img")
    assert base64.b64decode(call.json["init_images"][0]) == source
    assert "mask" in call.json and "override_settings" not in call.json


async def test_credentials_and_bad_settings(
    fake: FakeAutomatic1111, http: httpx.AsyncClient
) -> None:
    for key in (None, "imagegate:wrong"):
        err = await raised(make(fake, http, key=key).generate(request("default")))
        assert isinstance(err, AuthError) and "wrong" not in err.message
    sampler = await raised(make(fake, http, sampler_name="Nope").generate(request("default")))
    assert isinstance(sampler, InvalidRequest) and "Sampler not found" in sampler.message


async def test_an_abandoned_render_is_interrupted_when_asked(
    fake: FakeAutomatic1111, http: httpx.AsyncClient
) -> None:
    fake.will(slow(5))
    backend: Automatic1111Backend = built(
        Automatic1111Backend, fake.base_url, http, key=KEY, timeout=0.3, interrupt_on_cancel=True
    )
    err = await raised(backend.generate(request("default")))
    assert isinstance(err, Timeout)
    assert fake.interrupts == 1
