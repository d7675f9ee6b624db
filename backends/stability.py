"""Stability AI Stable Image: `POST {base_url}/v2beta/stable-image/generate/{core|ultra|sd3}`;
edits are `edit/inpaint` (with a mask) or image-to-image on `generate/{ultra|sd3}`.

The vendor model picks the endpoint: `core` / `ultra` (also `stable-image-core|ultra`), or
any `sd3*` name (`sd3.5-large`, `sd3.5-medium`, ...) -> `sd3` with a `model` form field.
Requests are multipart/form-data with `Authorization: Bearer <key>` and `Accept: image/*`,
so a 200 is the raw image; the `finish-reason` header says `CONTENT_FILTERED` when the output
was blurred by moderation. Errors are `{"id", "name", "errors": [...]}`; 403 with name
`content_moderation` is a refusal.

The API takes an aspect ratio, not pixels: we send the nearest supported ratio and fit the
result to the requested size. It makes one image per call, so n>1 is n concurrent calls
(see `VendorBackend.fan_out`), each with its own seed (seed + i) so they differ.
"""

from __future__ import annotations

import asyncio
from typing import Any

import httpx

from backends.base import Generation, GenerationRequest, Progress, Usage
from backends.capabilities import ALL_FORMATS, ModelCapabilities
from backends.errors import BackendError, InvalidRequest, OutputFiltered
from backends.http_errors import json_object, transport_errors
from backends.imaging import nearest_ratio, white_where_transparent
from backends.vendor import VendorBackend

ASPECT_RATIOS = ("21:9", "16:9", "3:2", "5:4", "1:1", "4:5", "2:3", "9:16", "9:21")
MAX_SEED = 4294967294
SD3_FORMATS = frozenset({"png", "jpeg"})  # core/ultra also take webp
# Image-to-image: how far from the input the result may go (0 keeps it, 1 ignores it).
IMAGE_STRENGTH = 0.6


def endpoint(model: str) -> tuple[str, str | None]:
    """Vendor model -> (path segment, `model` form field or None)."""
    short = model.removeprefix("stable-image-")
    if short in ("core", "ultra"):
        return short, None
    if model.startswith("sd3"):
        return "sd3", model
    raise InvalidRequest(
        f"stability: unknown model {model!r} (expected core, ultra or an sd3* model)"
    )


class StabilityBackend(VendorBackend):
    vendor = "stability"
    default_base_url = "https://api.stability.ai"

    def capabilities(self, model: str) -> ModelCapabilities:
        # Any size: we ask for the nearest aspect ratio and fit the result.
        formats = SD3_FORMATS if model.startswith("sd3") else ALL_FORMATS
        return ModelCapabilities(
            seed=True,
            negative_prompt=True,
            input_images=1,  # inpaint with a mask; image-to-image (ultra, sd3) without
            mask=True,
            output_formats=formats,
        )

    async def _generate(self, request: GenerationRequest, progress: Progress) -> Generation:
        endpoint(request.model)  # an unknown model fails before any call, uncharged
        return await self.fan_out(request.n, lambda index: self._one(request, index))

    def fields(self, request: GenerationRequest, index: int = 0) -> dict[str, str]:
        path, model = endpoint(request.model)
        output_format = request.output_format
        if path == "sd3" and output_format not in SD3_FORMATS:
            output_format = "png"  # the gateway converts to what was asked
        fields = {
            "prompt": request.prompt,
            "aspect_ratio": nearest_ratio(request.width, request.height, ASPECT_RATIOS),
            "output_format": output_format,
        }
        if model:
            fields["model"] = model
        if request.negative_prompt:
            fields["negative_prompt"] = request.negative_prompt
        if request.seed is not None:
            fields["seed"] = str((request.seed + index) % (MAX_SEED + 1))
        return fields

    async def _one(self, request: GenerationRequest, index: int) -> Generation:
        path, fields, images = await self.call(request, index)
        # (None, value) parts: plain form fields, but forced into multipart.
        parts: list[tuple[str, Any]] = [(name, (None, value)) for name, value in fields.items()]
        parts += [(name, (f"{name}.png", data, "image/png")) for name, data in images.items()]
        with transport_errors(self.vendor):
            response = await self.http.post(
                f"{self.base_url}/v2beta/stable-image/{path}",
                files=parts,
                headers={**self.auth, "Accept": "image/*"},
                timeout=self.timeout,
            )
        if response.status_code != 200:
            raise self._failure(response)
        if response.headers.get("finish-reason", "").upper() == "CONTENT_FILTERED":
            raise OutputFiltered(
                "stability filtered the generated image (finish-reason CONTENT_FILTERED)"
            )
        return Generation([await self.image(response.content, request)], Usage(images=1))

    async def call(
        self, request: GenerationRequest, index: int
    ) -> tuple[str, dict[str, str], dict[str, bytes]]:
        """(path under /v2beta/stable-image/, text fields, file parts) of one call.

        An edit with a mask is an inpaint (`edit/inpaint`: Stability's mask is white where
        to paint, so our transparent-means-edit mask is converted); without one it is
        image-to-image (`mode`, `strength`; ultra and sd3 only, core has none).
        """
        path, _ = endpoint(request.model)
        fields = self.fields(request, index)
        if request.operation != "edit":
            return f"generate/{path}", fields, {}
        fields.pop("aspect_ratio")  # an edit keeps the input's proportions
        if request.mask is not None:
            fields.pop("model", None)
            mask = await asyncio.to_thread(white_where_transparent, request.mask)
            return "edit/inpaint", fields, {"image": request.images[0], "mask": mask}
        if path == "core":
            raise InvalidRequest("stability: core has no image-to-image; send a mask or use ultra")
        fields.update(mode="image-to-image", strength=str(IMAGE_STRENGTH))
        return f"generate/{path}", fields, {"image": request.images[0]}

    def _failure(self, response: httpx.Response) -> BackendError:
        body = json_object(response)
        name = str(body.get("name") or "")
        errors = body.get("errors")
        reasons = "; ".join(map(str, errors)) if isinstance(errors, list) else ""
        detail = ": ".join(part for part in (name, reasons) if part) or response.reason_phrase
        return self.error(response, detail, rejected=name == "content_moderation")
