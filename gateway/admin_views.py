"""What the admin API reports, read from the running gateway: tenants (limits, rate-window
use, active jobs, budget window) and backends (vendor rate windows, recent calls).

Plain JSON-ready dicts (camelCase keys, money as canonical USD strings): the admin API and
the web console render them as they are.
"""

from __future__ import annotations

import asyncio
from typing import Any

from gateway.budgets import budget_text
from gateway.money.format import usd
from gateway.quotas import Window
from gateway.readings import BudgetReading, budget_readings
from gateway.services import Gateway


def _windows(windows: list[Window]) -> list[dict[str, Any]]:
    return [
        {
            "window": window.rule,
            "limit": window.state.limit,
            "used": window.state.limit - window.state.remaining,
            "remaining": window.state.remaining,
            "resetSeconds": window.state.reset,
        }
        for window in windows
    ]


async def _rate(gateway: Gateway, rule: str | None, namespace: str, identity: str) -> Any:
    if not rule:
        return None
    return _windows(await gateway.admission.rates.windows(rule, namespace, identity))


def _budget(reading: BudgetReading | None) -> dict[str, Any] | None:
    if reading is None:
        return None
    return {
        "limit": usd(reading.limit),
        "periodSeconds": reading.period,
        "spent": usd(reading.spent),
        "remaining": usd(reading.remaining),
    }


async def _tenant(gateway: Gateway, name: str, reading: BudgetReading | None) -> dict[str, Any]:
    plan = gateway.plans[name]
    submit, poll, active = await asyncio.gather(
        _rate(gateway, plan.rate, "submit", name),
        _rate(gateway, plan.poll_rate, "poll", name),
        gateway.state.count_active(name),
    )
    return {
        "name": name,
        "plan": gateway.settings.tenants[name].plan,
        "limits": {
            "rate": plan.rate,
            "pollRate": plan.poll_rate,
            "maxConcurrent": plan.max_concurrent,
            "budget": budget_text(plan.budget),
            "maxCostPerJob": usd(plan.max_cost_per_job) if plan.max_cost_per_job else None,
        },
        "activeJobs": active,
        "rateWindows": {"submit": submit, "poll": poll},
        "budget": _budget(reading),
    }


async def tenants(gateway: Gateway) -> list[dict[str, Any]]:
    """Every configured tenant, in config order."""
    readings = await budget_readings(gateway.budgets, gateway.plans)
    names = [name for name in gateway.settings.tenants if name in gateway.plans]
    return list(
        await asyncio.gather(*(_tenant(gateway, name, readings.get(name)) for name in names))
    )


async def backends(gateway: Gateway) -> list[dict[str, Any]]:
    """Every configured backend: the vendor's shared rate windows and this process's
    recent calls to it."""
    views = []
    for name, config in gateway.settings.backends.items():
        views.append(
            {
                "name": name,
                "type": config.type,
                "maxConcurrency": config.max_concurrency,
                "concurrencyScope": config.concurrency_scope,
                "rateWindows": await _rate(gateway, config.rate, "backend", name),
                "recent": gateway.metrics.recent.summary(name),
            }
        )
    return views


async def overview(gateway: Gateway) -> dict[str, Any]:
    """This process's totals since it started, its workers, and the shared queue."""
    pool = gateway.workers
    queue = await gateway.state.queue_stats()
    return {
        **gateway.metrics.overview(),
        "workers": {"busy": pool.busy, "total": pool.alive, "configured": pool.concurrency},
        "queue": {
            "depth": queue.depth,
            "oldestAgeSeconds": round(queue.oldest_age, 3),
            "deferred": queue.deferred,
        },
    }
