"""The local generator: real, deterministic, prompt-dependent pictures in every size and format."""

from __future__ import annotations

import io
from decimal import Decimal

import httpx
import pytest
from PIL import Image, ImageStat

from backends.base import BackendError, GenerationRequest
from backends.procedural import render
from gateway.backend_setup import build_backend
from gateway.money.book import PriceBook
from gateway.settings import BackendSettings


def request(prompt: str = "a red fox", **changes: object) -> GenerationRequest:
    fields: dict = {"prompt": prompt, "model": "procedural-v1", "width": 256, "height": 256}
    return GenerationRequest(**{**fields, **changes})


def decode(data: bytes) -> Image.Image:
    image = Image.open(io.BytesIO(data))
    image.load()
    return image


def test_same_request_same_bytes() -> None:
    assert render(request(seed=3)) == render(request(seed=3))


def test_prompt_seed_and_index_change_the_picture() -> None:
    base = render(request(seed=3))
    assert render(request("a blue whale", seed=3)) != base
    assert render(request(seed=4)) != base
    assert render(request(seed=3), index=1) != base


def test_picture_is_not_flat() -> None:
    image = decode(render(request())).convert("RGB")
    assert len(image.getcolors(maxcolors=1 << 16) or []) > 8
    assert max(ImageStat.Stat(image).stddev) > 10


@pytest.mark.parametrize("size", [(256, 256), (512, 512), (1024, 768), (768, 1024)])
def test_every_size_is_honoured(size: tuple[int, int]) -> None:
    image = decode(render(request(width=size[0], height=size[1])))
    assert image.size == size


@pytest.mark.parametrize(("fmt", "pil"), [("png", "PNG"), ("webp", "WEBP"), ("jpeg", "JPEG")])
def test_output_formats(fmt: str, pil: str) -> None:
    assert decode(render(request(output_format=fmt))).format == pil


async def test_backend_generates_n_images_and_reports_them() -> None:
    async with httpx.AsyncClient() as http:
        backend = build_backend("local", BackendSettings(type="procedural"), http, {})
        generation = await backend.generate(request(n=3))
    images = generation.images
    assert [img.media_type for img in images] == ["image/png"] * 3
    assert len({img.data for img in images}) == 3
    assert generation.usage.images == 3


def test_procedural_is_priced_by_the_host() -> None:
    book = PriceBook(
        {"local": BackendSettings(type="procedural", prices={"procedural-v1": "0.01"})}
    )
    assert book.estimate("local", "procedural-v1", "256x256", None, 3) == Decimal("0.03")


def test_negative_prompt_and_quality_are_honoured() -> None:
    base = render(request(seed=3))
    assert render(request(seed=3, negative_prompt="fog")) != base
    assert render(request(seed=3, quality="hd")) != base


async def test_fail_rate_raises_a_retryable_error() -> None:
    settings = BackendSettings(type="procedural", fail_rate=1.0)
    async with httpx.AsyncClient() as http:
        backend = build_backend("local", settings, http, {})
        with pytest.raises(BackendError) as caught:
            await backend.generate(request())
    assert caught.value.retryable and not caught.value.charged
    assert caught.value.code == "backend_unavailable"
