"""The job carries its own money, over `memory://` and a real Redis: the ledger is rebuilt
from the job's recorded attempts at every delivery, every reservation is on the job, and at
the end of every scenario the tenant's counter equals the sum of charged attempts."""

from __future__ import annotations

from dataclasses import replace
from decimal import Decimal
from typing import Any

import pytest

from gateway.budgets import Budget, Budgets
from gateway.endings import Endings
from gateway.jobs import Attempt, JobError
from gateway.spend import JobSpend
from tests.test_state_contract import RESULT, MakeState, make_job, make_state  # noqa: F401

BUDGET = Budget(Decimal("1.00"), 86400)


@pytest.fixture
def store(make_state: MakeState) -> Any:  # noqa: F811 (the contract suite's fixture)
    return make_state()


CAP = Decimal("0.10")


async def admitted(state: Any, budgets: Budgets, estimate: Decimal) -> str:
    reservation = budgets.reservation("demo", BUDGET, estimate)
    job = replace(make_job(no_cache=True), reserved=(reservation.hold(),))
    stored = await state.submit(job, reservation=reservation)
    assert stored.reserved_total == estimate
    return str(stored.id)


async def charged_attempt(state: Any, spend: JobSpend, job_id: str, cost: str) -> None:
    assert await spend.reserve(Decimal("0.04"))
    spend.ledger.charge(Decimal(cost))
    await state.add_attempt(
        job_id, Attempt("p", "m", "timeout", Decimal(cost), 5, estimated_cost=Decimal("0.04"))
    )


async def test_a_redelivered_job_starts_from_its_recorded_attempts(store: Any) -> None:
    state = store
    budgets = Budgets(state)
    job_id = await admitted(state, budgets, Decimal("0.04"))
    first = await state.claim("w1", 1)
    spend = JobSpend(first, CAP, BUDGET, budgets)
    await charged_attempt(state, spend, job_id, "0.04")
    await state.requeue(job_id)

    second = await state.claim("w2", 1)
    assert second.id == job_id and second.deliveries == 2
    again = JobSpend(second, CAP, BUDGET, budgets)
    assert (again.ledger.spent, again.ledger.attempts) == (Decimal("0.04"), 1)
    assert again.ledger.can_afford(Decimal("0.04")) and not again.ledger.can_afford(Decimal("0.07"))
    await charged_attempt(state, again, job_id, "0.04")  # reserves 0.04 more, on the job
    stored = await state.get_job(job_id)
    assert stored.reserved_total == Decimal("0.08") and stored.cost == Decimal("0.08")

    await Endings(state).finish(job_id, RESULT)
    assert await budgets.spent("demo", BUDGET) == Decimal("0.08")


async def test_every_ending_settles_to_what_was_charged(store: Any) -> None:
    state = store
    budgets = Budgets(state)
    endings = Endings(state)
    # Failed with nothing charged: all of it goes back.
    job_id = await admitted(state, budgets, Decimal("0.04"))
    await state.claim("w1", 1)
    await endings.finish(job_id, JobError("backend_unavailable", "down"))
    assert await budgets.spent("demo", BUDGET) == Decimal("0")
    # Charged less than reserved (usage under the table's worst case): the rest goes back.
    job_id = await admitted(state, budgets, Decimal("0.04"))
    claimed = await state.claim("w1", 1)
    await charged_attempt(state, JobSpend(claimed, CAP, BUDGET, budgets), job_id, "0.031")
    await endings.finish(job_id, RESULT)
    assert await budgets.spent("demo", BUDGET) == Decimal("0.031")
    # Charged more than reserved (the vendor's usage said so): the excess is added.
    job_id = await admitted(state, budgets, Decimal("0.04"))
    claimed = await state.claim("w1", 1)
    await charged_attempt(state, JobSpend(claimed, CAP, BUDGET, budgets), job_id, "0.0425")
    await endings.finish(job_id, RESULT)
    assert await budgets.spent("demo", BUDGET) == Decimal("0.0735")
    # A second ending of the same job changes nothing: settled exactly once.
    await endings.finish(job_id, JobError("internal_error", "late"))
    assert await budgets.spent("demo", BUDGET) == Decimal("0.0735")
