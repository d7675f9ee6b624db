"""Image encoding and inspection shared by backends and storage (Pillow, called off the loop)."""

from __future__ import annotations

import io
import math
from collections.abc import Iterable
from dataclasses import dataclass

from PIL import Image, ImageOps, UnidentifiedImageError

from backends.image_check import STRUCTURE_CHECKS

FORMATS: dict[str, tuple[str, str, str]] = {
    # output format -> (Pillow format, media type, file extension)
    "png": ("PNG", "image/png", "png"),
    "webp": ("WEBP", "image/webp", "webp"),
    "jpeg": ("JPEG", "image/jpeg", "jpg"),
}


# Hashing or decoding this few bytes takes well under 0.2 ms: done on the event loop rather
# than paying a thread hop. Larger images, and any conversion, go to a thread.
INLINE_BYTES = 256 * 1024


class NotAnImage(ValueError):
    """Bytes that Pillow cannot decode completely (truncated, HTML, JSON, ...)."""


@dataclass(frozen=True)
class ImageInfo:
    width: int
    height: int
    format: str  # one of FORMATS, or Pillow's name for anything else


def encode(image: Image.Image, output_format: str) -> bytes:
    pil_format = FORMATS[output_format][0]
    if pil_format == "JPEG" and image.mode not in ("RGB", "L"):
        image = image.convert("RGB")
    buffer = io.BytesIO()
    image.save(buffer, format=pil_format)
    return buffer.getvalue()


def inspect(data: bytes) -> ImageInfo:
    """Size and format of a whole image, read from its header; raises `NotAnImage` for
    bytes that are not one, or not all of one. PNG, JPEG and WebP are checked by their
    structure (`backends/image_check.py`: no pixel is decoded); other formats are decoded."""
    info = _inspected(data, decode=True)
    assert info is not None
    return info


def inspect_inline(data: bytes) -> ImageInfo | None:
    """`inspect(data)` when it costs too little to leave the event loop for: PNG, JPEG and
    WebP of any size (checked by structure: about 0.05 ms for a megabyte of PNG) and small
    images of other formats; `None` for a large image that must be decoded to be checked
    (call `inspect` in a thread). Raises `NotAnImage`."""
    return _inspected(data, decode=len(data) <= INLINE_BYTES)


def _inspected(data: bytes, *, decode: bool) -> ImageInfo | None:
    try:
        with Image.open(io.BytesIO(data)) as image:
            info = ImageInfo(image.width, image.height, (image.format or "").lower())
            if info.format not in STRUCTURE_CHECKS:
                if not decode:
                    return None
                image.load()
    except (
        UnidentifiedImageError,
        OSError,
        SyntaxError,
        ValueError,
        Image.DecompressionBombError,  # a header claiming far more pixels than any vendor makes
    ) as exc:
        raise NotAnImage(f"not a decodable image: {exc.__class__.__name__}") from exc
    check = STRUCTURE_CHECKS.get(info.format)
    if check is not None and not check(data):
        raise NotAnImage(f"not a whole {info.format} image: cut short or damaged")
    return info


def convert(data: bytes, output_format: str) -> bytes:
    """Re-encode `data` as `output_format` (when a vendor returned another format)."""
    with Image.open(io.BytesIO(data)) as image:
        image.load()
        return encode(image, output_format)


def conform(
    data: bytes, width: int, height: int, checked: ImageInfo | None = None
) -> tuple[bytes, ImageInfo]:
    """Check `data` is a whole image (unless `checked` holds what `inspect` answered for it)
    and make it exactly `width` x `height`.

    Vendors that take an aspect ratio (Stability, Flux on Replicate) pick their own pixel
    size; the gateway promises the requested one, so scale to cover and centre-crop.
    Raises `NotAnImage`. CPU work: call it in a thread.
    """
    info = checked if checked is not None else inspect(data)
    if (info.width, info.height) == (width, height):
        return data, info
    output_format = info.format if info.format in FORMATS else "png"
    with Image.open(io.BytesIO(data)) as image:
        fitted = ImageOps.fit(image, (width, height), method=Image.Resampling.LANCZOS)
    return encode(fitted, output_format), ImageInfo(width, height, output_format)


def nearest_ratio(width: int, height: int, ratios: Iterable[str]) -> str:
    """The `"W:H"` among `ratios` closest to width/height (compared as logs, so 2:1 and 1:2
    are equally far from 1:1)."""
    target = math.log(width / height)

    def distance(ratio: str) -> float:
        w, _, h = ratio.partition(":")
        return abs(math.log(int(w) / int(h)) - target)

    return min(ratios, key=distance)


def snap(value: int, step: int, minimum: int = 0) -> int:
    """`value` rounded to the nearest multiple of `step` (at least `minimum`): vendors that
    take pixels want multiples of 8, 16 or 32; `conform` fits the answer back."""
    return max(minimum, step * round(value / step))


def white_where_transparent(mask: bytes) -> bytes:
    """A mask as the gateway takes it (a PNG whose transparent pixels mark the edit) as
    Stability and most Replicate models take it: greyscale, white where to paint, black
    where to keep. CPU work: call it in a thread."""
    with Image.open(io.BytesIO(mask)) as image:
        alpha = image.convert("RGBA").getchannel("A")
    converted = alpha.point(lambda value: 255 if value == 0 else 0)
    buffer = io.BytesIO()
    converted.save(buffer, format="PNG")
    return buffer.getvalue()
