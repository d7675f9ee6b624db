"""A minimal keep-alive HTTP/1.1 JSON client on asyncio streams, for the end-to-end driver.

Why not httpx: on this 2-core machine the driver shares the CPU with the server, and
httpx spends several times more CPU per request than a bare stream does, so an httpx
driver measured itself. This client does only what the job API needs: one connection,
one request at a time, JSON bodies, responses with Content-Length (as uvicorn sends).
"""

from __future__ import annotations

import asyncio
import json
from types import TracebackType
from typing import Any
from urllib.parse import urlsplit


class Http1:
    """`async with Http1(base_url, key) as http: status, data = await http.send("GET", p)`."""

    def __init__(self, base_url: str, key: str) -> None:
        url = urlsplit(base_url)
        self.host, self.port = url.hostname or "127.0.0.1", url.port or 80
        self._head = f"Host: {url.netloc}\r\nAuthorization: Bearer {key}\r\n"
        self._reader: asyncio.StreamReader | None = None
        self._writer: asyncio.StreamWriter | None = None

    async def __aenter__(self) -> Http1:
        self._reader, self._writer = await asyncio.open_connection(self.host, self.port)
        return self

    async def __aexit__(
        self,
        kind: type[BaseException] | None,
        value: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        if self._writer is not None:
            self._writer.close()
            await self._writer.wait_closed()

    async def send(
        self, method: str, path: str, body: Any = None, headers: str = ""
    ) -> tuple[int, Any]:
        """One request (`headers`: extra lines, each ending in CRLF); (status, JSON body)."""
        assert self._reader is not None and self._writer is not None, "not connected"
        payload = b"" if body is None else json.dumps(body).encode()
        head = f"{method} {path} HTTP/1.1\r\n{self._head}{headers}"
        head += f"Content-Length: {len(payload)}\r\n"
        if body is not None:
            head += "Content-Type: application/json\r\n"
        self._writer.write(head.encode() + b"\r\n" + payload)
        raw = await self._reader.readuntil(b"\r\n\r\n")
        status_line, *lines = raw.decode("latin-1").split("\r\n")
        length = 0
        for line in lines:
            name, _, value = line.partition(":")
            if name.lower() == "content-length":
                length = int(value)
        data = await self._reader.readexactly(length)
        return int(status_line.split(" ", 2)[1]), json.loads(data) if data else None
