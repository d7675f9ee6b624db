"""`POST /v1/images/edits` (multipart or JSON) and `POST /v1/images/variations` (multipart).

Multipart, as the official SDK sends it: the generation fields as text, the image as one
`image` file part or as repeated `image[]` parts (the SDK's form for a list; up to 16), and
an optional `mask` part. JSON: `images: [{"image_url": ...}]` and `mask: {"image_url": ...}`
(gateway/api/image_refs.py says which URLs are read). Each part is checked
(gateway/input_images.py) before the job is submitted; the job is answered like a
generation (gateway/api/openai_answer.py).
"""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from gateway.api.envelope import read_json
from gateway.api.idempotent import idempotent
from gateway.api.image_refs import read_image_ref
from gateway.api.multipart_form import Form, is_multipart, read_form
from gateway.api.openai_answer import respond
from gateway.api.openai_request import (
    EditBody,
    ImageRef,
    VariationBody,
    form_values,
    parse_edit,
    parse_variation,
    validated,
)
from gateway.errors import ApiError, invalid_request
from gateway.input_images import checked
from gateway.services import Gateway
from gateway.settings import Settings

IMAGE_PARTS = ("image", "image[]")
Part = tuple[str, bytes]


def _form_parts(form: Form, allowed: tuple[str, ...]) -> tuple[list[Part], Part | None]:
    """The image parts in order (named `image` for one, `image[i]` for several) and the mask."""
    images, mask = [], None
    for name, data in form.files:
        if name in IMAGE_PARTS:
            images.append(data)
        elif name == "mask" and "mask" in allowed:
            if mask is not None:
                raise invalid_request("'mask' is given more than once", "mask")
            mask = ("mask", data)
        else:
            raise invalid_request(f"unknown file part {name[:64]!r}", name[:64])
    for name in form.fields:
        if name in (*IMAGE_PARTS, "mask"):
            raise invalid_request(f"{name!r} must be sent as a file part, not a text field", name)
    named = [
        ("image" if len(images) == 1 else f"image[{i}]", data) for i, data in enumerate(images)
    ]
    return named, mask


async def _ref(gateway: Gateway, ref: ImageRef, part: str) -> bytes:
    if ref.file_id is not None:
        raise invalid_request(
            f"{part}.file_id: the gateway has no Files API; send image_url", f"{part}.file_id"
        )
    if ref.image_url is None:
        raise invalid_request(f"{part}.image_url is required", part)
    return await read_image_ref(gateway, ref.image_url, f"{part}.image_url")


def _limit(settings: Settings) -> int:
    return settings.inputs.max_request_bytes


async def edits(request: Request) -> Response:
    gateway: Gateway = request.app.state.gateway
    tenant = gateway.keyring.authenticate(request.headers)
    settings = gateway.settings
    limit = settings.inputs.max_request_bytes
    if is_multipart(request):
        form = await read_form(request, limit)
        body = validated(EditBody, form_values(form.fields))
        parts, mask = _form_parts(form, ("mask",))
    else:
        body = validated(EditBody, await read_json(request, limit))
        if not body.images:
            raise invalid_request("'images' is required (at least one {image_url})", "images")
        parts = [
            (f"images[{i}]", await _ref(gateway, ref, f"images[{i}]"))
            for i, ref in enumerate(body.images)
        ]
        mask = ("mask", await _ref(gateway, body.mask, "mask")) if body.mask else None
    generation = parse_edit(body, settings)
    inputs = await checked(parts, mask, settings.inputs)
    return await respond(request, gateway, tenant, generation, inputs)


async def variations(request: Request) -> Response:
    gateway: Gateway = request.app.state.gateway
    tenant = gateway.keyring.authenticate(request.headers)
    settings = gateway.settings
    if not is_multipart(request):
        raise ApiError(415, "invalid_request", "Content-Type must be multipart/form-data")
    form = await read_form(request, settings.inputs.max_request_bytes)
    body = validated(VariationBody, form_values(form.fields))
    parts, _ = _form_parts(form, ())
    if len(parts) != 1:
        raise invalid_request(f"image: a variation takes one image, got {len(parts)}", "image")
    generation = parse_variation(body, settings)
    inputs = await checked(parts, None, settings.inputs)
    return await respond(request, gateway, tenant, generation, inputs)


routes = [
    Route("/v1/images/edits", idempotent(edits, body_limit=_limit), methods=["POST"]),
    Route("/v1/images/variations", idempotent(variations, body_limit=_limit), methods=["POST"]),
]
