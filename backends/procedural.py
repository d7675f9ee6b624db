"""A local generator: real images drawn with Pillow, no network, deterministic per request.

The same (prompt, seed, size, index) always gives the same bytes; different prompts give
visibly different pictures (a gradient sky and shapes whose colours and places come from
the prompt's hash). Edits and variations transform the input images just as
deterministically (backends/procedural_edits.py). `latency` and `fail_rate` simulate a
slow or flaky vendor.
"""

from __future__ import annotations

import asyncio
import hashlib
import random

from PIL import Image, ImageDraw
from pydantic import BaseModel, ConfigDict, Field

from backends import procedural_edits
from backends.base import (
    NO_PROGRESS,
    BackendConfig,
    BackendDeps,
    GeneratedImage,
    Generation,
    GenerationRequest,
    Progress,
    Usage,
)
from backends.capabilities import ALL_FORMATS, ModelCapabilities
from backends.errors import VendorUnavailable
from backends.imaging import FORMATS, encode

CAPABILITIES = ModelCapabilities(
    qualities=None,
    seed=True,
    negative_prompt=True,
    input_images=16,
    mask=True,
    input_fidelity=True,
    variations=True,
    output_formats=ALL_FORMATS,
)


class ProceduralOptions(BaseModel):
    """`latency` (seconds) and `fail_rate` come from the backend's top-level settings."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    latency: float = Field(0.0, ge=0)
    fail_rate: float = Field(0.0, ge=0.0, le=1.0)


class ProceduralBackend:
    Options = ProceduralOptions
    needs_key = False

    def __init__(self, config: BackendConfig[ProceduralOptions], deps: BackendDeps) -> None:
        self.name = config.name
        self.options = config.options
        self._chaos = random.Random()  # fault injection is random; pictures are not

    def capabilities(self, model: str) -> ModelCapabilities:
        return CAPABILITIES

    async def generate(
        self, request: GenerationRequest, progress: Progress = NO_PROGRESS
    ) -> Generation:
        if self.options.latency:
            await asyncio.sleep(self.options.latency)
        if self.options.fail_rate and self._chaos.random() < self.options.fail_rate:
            raise VendorUnavailable("procedural backend failed (fail_rate)")
        images = await render_all(request)
        return Generation(images, Usage(images=len(images)))

    async def aclose(self) -> None:
        return None


async def render_all(request: GenerationRequest) -> list[GeneratedImage]:
    """The request's `n` images, drawn in a thread: Pillow is CPU work, kept off the loop."""
    media_type = FORMATS[request.output_format][1]
    return [
        GeneratedImage(await asyncio.to_thread(draw, request, index), media_type)
        for index in range(request.n)
    ]


def draw(request: GenerationRequest, index: int) -> bytes:
    """Image `index` of any operation: a generation, an edit or a variation of the inputs."""
    if request.operation == "edit":
        return procedural_edits.edit(request, index, render)
    if request.operation == "variation":
        return procedural_edits.variation(request, index)
    return render(request, index)


def render(request: GenerationRequest, index: int = 0) -> bytes:
    """Draw image number `index` of `request` and encode it in the requested format."""
    key = f"{request.model}\0{request.prompt}\0{request.seed}\0{request.size}\0{index}"
    if request.negative_prompt or request.quality:  # honoured: they change the picture
        key += f"\0{request.negative_prompt or ''}\0{request.quality or ''}"
    rng = random.Random(hashlib.sha256(key.encode()).digest())
    width, height = request.width, request.height
    image = Image.new("RGB", (width, height))
    draw = ImageDraw.Draw(image)

    top, bottom = _colour(rng), _colour(rng)
    for y in range(height):
        t = y / max(1, height - 1)
        draw.line(
            [(0, y), (width, y)],
            fill=tuple(round(a + (b - a) * t) for a, b in zip(top, bottom, strict=True)),
        )

    for _ in range(rng.randint(6, 14)):
        x0, y0 = rng.randrange(width), rng.randrange(height)
        w = rng.randint(width // 12 + 1, width // 2 + 1)
        h = rng.randint(height // 12 + 1, height // 2 + 1)
        box = [x0 - w // 2, y0 - h // 2, x0 + w // 2, y0 + h // 2]
        shape = rng.choice(("ellipse", "rectangle", "triangle"))
        fill = _colour(rng)
        if shape == "ellipse":
            draw.ellipse(box, fill=fill)
        elif shape == "rectangle":
            draw.rectangle(box, fill=fill)
        else:
            draw.polygon([(box[0], box[3]), (box[2], box[3]), (x0, box[1])], fill=fill)
    return encode(image, request.output_format)


def _colour(rng: random.Random) -> tuple[int, int, int]:
    return rng.randrange(256), rng.randrange(256), rng.randrange(256)
