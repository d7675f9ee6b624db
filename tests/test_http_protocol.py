"""The HTTP protocol `imagegate serve` runs: what a response writes in one loop turn goes
out in one send, later writes (a stream's chunks) as they come, and nothing kept is lost
on close. The transport alone, then a real uvicorn server on loopback."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import httpx
import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, StreamingResponse
from starlette.routing import Route

from gateway.http_protocol import HttpProtocol, OneSendPerTurn
from tests.servers import free_port


class Recording(asyncio.Transport):
    def __init__(self) -> None:
        super().__init__()
        self.sent: list[bytes] = []
        self.closed = self.aborted = False

    def write(self, data: Any) -> None:
        self.sent.append(bytes(data))

    def is_closing(self) -> bool:
        return self.closed or self.aborted

    def close(self) -> None:
        self.closed = True

    def abort(self) -> None:
        self.aborted = True

    def get_write_buffer_size(self) -> int:
        return 0


async def test_writes_of_one_turn_go_out_as_one_send_and_later_ones_apart() -> None:
    real = Recording()
    transport = OneSendPerTurn(real)
    transport.write(b"HTTP/1.1 200 OK\r\n\r\n")
    transport.write(memoryview(b"body"))
    assert real.sent == [] and transport.get_write_buffer_size() == 23
    await asyncio.sleep(0)
    assert real.sent == [b"HTTP/1.1 200 OK\r\n\r\nbody"]
    transport.write(b"chunk")
    await asyncio.sleep(0)
    assert real.sent[1:] == [b"chunk"]


async def test_a_close_sends_what_is_kept_first_and_an_abort_drops_it() -> None:
    real = Recording()
    transport = OneSendPerTurn(real)
    transport.write(b"HTTP/1.1 400 Bad Request\r\n\r\n")
    transport.close()
    assert real.sent == [b"HTTP/1.1 400 Bad Request\r\n\r\n"] and real.closed
    await asyncio.sleep(0)  # the turn's end sends nothing twice
    assert len(real.sent) == 1
    other = Recording()
    aborted = OneSendPerTurn(other)
    aborted.write(b"partial")
    aborted.abort()
    await asyncio.sleep(0)
    assert other.sent == [] and other.aborted
    assert aborted.is_closing()  # anything else is the real transport's


async def test_a_real_server_answers_keeps_alive_and_streams_chunk_by_chunk() -> None:
    released = asyncio.Event()

    async def document(request: Request) -> JSONResponse:
        return JSONResponse({"id": request.path_params["job_id"]})

    async def chunks() -> AsyncIterator[bytes]:
        yield b"data: first\n\n"
        await released.wait()
        yield b"data: second\n\n"

    async def stream(request: Request) -> StreamingResponse:
        return StreamingResponse(chunks(), media_type="text/event-stream")

    app = Starlette(routes=[Route("/jobs/{job_id}", document), Route("/stream", stream)])
    port = free_port()
    server = uvicorn.Server(
        uvicorn.Config(app, host="127.0.0.1", port=port, http=HttpProtocol, log_config=None)
    )
    serving = asyncio.create_task(server.serve())
    try:
        while not server.started:
            await asyncio.sleep(0.01)
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}") as client:
            for job_id in ("a", "b"):  # one keep-alive connection, two answers
                answer = await client.get(f"/jobs/{job_id}")
                assert answer.status_code == 200 and answer.json() == {"id": job_id}
            async with client.stream("GET", "/stream") as streamed:
                received = streamed.aiter_bytes()
                async with asyncio.timeout(5):
                    # The first chunk arrives while the second is not written yet.
                    assert await anext(received) == b"data: first\n\n"
                    released.set()
                    assert await anext(received) == b"data: second\n\n"
    finally:
        server.should_exit = True
        await serving
