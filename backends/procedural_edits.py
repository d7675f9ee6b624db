"""The procedural backend's edits and variations: deterministic, visible transformations.

An edit takes the first input image (fitted to the requested size) and paints the
prompt's procedural picture into it: where a mask is fully transparent (and only there),
or, without a mask, as a blend (half, or a quarter with `input_fidelity: high`). Further
input images are pasted as thumbnails along the top edge. A variation mirrors the image
and rotates its colour channels (a different rotation per image index). The same inputs
always give the same bytes.
"""

from __future__ import annotations

import io
from collections.abc import Callable

from PIL import Image, ImageChops, ImageOps

from backends.base import GenerationRequest
from backends.imaging import encode

Render = Callable[[GenerationRequest, int], bytes]  # the generator's own drawing


def _fitted(data: bytes, size: tuple[int, int], mode: str) -> Image.Image:
    with Image.open(io.BytesIO(data)) as image:
        image.load()
        converted = image.convert(mode)
    if converted.size == size:
        return converted
    return ImageOps.fit(converted, size, method=Image.Resampling.LANCZOS)


def _picture(request: GenerationRequest, index: int, render: Render) -> Image.Image:
    """The prompt's own procedural picture (what a generation of it would draw)."""
    with Image.open(io.BytesIO(render(request, index))) as image:
        image.load()
        return image.convert("RGB")


def edit(request: GenerationRequest, index: int, render: Render) -> bytes:
    size = (request.width, request.height)
    base = _fitted(request.images[0], size, "RGB")
    picture = _picture(request, index, render)
    if request.mask is not None:
        alpha = _fitted(request.mask, size, "RGBA").getchannel("A")
        where = alpha.point(lambda value: 255 if value == 0 else 0)  # transparent: edit here
        result = Image.composite(picture, base, where)
    else:
        share = 0.25 if request.input_fidelity == "high" else 0.5
        result = Image.blend(base, picture, share)
    thumb = (max(1, request.width // 4), max(1, request.height // 4))
    for place, extra in enumerate(request.images[1:]):
        result.paste(_fitted(extra, thumb, "RGB"), (place * thumb[0] % request.width, 0))
    return encode(result, request.output_format)


def variation(request: GenerationRequest, index: int) -> bytes:
    size = (request.width, request.height)
    base = ImageOps.mirror(_fitted(request.images[0], size, "RGB"))
    red, green, blue = base.split()
    turns = index % 3
    channels = [(green, blue, red), (blue, red, green), (red, blue, green)][turns]
    varied = Image.merge("RGB", channels)
    if turns == 2:
        varied = ImageChops.invert(varied)
    return encode(varied, request.output_format)
