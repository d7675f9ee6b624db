"""schemathesis over every operation of `/openapi.json`, against the app itself (ASGI):
a fixed seed, 100 examples per operation, every check (no server error, status codes,
headers and bodies as documented, schema-valid data accepted, invalid data refused,
auth not ignored). A failure is a bug in the gateway or in its document.

No request leaves the machine: webhooks the fuzzer asks for are refused before any lookup
or connection that is not to loopback (`loopback_only`).
"""

from __future__ import annotations

import base64
import io
import ipaddress
import re
import shutil
import socket
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import hypothesis
import pytest
import schemathesis
from PIL import Image
from schemathesis.config import SchemathesisConfig
from schemathesis.python.asgi import shutdown_lifespans
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from gateway.api.listing_cursor import CURSOR_PATTERN, admin_scope, encode_cursor, tenant_scope
from gateway.app import create_app
from gateway.auth import key_hash
from gateway.openapi import openapi_document
from gateway.settings import parse_settings
from tests.conftest import API_KEY, config_dict
from tests.fakes.serve import running

SEED = 20261202
ADMIN_KEY = "ig_test_admin_key_0123456789"
EXAMPLES = 100


def png(size: int, mode: str) -> bytes:
    buffer = io.BytesIO()
    Image.new(mode, (size, size)).save(buffer, "PNG")
    return buffer.getvalue()


IMAGE = png(32, "RGB")
MASK = png(32, "RGBA")  # a mask is a PNG with an alpha channel


def data_url(image: bytes) -> str:
    return "data:image/png;base64," + base64.b64encode(image).decode()


def _real(ref: Any, image: bytes) -> Any:
    """An input image as the job API (a URL) or /v1 (`{"image_url": ...}`) takes it."""
    if isinstance(ref, str):
        return data_url(image)
    if isinstance(ref, dict) and isinstance(ref.get("image_url"), str):
        return {**ref, "image_url": data_url(image)}
    return ref


def with_real_images(case: Any) -> None:
    """Input images are real PNGs (a mask with alpha), as a client sends them: what the
    schema cannot say about bytes is not for the fuzzer to guess. Values of another type
    stay as drawn, so type errors are still sent."""
    body = case.body
    if not isinstance(body, dict):
        return
    if (case.media_type or "").startswith("multipart/"):  # file parts
        for part, image in (("image", IMAGE), ("mask", MASK)):
            if isinstance(body.get(part), bytes | str):
                body[part] = image
        # "partial_images above 0 only with stream: true", as the form's schema says in words.
        partial = body.get("partial_images")
        if isinstance(partial, int) and not isinstance(partial, bool) and 0 < partial <= 3:
            body["stream"] = True
        return
    if isinstance(body.get("images"), list):  # a JSON edit: data: URLs
        body["images"] = [_real(item, IMAGE) for item in body["images"]]
    if "mask" in body:
        body["mask"] = _real(body["mask"], MASK)
    # A webhook URL the schema allows goes to a real receiver on loopback: that its host
    # resolves to an address the guard lets through is not something a schema can say.
    # A deadline in the body and a Cancel-After header together are refused (400), as the
    # document says in words: the fuzzer sends only one of them.
    if body.get("deadline") is not None and case.headers:
        case.headers.pop("Cancel-After", None)
    url = body.get("webhookUrl")
    if isinstance(url, str) and WEBHOOK_SHAPE.match(url) and len(url) <= 2048:
        body["webhookUrl"] = RECEIVER["url"]


_CURSOR_SHAPE = re.compile(CURSOR_PATTERN)


def with_issued_cursor(case: Any) -> None:
    """A listing cursor of the documented shape is one the listing issued (to the fuzzer's
    tenant, or for the admin listing and its tenant filter): only an issued cursor is
    valid, and no schema can say which those are. Cursors of another shape stay as drawn,
    so malformed ones are still sent."""
    query = case.query if isinstance(case.query, dict) else {}
    cursor = query.get("cursor")
    if not (isinstance(cursor, str) and _CURSOR_SHAPE.fullmatch(cursor)):
        return
    if case.path == "/images/jobs":
        scope = tenant_scope("demo")
    elif case.path == "/admin/jobs":
        tenant = query.get("tenant")
        scope = admin_scope(tenant if isinstance(tenant, str) and tenant else None)
    else:
        return
    query["cursor"] = encode_cursor((1_800_000_000_000, "job_" + "0" * 24), scope)


def _is_loopback(host: Any) -> bool:
    if host in (None, "localhost", "testserver"):
        return True
    try:
        return ipaddress.ip_address(str(host).strip("[]")).is_loopback
    except ValueError:
        return False


@pytest.fixture(scope="module")
def loopback_only() -> Iterator[None]:
    """Every name lookup and connection of this process is refused unless it is loopback."""
    real_getaddrinfo = socket.getaddrinfo
    real_connect = socket.socket.connect
    real_connect_ex = socket.socket.connect_ex

    def getaddrinfo(host: Any, *args: Any, **kwargs: Any) -> Any:
        if not _is_loopback(host):
            raise socket.gaierror(socket.EAI_NONAME, "refused by the test: not loopback")
        return real_getaddrinfo(host, *args, **kwargs)

    def refuse(address: Any) -> None:
        if isinstance(address, tuple) and not _is_loopback(address[0]):
            raise ConnectionRefusedError(f"refused by the test: {address[0]} is not loopback")

    def connect(self: socket.socket, address: Any) -> None:
        refuse(address)
        real_connect(self, address)

    def connect_ex(self: socket.socket, address: Any) -> int:
        refuse(address)
        return real_connect_ex(self, address)

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(socket, "getaddrinfo", getaddrinfo)
        patch.setattr(socket.socket, "connect", connect)
        patch.setattr(socket.socket, "connect_ex", connect_ex)
        yield


# The schema is the document the app serves, built before the app starts (collection must
# not start it: its workers would run outside `loopback_only`). The app starts at the first
# call, inside the fixture, and stops when the module ends.
DATA = Path(tempfile.mkdtemp(prefix="imagegate-fuzz-"))
SETTINGS = parse_settings(
    config_dict(
        DATA,
        plans={"open": {}},
        tenants={"demo": {"plan": "open", "keys": [key_hash(API_KEY)]}},
        admin={"keys": [key_hash(ADMIN_KEY)]},
        models={"procedural": {"sizes": ["64x64", "32x32"]}},
        openai_api={"wait_limit": "10s"},
        workers={"concurrency": 2},
        outbound={"allow_networks": ["127.0.0.0/8"]},  # the webhook receiver below
    )
)
CONFIG = SchemathesisConfig.from_dict(
    {
        "seed": SEED,
        "auth": {
            "openapi": {
                "bearer": {"bearer": API_KEY},
                "apiKey": {"api_key": API_KEY},
                "adminBearer": {"bearer": ADMIN_KEY},
                "adminApiKey": {"api_key": ADMIN_KEY},
            }
        },
        "generation": {"max-examples": EXAMPLES, "mode": "all"},
        "checks": {
            "enabled": True,
            # A schema-valid request may still meet the state earlier requests left: an
            # Idempotency-Key the fuzzer already used with another body is 422 by contract.
            "positive_data_acceptance": {
                "expected-statuses": ["2xx", "3xx", "401", "403", "404", "409", "422", "429"]
            },
        },
        # Every field of a multipart form is text: a "wrong type" (an object as the prompt)
        # arrives as its JSON text, a valid string. Every other check runs on these too.
        "operations": [
            {
                "include-path": path,
                "checks": {"negative_data_rejection": {"enabled": False}},
            }
            for path in ("/v1/images/edits", "/v1/images/variations")
        ],
    }
)
schema = schemathesis.openapi.from_dict(openapi_document(SETTINGS), config=CONFIG)
schema.app = create_app(SETTINGS)


WEBHOOK_SHAPE = re.compile("^https?://")
RECEIVER: dict[str, str] = {}
deliveries: list[bytes] = []


async def receive_webhook(request: Request) -> Response:
    deliveries.append(await request.body())
    return Response(status_code=204)


@pytest.fixture(scope="module", autouse=True)
def app_lifetime(loopback_only: None) -> Iterator[None]:
    receiver = Starlette(routes=[Route("/hook", receive_webhook, methods=["POST"])])
    with running(receiver) as base:
        RECEIVER["url"] = f"{base}/hook"
        try:
            yield
        finally:
            # The app's workers stop before the receiver and the network guard go.
            shutdown_lifespans()
    shutil.rmtree(DATA, ignore_errors=True)


@schema.parametrize()
@hypothesis.settings(max_examples=EXAMPLES, deadline=None, derandomize=True)
def test_every_operation_holds_to_the_document(case: Any) -> None:
    with_real_images(case)
    with_issued_cursor(case)
    case.call_and_validate()
