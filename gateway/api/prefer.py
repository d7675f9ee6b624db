"""The `Prefer` request header (RFC 7240): `respond-async` and `wait=N`."""

from __future__ import annotations

from dataclasses import dataclass

from starlette.datastructures import Headers


@dataclass(frozen=True)
class Preferences:
    respond_async: bool = False
    wait: float | None = None  # seconds, as asked (the caller caps it)


def preferences(headers: Headers) -> Preferences:
    """What the client prefers; unknown or malformed preferences are ignored (RFC 7240)."""
    respond_async, wait = False, None
    for value in headers.getlist("prefer"):
        for token in value.split(","):
            name, _, argument = token.strip().partition("=")
            name = name.strip().lower()
            if name == "respond-async":
                respond_async = True
            elif name == "wait":
                seconds = argument.strip().strip('"')
                if seconds.isascii() and seconds.isdigit() and len(seconds) <= 6:
                    wait = float(seconds)
    return Preferences(respond_async, wait)
