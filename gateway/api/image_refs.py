"""Input images given by URL in a JSON body (`images: [{"image_url": ...}]`, `mask`).

Two kinds are read: `data:` URLs (base64) and this gateway's own signed `/files/` URLs
(read straight from object storage, signature checked as the route checks it). Any other
URL is user-supplied and may only be fetched through the outbound guard, which this surface
does not use yet: such a URL is refused with a 400 naming the part.
"""

from __future__ import annotations

import base64
import binascii
from urllib.parse import parse_qs, unquote, urlsplit

from gateway.errors import invalid_request
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


async def read_image_ref(gateway: Gateway, url: str, part: str) -> bytes:
    if url.startswith("data:"):
        return decode_data_url(url, part)
    if url.startswith(("https://", "http://")):
        own = await read_gateway_file(gateway, url, part)
        if own is not None:
            return own
    raise invalid_request(
        f"{part}: only data: URLs and this gateway's own /files/ URLs are accepted "
        "(other URLs are not fetched)",
        part,
    )
