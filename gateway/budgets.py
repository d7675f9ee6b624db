"""Tenant spend budgets ("5.00/day"): reserve before spending, settle to what was charged.

A reservation is an atomic "add if it fits" on the tenant's counter for the current
window (fixed windows aligned to the epoch, so "day" is a UTC day); when the job ends, the
store settles its reservations to what it was charged in the same step
(gateway/money/settle.py). Amounts are integer micro-dollars so that Redis adds
them exactly. The counters live in the state store, whose submit takes the first
attempt's reservation in the same atomic step that queues the job, and every reservation
is recorded on the job, so settling it needs nothing but the job. (The `limits` library
counts hits; it cannot give money back, so budgets are not built on it.)
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from decimal import Decimal

from gateway.money.format import from_micros, to_micros, usd
from gateway.state.base import Reservation, StateStore
from gateway.units import parse_budget, parse_money


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


def budget_text(text: str | None) -> str | None:
    """A plan's budget with its amount in the one money format: `"5/day"` -> `"5.00/day"`
    (the settings have validated it)."""
    if text is None:
        return None
    amount, _, period = text.partition("/")
    return f"{usd(parse_money(amount))}/{period.strip()}"


class Budgets:
    """Reservations and refunds against each tenant's budget window, kept in the state."""

    def __init__(self, state: StateStore) -> None:
        self.state = state

    def key(self, tenant: str, budget: Budget, window: int) -> str:
        return self.state.keys.budget(tenant, budget.period, window)

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

    async def reserve(self, job_id: str, tenant: str, budget: Budget, amount: Decimal) -> bool:
        """Reserve `amount` in the current window and record it on the (active) job; False
        when it won't fit."""
        if amount <= 0:
            return True
        return await self.state.reserve(self.reservation(tenant, budget, amount), job_id)

    async def spent(self, tenant: str, budget: Budget) -> Decimal:
        return from_micros(await self.state.spent(self.key(tenant, budget, budget.window())))
