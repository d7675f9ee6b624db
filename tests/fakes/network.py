"""Stand-ins for the network the outbound guard sees: a scripted resolver, a transport that
records what would have been sent, and a loopback listener that counts connections."""

from __future__ import annotations

import asyncio
import contextlib
import socket
import threading
from collections import defaultdict, deque
from collections.abc import Iterable, Iterator
from contextlib import contextmanager

import httpx

PUBLIC = "93.184.216.34"  # a public address; only ever "reached" through RecordingTransport


class StubResolver:
    """Answers each name from a script: `answers[name]` is a list of answers, one per
    lookup (the last one repeats). Every lookup is recorded in `lookups`."""

    def __init__(self, answers: dict[str, Iterable[list[str]]] | None = None) -> None:
        self.answers: dict[str, deque[list[str]]] = defaultdict(deque)
        for name, script in (answers or {}).items():
            self.answers[name].extend(script)
        self.lookups: list[tuple[str, int]] = []

    async def __call__(self, host: str, port: int) -> list[str]:
        self.lookups.append((host, port))
        script = self.answers.get(host)
        if not script:
            raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")
        return script.popleft() if len(script) > 1 else script[0]


class RecordingTransport(httpx.AsyncBaseTransport):
    """Records every request instead of sending it; answers `status` with `body`."""

    def __init__(self, status: int = 200, body: bytes = b"", headers: dict[str, str] | None = None):
        self.status = status
        self.body = body
        self.headers = headers or {}
        self.sent: list[httpx.Request] = []

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        await request.aread()
        self.sent.append(request)
        return httpx.Response(self.status, headers=self.headers, content=self.body)


class Listener:
    """A TCP listener on 127.0.0.1 that counts the connections it accepts (and answers
    each with a bare HTTP 200), in a thread of its own."""

    def __init__(self) -> None:
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(16)
        self.port: int = self.sock.getsockname()[1]
        self.connections = 0
        self._thread = threading.Thread(target=self._serve, daemon=True)

    def _serve(self) -> None:
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            self.connections += 1
            with conn:
                conn.recv(65536)
                conn.sendall(b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\nconnection: close\r\n\r\nok")


@contextmanager
def listening() -> Iterator[Listener]:
    listener = Listener()
    listener._thread.start()
    try:
        yield listener
    finally:
        with contextlib.suppress(OSError):  # wakes the blocked accept() on Linux
            listener.sock.shutdown(socket.SHUT_RDWR)
        listener.sock.close()
        listener._thread.join(timeout=5)


async def never_answer(request: httpx.Request) -> httpx.Response:
    """A transport handler that hangs, for timeout tests."""
    await asyncio.sleep(3600)
    raise AssertionError("unreachable")
