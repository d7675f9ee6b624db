"""What operators read from the shared state: each tenant's budget window, the queue.

Read at scrape time (`/metrics`) and by the admin API; a few cheap reads, sent together.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal

from gateway.budgets import Budget, Budgets
from gateway.settings import PlanSettings


@dataclass(frozen=True)
class BudgetReading:
    limit: Decimal
    period: int  # seconds
    spent: Decimal  # charged plus reserved in the current window

    @property
    def remaining(self) -> Decimal:
        return max(Decimal("0"), self.limit - self.spent)


async def budget_readings(
    budgets: Budgets, plans: Mapping[str, PlanSettings]
) -> dict[str, BudgetReading]:
    """Tenant -> its current budget window, for every tenant that has a budget."""
    parsed = {tenant: Budget.parse(plan.budget) for tenant, plan in plans.items()}
    budgeted = {tenant: budget for tenant, budget in parsed.items() if budget is not None}
    spent = await asyncio.gather(
        *(budgets.spent(tenant, budget) for tenant, budget in budgeted.items())
    )
    return {
        tenant: BudgetReading(budget.limit, budget.period, amount)
        for (tenant, budget), amount in zip(budgeted.items(), spent, strict=True)
    }
