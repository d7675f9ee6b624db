"""The backends' HTTP client (httpx over aiohttp): the wire as httpx would speak it, and
each failure mapped into httpx's tree by when it happened (sent or not), on both of its
paths: a plain call (straight to aiohttp) and one httpx builds (forms, `json=`, params)."""

from __future__ import annotations

import asyncio
import gzip
import socket
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from contextlib import contextmanager

import httpx
import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Route

from gateway.vendor_http import vendor_client
from tests.fakes.blackhole import blackhole
from tests.fakes.serve import running

Handler = Callable[[asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]]


async def echo(request: Request) -> Response:
    form = {}
    if request.headers.get("content-type", "").startswith("multipart/form-data"):
        async with request.form() as parsed:
            form = {
                name: value if isinstance(value, str) else f"file {value.filename}"
                for name, value in parsed.items()
            }
    body = await request.body() if not form else b""
    return JSONResponse(
        {
            "method": request.method,
            "query": request.url.query,
            "authorization": request.headers.get("authorization"),
            "tags": request.headers.getlist("x-tag"),
            "body": body.decode(errors="replace"),
            "form": form,
        },
        headers={"x-answer": "yes"},
    )


async def headers(request: Request) -> Response:
    """Every header the call carried, and its body."""
    body = (await request.body()).decode()
    return JSONResponse({"headers": sorted(request.headers.items()), "body": body})


async def cookie(request: Request) -> Response:
    """Sets a session cookie, and says which cookies the call carried."""
    response = JSONResponse({"cookie": request.headers.get("cookie")})
    response.set_cookie("vendor_session", "tenant-a")
    return response


async def gzipped(request: Request) -> Response:
    return Response(gzip.compress(b"x" * 5000), headers={"content-encoding": "gzip"})


async def big(request: Request) -> Response:
    return Response(bytes(range(256)) * 8192)  # 2 MiB


async def events(request: Request) -> Response:
    async def stream() -> AsyncIterator[bytes]:
        for i in range(3):
            yield f"data: {i}\n\n".encode()
            await asyncio.sleep(0.05)

    return StreamingResponse(stream(), media_type="text/event-stream")


APP = Starlette(
    routes=[
        Route("/echo", echo, methods=["GET", "POST"]),
        Route("/headers", headers, methods=["POST"]),
        Route("/cookie", cookie),
        Route("/gzip", gzipped),
        Route("/big", big),
        Route("/events", events),
    ]
)


@pytest.fixture(scope="module")
def server() -> AsyncIterator[str]:
    with running(APP) as url:
        yield url


Call = Callable[..., Awaitable[httpx.Response]]


@contextmanager
def unbuilt(http: httpx.AsyncClient) -> Iterator[None]:
    """Fail any call that httpx would build: what runs inside must take the plain path."""

    def refuse(*args: object, **kwargs: object) -> httpx.Request:
        raise AssertionError("httpx built the request: the plain path was not taken")

    http.build_request = refuse  # type: ignore[method-assign]
    try:
        yield
    finally:
        del http.build_request


@pytest.fixture(params=["plain", "built by httpx"])
def get(request: pytest.FixtureRequest) -> Call:
    """`http.get(url, **options)` on either path (query params make httpx build the call)."""

    async def call(http: httpx.AsyncClient, url: str, **options: object) -> httpx.Response:
        if request.param == "plain":
            with unbuilt(http):
                return await http.get(url, **options)  # type: ignore[arg-type]
        return await http.get(url, params={"path": "httpx"}, **options)  # type: ignore[arg-type]

    return call


async def raw_server(handler: Handler) -> tuple[asyncio.Server, str]:
    server = await asyncio.start_server(handler, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    return server, f"http://127.0.0.1:{port}"


async def test_a_request_goes_out_as_httpx_built_it(server: str) -> None:
    async with vendor_client() as http:
        response = await http.post(
            f"{server}/echo?a=1",
            json={"prompt": "a lighthouse"},
            headers=[("Authorization", "Bearer k"), ("X-Tag", "one"), ("X-Tag", "two")],
        )
    assert response.status_code == 200
    assert response.headers["x-answer"] == "yes"
    assert response.json() == {
        "method": "POST",
        "query": "a=1",
        "authorization": "Bearer k",
        "tags": ["one", "two"],
        "body": '{"prompt":"a lighthouse"}',
        "form": {},
    }


async def test_a_plain_call_goes_out_as_httpx_would_build_it(server: str) -> None:
    body = b'{"prompt": "a lighthouse"}'
    sent = {"Authorization": "Bearer k", "Content-Type": "application/json", "Accept": "a/b"}
    async with vendor_client() as http:
        with unbuilt(http):
            plain = await http.post(f"{server}/headers", content=body, headers=sent)
        built = await http.post(f"{server}/headers", content=body, headers=list(sent.items()))
    assert plain.json() == built.json()
    assert ["accept", "a/b"] in plain.json()["headers"]  # the call's header wins
    assert plain.json()["body"] == body.decode()
    assert plain.headers["content-type"] == "application/json"
    assert plain.request.method == "POST" and plain.request.url == f"{server}/headers"


async def test_a_vendors_cookie_is_not_sent_with_the_next_call(server: str) -> None:
    # One client serves every tenant: a Set-Cookie from one call must not ride along on
    # the next (httpx's client keeps them by default). A cookie set on purpose still goes.
    async with vendor_client() as http:
        first = await http.get(f"{server}/cookie")
        assert first.cookies["vendor_session"] == "tenant-a"
        assert (await http.get(f"{server}/cookie")).json() == {"cookie": None}
        assert not http.cookies
        http.cookies = {"chosen": "yes"}
        assert (await http.get(f"{server}/cookie")).json() == {"cookie": "chosen=yes"}


async def test_multipart_gzip_and_large_answers(server: str, get: Call) -> None:
    async with vendor_client() as http:
        upload = {"image": ("upload", b"\x89PNG")}
        form = await http.post(f"{server}/echo", data={"prompt": "p"}, files=upload)
        assert form.json()["form"] == {"prompt": "p", "image": "file upload"}
        assert (await get(http, f"{server}/gzip")).content == b"x" * 5000
        assert (await get(http, f"{server}/big")).content == bytes(range(256)) * 8192


async def test_a_streamed_answer_arrives_event_by_event(server: str) -> None:
    seen: list[bytes] = []
    async with vendor_client() as http, http.stream("GET", f"{server}/events") as response:
        async for line in response.aiter_lines():
            if line:
                seen.append(line.encode())
    assert seen == [b"data: 0", b"data: 1", b"data: 2"]


async def test_a_refused_connect_is_a_connect_error(get: Call) -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]  # bound, never listening: connects are refused
        async with vendor_client() as http:
            with pytest.raises(httpx.ConnectError) as raised:
                await get(http, f"http://127.0.0.1:{port}/")
    assert raised.value.request.url.host == "127.0.0.1"


async def test_a_connect_that_hangs_is_a_connect_timeout(get: Call) -> None:
    with blackhole() as url:
        async with vendor_client() as http:
            with pytest.raises(httpx.ConnectTimeout):
                await get(http, url, timeout=httpx.Timeout(5.0, connect=0.3))


async def test_no_answer_in_time_is_a_read_timeout(get: Call) -> None:
    async def silent(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            await reader.readuntil(b"\r\n\r\n")
            await asyncio.sleep(3)
        finally:
            writer.close()

    server, url = await raw_server(silent)
    async with server, vendor_client() as http:
        with pytest.raises(httpx.ReadTimeout):
            await get(http, url, timeout=0.3)


async def test_a_close_before_answering_is_a_protocol_error() -> None:
    async def hang_up(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.readuntil(b"\r\n\r\n")
        writer.close()

    server, url = await raw_server(hang_up)
    async with server, vendor_client() as http:
        with pytest.raises(httpx.RemoteProtocolError):
            await http.post(url, json={"prompt": "p"})


async def test_an_answer_cut_short_is_a_read_error(get: Call) -> None:
    async def cut(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.readuntil(b"\r\n\r\n")
        writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 1000\r\n\r\n" + b"x" * 10)
        await writer.drain()
        writer.close()

    server, url = await raw_server(cut)
    async with server, vendor_client() as http:
        with pytest.raises(httpx.ReadError):
            await get(http, url)


async def test_a_malformed_answer_is_a_protocol_error(get: Call) -> None:
    async def garbage(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.readuntil(b"\r\n\r\n")
        writer.write(b"SMTP ready\r\n\r\n")
        await writer.drain()
        writer.close()

    server, url = await raw_server(garbage)
    async with server, vendor_client() as http:
        with pytest.raises(httpx.RemoteProtocolError):
            await get(http, url)
