"""Idempotency records chosen by the state URL (gateway/schemes.py; see base.py)."""

from __future__ import annotations

from gateway.idempotency.base import (
    Answer,
    Claim,
    IdempotencyStore,
    InProgress,
    Lease,
    Mismatch,
    Replay,
)
from gateway.schemes import state_kind

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
    if state_kind(url) == "memory":
        from gateway.idempotency.memory import MemoryIdempotency

        return MemoryIdempotency()
    from gateway.idempotency.redis import RedisIdempotency

    return RedisIdempotency.from_url(url)
