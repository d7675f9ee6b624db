"""A third-party backend as a plug-in package would ship it: no gateway code touched."""

from __future__ import annotations

from backends.base import (
    NO_PROGRESS,
    BackendConfig,
    BackendDeps,
    GeneratedImage,
    Generation,
    GenerationRequest,
    ModelCapabilities,
    NoOptions,
    Progress,
    Usage,
)
from backends.procedural import render


class EchoBackend:
    needs_key = False

    def __init__(self, config: BackendConfig[NoOptions], deps: BackendDeps) -> None:
        self.name = config.name
        self.calls = 0

    def capabilities(self, model: str) -> ModelCapabilities:
        return ModelCapabilities(seed=True)

    async def generate(
        self, request: GenerationRequest, progress: Progress = NO_PROGRESS
    ) -> Generation:
        self.calls += 1
        images = [GeneratedImage(render(request, i)) for i in range(request.n)]
        return Generation(images, Usage(images=len(images)))

    async def aclose(self) -> None:
        return None
