"""Idempotency records chosen by the state URL: `memory://` or `redis://` (see base.py)."""

from __future__ import annotations

from urllib.parse import urlsplit

from gateway.idempotency.base import (
    Answer,
    Claim,
    IdempotencyStore,
    InProgress,
    Lease,
    Mismatch,
    Replay,
)
from gateway.settings import ConfigError

__all__ = [
    "Answer",
    "Claim",
    "IdempotencyStore",
    "InProgress",
    "Lease",
    "Mismatch",
    "Replay",
    "idempotency_from_url",
]


def idempotency_from_url(url: str) -> IdempotencyStore:
    """The store beside the state named by `url`; drivers are imported only when used."""
    scheme = urlsplit(url).scheme
    if scheme == "memory":
        from gateway.idempotency.memory import MemoryIdempotency

        return MemoryIdempotency()
    if scheme in ("redis", "rediss", "unix"):
        from gateway.idempotency.redis import RedisIdempotency

        return RedisIdempotency.from_url(url)
    raise ConfigError(f"state.url: unknown scheme in {url!r}; use memory:// or redis://")
