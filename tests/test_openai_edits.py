"""Edits and variations with the official `openai` SDK (sync and async) against a real
`imagegate serve`, with real PNGs and masks: multipart as the SDK sends it, the JSON form,
the job API's `images`, input checks, and one vendor call for an identical edit through
both surfaces.
"""

from __future__ import annotations

import base64
import io
import tomllib
from collections.abc import Iterator
from typing import Any

import httpx
import openai
import pytest
from PIL import Image

from gateway.auth import key_hash
from gateway.settings import default_config_path
from tests.fakes.kit import serving
from tests.fakes.openai_server import FakeOpenAI, input_parts
from tests.fakes.script import png
from tests.polling import wait_for_job
from tests.processes import serve, write_config

KEY = "ig_openai_edits_key_0123456789ab"
VENDOR_KEY = "sk-openai-edits-vendor-0123456789"
AUTH = {"Authorization": f"Bearer {KEY}"}


@pytest.fixture(scope="module")
def vendor() -> Iterator[FakeOpenAI]:
    with serving(FakeOpenAI(VENDOR_KEY)) as fake:
        yield fake


@pytest.fixture(scope="module")
def base_url(vendor: FakeOpenAI, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    tmp = tmp_path_factory.mktemp("openai-edits")
    config = tomllib.loads(default_config_path().read_text())
    config["server"]["data_dir"] = str(tmp / "data")
    config["retry"] = {"max_attempts": 1, "initial": "10ms", "max": "10ms"}
    config["openai_api"] = {"wait_limit": "30s"}
    config["inputs"] = {"max_image_bytes": 200_000, "max_pixels": 600 * 600}
    # Loopback is let through the outbound guard: the fakes serve the "remote" images.
    config["outbound"] = {"allow_networks": ["127.0.0.0/8"], "timeout": "5s"}
    config["tenants"] = {"demo": {"keys": [key_hash(KEY)], "generate_key": False}}
    vendor_backend = {
        "type": "openai",
        "base_url": f"{vendor.base_url}/v1",
        "api_key_env": "IMAGEGATE_TEST_OPENAI_KEY",
        "prices": {"default": "0.04"},
    }
    config["backends"] = {
        "procedural": {"type": "procedural"},
        "vendor": vendor_backend,
    }
    config["models"] = {
        "procedural": {
            "default": True,
            "targets": [{"backend": "procedural", "model": "procedural-v1"}],
            "sizes": ["64x64", "32x32"],
        },
        "gpt": {"targets": [{"backend": "vendor", "model": "gpt-image-1"}], "sizes": ["1024x1024"]},
        "dalle2": {"targets": [{"backend": "vendor", "model": "dall-e-2"}], "sizes": ["256x256"]},
        "dalle3": {"targets": [{"backend": "vendor", "model": "dall-e-3"}], "sizes": ["1024x1024"]},
    }
    path = write_config(tmp / "gateway.toml", config)
    process, base = serve(path, tmp, IMAGEGATE_TEST_OPENAI_KEY=VENDOR_KEY)
    try:
        yield base
    finally:
        process.stop()


@pytest.fixture
def sdk(base_url: str) -> Iterator[openai.OpenAI]:
    with openai.OpenAI(api_key=KEY, base_url=f"{base_url}/v1", max_retries=0) as client:
        yield client


def photo(size: int = 64, colour: tuple[int, int, int] = (200, 40, 40)) -> bytes:
    """A real PNG: a coloured square with a white stripe."""
    image = Image.new("RGB", (size, size), colour)
    image.paste((255, 255, 255), (0, size // 3, size, size // 2))
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return buffer.getvalue()


def mask(size: int = 64) -> bytes:
    """Transparent (edit here) on the left half, opaque on the right."""
    image = Image.new("RGBA", (size, size), (0, 0, 0, 255))
    image.paste((0, 0, 0, 0), (0, 0, size // 2, size))
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return buffer.getvalue()


def opened(data: bytes) -> Image.Image:
    image = Image.open(io.BytesIO(data))
    image.load()
    return image.convert("RGB")


def data_url(data: bytes) -> str:
    return "data:image/png;base64," + base64.b64encode(data).decode()


def b64(answer: Any) -> bytes:
    assert answer.data is not None
    return base64.b64decode(answer.data[0].b64_json or "")


def test_edit_multipart_with_a_mask_changes_only_the_masked_half(sdk: openai.OpenAI) -> None:
    source = photo()
    answer = sdk.images.edit(
        image=("photo.png", source, "image/png"),
        mask=("mask.png", mask(), "image/png"),
        prompt="paint a sunset into it",
        size="64x64",
        response_format="b64_json",
    )
    edited, original = opened(b64(answer)), opened(source)
    assert edited.size == (64, 64)
    right = (32, 0, 64, 64)
    left = (0, 0, 32, 64)
    assert edited.crop(right).tobytes() == original.crop(right).tobytes()  # kept: opaque mask
    assert edited.crop(left).tobytes() != original.crop(left).tobytes()  # painted: transparent


async def test_async_edit_with_several_images_and_input_fidelity(base_url: str) -> None:
    async with (
        openai.AsyncOpenAI(api_key=KEY, base_url=f"{base_url}/v1") as client,
        httpx.AsyncClient(base_url=base_url) as http,
    ):
        raw = await client.images.with_raw_response.edit(
            image=[photo(), photo(colour=(20, 160, 40))],  # sent as repeated image[] parts
            prompt="combine them",
            size="64x64",
            input_fidelity="high",
            response_format="b64_json",
        )
        answer = raw.parse()
        assert opened(b64(answer)).size == (64, 64)
        read = await http.get(f"/images/jobs/{raw.headers['x-imagegate-job-id']}", headers=AUTH)
        job = read.json()["data"]
        assert job["operation"] == "edit" and len(job["inputImages"]) == 2
        second = await http.get(job["inputImages"][1]["url"])
        assert second.content == photo(colour=(20, 160, 40))


def test_edit_json_form_with_a_data_url_and_a_gateway_file_url(
    sdk: openai.OpenAI, base_url: str
) -> None:
    first = sdk.images.generate(prompt="a harbour", size="64x64")  # a /files/ URL of our own
    assert first.data is not None and first.data[0].url is not None
    answer = httpx.post(
        f"{base_url}/v1/images/edits",
        json={
            "prompt": "add boats",
            "size": "64x64",
            "response_format": "b64_json",
            "images": [{"image_url": first.data[0].url}],
            "mask": {"image_url": data_url(mask())},
        },
        headers=AUTH,
        timeout=30,
    )
    assert answer.status_code == 200, answer.text
    edited = opened(base64.b64decode(answer.json()["data"][0]["b64_json"]))
    harbour = opened(httpx.get(first.data[0].url).content)
    assert edited.crop((32, 0, 64, 64)).tobytes() == harbour.crop((32, 0, 64, 64)).tobytes()


def test_identical_edit_through_both_surfaces_is_one_vendor_call(
    sdk: openai.OpenAI, base_url: str, vendor: FakeOpenAI
) -> None:
    source, hole = photo(colour=(10, 10, 200)), mask()
    before = len(vendor.requests_to("/v1/images/edits"))
    answer = sdk.images.edit(
        model="gpt", image=source, mask=hole, prompt="a red door", response_format="b64_json"
    )
    assert opened(b64(answer)).size == (1024, 1024)
    assert answer.usage is not None  # the vendor's tokens, its input image's included
    assert answer.usage.input_tokens_details.image_tokens == 323
    sent = vendor.requests_to("/v1/images/edits")[before:]
    assert len(sent) == 1
    assert input_parts(sent[0]) == [source] and sent[0].files["mask"] == [hole]
    assert sent[0].form["prompt"] == "a red door" and sent[0].form["model"] == "gpt-image-1"
    again = httpx.post(
        f"{base_url}/images/jobs",
        json={"prompt": "a red door", "model": "gpt", "images": [data_url(source)],
              "mask": data_url(hole)},
        headers=AUTH,
    )  # fmt: skip
    assert again.status_code == 202, again.text
    assert again.json()["data"]["cached"] is True
    with httpx.Client(base_url=base_url) as http:
        job = wait_for_job(http, again.json()["data"]["jobId"], AUTH)  # type: ignore[arg-type]
    assert job["cost"] == "0.00" and job["inputImages"][0]["sha256"]
    assert len(vendor.requests_to("/v1/images/edits")) == before + 1


def test_a_job_api_edit_runs_on_its_own(base_url: str) -> None:
    with httpx.Client(base_url=base_url, timeout=30) as http:
        accepted = http.post(
            "/images/jobs",
            json={"prompt": "a green sky", "size": "32x32", "images": [data_url(photo(32))]},
            headers=AUTH,
        )
        assert accepted.status_code == 202, accepted.text
        job = wait_for_job(http, accepted.json()["data"]["jobId"], AUTH)  # type: ignore[arg-type]
        assert job["status"] == "SUCCEEDED" and job["operation"] == "edit"
        assert opened(http.get(job["imageUrl"]).content).size == (32, 32)


def variation(sdk: openai.OpenAI, **kwargs: Any) -> Any:
    """`images.create_variation`, which this SDK marks deprecated (OpenAI retired it)."""
    with pytest.deprecated_call():
        return sdk.images.create_variation(**kwargs)


def test_create_variation_on_the_vendor_and_procedurally(
    sdk: openai.OpenAI, vendor: FakeOpenAI
) -> None:
    source = photo(256)
    answer = variation(
        sdk, image=("photo.png", source, "image/png"), model="dalle2", response_format="b64_json"
    )
    assert opened(b64(answer)).size == (256, 256)
    sent = vendor.requests_to("/v1/images/variations")[-1]
    assert sent.files["image"] == [source] and "prompt" not in sent.form
    local = variation(sdk, image=photo(), size="64x64", response_format="b64_json")
    varied = opened(b64(local))
    assert varied.size == (64, 64) and varied.tobytes() != opened(photo()).tobytes()


def test_a_model_without_variations_or_edits_is_a_400_naming_it(sdk: openai.OpenAI) -> None:
    with pytest.raises(openai.BadRequestError) as no_variations:
        variation(sdk, image=photo(), model="gpt")
    assert no_variations.value.param == "model"
    assert "has no variations" in no_variations.value.message
    with pytest.raises(openai.BadRequestError) as no_edits:
        sdk.images.edit(image=photo(), prompt="x", model="dalle3")
    assert no_edits.value.param == "images"


def test_bad_inputs_are_400s_naming_the_part(sdk: openai.OpenAI, base_url: str) -> None:
    def refused(**kwargs: Any) -> openai.BadRequestError:
        with pytest.raises(openai.BadRequestError) as caught:
            sdk.images.edit(prompt="x", size="64x64", **kwargs)
        return caught.value

    assert refused(image=b"GIF89a not really").param == "image"
    noise = png(64, 64)  # incompressible: half of it cannot decode
    truncated = refused(image=noise[: len(noise) // 2])
    assert truncated.param == "image" and "cannot be decoded" in truncated.message
    assert refused(image=[photo(), b"%PDF-1.4"]).param == "image[1]"
    small_mask = refused(image=photo(), mask=mask(32))
    assert small_mask.param == "mask" and "does not match" in small_mask.message
    assert refused(image=photo(), mask=photo()).param == "mask"  # no alpha channel
    assert refused(image=[photo()] * 17).param == "image"
    too_big = refused(image=photo(700))
    assert too_big.param == "image" and "pixels" in too_big.message
    for url, why in (
        ("http://10.1.2.3/cat.png", "internal or reserved"),  # refused before any connection
        ("http://user:pw@127.0.0.1:9/cat.png", "user name or password"),
        ("http://127.0.0.1:9/cat.png", "could not be fetched"),  # nothing listens there
        ("ftp://example.com/cat.png", "data: URL or an http(s) URL"),
    ):
        outside = httpx.post(
            f"{base_url}/v1/images/edits",
            json={"prompt": "x", "images": [{"image_url": url}]},
            headers=AUTH,
            timeout=30,
        )
        assert outside.status_code == 400, outside.text
        error = outside.json()["error"]
        assert error["param"] == "images[0].image_url" and why in error["message"]
    with pytest.raises(openai.BadRequestError) as unknown:
        sdk.images.edit(image=photo(), prompt="x", extra_body={"colour": "red"})
    assert unknown.value.param == "colour"


def test_a_remote_image_url_is_fetched_through_the_outbound_guard(
    base_url: str, vendor: FakeOpenAI
) -> None:
    vendor.files["remote"] = (photo(colour=(0, 120, 120)), "image/png")
    vendor.files["page"] = (b"<html>not an image</html>", "text/html")
    remote = f"{vendor.base_url}/files/remote"
    answer = httpx.post(
        f"{base_url}/v1/images/edits",
        json={"prompt": "a remote edit", "size": "64x64", "images": [{"image_url": remote}]},
        headers=AUTH,
        timeout=30,
    )
    assert answer.status_code == 200, answer.text
    job = httpx.get(f"{base_url}/images/jobs/{answer.headers['x-imagegate-job-id']}", headers=AUTH)
    stored = job.json()["data"]["inputImages"][0]["url"]
    assert httpx.get(stored).content == photo(colour=(0, 120, 120))
    for name, why in (("page", "not a PNG, JPEG or WebP"), ("missing", "answered HTTP 404")):
        refused = httpx.post(
            f"{base_url}/images/jobs",
            json={"prompt": "x", "images": [f"{vendor.base_url}/files/{name}"]},
            headers=AUTH,
            timeout=30,
        )
        assert refused.status_code == 400 and why in refused.json()["error"]["message"]
