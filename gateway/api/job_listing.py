"""`GET /images/jobs`: the caller's tenant's jobs, newest first, a page at a time.

Query: `status` (one status or several, comma-separated), `createdAfter` and
`createdBefore` (RFC 3339 date-times with an offset; exclusive bounds), `limit` (1..100,
default 20) and `cursor` (the `nextCursor` of the previous page, opaque:
gateway/api/listing_cursor.py). An empty value is the parameter left out; an unknown or
repeated one is a 400 (gateway/api/query.py). The cursor holds the position of the last
job read (creation time and id), so pages stay stable while new jobs arrive: they are
newer and come before it. A page may hold fewer than `limit` jobs (a rare `status` among many
others) and still have a `nextCursor`; only `nextCursor: null` means the end.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import datetime, timedelta

from starlette.requests import Request
from starlette.responses import JSONResponse

from gateway.api.envelope import ok
from gateway.api.listing_cursor import decode_cursor, encode_cursor, tenant_scope
from gateway.api.query import checked_query
from gateway.errors import invalid_request
from gateway.jobs import JobStatus, epoch_ms
from gateway.services import Gateway
from gateway.state.base import ListQuery

DEFAULT_LIMIT = 20
MAX_LIMIT = 100
PARAMS = frozenset({"status", "createdAfter", "createdBefore", "limit", "cursor"})
# RFC 3339 `date-time`: a full date and time with seconds, and an offset or Z.
_RFC3339 = re.compile(
    r"[0-9]{4}-[0-9]{2}-[0-9]{2}[Tt]([0-9]{2}:[0-9]{2}):([0-9]{2})(\.[0-9]+)?([Zz]|[+-][0-9]{2}:[0-9]{2})"
)


def parse_moment(raw: str, name: str) -> int:
    """An RFC 3339 date-time (`2026-12-01T12:00:00Z`, `...+01:00`) as epoch ms; 400 naming
    `name` for anything else (a bare date, a time without an offset)."""
    found = _RFC3339.fullmatch(raw)
    moment = None
    if found is not None:
        hours_minutes, seconds, fraction, offset = found.groups()
        leap = seconds == "60"  # RFC 3339 allows a leap second; Python's datetime does not
        text = (
            f"{raw[:10]}T{hours_minutes}:{'59' if leap else seconds}{(fraction or '')[:7]}"
            f"{'+00:00' if offset in ('Z', 'z') else offset}"
        )
        try:
            moment = datetime.fromisoformat(text) + timedelta(seconds=int(leap))
        except (ValueError, OverflowError):
            moment = None
    if moment is None:
        hint = " (a '+' in a query string is sent as %2B)" if " " in raw else ""
        raise invalid_request(
            f"{name!r} must be an RFC 3339 date-time with an offset, like "
            f"2026-12-01T12:00:00Z, got {raw[:40]!r}{hint}",
            name,
        )
    return epoch_ms(moment)


def parse_statuses(raw: str) -> frozenset[JobStatus]:
    """One status or several, comma-separated, of the contract's (any case)."""
    wanted = set()
    for part in raw.split(","):
        name = part.strip().upper()
        if name not in JobStatus.__members__:
            raise invalid_request(
                f"'status': {part.strip()[:20]!r} is not one of {', '.join(JobStatus)}", "status"
            )
        wanted.add(JobStatus(name))
    return frozenset(wanted)


_COUNT = re.compile("[1-9][0-9]{0,5}")  # ASCII digits, no sign, point or leading zero


def parse_limit(raw: str | None, default: int = DEFAULT_LIMIT, maximum: int = MAX_LIMIT) -> int:
    """`limit`: an integer from 1 to `maximum`, `default` when absent; 400 naming it."""
    if raw is None:
        return default
    if _COUNT.fullmatch(raw) is None or int(raw) > maximum:
        raise invalid_request(
            f"'limit' must be an integer from 1 to {maximum} (default {default}), got {raw[:20]!r}",
            "limit",
        )
    return int(raw)


def parse_listing(tenant: str, params: Mapping[str, str], scope: str) -> ListQuery:
    """The query from parameters `checked_query` passed (names known, values non-empty),
    or a 400 naming the parameter at fault; `scope` is the listing its cursor is of."""
    after, before = params.get("createdAfter"), params.get("createdBefore")
    statuses, cursor = params.get("status"), params.get("cursor")
    return ListQuery(
        tenant=tenant,
        limit=parse_limit(params.get("limit")),
        statuses=parse_statuses(statuses) if statuses is not None else frozenset(),
        after_ms=parse_moment(after, "createdAfter") if after is not None else None,
        before_ms=parse_moment(before, "createdBefore") if before is not None else None,
        cursor=decode_cursor(cursor, scope) if cursor is not None else None,
    )


async def list_jobs(request: Request) -> JSONResponse:
    gateway: Gateway = request.app.state.gateway
    tenant = gateway.keyring.authenticate(request.headers)
    scope = tenant_scope(tenant)
    query = parse_listing(tenant, checked_query(request.query_params, PARAMS), scope)
    page = await gateway.submissions.list_jobs(query)
    return ok(
        {
            "jobs": [await gateway.present(job) for job in page.jobs],
            "nextCursor": encode_cursor(page.next, scope) if page.next is not None else None,
        }
    )


# GET /images/jobs is routed with POST by gateway/api/jobs.py: one route, so a 405 lists both.
