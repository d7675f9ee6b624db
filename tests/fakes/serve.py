"""Run an ASGI app under a real uvicorn server on 127.0.0.1, in a background thread.

The socket is bound here (port 0) and handed to uvicorn, so there is no race for a free port.
"""

from __future__ import annotations

import asyncio
import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager

import uvicorn
from starlette.types import ASGIApp

START_TIMEOUT = 5.0
TICK = 0.005  # seconds between looks at `should_exit` and at the connections left


class QuickServer(uvicorn.Server):
    """uvicorn's server, stopped in milliseconds instead of about 0.2 s: uvicorn looks at
    `should_exit` every 100 ms, then sleeps a fixed 100 ms once it asked the connections to
    close, and a suite run starts and stops a few hundred fakes. The same steps, looked at
    every `TICK`: stop accepting, close the connections (an answer in flight gets up to
    `timeout_graceful_shutdown`, then its task is cancelled), then the app's shutdown."""

    async def main_loop(self) -> None:
        counter = 0
        while not await self.on_tick(counter):
            counter = (counter + 1) % 864_000  # on_tick refreshes the Date header every 10th
            await asyncio.sleep(TICK)

    async def shutdown(self, sockets: list[socket.socket] | None = None) -> None:
        for server in self.servers:
            server.close()
        for connection in list(self.server_state.connections):
            connection.shutdown()
        state = self.server_state
        try:
            async with asyncio.timeout(self.config.timeout_graceful_shutdown):
                while state.connections or state.tasks:
                    await asyncio.sleep(TICK)
                for server in self.servers:
                    await server.wait_closed()
        except TimeoutError:
            for task in state.tasks:
                task.cancel(msg="Task cancelled, timeout graceful shutdown exceeded")
        await self.lifespan.shutdown()


@contextmanager
def running(app: ASGIApp, lifespan: str = "off") -> Iterator[str]:
    """Serve `app` for the duration of the block; yields its base URL (no trailing slash).
    `lifespan="on"` runs the app's start-up first (the gateway's own app)."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    config = uvicorn.Config(
        app,
        lifespan=lifespan,
        log_level="warning",
        access_log=False,
        # A scripted slow answer must not hold shutdown hostage: at the end of a test,
        # what is still in flight was abandoned by its client (a timeout under test).
        timeout_graceful_shutdown=0.2,
    )
    server = QuickServer(config)
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    try:
        deadline = time.monotonic() + START_TIMEOUT
        while not server.started:
            if not thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError("fake vendor server did not start")
            time.sleep(0.005)
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=START_TIMEOUT)
        sock.close()
