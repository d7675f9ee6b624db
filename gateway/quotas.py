"""Per-tenant rate limits with the `limits` library (its async API, storage chosen by URI).

`rate` limits submissions, `poll_rate` limits reads; each may list several windows
("10/minute;200/day"). Windows are moving windows: a refused hit consumes nothing, and on
Redis the check-and-add is one atomic script, so limits hold exactly across processes.
Answers carry the IETF `RateLimit-*` fields of the tightest window.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass

from limits import RateLimitItem, parse_many
from limits.aio.storage import MemoryStorage, RedisStorage, Storage
from limits.aio.strategies import MovingWindowRateLimiter
from limits.errors import StorageError
from redis.asyncio import ConnectionPool

from gateway.errors import ApiError
from gateway.state.base import StateUnavailable

REDIS_TIMEOUT = 1.0


@dataclass(frozen=True)
class QuotaState:
    """The tightest window after a check: what the RateLimit-* headers report."""

    limit: int
    remaining: int
    reset: int  # seconds until the window frees capacity

    def headers(self) -> dict[str, str]:
        return {
            "RateLimit-Limit": str(self.limit),
            "RateLimit-Remaining": str(self.remaining),
            "RateLimit-Reset": str(self.reset),
        }


class RateLimiter:
    """Moving-window limits keyed by a namespace and an identity (tenant or backend)."""

    def __init__(self, storage: Storage, pool: ConnectionPool | None = None) -> None:
        self.storage = storage
        self._pool = pool
        self.strategy = MovingWindowRateLimiter(storage)
        self._parsed: dict[str, list[RateLimitItem]] = {}

    def _items(self, rule: str) -> list[RateLimitItem]:
        items = self._parsed.get(rule)
        if items is None:
            items = self._parsed[rule] = parse_many(rule)
        return items

    @classmethod
    def from_url(cls, state_url: str) -> RateLimiter:
        """In memory, or on the state's Redis through a pool we own (so we can close it:
        `limits` storages have no close of their own)."""
        if state_url.startswith("memory://"):
            return cls(MemoryStorage())
        pool = ConnectionPool.from_url(
            state_url, socket_timeout=REDIS_TIMEOUT, socket_connect_timeout=REDIS_TIMEOUT
        )
        storage = RedisStorage(
            "async+" + state_url,
            wrap_exceptions=True,
            implementation="redispy",
            connection_pool=pool,
        )
        return cls(storage, pool)

    async def aclose(self) -> None:
        if self._pool is not None:
            await self._pool.aclose()

    async def hit(self, rule: str | None, namespace: str, identity: str) -> QuotaState | None:
        """Consume one unit from every window of `rule`; None when there is no rule.

        Raises `Refused` (carrying the exhausted window's state) when a window is full.
        """
        if not rule:
            return None
        try:
            return await self._hit(self._items(rule), namespace, identity)
        except StorageError as exc:
            raise StateUnavailable("rate-limit storage unavailable") from exc

    async def _hit(self, items: list[RateLimitItem], namespace: str, identity: str) -> QuotaState:
        if len(items) > 1:
            # Each hit is atomic, but a later window refusing would leave the earlier ones
            # charged: test them all first, so only a lost race can charge a refused request.
            for item in items:
                if not await self.strategy.test(item, namespace, identity):
                    stats = await self.strategy.get_window_stats(item, namespace, identity)
                    raise Refused(_state(item, stats.remaining, stats.reset_time))
        tightest: QuotaState | None = None
        for item in items:
            allowed = await self.strategy.hit(item, namespace, identity)
            stats = await self.strategy.get_window_stats(item, namespace, identity)
            state = _state(item, stats.remaining, stats.reset_time)
            if not allowed:
                raise Refused(state)
            if tightest is None or state.remaining < tightest.remaining:
                tightest = state
        assert tightest is not None
        return tightest


def _state(item: RateLimitItem, remaining: int, reset_time: float) -> QuotaState:
    return QuotaState(item.amount, remaining, max(0, math.ceil(reset_time - time.time())))


class Refused(Exception):
    def __init__(self, state: QuotaState) -> None:
        super().__init__("quota exhausted")
        self.state = state


def rate_limited(state: QuotaState, what: str) -> ApiError:
    retry_after = max(1, state.reset)
    return ApiError(
        429,
        "rate_limited",
        f"{what} rate limit of {state.limit} reached; retry in {retry_after}s",
        {**state.headers(), "Retry-After": str(retry_after)},
    )


def concurrency_limited(limit: int) -> ApiError:
    return ApiError(
        429,
        "concurrency_limited",
        f"this key already has {limit} jobs pending or running; wait for one to finish",
        {
            "RateLimit-Limit": str(limit),
            "RateLimit-Remaining": "0",
            "RateLimit-Reset": "1",
            "Retry-After": "1",
        },
    )
