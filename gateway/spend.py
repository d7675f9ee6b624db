"""One job's money: its own cap (`max_cost_per_job`) and its reservations on the tenant budget.

Before every attempt the job must be able to pay for it twice over: the attempt's estimate
must fit under the job's cap (the `CostLedger`, also a tenacity stop condition) and in the
tenant's budget window (a reservation, reusing what is reserved and not yet spent). When
the job ends, `settle()` refunds whatever was reserved and not charged.
"""

from __future__ import annotations

from decimal import Decimal

from gateway.budgets import Budget, Budgets
from gateway.retry import CostLedger

ZERO = Decimal("0")


class JobSpend:
    def __init__(
        self,
        tenant: str,
        cap: Decimal | None,
        budget: Budget | None,
        budgets: Budgets,
        reserved: dict[int, Decimal] | None = None,
    ) -> None:
        self.tenant = tenant
        self.ledger = CostLedger(cap)
        self.budget = budget
        self.budgets = budgets
        self.reservations: dict[int, Decimal] = dict(reserved or {})

    @property
    def reserved(self) -> Decimal:
        return sum(self.reservations.values(), ZERO)

    async def reserve(self, estimate: Decimal) -> bool:
        """Make sure the tenant budget holds `estimate` more; False when it cannot."""
        if self.budget is None:
            return True
        needed = estimate - (self.reserved - self.ledger.spent)
        if needed <= 0:
            return True
        window = await self.budgets.reserve(self.tenant, self.budget, needed)
        if window is None:
            return False
        self.reservations[window] = self.reservations.get(window, ZERO) + needed
        return True

    async def settle(self) -> Decimal:
        """Refund what was reserved but not charged (newest window first); the refund."""
        if self.budget is None:
            return ZERO
        unspent = self.reserved - self.ledger.spent
        refund = max(ZERO, unspent)
        remaining = refund
        for window in sorted(self.reservations, reverse=True):
            take = min(remaining, self.reservations[window])
            if take > 0:
                await self.budgets.refund(self.tenant, self.budget, window, take)
                self.reservations[window] -= take
                remaining -= take
        return refund
