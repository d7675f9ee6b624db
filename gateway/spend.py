"""One job's money while it runs: its own cap (`max_cost_per_job`) and the tenant budget.

Before every attempt the job must be able to pay for it twice over: the attempt's estimate
must fit under the job's cap (the `CostLedger`, also a tenacity stop condition) and in the
tenant's budget window (a reservation, reusing what is reserved and not yet spent). Every
reservation is recorded on the job in the store; what was not charged goes back once, in
the store's step that ends the job (`gateway/money/settle.py`).
"""

from __future__ import annotations

from decimal import Decimal

from gateway.budgets import Budget, Budgets
from gateway.jobs import Job
from gateway.retry import CostLedger

ZERO = Decimal("0")


class JobSpend:
    def __init__(
        self, job: Job, cap: Decimal | None, budget: Budget | None, budgets: Budgets
    ) -> None:
        self.job_id = job.id
        self.tenant = job.tenant
        # Rebuilt from the job's recorded attempts at every delivery, so the cap holds
        # across a requeue, a reclaim or a restart.
        self.ledger = CostLedger(cap, job.cost, job.calls)
        self.budget = budget
        self.budgets = budgets
        # Everything reserved for the job so far (at admission, by earlier deliveries).
        self.held = job.reserved_total

    async def reserve(self, estimate: Decimal) -> bool:
        """Make sure the tenant budget holds `estimate` more; False when it cannot (or the
        job is no longer active)."""
        if self.budget is None:
            return True
        needed = estimate - (self.held - self.ledger.spent)
        if needed <= 0:
            return True
        if not await self.budgets.reserve(self.job_id, self.tenant, self.budget, needed):
            return False
        self.held += needed
        return True
