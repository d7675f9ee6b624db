"""What the vendor backends share: keys and options resolved by the host, size fitting,
aspect ratios, fan-out."""

from __future__ import annotations

import io

import httpx
import pytest
from PIL import Image

from backends.base import GeneratedImage, Generation, Usage
from backends.errors import BackendError, VendorUnavailable
from backends.imaging import NotAnImage, conform, nearest_ratio
from backends.registry import backend_factory
from backends.stability import ASPECT_RATIOS
from gateway.backend_setup import backend_options, build_backend
from gateway.settings import BackendSettings, ConfigError
from tests.fakes.script import png

ENV = "IMAGEGATE_TEST_VENDOR_KEY"


@pytest.mark.parametrize("vendor", ["openai", "stability", "replicate"])
async def test_the_host_resolves_each_vendor_key_from_the_injected_environment(
    vendor: str, http: httpx.AsyncClient
) -> None:
    settings = BackendSettings(type=vendor, api_key_env=ENV)
    with pytest.raises(ConfigError, match=ENV):
        build_backend(vendor, settings, http, {})
    with pytest.raises(ConfigError, match="api_key_env"):
        build_backend(vendor, BackendSettings(type=vendor), http, {ENV: "sk-x"})

    backend = build_backend(vendor, settings, http, {ENV: "sk-secret-value-123456"})
    assert backend.name == vendor
    await backend.aclose()


def test_options_are_validated_by_the_type_naming_the_key() -> None:
    bad = BackendSettings(type="replicate", options={"poll_interval": -1, "colour": "red"})
    with pytest.raises(ConfigError) as caught:
        backend_options("r", bad, backend_factory("replicate"))
    assert "backends.r.options.poll_interval" in str(caught.value)
    assert "backends.r.options.colour" in str(caught.value)
    with pytest.raises(ConfigError, match=r"backends\.o\.options\.wait"):
        backend_options(
            "o", BackendSettings(type="openai", options={"wait": 1}), backend_factory("openai")
        )


@pytest.mark.parametrize(
    ("size", "ratio"),
    [((1024, 1024), "1:1"), ((1792, 1024), "16:9"), ((1024, 1536), "2:3"), ((2560, 1080), "21:9")],
)
def test_nearest_ratio(size: tuple[int, int], ratio: str) -> None:
    assert nearest_ratio(*size, ASPECT_RATIOS) == ratio


def test_conform_covers_and_crops_to_the_exact_size() -> None:
    data, info = conform(png(128, 72), 80, 80)
    with Image.open(io.BytesIO(data)) as image:
        assert image.size == (80, 80)
    assert (info.width, info.height, info.format) == (80, 80, "png")

    same = png(40, 30)
    assert conform(same, 40, 30)[0] is same  # already right: untouched


def test_conform_rejects_non_images() -> None:
    with pytest.raises(NotAnImage):
        conform(b"<html></html>", 10, 10)


async def test_fan_out_charges_a_partial_failure(http: httpx.AsyncClient) -> None:
    settings = BackendSettings(type="stability", api_key_env=ENV)
    backend = build_backend("s", settings, http, {ENV: "sk-secret-value-123456"})

    async def one(index: int) -> Generation:
        if index == 1:
            raise VendorUnavailable("boom")
        return Generation([GeneratedImage(b"")], Usage(images=1))

    with pytest.raises(BackendError) as caught:
        await backend.fan_out(3, one)  # type: ignore[attr-defined]
    assert caught.value.charged is True
    assert isinstance(caught.value, VendorUnavailable)
