"""A third-party backend as a plug-in package would ship it: no gateway code touched."""

from __future__ import annotations

import httpx

from backends.base import GeneratedImage, GenerationRequest
from backends.procedural import render
from gateway.settings import BackendSettings


class EchoBackend:
    def __init__(self, name: str, settings: BackendSettings, http: httpx.AsyncClient) -> None:
        self.name = name
        self.calls = 0

    async def generate(self, request: GenerationRequest) -> list[GeneratedImage]:
        self.calls += 1
        return [GeneratedImage(render(request, i)) for i in range(request.n)]

    async def aclose(self) -> None:
        return None
