"""Image encoding and inspection shared by backends and storage (Pillow, called off the loop)."""

from __future__ import annotations

import io
from dataclasses import dataclass

from PIL import Image, UnidentifiedImageError

FORMATS: dict[str, tuple[str, str, str]] = {
    # output format -> (Pillow format, media type, file extension)
    "png": ("PNG", "image/png", "png"),
    "webp": ("WEBP", "image/webp", "webp"),
    "jpeg": ("JPEG", "image/jpeg", "jpg"),
}
MEDIA_TYPES = {media: name for name, (_, media, _) in FORMATS.items()}


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
    """Decode fully (so truncated files are caught) and report size and format."""
    try:
        with Image.open(io.BytesIO(data)) as image:
            image.load()
            name = (image.format or "").lower()
            return ImageInfo(image.width, image.height, "jpeg" if name == "jpeg" else name)
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as exc:
        raise NotAnImage(f"not a decodable image: {exc.__class__.__name__}") from exc


def convert(data: bytes, output_format: str) -> bytes:
    """Re-encode `data` as `output_format` (when a vendor returned another format)."""
    with Image.open(io.BytesIO(data)) as image:
        image.load()
        return encode(image, output_format)
