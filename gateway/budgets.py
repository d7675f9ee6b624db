"""Tenant spend budgets ("5.00/day"): reserve before spending, settle to what was charged.

A reservation is an atomic "add if it fits" on the tenant's counter for the current
window (fixed windows aligned to the epoch, so "day" is a UTC day); a refund takes back
what was reserved but not charged. Amounts are integer micro-dollars so that Redis can
add them exactly. The `limits` library counts hits, not money it can give back, so the
ledger is this small module with one store per state URI, like `limits` itself.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from decimal import Decimal
from typing import Protocol

import redis.asyncio as aioredis
from redis.exceptions import RedisError

from gateway.state.base import StateUnavailable
from gateway.units import parse_budget

MICROS = Decimal("1000000")

# KEYS[1] counter; ARGV amount, limit, ttl -> 1 reserved, 0 refused
_RESERVE = """
local spent = tonumber(redis.call('GET', KEYS[1]) or '0')
if spent + tonumber(ARGV[1]) > tonumber(ARGV[2]) then return 0 end
redis.call('INCRBY', KEYS[1], ARGV[1])
redis.call('EXPIRE', KEYS[1], ARGV[3])
return 1
"""


def to_micros(amount: Decimal) -> int:
    return int((amount * MICROS).to_integral_value())


def from_micros(micros: int) -> Decimal:
    return Decimal(micros) / MICROS


@dataclass(frozen=True)
class Budget:
    limit: Decimal
    period: int  # seconds

    @classmethod
    def parse(cls, text: str | None) -> Budget | None:
        if text is None:
            return None
        limit, period = parse_budget(text)
        return cls(limit, period)

    def window(self, now: float | None = None) -> int:
        return int((now or time.time()) // self.period)


class BudgetStore(Protocol):
    async def reserve(self, key: str, micros: int, limit: int, ttl: int) -> bool: ...

    async def refund(self, key: str, micros: int) -> None: ...

    async def spent(self, key: str) -> int: ...

    async def aclose(self) -> None: ...


class MemoryBudgetStore:
    def __init__(self) -> None:
        self._spent: dict[str, int] = {}

    async def reserve(self, key: str, micros: int, limit: int, ttl: int) -> bool:
        spent = self._spent.get(key, 0)
        if spent + micros > limit:
            return False
        self._spent[key] = spent + micros
        return True

    async def refund(self, key: str, micros: int) -> None:
        self._spent[key] = max(0, self._spent.get(key, 0) - micros)

    async def spent(self, key: str) -> int:
        return self._spent.get(key, 0)

    async def aclose(self) -> None:
        return None


class RedisBudgetStore:
    def __init__(self, url: str) -> None:
        self._redis = aioredis.Redis.from_url(
            url, socket_timeout=1.0, socket_connect_timeout=1.0, decode_responses=True
        )
        self._reserve = self._redis.register_script(_RESERVE)

    async def reserve(self, key: str, micros: int, limit: int, ttl: int) -> bool:
        try:
            return bool(await self._reserve(keys=[key], args=[micros, limit, ttl]))
        except RedisError as exc:
            raise StateUnavailable("budget storage unavailable") from exc

    async def refund(self, key: str, micros: int) -> None:
        try:
            await self._redis.decrby(key, micros)
        except RedisError as exc:
            raise StateUnavailable("budget storage unavailable") from exc

    async def spent(self, key: str) -> int:
        try:
            return int(await self._redis.get(key) or 0)
        except RedisError as exc:
            raise StateUnavailable("budget storage unavailable") from exc

    async def aclose(self) -> None:
        await self._redis.aclose()


def budget_store_from_url(state_url: str) -> BudgetStore:
    if state_url.startswith("memory://"):
        return MemoryBudgetStore()
    return RedisBudgetStore(state_url)


class Budgets:
    """Reserve and refund against each tenant's budget window."""

    def __init__(self, store: BudgetStore) -> None:
        self.store = store

    @staticmethod
    def key(tenant: str, budget: Budget, window: int) -> str:
        return f"ig:budget:{{{tenant}}}:{budget.period}:{window}"

    async def reserve(self, tenant: str, budget: Budget, amount: Decimal) -> int | None:
        """Reserve `amount` in the current window; the window id, or None when it won't fit."""
        window = budget.window()
        if amount <= 0:
            return window
        key = self.key(tenant, budget, window)
        ok = await self.store.reserve(
            key, to_micros(amount), to_micros(budget.limit), budget.period * 2
        )
        return window if ok else None

    async def refund(self, tenant: str, budget: Budget, window: int, amount: Decimal) -> None:
        if amount > 0:
            await self.store.refund(self.key(tenant, budget, window), to_micros(amount))

    async def spent(self, tenant: str, budget: Budget) -> Decimal:
        return from_micros(await self.store.spent(self.key(tenant, budget, budget.window())))
