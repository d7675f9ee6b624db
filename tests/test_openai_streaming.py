"""Streaming on /v1 with the official SDK's stream iterators (sync and async) against a real
`imagegate serve`: partial images passed through from a fake OpenAI that streams them as
OpenAI does, for generations and edits; one emulated completed event from a backend that
does not stream; a vendor stream that fails mid-way raised by the SDK; and on Redis, the
partial images of a job run by an `imagegate worker` process reaching the API process.
"""

from __future__ import annotations

import base64
import io
import tomllib
from collections.abc import Iterator
from pathlib import Path

import openai
import pytest
from PIL import Image

from gateway.auth import key_hash
from gateway.settings import default_config_path
from tests.fakes.kit import serving
from tests.fakes.openai_server import FakeOpenAI
from tests.fakes.script import Step
from tests.processes import serve, worker, write_config

KEY = "ig_openai_streaming_key_012345"
VENDOR_KEY = "sk-openai-streaming-vendor-0123456789"


@pytest.fixture(scope="module")
def vendor() -> Iterator[FakeOpenAI]:
    with serving(FakeOpenAI(VENDOR_KEY)) as fake:
        yield fake


@pytest.fixture(scope="module")
def base_url(vendor: FakeOpenAI, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    tmp = tmp_path_factory.mktemp("openai-streaming")
    config = tomllib.loads(default_config_path().read_text())
    config["server"]["data_dir"] = str(tmp / "data")
    config["retry"] = {"max_attempts": 1, "initial": "10ms", "max": "10ms"}
    config["openai_api"] = {"wait_limit": "30s"}
    config["tenants"] = {"demo": {"keys": [key_hash(KEY)], "generate_key": False}}
    config["backends"] = {
        "procedural": {"type": "procedural"},
        "vendor": {
            "type": "openai",
            "base_url": f"{vendor.base_url}/v1",
            "api_key_env": "IMAGEGATE_TEST_OPENAI_KEY",
            "timeout": "30s",
            "prices": {"default": "0.04"},
        },
    }
    config["models"] = {
        "procedural": {
            "default": True,
            "targets": [{"backend": "procedural", "model": "procedural-v1"}],
            "sizes": ["64x64"],
        },
        "gpt": {
            "targets": [{"backend": "vendor", "model": "gpt-image-1"}],
            "sizes": ["1024x1024"],
            "openai_names": ["gpt-image-1"],
        },
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


def size_of(b64_json: str) -> tuple[int, int]:
    with Image.open(io.BytesIO(base64.b64decode(b64_json))) as image:
        image.load()
        return image.size


def photo() -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (64, 64), (90, 20, 160)).save(buffer, format="PNG")
    return buffer.getvalue()


def test_partial_images_are_passed_through_from_a_vendor_that_streams(
    sdk: openai.OpenAI, vendor: FakeOpenAI
) -> None:
    before = vendor.partials_sent
    stream = sdk.images.generate(
        model="gpt-image-1", prompt="a lighthouse, streamed", stream=True, partial_images=2
    )
    events = list(stream)
    assert [event.type for event in events] == [
        "image_generation.partial_image",
        "image_generation.partial_image",
        "image_generation.completed",
    ]
    assert [getattr(event, "partial_image_index", None) for event in events[:2]] == [0, 1]
    assert size_of(events[0].b64_json) == (256, 256)  # the vendor's rough drafts
    assert size_of(events[2].b64_json) == (1024, 1024)
    assert events[2].usage.output_tokens == 1056  # as the vendor's completed event said
    assert vendor.partials_sent == before + 2
    sent = vendor.requests_to("/v1/images/generations")[-1].json
    assert sent["stream"] is True and sent["partial_images"] == 2


async def test_edit_stream_with_the_async_client(base_url: str, vendor: FakeOpenAI) -> None:
    async with openai.AsyncOpenAI(api_key=KEY, base_url=f"{base_url}/v1") as client:
        stream = await client.images.edit(
            model="gpt", image=photo(), prompt="a streamed edit", stream=True, partial_images=1
        )
        events = [event async for event in stream]
    assert [event.type for event in events] == [
        "image_edit.partial_image",
        "image_edit.completed",
    ]
    assert size_of(events[-1].b64_json) == (1024, 1024)
    sent = vendor.requests_to("/v1/images/edits")[-1]
    assert sent.form["stream"] == "true" and sent.form["partial_images"] == "1"


def test_a_backend_that_does_not_stream_gives_one_completed_event(sdk: openai.OpenAI) -> None:
    events = list(
        sdk.images.generate(prompt="not streamed", size="64x64", stream=True, partial_images=3)
    )
    assert [event.type for event in events] == ["image_generation.completed"]
    assert size_of(events[0].b64_json) == (64, 64)


def test_a_vendor_stream_that_fails_is_raised_by_the_sdk(
    sdk: openai.OpenAI, vendor: FakeOpenAI
) -> None:
    vendor.will(Step("broken"))
    stream = sdk.images.generate(model="gpt", prompt="it breaks", stream=True, partial_images=1)
    seen = []
    with pytest.raises(openai.APIError) as failed:
        for event in stream:
            seen.append(event.type)
    assert seen == ["image_generation.partial_image"]
    assert "failed" in failed.value.message and VENDOR_KEY not in failed.value.message


def test_partials_from_a_worker_in_another_process_reach_the_stream(
    redis_url: str, tmp_path: Path, vendor: FakeOpenAI
) -> None:
    config = tomllib.loads(default_config_path().read_text())
    config["server"]["data_dir"] = str(tmp_path / "data")
    config["state"] = {"url": redis_url}
    config["storage"] = {"url": f"file://{tmp_path / 'images'}"}
    config["tenants"] = {"demo": {"keys": [key_hash(KEY)], "generate_key": False}}
    config["backends"] = {
        "vendor": {
            "type": "openai",
            "base_url": f"{vendor.base_url}/v1",
            "api_key_env": "IMAGEGATE_TEST_OPENAI_KEY",
            "timeout": "30s",
            "prices": {"default": "0.04"},
        }
    }
    config["models"] = {
        "gpt": {"default": True, "targets": [{"backend": "vendor", "model": "gpt-image-1"}],
                "sizes": ["1024x1024"]},
    }  # fmt: skip
    path = write_config(tmp_path / "gateway.toml", config)
    env = {"IMAGEGATE_TEST_OPENAI_KEY": VENDOR_KEY}
    # The API process runs no workers: the partial images come from the worker process.
    api, base = serve(path, tmp_path, IMAGEGATE_WORKERS__CONCURRENCY="0", **env)
    runner = worker(path, tmp_path, **env)
    try:
        with openai.OpenAI(api_key=KEY, base_url=f"{base}/v1", max_retries=0) as sdk:
            stream = sdk.images.generate(prompt="two processes", stream=True, partial_images=3)
            events = list(stream)
    finally:
        runner.stop()
        api.stop()
    assert [event.type for event in events] == [
        *["image_generation.partial_image"] * 3,
        "image_generation.completed",
    ]
    assert size_of(events[-1].b64_json) == (1024, 1024)
