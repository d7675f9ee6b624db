"""A job whose next attempt cannot start now goes back to the queue instead of holding a worker.

The attempt raises `Deferred` when its backend's rate window (`[backends.NAME] rate`) or
concurrency (`max_concurrency`) is full; nothing was called, charged or recorded. The
runner adds where on the route the job stood (`Resume`), and the worker hands the job back
to the queue (`StateStore.defer`), which does not hand it out again before the delay has
passed. The next delivery picks the route up at that target with the attempts it already
made there, so deferring never adds attempts, never re-runs a target, and never counts as a
delivery (a job is not "lost" for waiting). Budget reservations stay on the job and are
reused by the resumed attempt; the job's deadline and cost cap apply as to any job.
"""

from __future__ import annotations

import random

from gateway.jobs import Resume

# A full concurrency cap says nothing about when a slot frees: look again after about this
# long (with jitter, so deferred jobs do not come back in step).
CAPACITY_RETRY = 0.5
MIN_DELAY = 0.05


class Deferred(Exception):
    """The next attempt cannot start for `delay` seconds (`reason`: "rate" or "capacity")."""

    def __init__(self, backend: str, reason: str, delay: float) -> None:
        super().__init__(f"backend {backend!r}: {reason} full for {delay:.2f}s")
        self.backend = backend
        self.reason = reason
        self.delay = max(MIN_DELAY, delay)
        self.resume: Resume | None = None  # set by the runner: where the route stood


def capacity_delay() -> float:
    return CAPACITY_RETRY * random.uniform(0.5, 1.5)
