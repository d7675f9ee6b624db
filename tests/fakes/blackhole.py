"""A port on 127.0.0.1 whose connects hang: the listen queue is full and never accepted.

That is how a vendor behind a saturated load balancer looks: the request never leaves the
client, so a timeout there is "before sending" (not charged).
"""

from __future__ import annotations

import socket
from collections.abc import Iterator
from contextlib import contextmanager


@contextmanager
def blackhole() -> Iterator[str]:
    """Yields a base URL (`http://127.0.0.1:PORT`) that never completes a TCP handshake."""
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(0)
    port = server.getsockname()[1]
    held: list[socket.socket] = []
    try:
        while len(held) < 8:  # fill the accept queue until a connect no longer completes
            client = socket.socket()
            client.settimeout(0.2)
            try:
                client.connect(("127.0.0.1", port))
            except TimeoutError:
                client.close()
                break
            held.append(client)
        else:
            raise RuntimeError("could not fill the listen queue")
        yield f"http://127.0.0.1:{port}"
    finally:
        for client in held:
            client.close()
        server.close()
