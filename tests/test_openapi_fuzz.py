"""schemathesis over every operation of `/openapi.json`, against the app itself (ASGI):
a fixed seed, 100 examples per operation, every check (no server error, status codes,
headers and bodies as documented, schema-valid data accepted, invalid data refused,
auth not ignored). A failure is a bug in the gateway or in its document.

No request leaves the machine: webhooks the fuzzer asks for are refused before any lookup
or connection that is not to loopback (`loopback_only`).
"""

from __future__ import annotations

import io
import ipaddress
import shutil
import socket
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import hypothesis
import pytest
import schemathesis
from hypothesis import strategies as st
from PIL import Image
from schemathesis.config import SchemathesisConfig
from schemathesis.python.asgi import shutdown_lifespans

from gateway.app import create_app
from gateway.auth import key_hash
from gateway.openapi import openapi_document
from gateway.settings import parse_settings
from tests.conftest import API_KEY, config_dict

SEED = 20261202
EXAMPLES = 100


def png(size: int, colour: str) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (size, size), colour).save(buffer, "PNG")
    return buffer.getvalue()


# Input images for edits and variations: real PNGs, not random bytes.
schemathesis.openapi.media_type("image/png", st.sampled_from([png(32, "red"), png(64, "blue")]))


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
        models={"procedural": {"sizes": ["64x64", "32x32"]}},
        openai_api={"wait_limit": "10s"},
        workers={"concurrency": 2},
    )
)
CONFIG = SchemathesisConfig.from_dict(
    {
        "seed": SEED,
        "headers": {"Authorization": f"Bearer {API_KEY}"},
        "generation": {"max-examples": EXAMPLES, "mode": "all"},
        "checks": {"enabled": True},
    }
)
schema = schemathesis.openapi.from_dict(openapi_document(SETTINGS), config=CONFIG)
schema.app = create_app(SETTINGS)


@pytest.fixture(scope="module", autouse=True)
def app_lifetime(loopback_only: None) -> Iterator[None]:
    try:
        yield
    finally:
        shutdown_lifespans()  # the app's workers stop before the network is let loose
        shutil.rmtree(DATA, ignore_errors=True)


@schema.parametrize()
@hypothesis.settings(max_examples=EXAMPLES, deadline=None, derandomize=True)
def test_every_operation_holds_to_the_document(case: Any) -> None:
    case.call_and_validate()
