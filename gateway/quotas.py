"""Per-tenant rate limits with the `limits` library (its async API, storage chosen by URI).

`rate` limits submissions, `poll_rate` limits reads; each may list several windows
("10/minute;200/day"). Windows are moving windows: a refused hit consumes nothing, and on
Redis the check-and-add is one atomic script, so limits hold exactly across processes.
Answers carry the IETF `RateLimit-*` fields of the tightest window.
"""

from __future__ import annotations

import asyncio
import math
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from limits import RateLimitItem, parse_many
from limits.aio.storage import MemoryStorage, RedisClusterStorage, RedisStorage, Storage
from limits.aio.strategies import MovingWindowRateLimiter
from limits.errors import StorageError

from gateway.errors import ApiError
from gateway.schemes import is_cluster, quota_scheme
from gateway.state.base import StateUnavailable
from gateway.state.redis_client import close, connect

SEEN_FRESH = 1.0  # seconds a window report is trusted to skip the pre-test


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


@dataclass(frozen=True)
class Window:
    """One window of a rule, e.g. "60 per 1 minute", and its state now."""

    rule: str
    state: QuotaState


@dataclass
class Seen:
    """The last report of a rule's windows, and the units this process took since."""

    at: float
    remaining: int
    since: int = 0

    def ample(self) -> bool:
        """Fresh, and every window keeps room for twice what was taken since, plus one."""
        return time.monotonic() - self.at <= SEEN_FRESH and self.remaining >= 2 * (self.since + 1)


class RateLimiter:
    """Moving-window limits keyed by a namespace and an identity (tenant or backend)."""

    def __init__(self, storage: Storage) -> None:
        self.storage = storage
        self.strategy = MovingWindowRateLimiter(storage)
        self._parsed: dict[str, list[RateLimitItem]] = {}
        self._seen: dict[tuple[str, str, str], Seen] = {}

    def _items(self, rule: str) -> list[RateLimitItem]:
        items = self._parsed.get(rule)
        if items is None:
            items = self._parsed[rule] = parse_many(rule)
        return items

    @classmethod
    def from_url(cls, state_url: str) -> RateLimiter:
        """In memory, or on the state's Redis (one node or the cluster) through the
        state's client helper (gateway/state/redis_client.py); the storage is the `limits`
        library's for the state's scheme (gateway/schemes.py)."""
        scheme = quota_scheme(state_url)
        if scheme is None:
            return cls(MemoryStorage())
        _, rest = state_url.split("://", 1)
        kind = RedisClusterStorage if is_cluster(state_url) else RedisStorage
        if kind is RedisClusterStorage:
            rest = rest.partition("?")[0]  # the TLS options are our client's (below)
        storage = kind(f"{scheme}://{rest}", wrap_exceptions=True, implementation="redispy")
        # The bridge's own client is built from the URL alone (no connection is opened
        # yet): ours has the state's timeouts, retry and pool size, and on a cluster it
        # reads the topology before its first command (see ClusterClient).
        bridge: Any = storage.bridge
        # Coalescing on one node: a rule's windows, hit or read together, and other
        # requests' checks meanwhile, share one write (gateway/state/redis_coalescing.py).
        bridge.storage = connect(state_url, coalesce=True)
        bridge.register_scripts()  # the scripts are bound to the client they were made on
        return cls(storage)

    async def aclose(self) -> None:
        """Close the storage's client (`limits` storages have no close of their own)."""
        client: Any = getattr(getattr(self.storage, "bridge", None), "storage", None)
        if client is not None:
            await close(client)

    async def acquire(self, rule: str | None, namespace: str, identity: str) -> bool:
        """Take one unit from every window of `rule` (False when there is no rule).

        Raises `Refused`, carrying the full window's state, when a window has no room.
        """
        if not rule:
            return False
        items = self._items(rule)
        seen = self._seen.get((rule, namespace, identity))
        with _storage_errors():
            if len(items) > 1 and not (seen and seen.ample()):
                # Each hit is atomic, but a later window refusing would leave the earlier
                # ones charged: test them all first (unless a fresh report shows room in
                # every window), so only a lost race can do that.
                tested = await asyncio.gather(
                    *(self.strategy.test(item, namespace, identity) for item in items)
                )
                for item, ok in zip(items, tested, strict=True):
                    if not ok:
                        raise Refused(await self._window(item, namespace, identity))
            taken = await asyncio.gather(
                *(self.strategy.hit(item, namespace, identity) for item in items)
            )
            for item, ok in zip(items, taken, strict=True):
                if not ok:
                    raise Refused(await self._window(item, namespace, identity))
        if seen is not None:
            seen.since += 1
        return True

    async def report(self, rule: str, namespace: str, identity: str) -> QuotaState:
        """The tightest window of `rule` now: what the RateLimit-* headers say."""
        with _storage_errors():
            windows = await asyncio.gather(
                *(self._window(item, namespace, identity) for item in self._items(rule))
            )
        tightest = min(windows, key=lambda window: window.remaining)
        self._seen[(rule, namespace, identity)] = Seen(time.monotonic(), tightest.remaining)
        return tightest

    async def windows(self, rule: str, namespace: str, identity: str) -> list[Window]:
        """Every window of `rule` now (the admin API's view; takes nothing)."""
        items = self._items(rule)
        with _storage_errors():
            states = await asyncio.gather(
                *(self._window(item, namespace, identity) for item in items)
            )
        return [Window(str(item), state) for item, state in zip(items, states, strict=True)]

    async def _window(self, item: RateLimitItem, namespace: str, identity: str) -> QuotaState:
        stats = await self.strategy.get_window_stats(item, namespace, identity)
        return QuotaState(
            item.amount, stats.remaining, max(0, math.ceil(stats.reset_time - time.time()))
        )


@contextmanager
def _storage_errors() -> Iterator[None]:
    try:
        yield
    except StorageError as exc:
        raise StateUnavailable("rate-limit storage unavailable") from exc


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
