"""A webhook receiver on 127.0.0.1: records every delivery and answers from a script.

`answers` is a list of statuses taken one per delivery (then `then`, default 200); the
status `HANG` holds the request open until the test releases it (`release()`), like a
receiver that never answers. Verification is the test's business, with the official
`standardwebhooks` package on the recorded body and headers.
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

HANG = -1


@dataclass(frozen=True)
class Delivery:
    body: bytes
    headers: dict[str, str]  # lower-case names

    @property
    def id(self) -> str:
        return self.headers["webhook-id"]


class Receiver:
    def __init__(self, answers: Iterable[int] = (), then: int = 200) -> None:
        self.answers: deque[int] = deque(answers)
        self.then = then
        self.deliveries: list[Delivery] = []
        self._released = threading.Event()
        self.app = Starlette(routes=[Route("/hook", self.hook, methods=["POST"])])
        self.base_url = ""  # set by `serving`

    @property
    def url(self) -> str:
        return f"{self.base_url}/hook"

    async def hook(self, request: Request) -> Response:
        body = await request.body()
        self.deliveries.append(Delivery(body, {k.lower(): v for k, v in request.headers.items()}))
        status = self.answers.popleft() if self.answers else self.then
        if status == HANG:
            while not self._released.is_set():
                await asyncio.sleep(0.02)
            return Response(status_code=503)
        return Response(b"thanks", status_code=status)

    def release(self) -> None:
        self._released.set()

    def wait_for(self, check: Callable[[list[Delivery]], bool], seconds: float = 60.0) -> None:
        deadline = time.monotonic() + seconds
        while not check(self.deliveries):
            if time.monotonic() > deadline:
                raise AssertionError(f"receiver saw {len(self.deliveries)} deliveries")
            time.sleep(0.02)


def by_id(deliveries: list[Delivery]) -> dict[str, list[Delivery]]:
    grouped: dict[str, list[Delivery]] = {}
    for delivery in deliveries:
        grouped.setdefault(delivery.id, []).append(delivery)
    return grouped


def event(delivery: Delivery) -> dict[str, Any]:
    import json

    parsed: dict[str, Any] = json.loads(delivery.body)
    return parsed
