"""Admission of a new job: the tenant's quotas, then the store. A refusal changes nothing.

One atomic step of the state store checks the concurrency cap, reserves the first
attempt's cost on the tenant budget (only for a job that will run: cached and joined jobs
cost nothing) and stores the job. The rate window (`limits`) is a separate store, so its
unit is taken first, and a read-only pre-check of the cap and the budget keeps a refusal
there from spending a rate unit (only a lost race can). Round trips on Redis: the
pre-check (only for tenants with a cap or a budget, and skipped while a reading less than a
second old shows them less than half used), the rate hit, then the submit script and the
window report for the RateLimit-* headers, sent together.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable
from dataclasses import dataclass, replace
from decimal import Decimal

from gateway.budgets import Budget, Budgets
from gateway.errors import ApiError
from gateway.jobs import Job
from gateway.metrics import Metrics
from gateway.money.format import usd
from gateway.quotas import RateLimiter, Refused, concurrency_limited, rate_limited
from gateway.settings import PlanSettings
from gateway.state.base import (
    BudgetRefused,
    CachedBirth,
    ConcurrencyLimited,
    Reservation,
    StateStore,
)

HEADROOM_FRESH = 1.0  # seconds a pre-check reading is trusted


def budget_exhausted(budget: Budget, estimate: Decimal) -> ApiError:
    return ApiError(
        429,
        "budget_exhausted",
        f"this key's spend budget ({usd(budget.limit)} USD per {budget.period}s) cannot hold "
        f"this job's estimated cost of {usd(estimate)} USD",
        {"Retry-After": str(budget.period - int(time.time()) % budget.period)},
    )


def _within_cap(plan: PlanSettings, estimate: Decimal) -> None:
    """A job whose first attempt alone costs more than `max_cost_per_job` could never run."""
    cap = plan.max_cost_per_job
    if cap is not None and estimate > cap:
        raise ApiError(
            400,
            "cost_cap_exceeded",
            f"this job's first attempt is estimated at {usd(estimate)} USD, more than this "
            f"key's max_cost_per_job of {usd(cap)} USD; ask for fewer images (n), a smaller "
            "size or a lower quality",
        )


@dataclass
class Headroom:
    """A tenant's last pre-check reading, and what this process admitted since."""

    read_at: float
    active: int
    spent: int
    since: int = 0

    def ample(self, cap: int | None, reservation: Reservation | None) -> bool:
        """Fresh, and even after everything admitted since, at most half the cap and half
        the budget are used: the pre-check would pass, so it can be skipped."""
        if time.monotonic() - self.read_at > HEADROOM_FRESH:
            return False
        if cap is not None and 2 * (self.active + self.since + 1) > cap:
            return False
        if reservation is None:
            return True
        return 2 * (self.spent + (self.since + 1) * reservation.amount) <= reservation.limit


class Admission:
    def __init__(
        self, state: StateStore, rates: RateLimiter, budgets: Budgets, metrics: Metrics
    ) -> None:
        self.state = state
        self.rates = rates
        self.budgets = budgets
        self.metrics = metrics
        self._headroom: dict[str, Headroom] = {}

    async def admit(
        self, job: Job, plan: PlanSettings, estimate: Decimal, cached: CachedBirth | None = None
    ) -> tuple[Job, dict[str, str]]:
        """Store `job` under the tenant's limits; the stored job and the RateLimit headers.
        `cached`: what the store writes with the job if it is born from the cache."""
        try:
            _within_cap(plan, estimate)
            stored, headers = await self._admit(job, plan, estimate, cached)
        except ApiError as refused:
            self.metrics.refused(job.tenant, refused.code)
            raise
        self.metrics.job_submitted(stored, estimate)
        return stored, headers

    async def _admit(
        self, job: Job, plan: PlanSettings, estimate: Decimal, cached: CachedBirth | None
    ) -> tuple[Job, dict[str, str]]:
        tenant, cap = job.tenant, plan.max_concurrent
        budget = Budget.parse(plan.budget)
        reservation = None
        if budget is not None and estimate > 0:
            window = budget.window()
            reservation = self.budgets.reservation(tenant, budget, estimate, window)
            job = replace(job, reserved=(reservation.hold(),))
        if cap is not None or reservation is not None:
            headroom = self._headroom.get(tenant)
            if headroom is not None and headroom.ample(cap, reservation):
                headroom.since += 1
            else:
                await self._precheck(tenant, cap, reservation, budget, estimate)
        try:
            limited = await self.rates.acquire(plan.rate, "submit", tenant)
        except Refused as refused:
            raise rate_limited(refused.state, "submission") from None
        submitted = self.state.submit(job, max_active=cap, reservation=reservation, cached=cached)
        if not limited:
            stored, quota = await self._stored(submitted, cap, budget, estimate), None
        else:
            assert plan.rate is not None
            stored, quota = await asyncio.gather(
                self._stored(submitted, cap, budget, estimate),
                self.rates.report(plan.rate, "submit", tenant),
            )
        return stored, quota.headers() if quota else {}

    async def _precheck(
        self,
        tenant: str,
        cap: int | None,
        reservation: Reservation | None,
        budget: Budget | None,
        estimate: Decimal,
    ) -> None:
        active, spent = await asyncio.gather(
            self.state.count_active(tenant) if cap is not None else _zero(),
            self.state.spent(reservation.key) if reservation is not None else _zero(),
        )
        self._headroom[tenant] = Headroom(time.monotonic(), active, spent)
        if cap is not None and active >= cap:
            raise concurrency_limited(cap)
        if reservation is not None and spent + reservation.amount > reservation.limit:
            assert budget is not None
            raise budget_exhausted(budget, estimate)

    @staticmethod
    async def _stored(
        submitted: Awaitable[Job], cap: int | None, budget: Budget | None, estimate: Decimal
    ) -> Job:
        """The stored job, with the store's atomic refusals turned into the contract's 429s."""
        try:
            return await submitted
        except ConcurrencyLimited:
            raise concurrency_limited(cap or 0) from None
        except BudgetRefused:
            assert budget is not None
            raise budget_exhausted(budget, estimate) from None


async def _zero() -> int:
    return 0
