"""OpenAIBackend streaming against the fake OpenAI: partial images reach `progress.partial`,
the completed image and usage make the attempt's result, a failed stream is a retryable,
charged `VendorFailed`, and SSE framing is parsed as the spec has it."""

from __future__ import annotations

import base64
import json
from collections.abc import AsyncIterator, Iterator
from typing import Any

import httpx
import pytest

from backends.base import NO_PROGRESS, GeneratedImage
from backends.errors import BadResponse, VendorFailed
from backends.openai import OpenAIBackend
from backends.openai_stream import consume, server_sent_events
from tests.fakes.kit import built, decoded, raised, request, serving
from tests.fakes.openai_server import FakeOpenAI
from tests.fakes.script import Step

KEY = "sk-openai-stream-0123456789"


class Recorded:
    def __init__(self) -> None:
        self.partials: list[tuple[int, GeneratedImage]] = []

    async def submitted(self, handle: str) -> None:
        return None

    async def partial(self, index: int, image: GeneratedImage) -> None:
        self.partials.append((index, image))


@pytest.fixture
def fake() -> Iterator[FakeOpenAI]:
    with serving(FakeOpenAI(KEY)) as fake:
        yield fake


def backend(fake: FakeOpenAI, http: httpx.AsyncClient) -> OpenAIBackend:
    return built(OpenAIBackend, f"{fake.base_url}/v1", http, key=KEY)  # type: ignore[no-any-return]


async def test_partials_go_to_progress_and_the_completed_image_is_the_result(
    fake: FakeOpenAI, http: httpx.AsyncClient
) -> None:
    progress = Recorded()
    wanted = request("gpt-image-1", width=1024, height=1024, partial_images=2)
    generation = await backend(fake, http).generate(wanted, progress)
    assert [index for index, _ in progress.partials] == [0, 0]
    assert decoded(progress.partials[0][1].data) == (256, 256)
    assert decoded(generation.images[0].data) == (1024, 1024)
    assert generation.usage.output_tokens == 1056  # the completed event's usage
    [sent] = fake.requests_to("/v1/images/generations")
    assert sent.json["stream"] is True and sent.json["partial_images"] == 2


async def test_no_partials_asked_means_no_stream(fake: FakeOpenAI, http: httpx.AsyncClient) -> None:
    progress = Recorded()
    await backend(fake, http).generate(request("gpt-image-1", width=1024, height=1024), progress)
    assert progress.partials == [] and "stream" not in fake.received[-1].json


async def test_a_stream_that_ends_in_an_error_event_is_a_charged_vendor_failure(
    fake: FakeOpenAI, http: httpx.AsyncClient
) -> None:
    fake.will(Step("broken"))
    wanted = request("gpt-image-1", width=1024, height=1024, partial_images=1)
    failure = await raised(backend(fake, http).generate(wanted, Recorded()))
    assert isinstance(failure, VendorFailed) and failure.charged and failure.retryable
    assert KEY not in failure.message


async def test_server_sent_events_framing() -> None:
    async def lines() -> AsyncIterator[str]:
        for line in [": keep-alive", "event: a", "data: {", "data: }", "", "data: x"]:
            yield line

    assert [pair async for pair in server_sent_events(lines())] == [("a", "{\n}"), ("", "x")]


async def events(*payloads: Any) -> AsyncIterator[str]:
    for payload in payloads:
        yield f"data: {json.dumps(payload)}"
        yield ""


def completed(b64_json: str, usage: Any = None) -> dict[str, Any]:
    return {"type": "image_generation.completed", "b64_json": b64_json, "usage": usage}


async def test_a_streamed_image_that_is_not_base64_is_not_a_whole_image() -> None:
    # Non-ASCII raised ValueError out of the standard decoder: an "unexpected" failure.
    for b64_json in ("not base64!", "QUJD\u00e9", "QU\nJD"):
        streamed = await consume(events(completed(b64_json)), NO_PROGRESS, "image/png", str)
        assert streamed.data == b""  # the image check then raises BadImage


async def test_an_event_only_the_standard_parser_reads_is_read() -> None:
    payload = completed(base64.b64encode(b"ABC").decode(), {"input_tokens": float("nan")})
    streamed = await consume(events(payload), NO_PROGRESS, "image/png", str)
    assert streamed.data == b"ABC"
    with pytest.raises(BadResponse, match="not JSON"):
        await consume(_lines("data: {nope", ""), NO_PROGRESS, "image/png", str)


async def _lines(*lines: str) -> AsyncIterator[str]:
    for line in lines:
        yield line
