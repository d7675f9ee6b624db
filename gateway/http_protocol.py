"""uvicorn's HTTP protocol, sending what a response writes in one turn of the loop at once.

Why: uvicorn writes a response's head when the app starts it and its body when the app
sends it: two `send` system calls for every answer, and on loopback and small virtual
machines a send costs as much as a good part of the gateway's own work for a poll. Both
writes happen in the same turn of the event loop (Starlette sends the start and the body
back to back), so the transport below keeps what is written in a turn and sends it once,
at the end of that turn. Nothing waits longer than the turn; a close or an abort sends (or
drops) what is kept first; flow control is the real transport's, untouched.

`uvicorn.run(..., http=HttpProtocol)` (gateway/cli.py) is uvicorn's documented way to
choose the protocol class; everything but the transport is uvicorn's httptools protocol.
"""

from __future__ import annotations

import asyncio
from typing import Any

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol


class OneSendPerTurn:
    """An `asyncio.Transport` whose writes within one loop turn go out as one send."""

    def __init__(self, transport: asyncio.Transport) -> None:
        self._transport = transport
        self._kept: list[bytes] = []

    def write(self, data: bytes | bytearray | memoryview) -> None:
        if not self._kept:
            asyncio.get_running_loop().call_soon(self._send)
        self._kept.append(bytes(data))

    def writelines(self, lines: Any) -> None:
        for data in lines:
            self.write(data)

    def _send(self) -> None:
        if not self._kept:
            return
        data = self._kept[0] if len(self._kept) == 1 else b"".join(self._kept)
        self._kept.clear()
        if not self._transport.is_closing():
            self._transport.write(data)

    def get_write_buffer_size(self) -> int:
        return self._transport.get_write_buffer_size() + sum(map(len, self._kept))

    def close(self) -> None:
        self._send()
        self._transport.close()

    def write_eof(self) -> None:
        self._send()
        self._transport.write_eof()

    def abort(self) -> None:
        self._kept.clear()
        self._transport.abort()

    def __getattr__(self, name: str) -> Any:
        # Everything else (is_closing, get_extra_info, pause_reading, set_protocol, ...).
        return getattr(self._transport, name)


class HttpProtocol(HttpToolsProtocol):
    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(OneSendPerTurn(transport))  # type: ignore[arg-type]
