"""Input images of edits and variations: checked part by part, then stored by sha256.

A part is accepted when its magic bytes say PNG, JPEG or WebP, it is within
`inputs.max_image_bytes`, its header's pixel count is within `inputs.max_pixels` (read
before decoding, so a decompression bomb never expands) and Pillow decodes it whole. A mask
is a PNG with an alpha channel (its transparent pixels mark what to edit) of the first
image's dimensions. Every refusal is a 400 whose message and `param` name the part.

Accepted bytes are stored unchanged in object storage under the key their sha256 names
(`images/ab/<sha256>.png`), so the job (and its fingerprint) holds keys, never bytes.
"""

from __future__ import annotations

import asyncio
import io
from collections.abc import Sequence
from dataclasses import dataclass

from PIL import Image

from gateway.errors import ApiError, invalid_request
from gateway.settings import InputSettings
from gateway.storage import ImageStore, PreparedImage

MAX_INPUT_IMAGES = 16  # OpenAI's own cap for the GPT image models
MAGIC = (
    (b"\x89PNG\r\n\x1a\n", "png"),
    (b"\xff\xd8\xff", "jpeg"),
)


@dataclass(frozen=True)
class InputImage:
    """One checked part: its bytes as sent, their format and pixel size."""

    part: str  # what the client called it: "image", "image[1]", "images[0].image_url", "mask"
    data: bytes
    format: str  # png | jpeg | webp
    width: int
    height: int
    alpha: bool


def sniff(data: bytes) -> str | None:
    """The format the magic bytes announce (the Content-Type a client sent is not trusted)."""
    for magic, name in MAGIC:
        if data.startswith(magic):
            return name
    if len(data) >= 12 and data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "webp"
    return None


def check_image(data: bytes, part: str, limits: InputSettings) -> InputImage:
    """Check one part (CPU work for big images: call `checked` to run it in a thread)."""
    if not data:
        raise invalid_request(f"{part}: the file is empty", part)
    if len(data) > limits.max_image_bytes:
        raise invalid_request(
            f"{part}: {len(data)} bytes is more than the {limits.max_image_bytes} allowed", part
        )
    found = sniff(data)
    if found is None:
        raise invalid_request(f"{part}: not a PNG, JPEG or WebP image (by its first bytes)", part)
    try:
        # Opening reads only the header: the pixel cap is checked before anything decodes.
        with Image.open(io.BytesIO(data)) as image:
            width, height = image.size
            if width * height > limits.max_pixels:
                raise invalid_request(
                    f"{part}: {width}x{height} is more than {limits.max_pixels} pixels", part
                )
            image.load()
            alpha = "A" in image.getbands() or "transparency" in image.info
    except ApiError:
        raise
    except (OSError, SyntaxError, ValueError, Image.DecompressionBombError) as exc:
        raise invalid_request(
            f"{part}: the {found.upper()} image cannot be decoded ({type(exc).__name__})", part
        ) from None
    return InputImage(part, data, found, width, height, alpha)


def check_mask(mask: InputImage, first: InputImage) -> None:
    if mask.format != "png" or not mask.alpha:
        raise invalid_request(
            f"{mask.part}: a mask must be a PNG with an alpha channel (transparent = edit here)",
            mask.part,
        )
    if (mask.width, mask.height) != (first.width, first.height):
        raise invalid_request(
            f"{mask.part}: {mask.width}x{mask.height} does not match {first.part} "
            f"({first.width}x{first.height})",
            mask.part,
        )


@dataclass(frozen=True)
class Inputs:
    """The checked parts of one request: images in order, and the mask if any."""

    images: tuple[InputImage, ...]
    mask: InputImage | None = None


async def checked(
    parts: Sequence[tuple[str, bytes]],
    mask: tuple[str, bytes] | None,
    limits: InputSettings,
) -> Inputs:
    """Check every part off the event loop; the first problem is the 400."""
    if not parts:
        raise invalid_request("image: at least one input image is required", "image")
    if len(parts) > MAX_INPUT_IMAGES:
        raise invalid_request(
            f"image: at most {MAX_INPUT_IMAGES} input images, got {len(parts)}", "image"
        )
    images = []
    for part, data in parts:
        images.append(await asyncio.to_thread(check_image, data, part, limits))
    checked_mask = None
    if mask is not None:
        checked_mask = await asyncio.to_thread(check_image, mask[1], mask[0], limits)
        check_mask(checked_mask, images[0])
    return Inputs(tuple(images), checked_mask)


@dataclass(frozen=True)
class PreparedInputs:
    """Hashed inputs ready to upload; `keys` / `mask_key` are what the job carries."""

    images: tuple[PreparedImage, ...]
    mask: PreparedImage | None

    @property
    def keys(self) -> tuple[str, ...]:
        return tuple(image.key for image in self.images)

    @property
    def mask_key(self) -> str | None:
        return self.mask.key if self.mask else None

    async def upload(self, store: ImageStore) -> None:
        """Store each part as sent (identical bytes share one object)."""
        for image in (*self.images, *((self.mask,) if self.mask else ())):
            await store.upload(image)


async def prepare_inputs(store: ImageStore, inputs: Inputs) -> PreparedInputs:
    images = [await store.prepare(image.data, image.format) for image in inputs.images]
    mask = await store.prepare(inputs.mask.data, "png") if inputs.mask else None
    return PreparedInputs(tuple(images), mask)
