"""The outbound guard: every request to a user-supplied URL goes through `OutboundGuard`.

The URL must be http(s) without userinfo; its host is resolved once and every address
checked (`AddressPolicy`); the request then goes to the checked address itself (the URL's
host replaced by it, the `Host` header and TLS server name kept), so a second lookup that
answers differently (DNS rebinding) is never made. No redirects are followed, no proxy
from the environment is used, the whole exchange has a deadline and the response body a
size cap.
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
from collections.abc import Awaitable, Callable, Collection, Mapping
from dataclasses import dataclass

import httpx

from gateway.outbound.addresses import AddressPolicy, IPAddress, literal_address

Resolver = Callable[[str, int], Awaitable[list[str]]]
"""`await resolve(host, port)`: the addresses a name resolves to (raises `OSError`)."""

DEFAULT_PORTS = {"http": 80, "https": 443}


class OutboundRefused(Exception):
    """The guard refused a URL; the message is safe to show (it never holds an address a
    name resolved to)."""


class ResponseTooLarge(Exception):
    """The answer's body passed the caller's size cap; reading stopped there."""


async def system_resolver(host: str, port: int) -> list[str]:
    """The event loop's `getaddrinfo` (run in its executor, so it does not block)."""
    infos = await asyncio.get_running_loop().getaddrinfo(host, port, type=socket.SOCK_STREAM)
    return [str(info[4][0]) for info in infos]


@dataclass(frozen=True)
class Pinned:
    """A checked URL: where to connect (`url` holds the address) and who to say we talk to."""

    url: httpx.URL
    host: str  # the Host header: the URL's own authority
    server_name: str | None  # TLS SNI and certificate name (https to a name)


class OutboundGuard:
    """Checks user-supplied URLs and makes the requests to them (see the module docstring).

    `resolver` and `transport` are injectable so tests reach no real network.
    """

    def __init__(
        self,
        *,
        allow_networks: Collection[str] = (),
        timeout: float = 10.0,
        resolver: Resolver = system_resolver,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        self.policy = AddressPolicy(allow_networks)
        self.timeout = timeout
        self.resolve = resolver
        # No keep-alive: a pooled TLS connection is keyed by address, and must not be
        # reused for another name served by the same address.
        self.http = httpx.AsyncClient(
            transport=transport,
            follow_redirects=False,
            trust_env=False,
            timeout=httpx.Timeout(timeout),
            limits=httpx.Limits(max_keepalive_connections=0),
        )

    async def check(self, url: str) -> None:
        """Raise `OutboundRefused` unless `url` may be requested (resolves it once)."""
        await self.pin(url)

    async def pin(self, url: str, trusted_hosts: Collection[str] = ()) -> Pinned:
        """Parse, resolve and check `url`. A host in `trusted_hosts` (an operator's own
        configured endpoint) skips the address check and is connected to by name."""
        parsed = _parse(url)
        authority = parsed.netloc.decode("ascii")
        if parsed.host in trusted_hosts:
            return Pinned(parsed, authority, None)
        address = literal_address(parsed.host)
        if address is not None:
            addresses = [address]
        else:
            addresses = await self._resolve(parsed)
        if any(self.policy.blocked(one) for one in addresses):
            what = "address" if address is not None else "host resolves to an address that"
            raise OutboundRefused(f"its {what} is internal or reserved (not allowed)")
        chosen = addresses[0]
        server_name = parsed.host if address is None and parsed.scheme == "https" else None
        return Pinned(parsed.copy_with(host=str(chosen)), authority, server_name)

    async def request(
        self,
        method: str,
        url: str,
        *,
        max_bytes: int,
        content: bytes | None = None,
        headers: Mapping[str, str] | None = None,
        timeout: float | None = None,
        trusted_hosts: Collection[str] = (),
    ) -> httpx.Response:
        """One guarded request; the body read whole up to `max_bytes` (else
        `ResponseTooLarge`). Raises `OutboundRefused`, `httpx.TransportError`, `TimeoutError`."""
        pinned = await self.pin(url, trusted_hosts)
        sent = {**(headers or {}), "Host": pinned.host}
        extensions = {"sni_hostname": pinned.server_name} if pinned.server_name else None
        limit = self.timeout if timeout is None else timeout
        async with asyncio.timeout(limit):
            request = self.http.build_request(
                method,
                pinned.url,
                content=content,
                headers=sent,
                timeout=httpx.Timeout(limit),
                extensions=extensions,
            )
            response = await self.http.send(request, stream=True)
            try:
                body = await _read_capped(response, max_bytes)
            finally:
                await response.aclose()
        # Decoded already: the copy must not claim an encoding (or a length) any more.
        kept = [(k, v) for k, v in response.headers.multi_items() if k.lower() not in _FRAMING]
        return httpx.Response(response.status_code, headers=kept, content=body, request=request)

    async def aclose(self) -> None:
        await self.http.aclose()

    async def _resolve(self, parsed: httpx.URL) -> list[IPAddress]:
        port = parsed.port or DEFAULT_PORTS[parsed.scheme]
        try:
            found = await self.resolve(parsed.host, port)
        except (OSError, UnicodeError) as exc:
            raise OutboundRefused(f"its host {parsed.host!r} could not be resolved") from exc
        addresses = [ipaddress.ip_address(one.partition("%")[0]) for one in found]
        if not addresses:
            raise OutboundRefused(f"its host {parsed.host!r} could not be resolved")
        return addresses


_FRAMING = {"content-encoding", "content-length", "transfer-encoding"}


def _parse(url: str) -> httpx.URL:
    try:
        parsed = httpx.URL(url)
    except (httpx.InvalidURL, TypeError, ValueError):
        raise OutboundRefused("it is not a valid URL") from None
    if parsed.scheme not in DEFAULT_PORTS:
        raise OutboundRefused("it must be an http(s) URL")
    if parsed.userinfo:
        raise OutboundRefused("it must not hold a user name or password")
    if not parsed.host:
        raise OutboundRefused("it has no host")
    return parsed


async def _read_capped(response: httpx.Response, max_bytes: int) -> bytes:
    chunks: list[bytes] = []
    size = 0
    async for chunk in response.aiter_bytes():
        size += len(chunk)
        if size > max_bytes:
            raise ResponseTooLarge(f"the answer is larger than {max_bytes} bytes")
        chunks.append(chunk)
    return b"".join(chunks)
