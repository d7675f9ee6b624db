"""Which surface a request reached, and so in which shape its errors are rendered.

One error (`gateway.errors.ApiError`), one renderer per surface: OpenAI's
`{"error": {"message", "type", "param", "code"}}` under `/v1`, the job API's envelope
everywhere else. The app's exception handlers and the edge middleware all call `render`.
"""

from __future__ import annotations

from collections.abc import Callable

from starlette.responses import Response

from gateway.api.envelope import failure
from gateway.api.openai_errors import openai_failure
from gateway.errors import ApiError

Renderer = Callable[[ApiError], Response]
SURFACES: tuple[tuple[str, Renderer], ...] = (("/v1", openai_failure),)


def render(path: str, error: ApiError) -> Response:
    for prefix, renderer in SURFACES:
        if path == prefix or path.startswith(prefix + "/"):
            return renderer(error)
    return failure(error)
