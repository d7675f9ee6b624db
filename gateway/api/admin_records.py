"""The admin API's record listings: `GET /admin/usage?since=&tenant=` (the usage records of
every tenant, or one) and, where the job listing exists, `GET /admin/jobs`.

Query parameters are checked like a body: an unknown one, or a malformed value, is a 400
naming it.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from decimal import Decimal

from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from gateway.api.admin import admin_gateway
from gateway.api.envelope import ok
from gateway.errors import invalid_request
from gateway.money.format import usd
from gateway.usage.base import UsageRecord
from gateway.usage.query import parse_since

MAX_NAME = 64


def checked_params(params: Mapping[str, str], allowed: Iterable[str]) -> None:
    known = frozenset(allowed)
    unknown = sorted(set(params) - known)
    if unknown:
        name = unknown[0][:32]
        raise invalid_request(
            f"{name}: unknown query parameter (allowed: {', '.join(sorted(known))})", name
        )


def tenant_param(params: Mapping[str, str]) -> str | None:
    """`tenant=`: any name (a tenant removed by a reload still has records), bounded."""
    tenant = params.get("tenant")
    if tenant is None:
        return None
    if not tenant or len(tenant) > MAX_NAME:
        raise invalid_request(f"tenant: must be 1..{MAX_NAME} characters", "tenant")
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
    params = request.query_params
    checked_params(params, ("since", "tenant"))
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


routes = [Route("/admin/usage", usage, methods=["GET"])]
