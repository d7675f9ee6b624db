"""What a backend's model can honour, declared per model, and the check against a request.

A parameter a target cannot honour is never dropped silently: the host refuses the request
at submit when the route's first target cannot honour it (400 naming the parameter), and
skips a fallback target that cannot (recorded in the job's attempt log).

Output formats are not refused: a vendor's other format is converted by the host, so
`output_formats` only says what the vendor produces natively. Streaming is emulated by the
host for models without it (one completed event), so it is informational too.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from backends.errors import Unsupported

if TYPE_CHECKING:
    from backends.base import GenerationRequest

ALL_FORMATS = frozenset({"png", "jpeg", "webp"})


@dataclass(frozen=True)
class ModelCapabilities:
    """One model's abilities. `None` for `sizes` or `qualities` means any value is passed on.

    Example (OpenAI's dall-e-3)::

        ModelCapabilities(
            sizes=frozenset({"1024x1024", "1792x1024", "1024x1792"}),
            qualities=frozenset({"standard", "hd"}),
            max_n=4,               # the backend fans out single-image calls
            output_formats=frozenset({"png"}),
        )
    """

    sizes: frozenset[str] | None = None
    qualities: frozenset[str] | None = frozenset()
    max_n: int = 4
    seed: bool = False
    negative_prompt: bool = False
    input_images: int = 0  # edits: how many input images one request may carry (0: none)
    mask: bool = False  # edits: an inpainting mask
    input_fidelity: bool = False  # edits: OpenAI's `input_fidelity`
    variations: bool = False
    output_formats: frozenset[str] = field(default_factory=lambda: frozenset({"png"}))
    streaming: bool = False

    def check(self, request: GenerationRequest) -> Unsupported | None:
        """The first parameter of `request` this model cannot honour, or None."""
        if self.sizes is not None and request.size not in self.sizes:
            allowed = ", ".join(sorted(self.sizes))
            return Unsupported("size", f"size {request.size} is not supported (allowed: {allowed})")
        qualities = self.qualities
        if (
            request.quality is not None
            and qualities is not None
            and request.quality not in qualities
        ):
            allowed = ", ".join(sorted(qualities)) or "none"
            return Unsupported(
                "quality", f"quality {request.quality!r} is not supported (allowed: {allowed})"
            )
        if request.n > self.max_n:
            return Unsupported("n", f"n = {request.n} is more than this model makes ({self.max_n})")
        if request.seed is not None and not self.seed:
            return Unsupported("seed", "seed is not supported")
        if request.negative_prompt and not self.negative_prompt:
            return Unsupported("negative_prompt", "a negative prompt is not supported")
        return self._check_inputs(request)

    def _check_inputs(self, request: GenerationRequest) -> Unsupported | None:
        if request.operation == "variation" and not self.variations:
            return Unsupported("operation", "variations are not supported")
        if request.operation == "edit" and not self.input_images:
            return Unsupported("images", "edits (input images) are not supported")
        if len(request.images) > max(self.input_images, 1 if self.variations else 0):
            return Unsupported(
                "images", f"{len(request.images)} input images are more than this model takes"
            )
        if request.mask is not None and not self.mask:
            return Unsupported("mask", "a mask is not supported")
        if request.input_fidelity is not None and not self.input_fidelity:
            return Unsupported("input_fidelity", "input_fidelity is not supported")
        return None


# Anything goes: local generators and test doubles.
EVERYTHING = ModelCapabilities(
    qualities=None,
    seed=True,
    negative_prompt=True,
    input_images=16,
    mask=True,
    input_fidelity=True,
    variations=True,
    output_formats=ALL_FORMATS,
    streaming=True,
)
