"""Retention: delete images older than `storage.retention` that nothing live points to.

Safe to run while the gateway serves. An object is deleted only when

1. its `last_modified` is older than `retention` and than `gc_min_age`: a job storing an
   image right now has a fresh object (storing an identical image rewrites it), and
2. no live job or cache entry references it, read once up front and again for each batch
   just before its deletes (a job that stalled between storing and finishing), and
3. a HEAD right before its DELETE still shows it old (re-stored since it was listed).

What remains is one HEAD-to-DELETE round trip during which a byte-identical image would
have to be stored and its job finished. Every step only ever keeps more, never less.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta

from gateway.settings import Settings
from gateway.state.base import StateStore
from gateway.storage import ImageStore, ObjectInfo

BATCH = 256


@dataclass
class GcReport:
    """What one run found and freed (or, with `dry_run`, would have)."""

    dry_run: bool
    retention: float | None
    scanned: int = 0
    deleted: int = 0
    freed_bytes: int = 0
    kept_referenced: int = 0
    kept_recent: int = 0

    def summary(self) -> str:
        verb = "would delete" if self.dry_run else "deleted"
        return (
            f"gc: scanned {self.scanned} images; {verb} {self.deleted} "
            f"({self.freed_bytes} bytes); kept {self.kept_referenced} referenced, "
            f"{self.kept_recent} recent"
        )


async def collect_garbage(
    settings: Settings,
    state: StateStore,
    images: ImageStore,
    now: datetime,
    dry_run: bool = False,
) -> GcReport:
    """Delete (unless `dry_run`) unreferenced images older than retention, as of `now`."""
    retention = settings.storage.retention
    report = GcReport(dry_run=dry_run, retention=retention)
    if retention is None:
        return report
    cutoff = now - timedelta(seconds=max(retention, settings.storage.gc_min_age))
    referenced = await state.referenced_keys()
    batch: list[ObjectInfo] = []
    async for info in images.list_images():
        report.scanned += 1
        if info.last_modified >= cutoff:
            report.kept_recent += 1
        elif info.key in referenced:
            report.kept_referenced += 1
        else:
            batch.append(info)
        if len(batch) >= BATCH:
            await _sweep(batch, state, images, cutoff, report)
            batch = []
    await _sweep(batch, state, images, cutoff, report)
    return report


async def _sweep(
    candidates: Iterable[ObjectInfo],
    state: StateStore,
    images: ImageStore,
    cutoff: datetime,
    report: GcReport,
) -> None:
    candidates = list(candidates)
    if not candidates:
        return
    referenced = await state.referenced_keys()
    for info in candidates:
        if info.key in referenced:
            report.kept_referenced += 1
            continue
        fresh = await images.head(info.key)
        if fresh is None:
            continue  # already gone (another gc run)
        if fresh.last_modified >= cutoff:
            report.kept_recent += 1
            continue
        if not report.dry_run:
            await images.delete(info.key)
        report.deleted += 1
        report.freed_bytes += fresh.size
