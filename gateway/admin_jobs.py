"""Recent jobs across tenants for the admin API (`GET /admin/jobs`): every configured
tenant's listing (the per-tenant index of gateway/state/), merged newest first.

Each tenant's page is read from the same cursor position; a tenant whose page stopped
early (its `next` is set) has been read only down to that position, so the merged page
holds only jobs at or above the newest such position: nothing below it can be skipped by
the cursor this page hands back. The cursor is a position (creation time, job id), the
same for every tenant's index, so pages stay stable while new jobs arrive.
"""

from __future__ import annotations

import asyncio
from dataclasses import replace

from gateway.jobs import Job, epoch_ms
from gateway.state.base import ListQuery, Page, StateStore

Position = tuple[int, str]


def position(job: Job) -> Position:
    return epoch_ms(job.created_at), job.id


def merged(pages: list[Page], limit: int) -> Page:
    """One page of at most `limit` jobs from the tenants' pages of the same query."""
    frontiers = [page.next for page in pages if page.next is not None]
    floor = max(frontiers) if frontiers else None
    ready = sorted(
        (job for page in pages for job in page.jobs if floor is None or position(job) >= floor),
        key=position,
        reverse=True,
    )
    if len(ready) > limit:
        return Page(ready[:limit], position(ready[limit - 1]))
    return Page(ready, floor)


async def list_all(state: StateStore, tenants: list[str], query: ListQuery) -> Page:
    """`query` (its tenant ignored) over every one of `tenants`."""
    pages = await asyncio.gather(
        *(state.list_jobs(replace(query, tenant=tenant)) for tenant in tenants)
    )
    return merged(list(pages), query.limit)
