"""What the vendor backends share: key loading, size fitting, aspect ratios, fan-out."""

from __future__ import annotations

import io

import httpx
import pytest
from PIL import Image

from backends.base import BackendError, GeneratedImage
from backends.imaging import NotAnImage, conform, nearest_ratio
from backends.registry import backend_factory
from backends.stability import ASPECT_RATIOS
from gateway.settings import BackendSettings, ConfigError
from tests.fakes.script import png

ENV = "IMAGEGATE_TEST_VENDOR_KEY"


@pytest.mark.parametrize("vendor", ["openai", "stability", "replicate"])
async def test_registry_builds_each_vendor_and_the_key_is_required(
    vendor: str, http: httpx.AsyncClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    factory = backend_factory(vendor)
    settings = BackendSettings(type=vendor, api_key_env=ENV)
    monkeypatch.delenv(ENV, raising=False)
    with pytest.raises(ConfigError, match=ENV):
        factory(vendor, settings, http)
    with pytest.raises(ConfigError, match="api_key_env"):
        factory(vendor, BackendSettings(type=vendor), http)

    monkeypatch.setenv(ENV, "sk-secret-value-123456")
    backend = factory(vendor, settings, http)
    assert backend.name == vendor
    await backend.aclose()


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


async def test_fan_out_charges_a_partial_failure(
    http: httpx.AsyncClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(ENV, "sk-secret-value-123456")
    backend = backend_factory("stability")("s", BackendSettings(type="s", api_key_env=ENV), http)

    async def one(index: int) -> GeneratedImage:
        if index == 1:
            raise BackendError("backend_unavailable", "boom", retryable=True)
        return GeneratedImage(b"")

    with pytest.raises(BackendError) as caught:
        await backend.fan_out(3, one)  # type: ignore[attr-defined]
    assert caught.value.charged is True
