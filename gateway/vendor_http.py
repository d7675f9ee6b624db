"""The HTTP client the gateway hands its backends: httpx's interface over aiohttp's client.

Why: a vendor call is the most frequent request the gateway sends, and httpx's own
transport (httpcore over anyio) spends about four times the CPU per request of aiohttp's
client on the same loop (benchmarks/README.md). Backends keep the contract they have, an
injected `httpx.AsyncClient`: only the transport under it changes.

aiohttp's exceptions are mapped into httpx's tree by when they happen, because that decides
whether an attempt may have been billed (`backends.http_errors.transport_errors`):

    waiting for a pooled connection, or the connect, timed out  -> httpx.ConnectTimeout
    the connect failed (refused, DNS, TLS)                      -> httpx.ConnectError
    no answer within the read timeout                           -> httpx.ReadTimeout
    the server closed the connection before answering           -> httpx.RemoteProtocolError
    the answer was cut short, or the connection reset           -> httpx.ReadError
    a malformed HTTP answer                                     -> httpx.RemoteProtocolError

The client (`VendorClient`) keeps no cookies from answers: one client serves every
tenant's calls, so a vendor's `Set-Cookie` must not ride along on the next tenant's call,
and extracting them (httpx builds urllib request and response stand-ins for its
`CookieJar` at every answer) was a fifth of the client's CPU per call.

A plain call (`post`/`get`/`request` with at most `content` bytes, a `headers` dict and a
`timeout`, on a client with nothing of its own to add: no auth, base URL, params, cookies,
event hooks, redirects or proxy mounts) skips httpx's request building and send chain and
goes to aiohttp directly (`AiohttpTransport.plain`): the same headers and body on the wire,
the same `httpx.Response` back, about 150 us less CPU per vendor call (two fifths).
Anything else (forms, `json=`, streams) takes httpx's path as before.
"""

from __future__ import annotations

import functools
import ssl
import urllib.request
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import contextmanager
from typing import Any

import aiohttp
import httpx

_DEFAULT = httpx.USE_CLIENT_DEFAULT

MAX_CONNECTIONS = 512  # per process; a worker holds at most one vendor connection at a time
KEEPALIVE = 30.0  # seconds an idle vendor connection is kept for the next call

# Most specific first: several of these are subclasses of the ones after them.
ERRORS: tuple[tuple[type[Exception], type[httpx.TransportError]], ...] = (
    (aiohttp.ConnectionTimeoutError, httpx.ConnectTimeout),
    (aiohttp.ServerTimeoutError, httpx.ReadTimeout),
    (aiohttp.ClientConnectorError, httpx.ConnectError),
    (aiohttp.ServerDisconnectedError, httpx.RemoteProtocolError),
    (aiohttp.ClientPayloadError, httpx.ReadError),
    (aiohttp.ClientResponseError, httpx.RemoteProtocolError),
    (aiohttp.ClientOSError, httpx.ReadError),
    (aiohttp.ClientError, httpx.TransportError),
)


@contextmanager
def _mapped(request: httpx.Request | Callable[[], httpx.Request]) -> Iterator[None]:
    """aiohttp's errors as httpx's; `request` may be built only when one happens."""
    try:
        yield
    except aiohttp.ClientError as exc:
        for source, target in ERRORS:
            if isinstance(exc, source):
                sent = request if isinstance(request, httpx.Request) else request()
                # The type carries the meaning; aiohttp's text names the URL, so leave it.
                raise target(f"{target.__name__} ({type(exc).__name__})", request=sent) from exc
        raise


def _client_timeout(timeout: dict[str, float | None]) -> aiohttp.ClientTimeout:
    """httpx's phases (`Timeout.as_dict()`) as aiohttp's: the pool wait bounds the connect."""
    return aiohttp.ClientTimeout(
        total=None,
        connect=timeout.get("pool"),
        sock_connect=timeout.get("connect"),
        sock_read=timeout.get("read"),
    )


class _PlainResponse(httpx.Response):
    """The answer to a plain call; its `request` (rarely read) is built when first read."""

    def __init__(self, sent: Callable[[], httpx.Request], **options: Any) -> None:
        super().__init__(**options)
        self._sent = sent

    @property
    def request(self) -> httpx.Request:
        if self._request is None:
            self._request = self._sent()
        return self._request

    @request.setter
    def request(self, value: httpx.Request) -> None:
        self._request = value


class _Body(httpx.AsyncByteStream):
    """The answer's bytes as they arrive (streamed answers stay incremental)."""

    def __init__(self, response: aiohttp.ClientResponse, request: httpx.Request) -> None:
        self._response = response
        self._request = request

    async def __aiter__(self) -> AsyncIterator[bytes]:
        with _mapped(self._request):
            async for chunk in self._response.content.iter_any():
                yield chunk

    async def aclose(self) -> None:
        self._response.release()


@functools.cache
def _tls() -> ssl.SSLContext:
    """The CA bundle httpx would use. Loading it takes a few hundred ms of CPU: once per
    process, at start-up, never inside the first vendor call's timeout."""
    return httpx.create_ssl_context()


class AiohttpTransport(httpx.AsyncBaseTransport):
    """`httpx.AsyncClient(transport=AiohttpTransport())`; the session opens on first use
    (it belongs to the running loop)."""

    def __init__(self, *, max_connections: int = MAX_CONNECTIONS) -> None:
        self._max_connections = max_connections
        self._tls = _tls()
        # Proxies as httpx honours them (HTTP(S)_PROXY, NO_PROXY); aiohttp reads the
        # environment at every request when asked to, so only ask when one is set.
        self._trust_env = bool(urllib.request.getproxies())
        self._session: aiohttp.ClientSession | None = None

    def _open(self) -> aiohttp.ClientSession:
        if self._session is None or self._session.closed:
            connector = aiohttp.TCPConnector(
                limit=self._max_connections, keepalive_timeout=KEEPALIVE, ssl=self._tls
            )
            self._session = aiohttp.ClientSession(
                connector=connector, trust_env=self._trust_env, auto_decompress=False
            )
        return self._session

    async def _send(
        self, method: str, url: str, headers: Any, body: bytes | None, timeout: dict[str, Any]
    ) -> aiohttp.ClientResponse:
        """One request through aiohttp, its answer's head read (the caller maps errors)."""
        return await self._open().request(
            method,
            url,
            headers=headers,
            data=body or None,
            allow_redirects=False,  # httpx follows redirects itself, when asked to
            compress=False,
            timeout=_client_timeout(timeout),
        )

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        timeout = request.extensions.get("timeout", {})
        body = await request.aread()
        with _mapped(request):
            response = await self._send(
                request.method, str(request.url), list(request.headers.multi_items()), body, timeout
            )
        # httpx decodes Content-Encoding itself (auto_decompress=False above).
        return httpx.Response(
            status_code=response.status,
            headers=list(response.raw_headers),
            stream=_Body(response, request),
            request=request,
            extensions=_extensions(response),
        )

    async def aclose(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None

    async def plain(
        self,
        method: str,
        url: str,
        headers: list[tuple[str, str]],
        body: bytes | None,
        timeout: httpx.Timeout,
    ) -> httpx.Response:
        """One call read whole, as httpx would have sent it (`VendorClient.request`)."""

        def sent() -> httpx.Request:
            return httpx.Request(method, url, headers=headers, content=body)

        with _mapped(sent):
            response = await self._send(method, url, headers, body, timeout.as_dict())
            try:
                content = await response.read()
            finally:
                response.release()
        # httpx decodes Content-Encoding from the raw bytes (auto_decompress=False).
        return _PlainResponse(
            sent,
            status_code=response.status,
            headers=list(response.raw_headers),
            content=content,
            extensions=_extensions(response),
        )


def _extensions(response: aiohttp.ClientResponse) -> dict[str, Any]:
    """What httpx's own transport reports of an answer beside its head."""
    return {
        "http_version": b"HTTP/1.1",
        "reason_phrase": (response.reason or "").encode("latin-1", "replace"),
    }


class _Unkept(httpx.Cookies):
    """Cookies that answers never add to (cookies set on purpose are still sent)."""

    def extract_cookies(self, response: httpx.Response) -> None:
        return None


class VendorClient(httpx.AsyncClient):
    """`httpx.AsyncClient` that keeps no cookies from the answers it gets (the module's
    docstring says why)."""

    def __init__(self, **options: Any) -> None:
        super().__init__(**options)
        self._unkept = _Unkept(options.get("cookies"))

    @property
    def cookies(self) -> httpx.Cookies:
        return self._unkept

    @cookies.setter
    def cookies(self, cookies: Any) -> None:  # what httpx.Cookies() takes
        self._unkept = _Unkept(cookies)

    async def request(  # type: ignore[override]  # the same call, keywords passed on
        self,
        method: str,
        url: httpx.URL | str,
        *,
        content: bytes | None = None,
        headers: dict[str, str] | None = None,
        timeout: Any = _DEFAULT,
        **others: Any,
    ) -> httpx.Response:
        """httpx's `request`; a plain call goes to aiohttp directly (the module says when).
        (`post`, `get` and the rest pass every keyword, unset ones as None or the default.)"""
        transport = self._plain_transport()
        if (
            transport is None
            or any(value is not None and value is not _DEFAULT for value in others.values())
            or not isinstance(content, bytes | None)
            or not isinstance(headers, dict | None)
        ):
            return await super().request(
                method, url, content=content, headers=headers, timeout=timeout, **others
            )
        chosen = self.timeout if timeout is _DEFAULT else timeout
        return await transport.plain(
            method,
            str(url),
            self._plain_headers(headers or {}),
            content,
            chosen if isinstance(chosen, httpx.Timeout) else httpx.Timeout(chosen),
        )

    def _plain_transport(self) -> AiohttpTransport | None:
        """The transport, when this client adds nothing of its own to a call."""
        transport = self._transport
        if (
            not isinstance(transport, AiohttpTransport)
            or self._mounts
            or self._auth is not None
            or self.base_url.raw_path != b"/"
            or self.base_url.host
            or self.params
            or self._unkept
            or self._event_hooks["request"]
            or self._event_hooks["response"]
            or self.follow_redirects
        ):
            return None
        return transport

    def _plain_headers(self, headers: dict[str, str]) -> list[tuple[str, str]]:
        """The client's headers, each overridden by the call's of the same name."""
        own = {name.lower() for name in headers}
        merged = [(k, v) for k, v in self.headers.multi_items() if k not in own]
        return merged + list(headers.items())


def vendor_client(timeout: float = 30.0) -> httpx.AsyncClient:
    """The gateway's client for backends (vendor calls and result downloads)."""
    return VendorClient(
        transport=AiohttpTransport(), timeout=httpx.Timeout(timeout), follow_redirects=False
    )
