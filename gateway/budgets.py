"""Tenant spend budgets ("5.00/day"): reserve before spending, settle to what was charged.

A reservation is an atomic "add if it fits" on the tenant's counter for the current
window (fixed windows aligned to the epoch, so "day" is a UTC day); a refund takes back
what was reserved but not charged. Amounts are integer micro-dollars so that Redis adds
them exactly. The counters live in the state store, whose submit takes the first
attempt's reservation in the same atomic step that queues the job. (The `limits` library
counts hits; it cannot give money back, so budgets are not built on it.)
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from decimal import Decimal

from gateway.money.format import from_micros, to_micros
from gateway.state.base import Reservation, StateStore
from gateway.units import parse_budget


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


class Budgets:
    """Reservations and refunds against each tenant's budget window, kept in the state."""

    def __init__(self, state: StateStore) -> None:
        self.state = state

    @staticmethod
    def key(tenant: str, budget: Budget, window: int) -> str:
        return f"ig:budget:{{{tenant}}}:{budget.period}:{window}"

    def reservation(
        self, tenant: str, budget: Budget, amount: Decimal, window: int | None = None
    ) -> Reservation:
        window = budget.window() if window is None else window
        return Reservation(
            self.key(tenant, budget, window),
            to_micros(amount),
            to_micros(budget.limit),
            budget.period * 2,  # outlives its window, so late refunds still land
        )

    async def reserve(self, tenant: str, budget: Budget, amount: Decimal) -> int | None:
        """Reserve `amount` in the current window; the window id, or None when it won't fit."""
        window = budget.window()
        if amount <= 0:
            return window
        ok = await self.state.reserve(self.reservation(tenant, budget, amount, window))
        return window if ok else None

    async def refund(self, tenant: str, budget: Budget, window: int, amount: Decimal) -> None:
        if amount > 0:
            await self.state.refund(self.key(tenant, budget, window), to_micros(amount))

    async def spent(self, tenant: str, budget: Budget) -> Decimal:
        return from_micros(await self.state.spent(self.key(tenant, budget, budget.window())))
