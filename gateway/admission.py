"""Admission of a new job: the tenant's quotas, then the store. A refusal changes nothing.

Order matters for that promise: the concurrency cap is read first (the store re-checks it
atomically), then the first attempt's cost is reserved on the tenant budget (refundable),
then one unit of the rate window is taken (a refused hit takes nothing), then the job is
stored. Anything refused after the reservation gives the reservation back, and so does a
job that is answered from the cache or joins another execution: those cost nothing.
"""

from __future__ import annotations

import time
from dataclasses import replace
from decimal import Decimal

from gateway.budgets import Budget, Budgets
from gateway.errors import ApiError
from gateway.jobs import Job
from gateway.quotas import RateLimiter, Refused, concurrency_limited, rate_limited
from gateway.settings import PlanSettings
from gateway.state.base import ConcurrencyLimited, StateStore


def budget_exhausted(budget: Budget, estimate: Decimal) -> ApiError:
    return ApiError(
        429,
        "budget_exhausted",
        f"this key's spend budget ({budget.limit} USD per {budget.period}s) cannot hold "
        f"this job's estimated cost of {estimate} USD",
        {"Retry-After": str(budget.period - int(time.time()) % budget.period)},
    )


class Admission:
    def __init__(self, state: StateStore, rates: RateLimiter, budgets: Budgets) -> None:
        self.state = state
        self.rates = rates
        self.budgets = budgets

    async def admit(
        self, job: Job, plan: PlanSettings, estimate: Decimal
    ) -> tuple[Job, dict[str, str]]:
        """Store `job` under the tenant's limits; the stored job and the RateLimit headers."""
        tenant, limit = job.tenant, plan.max_concurrent
        if limit is not None and await self.state.count_active(tenant) >= limit:
            raise concurrency_limited(limit)
        budget = Budget.parse(plan.budget)
        if budget is not None and estimate > 0:
            window = await self.budgets.reserve(tenant, budget, estimate)
            if window is None:
                raise budget_exhausted(budget, estimate)
            job = replace(job, reserved={window: estimate})
        try:
            quota = await self.rates.hit(plan.rate, "submit", tenant)
            stored = await self.state.submit(job, max_active=limit)
        except Refused as refused:
            await self._refund(job, budget)
            raise rate_limited(refused.state, "submission") from None
        except ConcurrencyLimited:
            await self._refund(job, budget)
            raise concurrency_limited(limit or 0) from None
        except BaseException:
            await self._refund(job, budget)
            raise
        if stored.id == job.id and (stored.cached or stored.leader_id):
            await self._refund(job, budget)
        return stored, quota.headers() if quota else {}

    async def _refund(self, job: Job, budget: Budget | None) -> None:
        if budget is not None:
            for window, amount in job.reserved.items():
                await self.budgets.refund(job.tenant, budget, window, amount)
