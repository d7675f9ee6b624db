"""Input image checks: each format by its magic bytes, the size and pixel caps, whole
decoding, and the mask's alpha channel and dimensions; every refusal names the part."""

from __future__ import annotations

import io

import pytest
from PIL import Image

from gateway.errors import ApiError
from gateway.input_images import check_image, check_mask, sniff
from gateway.settings import InputSettings

LIMITS = InputSettings(max_image_bytes=100_000, max_pixels=200 * 200)


def encoded(fmt: str, size: tuple[int, int] = (40, 30), mode: str = "RGB") -> bytes:
    buffer = io.BytesIO()
    Image.effect_noise(size, 60).convert(mode).save(buffer, format=fmt)
    return buffer.getvalue()


@pytest.mark.parametrize(("fmt", "name"), [("PNG", "png"), ("JPEG", "jpeg"), ("WEBP", "webp")])
def test_each_format_is_known_by_its_magic_bytes(fmt: str, name: str) -> None:
    checked = check_image(encoded(fmt), "image", LIMITS)
    assert (checked.format, checked.width, checked.height) == (name, 40, 30)
    assert sniff(encoded(fmt)) == name


def refusal(data: bytes, part: str = "image[3]") -> ApiError:
    with pytest.raises(ApiError) as caught:
        check_image(data, part, LIMITS)
    assert caught.value.status == 400 and caught.value.param == part
    return caught.value


def test_refusals_name_the_part_and_the_problem() -> None:
    assert "empty" in refusal(b"").message
    assert "not a PNG, JPEG or WebP" in refusal(b"GIF89a" + bytes(100)).message
    whole = encoded("PNG")
    assert "cannot be decoded" in refusal(whole[: len(whole) // 2]).message
    assert "more than the 100000 allowed" in refusal(bytes(100_001)).message
    assert "pixels" in refusal(encoded("PNG", (300, 300), "L")).message


def test_a_mask_needs_alpha_and_the_first_images_size() -> None:
    image = check_image(encoded("PNG"), "image", LIMITS)
    check_mask(check_image(encoded("PNG", mode="RGBA"), "mask", LIMITS), image)
    for mask, why in (
        (encoded("PNG"), "alpha channel"),
        (encoded("WEBP", mode="RGBA"), "must be a PNG"),
        (encoded("PNG", (30, 40), "RGBA"), "does not match image (40x30)"),
    ):
        with pytest.raises(ApiError) as caught:
            check_mask(check_image(mask, "mask", LIMITS), image)
        assert caught.value.param == "mask" and why in caught.value.message
