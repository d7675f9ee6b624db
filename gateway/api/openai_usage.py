"""`GET /v1/usage?since=YYYY-MM-DD`: the caller's own tenant's usage records.

One read against the tenant's `poll_rate`. The records are those of every process (the
state store's, gateway/usage/); errors are OpenAI's shape like the rest of `/v1`.
"""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from gateway.api.query import checked_query
from gateway.errors import invalid_request
from gateway.quotas import Refused, rate_limited
from gateway.services import Gateway
from gateway.usage.query import parse_since

PARAMS = frozenset({"since"})


async def usage(request: Request) -> JSONResponse:
    gateway: Gateway = request.app.state.gateway
    tenant = gateway.keyring.authenticate(request.headers)
    plan = gateway.plan(tenant)
    params = checked_query(request.query_params, PARAMS)
    try:
        since = parse_since(params.get("since"))
    except ValueError as exc:
        raise invalid_request(str(exc), "since") from None
    if plan.poll_rate:
        try:
            await gateway.admission.rates.acquire(plan.poll_rate, "poll", tenant)
        except Refused as refused:
            gateway.metrics.refused(tenant, "rate_limited")
            raise rate_limited(refused.state, "poll") from None
    records = await gateway.usage.records(tenant, since)
    return JSONResponse(
        {
            "object": "list",
            "tenant": tenant,
            "since": since.isoformat(),
            "data": [record.to_json() for record in records],
        }
    )


routes = [Route("/v1/usage", usage, methods=["GET"])]
