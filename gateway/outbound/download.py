"""The guarded `Download` injected into backends: vendor-returned result URLs go through the
outbound guard, except on the hosts of the backend's own configured `base_url` (the
operator chose that endpoint, e.g. a self-hosted server on the private network)."""

from __future__ import annotations

import httpx

from backends.base import Download
from backends.errors import BadResponse
from gateway.outbound.guard import OutboundGuard, OutboundRefused, ResponseTooLarge


def trusted_hosts(base_url: str | None) -> frozenset[str]:
    """The host of an operator-configured `base_url` (none when the vendor's default is used)."""
    if not base_url:
        return frozenset()
    try:
        return frozenset({httpx.URL(base_url).host})
    except (httpx.InvalidURL, ValueError):
        return frozenset()


def guarded_download(guard: OutboundGuard, base_url: str | None, max_bytes: int) -> Download:
    trusted = trusted_hosts(base_url)

    async def download(url: str, timeout: float) -> httpx.Response:
        try:
            return await guard.request(
                "GET", url, max_bytes=max_bytes, timeout=timeout, trusted_hosts=trusted
            )
        except OutboundRefused as exc:
            # The vendor already billed the image: charged, and another attempt may help.
            raise BadResponse(f"the vendor's result URL was refused: {exc}", billed=True) from None
        except ResponseTooLarge as exc:
            raise BadResponse(f"the vendor's result is too large: {exc}", billed=True) from None
        except TimeoutError:
            raise httpx.ReadTimeout("the result download did not finish in time") from None

    return download
