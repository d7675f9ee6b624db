"""Read a Server-Sent Events body from the in-process TestClient (the real-process tests
use httpx-sse, the official client, against real servers)."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from starlette.testclient import TestClient


@dataclass(frozen=True)
class Event:
    event: str
    id: str | None
    data: Any


def read_events(
    client: TestClient,
    url: str,
    headers: dict[str, str],
    on_event: Callable[[Event], None] | None = None,
) -> list[Event]:
    """Every event of a stream that ends by itself (comments, i.e. pings, skipped);
    `on_event` is called with each as it arrives, the stream still open."""
    events: list[Event] = []
    with client.stream("GET", url, headers=headers) as response:
        assert response.status_code == 200, response.read()
        assert response.headers["content-type"].startswith("text/event-stream")
        fields: dict[str, str] = {}
        for line in response.iter_lines():
            if line == "":
                if "data" in fields:
                    events.append(
                        Event(
                            fields.get("event", "message"),
                            fields.get("id"),
                            json.loads(fields["data"]),
                        )
                    )
                    if on_event is not None:
                        on_event(events[-1])
                fields = {}
            elif not line.startswith(":"):
                name, _, value = line.partition(":")
                fields[name] = value.removeprefix(" ")
    return events
