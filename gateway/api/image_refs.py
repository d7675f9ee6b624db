"""Input images given by URL in a JSON body (`images: [{"image_url": ...}]`, `mask`, and
the job API's `images`).

`data:` URLs (base64) are decoded; this gateway's own signed `/files/` URLs are read
straight from object storage (signature checked as the route checks it); any other http(s)
URL is user-supplied and fetched only through the outbound guard (gateway/outbound/: no
internal addresses, no redirects, a deadline, at most `inputs.max_image_bytes`). Every
failure is a 400 naming the part.
"""

from __future__ import annotations

import base64
import binascii
from urllib.parse import parse_qs, unquote, urlsplit

import httpx

from gateway.errors import invalid_request
from gateway.outbound import OutboundRefused, ResponseTooLarge
from gateway.services import Gateway
from gateway.storage.images import IMAGE_KEY


def decode_data_url(url: str, part: str) -> bytes:
    header, comma, payload = url.partition(",")
    if not comma or not header.endswith(";base64"):
        raise invalid_request(
            f"{part}: a data: URL must be base64 (data:image/png;base64,...)", part
        )
    try:
        return base64.b64decode(payload, validate=True)
    except (binascii.Error, ValueError):
        raise invalid_request(f"{part}: the data: URL is not valid base64", part) from None


async def read_gateway_file(gateway: Gateway, url: str, part: str) -> bytes | None:
    """The bytes behind one of this gateway's signed `/files/` URLs; None for another URL."""
    prefix = f"{gateway.settings.server.base_url}/files/"
    if not url.startswith(prefix):
        return None
    parsed = urlsplit(url)
    key = unquote(parsed.path.removeprefix(urlsplit(prefix).path))
    query = parse_qs(parsed.query)
    expires, signature = query.get("exp", [""])[0], query.get("sig", [""])[0]
    if not IMAGE_KEY.fullmatch(key) or not gateway.signer.verify(key, expires, signature):
        raise invalid_request(f"{part}: the file URL's signature is invalid or has expired", part)
    found = await gateway.images.get(key)
    if found is None:
        raise invalid_request(f"{part}: no such file", part)
    return found.data


async def fetch_guarded(gateway: Gateway, url: str, part: str) -> bytes:
    """GET a user-supplied image URL through the outbound guard."""
    limit = gateway.settings.inputs.max_image_bytes
    try:
        response = await gateway.outbound.request("GET", url, max_bytes=limit)
    except OutboundRefused as exc:
        raise invalid_request(f"{part}: the URL is refused: {exc}", part) from None
    except ResponseTooLarge:
        raise invalid_request(f"{part}: the image is larger than {limit} bytes", part) from None
    except (httpx.HTTPError, TimeoutError, OSError):
        raise invalid_request(f"{part}: the image could not be fetched", part) from None
    if response.status_code != 200:
        raise invalid_request(
            f"{part}: fetching the image answered HTTP {response.status_code}", part
        )
    return response.content


async def read_image_ref(gateway: Gateway, url: str, part: str) -> bytes:
    if url.startswith("data:"):
        return decode_data_url(url, part)
    if url.startswith(("https://", "http://")):
        own = await read_gateway_file(gateway, url, part)
        return own if own is not None else await fetch_guarded(gateway, url, part)
    raise invalid_request(f"{part}: must be a data: URL or an http(s) URL", part)
