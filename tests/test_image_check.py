"""A vendor's image is checked whole from its structure, and decoded only to convert it."""

from __future__ import annotations

import io
import zlib

import pytest
from obstore.store import MemoryStore
from PIL import Image, ImageFile

from backends.imaging import INLINE_BYTES, NotAnImage, conform, inspect, inspect_inline
from gateway.storage import ImageStore, prepare_image
from tests.fakes.script import png

FORMATS = ("png", "jpeg", "webp")


def progressive_jpeg() -> bytes:
    buffer = io.BytesIO()
    Image.effect_noise((320, 240), 60).convert("RGB").save(buffer, "JPEG", progressive=True)
    return buffer.getvalue()


@pytest.fixture
def no_decoding(monkeypatch: pytest.MonkeyPatch) -> None:
    def refuse(self: ImageFile.ImageFile) -> None:
        raise AssertionError("pixels were decoded")

    monkeypatch.setattr(ImageFile.ImageFile, "load", refuse)


@pytest.mark.parametrize("output_format", FORMATS)
def test_a_whole_image_is_read_from_its_header(output_format: str, no_decoding: None) -> None:
    data = png(300, 200, output_format)
    info = inspect(data)
    assert (info.width, info.height, info.format) == (300, 200, output_format)
    assert conform(data, 300, 200) == (data, info)
    prepared = prepare_image(data, output_format)
    assert (prepared.data, prepared.width, prepared.height) == (data, 300, 200)


@pytest.mark.parametrize("output_format", FORMATS)
def test_every_cut_short_copy_is_refused(output_format: str) -> None:
    data = png(64, 48, output_format)
    for length in range(0, len(data) - 1, max(1, len(data) // 97)):
        with pytest.raises(NotAnImage):
            inspect(data[:length])
    with pytest.raises(NotAnImage):
        inspect(data[:-1])


def test_a_progressive_jpeg_cut_between_scans_is_refused() -> None:
    data = progressive_jpeg()
    assert inspect(data).format == "jpeg"
    for length in range(2, len(data) - 1, max(1, len(data) // 151)):
        with pytest.raises(NotAnImage):
            inspect(data[:length])


def test_a_damaged_png_chunk_fails_its_crc() -> None:
    data = bytearray(png(64, 48))
    data[len(data) // 2] ^= 0xFF
    with pytest.raises(NotAnImage, match="cut short or damaged"):
        inspect(bytes(data))


def test_bytes_that_are_no_image_are_refused() -> None:
    for data in (b"", b"<!DOCTYPE html><html></html>", b'{"error": "x"}', b"\x89PNG\r\n\x1a\n"):
        with pytest.raises(NotAnImage):
            inspect(data)


def test_another_format_is_decoded_to_be_checked() -> None:
    buffer = io.BytesIO()
    Image.effect_noise((64, 48), 60).convert("P").save(buffer, "GIF")
    data = buffer.getvalue()
    assert inspect(data).format == "gif"
    with pytest.raises(NotAnImage):
        inspect(data[: len(data) // 2])


def test_a_conversion_decodes_and_re_encodes() -> None:
    prepared = prepare_image(png(40, 30, "webp"), "png")
    assert prepared.data.startswith(b"\x89PNG") and prepared.media_type == "image/png"
    assert inspect(prepared.data).format == "png"
    assert (prepared.width, prepared.height) == (40, 30)


def gif(width: int, height: int) -> bytes:
    buffer = io.BytesIO()
    Image.effect_noise((width, height), 60).convert("P").save(buffer, "GIF")
    return buffer.getvalue()


@pytest.mark.parametrize("output_format", FORMATS)
def test_a_large_image_with_a_structure_check_is_checked_inline(
    output_format: str, no_decoding: None
) -> None:
    data = png(1200, 900, output_format)
    assert len(data) > INLINE_BYTES
    assert inspect_inline(data) == inspect(data)
    with pytest.raises(NotAnImage):
        inspect_inline(data[: len(data) // 2])


def test_only_a_small_image_of_another_format_is_decoded_inline() -> None:
    small, large = gif(64, 48), gif(800, 600)
    assert len(small) <= INLINE_BYTES < len(large)
    assert inspect_inline(small) == inspect(small)
    assert inspect_inline(large) is None  # decoding it is left to a thread
    with pytest.raises(NotAnImage):
        inspect_inline(small[: len(small) // 2])


async def test_storage_checks_what_no_backend_checked() -> None:
    store = ImageStore(MemoryStore(), keeps_attributes=True)
    data = png(1200, 900)
    for cut in (data[: len(data) // 2], data[:-1], gif(800, 600)[:-100]):
        with pytest.raises(NotAnImage):
            await store.prepare(cut)
    prepared = await store.prepare(data)
    assert (prepared.data, prepared.width, prepared.height) == (data, 1200, 900)
    converted = await store.prepare(gif(800, 600), "png")  # checked by decoding, converted
    assert converted.data.startswith(b"\x89PNG") and (converted.width, converted.height) == (
        800,
        600,
    )


def test_a_header_claiming_a_decompression_bomb_is_not_an_image() -> None:
    """Pillow refuses to open what claims more than twice its pixel cap (about 179 MP): that
    is a bad image from the vendor, not the gateway failing unexpectedly."""
    data = bytearray(png(8, 8))
    ihdr = data.index(b"IHDR")
    data[ihdr + 4 : ihdr + 12] = (20000).to_bytes(4, "big") * 2  # width, height
    data[ihdr + 17 : ihdr + 21] = zlib.crc32(data[ihdr : ihdr + 17]).to_bytes(4, "big")
    with pytest.raises(NotAnImage, match="DecompressionBombError"):
        inspect(bytes(data))
    with pytest.raises(NotAnImage, match="DecompressionBombError"):
        inspect_inline(bytes(data))
