"""The admin API's record listings: `GET /admin/usage?since=&tenant=` (the usage records of
every tenant, or one's) and `GET /admin/jobs?tenant=&status=&cursor=` (recent jobs of every
tenant, or one's, newest first; failures carry their error codes).

Query parameters are checked like a body (gateway/api/query.py, as on the tenant listing):
an unknown or repeated one, or a malformed value, is a 400 naming it; an empty one is left
out. A cursor is good only for the listing (and `tenant=` filter) that issued it.
"""

from __future__ import annotations

from collections.abc import Mapping
from decimal import Decimal

from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from gateway.admin_jobs import list_all
from gateway.api.admin import admin_gateway
from gateway.api.envelope import ok
from gateway.api.job_listing import PARAMS as LISTING_PARAMS
from gateway.api.job_listing import parse_listing
from gateway.api.listing_cursor import admin_scope, encode_cursor
from gateway.api.query import checked_query
from gateway.errors import invalid_request
from gateway.money.format import usd
from gateway.usage.base import UsageRecord
from gateway.usage.query import parse_since

MAX_NAME = 64


def tenant_param(params: Mapping[str, str]) -> str | None:
    """`tenant=`: any name (a tenant removed by a reload still has records), bounded."""
    tenant = params.get("tenant")
    if tenant is None:
        return None
    if len(tenant) > MAX_NAME:
        raise invalid_request(f"tenant: must be at most {MAX_NAME} characters", "tenant")
    return tenant


def _totals(records: list[UsageRecord]) -> dict[str, object]:
    return {
        "jobs": sum(r.jobs for r in records),
        "attempts": sum(r.attempts for r in records),
        "images": sum(r.images for r in records),
        "chargedUsd": usd(sum((r.charged for r in records), Decimal("0"))),
        "savedJobs": sum(r.saved_jobs for r in records),
        "savedUsd": usd(sum((r.saved for r in records), Decimal("0"))),
    }


async def usage(request: Request) -> JSONResponse:
    gateway = admin_gateway(request)
    params = checked_query(request.query_params, ("since", "tenant"))
    tenant = tenant_param(params)
    try:
        since = parse_since(params.get("since"))
    except ValueError as exc:
        raise invalid_request(str(exc), "since") from None
    records = await gateway.usage.records(tenant, since)
    return ok(
        {
            "since": since.isoformat(),
            "tenant": tenant,
            "records": [record.to_json() for record in records],
            "totals": _totals(records),
        }
    )


async def jobs(request: Request) -> JSONResponse:
    gateway = admin_gateway(request)
    params = checked_query(request.query_params, {*LISTING_PARAMS, "tenant"})
    tenant = tenant_param(params)
    scope = admin_scope(tenant)
    # The tenant listing's own checks (status, limit, cursor, createdAfter/Before).
    query = parse_listing(tenant or "", params, scope)
    if tenant is not None:
        page = await gateway.state.list_jobs(query)
    else:
        page = await list_all(gateway.state, list(gateway.settings.tenants), query)
    return ok(
        {
            "tenant": tenant,
            "jobs": [{**await gateway.present(job), "tenant": job.tenant} for job in page.jobs],
            "nextCursor": encode_cursor(page.next, scope) if page.next is not None else None,
        }
    )


routes = [
    Route("/admin/usage", usage, methods=["GET"]),
    Route("/admin/jobs", jobs, methods=["GET"]),
]
