"""`GET /metrics`: this process's collectors in the Prometheus text format.

Gauges that describe the shared state (budgets, and the queue) are read at scrape time.
"""

from __future__ import annotations

import asyncio

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from gateway.metrics import CONTENT_TYPE_LATEST
from gateway.readings import budget_readings
from gateway.services import Gateway


async def metrics(request: Request) -> Response:
    gateway: Gateway = request.app.state.gateway
    readings, queue = await asyncio.gather(
        budget_readings(gateway.budgets, gateway.plans), gateway.state.queue_stats()
    )
    gateway.metrics.budgets({t: (r.spent, r.limit) for t, r in readings.items()})
    gateway.metrics.queue(queue.depth, queue.oldest_age, queue.deferred)
    return Response(gateway.metrics.render(), media_type=CONTENT_TYPE_LATEST)


routes = [Route("/metrics", metrics, methods=["GET"])]
