"""Which vendor-supplied URLs may receive our key.

Queue-style vendors (BFL, fal, Replicate) answer with the URLs to poll. Our key goes with
those requests, so a URL is followed only when it points at the API we were configured
with; otherwise the backend builds the documented URL itself. Result files (signed CDN
links) never get the key: they go through the host's guarded `download`.
"""

from __future__ import annotations

import ipaddress

import httpx


def origin(url: str) -> tuple[str, str, int | None]:
    parsed = httpx.URL(url)
    return parsed.scheme, parsed.host, parsed.port


def same_api(url: object, base_url: str, *, subdomains: bool = False) -> bool:
    """`url` is on `base_url`'s origin (or, with `subdomains`, on a sibling host of the same
    parent domain and scheme, e.g. BFL's regional `api.us1.bfl.ai` for `api.bfl.ai`)."""
    if not isinstance(url, str):
        return False
    try:
        scheme, host, port = origin(url)
        base_scheme, base_host, base_port = origin(base_url)
    except (httpx.InvalidURL, ValueError):
        return False
    if (scheme, host, port) == (base_scheme, base_host, base_port):
        return True
    if not subdomains or scheme != base_scheme or _is_ip(base_host):
        return False
    parent = base_host.partition(".")[2]
    return parent.count(".") >= 1 and host.endswith("." + parent)


def _is_ip(host: str) -> bool:
    try:
        ipaddress.ip_address(host.strip("[]"))
    except ValueError:
        return False
    return True
