"""Batches: `POST /images/batches`, `GET /images/batches/{id}` (see gateway/batches/)."""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Mapping
from datetime import datetime
from decimal import Decimal
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from gateway.api.envelope import ok, read_json
from gateway.api.idempotent import idempotent
from gateway.api.job_listing import parse_limit
from gateway.api.job_request import parse_deadline, parse_job_request
from gateway.api.query import checked_query
from gateway.batches import MAX_ITEMS, Batch
from gateway.batches.use_cases import Order, cancel_batch, load_batch, submit_batch
from gateway.errors import ApiError, invalid_request
from gateway.jobs import Job, JobStatus, iso
from gateway.money.format import usd
from gateway.services import Gateway
from gateway.settings import Settings

DEFAULT_PAGE = 50
_NUMBER = re.compile(r"[0-9]{1,9}")  # what a cursor can be (docs: CURSOR)
BODY_FACTOR = 16  # a batch body may be this many times `server.max_body_bytes`


def batch_body_limit(settings: Settings) -> int:
    return settings.server.max_body_bytes * BODY_FACTOR


def parse_batch(
    body: object, settings: Settings, headers: Mapping[str, str] | None = None
) -> list[Order | ApiError]:
    """Each item parsed like a lone job body; an item that does not parse stays its error.
    A `Cancel-After` header is the deadline of every item without its own `deadline`."""
    if not isinstance(body, dict) or set(body) != {"jobs"}:
        raise invalid_request("the body must be a JSON object with exactly one field, 'jobs'")
    items = body["jobs"]
    if not isinstance(items, list) or not 1 <= len(items) <= MAX_ITEMS:
        raise invalid_request(f"'jobs' must be a list of 1 to {MAX_ITEMS} job bodies")
    shared: datetime | None = parse_deadline({}, headers or {})
    parsed: list[Order | ApiError] = []
    for index, item in enumerate(items):
        try:
            spec = parse_job_request(item, settings)
            own = parse_deadline(item, {})
            parsed.append(Order(spec, own or shared))
        except ApiError as error:
            parsed.append(ApiError(error.status, error.code, f"jobs[{index}]: {error.message}"))
    return parsed


async def submit(request: Request) -> JSONResponse:
    gateway: Gateway = request.app.state.gateway
    tenant = gateway.keyring.authenticate(request.headers)
    body = await read_json(request, batch_body_limit(gateway.settings))
    orders = parse_batch(body, gateway.settings, request.headers)
    submitted = await submit_batch(gateway, tenant, orders)
    batch = submitted.batch
    items: list[dict[str, Any]] = []
    for index, item in enumerate(batch.items):
        if item.job_id is not None:
            job = submitted.jobs[item.job_id]
            items.append(
                {"index": index, "jobId": job.id, "status": job.status.value, "cached": job.cached}
            )
        elif item.refusal is not None:
            error = {"code": item.refusal.code, "message": item.refusal.message}
            items.append({"index": index, "error": error})
    admitted = len(submitted.jobs)
    return ok(
        {
            "batchId": batch.id,
            "admitted": admitted,
            "refused": len(items) - admitted,
            "items": items,
        },
        status=202,
        headers={"Location": f"/images/batches/{batch.id}", **submitted.headers},
    )


async def get_batch(request: Request) -> JSONResponse:
    gateway: Gateway = request.app.state.gateway
    tenant = gateway.keyring.authenticate(request.headers)
    start, limit = _page(request)
    batch, jobs = await load_batch(gateway, tenant, request.path_params["batch_id"])
    page = []
    for index in range(start, min(start + limit, len(batch.items))):
        item = batch.items[index]
        if item.job_id is None:
            assert item.refusal is not None
            error = {"code": item.refusal.code, "message": item.refusal.message}
            page.append({"index": index, "error": error})
        else:
            job = jobs.get(item.job_id)
            document = await gateway.present(job) if job is not None else None
            page.append({"index": index, "jobId": item.job_id, "job": document})
    following = start + limit
    return ok(
        {
            "batchId": batch.id,
            "createdAt": iso(batch.created_at),
            "total": len(batch.items),
            "counts": _counts(batch, jobs),
            "cost": usd(sum((job.cost for job in jobs.values()), Decimal("0"))),
            "items": page,
            "nextCursor": _cursor(following) if following < len(batch.items) else None,
        }
    )


def _counts(batch: Batch, jobs: dict[str, Job]) -> dict[str, int]:
    """Items by status; `REFUSED` for refusals, `EXPIRED` for jobs past their lifetime."""
    counted: Counter[str] = Counter({status.value: 0 for status in JobStatus})
    for item in batch.items:
        if item.job_id is None:
            counted["REFUSED"] += 1
        else:
            job = jobs.get(item.job_id)
            counted[job.status.value if job is not None else "EXPIRED"] += 1
    counted.setdefault("REFUSED", 0)
    return dict(counted)


def _cursor(index: int) -> str:
    return str(index)


def _index(text: str) -> int | None:
    """ASCII digits only: `"²".isdigit()` is true but `int("²")` raises."""
    return int(text) if _NUMBER.fullmatch(text) else None


def _page(request: Request) -> tuple[int, int]:
    params = checked_query(request.query_params, ("limit", "cursor"))
    limit = parse_limit(params.get("limit"), DEFAULT_PAGE, MAX_ITEMS)
    cursor = params.get("cursor")
    if cursor is None:
        return 0, limit
    start = _index(cursor)
    if start is None:
        raise invalid_request("'cursor' is not a cursor this gateway issued", "cursor")
    return start, limit


async def cancel(request: Request) -> JSONResponse:
    """Cancel every job of the batch that has not ended (each as its own cancel would)."""
    gateway: Gateway = request.app.state.gateway
    tenant = gateway.keyring.authenticate(request.headers)
    canceled = await cancel_batch(gateway, tenant, request.path_params["batch_id"])
    return ok({"batchId": canceled.batch.id, **canceled.counts})


routes = [
    Route("/images/batches", idempotent(submit, body_limit=batch_body_limit), methods=["POST"]),
    Route("/images/batches/{batch_id}", get_batch, methods=["GET"]),
    Route("/images/batches/{batch_id}/cancel", idempotent(cancel), methods=["POST"]),
]
