"""OpenAI's streamed Images answers: `stream: true` with `partial_images` (GPT image models).

The answer is `text/event-stream`: `image_generation.partial_image` (`image_edit.*` for
edits) events carrying `b64_json` and `partial_image_index`, then one `*.completed` event
with the final `b64_json` and the `usage`. An event whose data holds `error` ends the
stream in failure. Partial images go to the host through `progress.partial`.
"""

from __future__ import annotations

import binascii
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import pybase64

from backends.base import GeneratedImage, Progress
from backends.errors import BackendError, BadResponse, ContentRefused, VendorFailed
from backends.http_errors import parse_json

REFUSED = frozenset({"content_policy_violation", "moderation_blocked"})


@dataclass(frozen=True)
class Streamed:
    """What a stream delivered: the final image's bytes and the reported usage."""

    data: bytes
    usage: Any


async def server_sent_events(lines: AsyncIterator[str]) -> AsyncIterator[tuple[str, str]]:
    """(event, data) pairs of an SSE stream (comments skipped, data lines joined)."""
    event = ""
    data: list[str] = []
    async for line in lines:
        if not line:
            if data:
                yield event, "\n".join(data)
            event, data = "", []
        elif line.startswith(":"):
            continue
        else:
            name, _, value = line.partition(":")
            value = value.removeprefix(" ")
            if name == "event":
                event = value
            elif name == "data":
                data.append(value)
    if data:
        yield event, "\n".join(data)


def _decoded(payload: dict[str, Any]) -> bytes:
    try:
        return pybase64.b64decode(str(payload.get("b64_json") or ""), validate=True)
    except binascii.Error:
        return b""  # reported by the image check as "not a whole image"


def _failure(payload: dict[str, Any], clean: Any) -> BackendError:
    error = payload.get("error")
    error = error if isinstance(error, dict) else {}
    code = str(error.get("code") or error.get("type") or "")
    detail = clean(": ".join(part for part in (code, str(error.get("message") or "")) if part))
    if code in REFUSED:
        return ContentRefused(f"openai refused the stream: {detail}", billed=True)
    # The request was accepted and generation ran: the vendor may bill it.
    return VendorFailed(f"openai's stream failed: {detail or 'no reason given'}")


async def consume(
    lines: AsyncIterator[str], progress: Progress, media_type: str, clean: Any
) -> Streamed:
    final: Streamed | None = None
    async for event, data in server_sent_events(lines):
        try:
            payload = parse_json(data)  # a completed event holds the whole image
        except ValueError:
            raise BadResponse("openai streamed an event that is not JSON") from None
        if not isinstance(payload, dict):
            raise BadResponse("openai streamed an event that is not a JSON object")
        kind = str(payload.get("type") or event)
        if payload.get("error") is not None or kind == "error":
            raise _failure(payload, clean)
        if kind.endswith(".partial_image"):
            await progress.partial(0, GeneratedImage(_decoded(payload), media_type))
        elif kind.endswith(".completed"):
            final = Streamed(_decoded(payload), payload.get("usage"))
    if final is None:
        raise BadResponse("openai's stream ended without a completed event")
    return final
