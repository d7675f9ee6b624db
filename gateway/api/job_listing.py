"""`GET /images/jobs`: the caller's tenant's jobs, newest first, a page at a time.

Query: `status` (one status or several, comma-separated), `createdAfter` and
`createdBefore` (ISO-8601; exclusive bounds), `limit` (1..100, default 20) and `cursor`
(the `nextCursor` of the previous page). The cursor is the position of the last job read
(creation time and id), so pages stay stable while new jobs arrive: they are newer and
come before it. A page may hold fewer than `limit` jobs (a rare `status` among many
others) and still have a `nextCursor`; only `nextCursor: null` means the end.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime

from starlette.datastructures import QueryParams
from starlette.requests import Request
from starlette.responses import JSONResponse

from gateway.api.envelope import ok
from gateway.errors import invalid_request
from gateway.jobs import JobStatus, epoch_ms
from gateway.services import Gateway
from gateway.state.base import ListQuery

DEFAULT_LIMIT = 20
MAX_LIMIT = 100
PARAMS = frozenset({"status", "createdAfter", "createdBefore", "limit", "cursor"})
CURSOR_PATTERN = "v1:([0-9]{1,15}):(job_[0-9a-f]{1,64})"  # stated by the OpenAPI document
_CURSOR = re.compile(CURSOR_PATTERN)


def encode_cursor(position: tuple[int, str]) -> str:
    created, job_id = position
    return f"v1:{created}:{job_id}"


def decode_cursor(cursor: str) -> tuple[int, str]:
    found = _CURSOR.fullmatch(cursor)
    if found is None:
        raise invalid_request("'cursor' is not a cursor this gateway issued", "cursor")
    return int(found[1]), found[2]


def _moment(params: QueryParams, name: str) -> int | None:
    raw = params.get(name)
    if raw is None:
        return None
    try:
        moment = datetime.fromisoformat(raw.strip())
    except ValueError:
        raise invalid_request(
            f"{name!r} must be an ISO-8601 time like 2026-12-01T12:00:00Z, got {raw[:40]!r}", name
        ) from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)  # like every time this API writes: UTC
    return epoch_ms(moment)


def _statuses(params: QueryParams) -> frozenset[JobStatus]:
    raw = params.get("status")
    if raw is None:
        return frozenset()
    wanted = set()
    for part in raw.split(","):
        name = part.strip().upper()
        if name not in JobStatus.__members__:
            raise invalid_request(
                f"'status': {part.strip()[:20]!r} is not one of {', '.join(JobStatus)}", "status"
            )
        wanted.add(JobStatus(name))
    return frozenset(wanted)


def parse_listing(tenant: str, params: QueryParams) -> ListQuery:
    """The query, or a 400 naming the parameter at fault."""
    unknown = sorted(set(params) - PARAMS)
    if unknown:
        raise invalid_request(
            f"unknown query parameter {unknown[0][:40]!r}; allowed: {', '.join(sorted(PARAMS))}",
            unknown[0][:40],
        )
    raw_limit = params.get("limit", str(DEFAULT_LIMIT))
    if not (raw_limit.isascii() and raw_limit.isdecimal() and len(raw_limit) <= 3) or not (
        1 <= int(raw_limit) <= MAX_LIMIT
    ):
        raise invalid_request(f"'limit' must be an integer from 1 to {MAX_LIMIT}", "limit")
    cursor = params.get("cursor")
    return ListQuery(
        tenant=tenant,
        limit=int(raw_limit),
        statuses=_statuses(params),
        after_ms=_moment(params, "createdAfter"),
        before_ms=_moment(params, "createdBefore"),
        cursor=decode_cursor(cursor) if cursor is not None else None,
    )


async def list_jobs(request: Request) -> JSONResponse:
    gateway: Gateway = request.app.state.gateway
    tenant = gateway.keyring.authenticate(request.headers)
    page = await gateway.submissions.list_jobs(parse_listing(tenant, request.query_params))
    return ok(
        {
            "jobs": [await gateway.present(job) for job in page.jobs],
            "nextCursor": encode_cursor(page.next) if page.next is not None else None,
        }
    )


# GET /images/jobs is routed with POST by gateway/api/jobs.py: one route, so a 405 lists both.
