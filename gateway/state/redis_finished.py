"""Finished jobs a `redis://` process has already seen, answered without a round trip.

A poll of a finished job is most of what clients send (they poll until the job ends, and
many keep reading it after), and on Redis its one GET was most of the poll's cost. This
process keeps the last few thousand *final* job documents it read or wrote (`final`: ended,
with no webhook) and answers `get_job` for them from memory.

Why that is exact, i.e. returns what a GET would:

1. *A final document is never rewritten.* A job document changes only through the Lua
   scripts (`redis_scripts.py`, `redis_outbox.py`), and every script that writes an
   existing job applies a compare-and-set `Change` from `gateway.jobs`, all of which expect
   an active status (PENDING or RUNNING), or acts on active jobs only (`RESERVE`,
   `ADD_ATTEMPT`, a delivery's start, `CANCEL`'s roles, `REQUEUE`, `DEFER`, a leader's
   followers). Money is settled inside the save that ends the job, never after. A
   resubmitted id returns the stored document untouched. What does rewrite an ended job
   is its webhook delivery state (the outbox's claim and record, an admin or client
   redelivery), which is why a job with a webhook is never kept, whatever its delivery
   status (a delivered webhook can be redelivered on request). There is no delete of a
   job: gc deletes images no live job references, and reads jobs only to find them.
   `tests/test_state_finished.py` tries every state method on a final job from a second
   process and checks the stored bytes did not change.
2. *An entry never outlives the document.* A document expires `job_ttl` after its last
   save (`SET ... PX`), and a final document's last save is the one that ended it, which
   ran after its `finished_at` was taken (the ending change is computed, with that
   timestamp, before the script is sent). So Redis keeps it until at least
   `finished_at + job_ttl`; an entry answers until `CLOCK_MARGIN` before that, the margin
   covering the clock difference between the process that ended the job and this one
   (the state already needs those within well under a second: gateway/state/redis.py).
   The deadline is converted to this process's monotonic clock when the entry is made,
   so a later jump of the wall clock changes nothing.
3. *A job that can still change is never kept*: an active one, or one with a webhook; it
   is read from Redis at every call, as before.

`MAX_AGE` bounds what only a Redis that loses acknowledged writes could make visible (an
asynchronous replica promoted without the ending, a FLUSHALL, eviction under a
`maxmemory` policy other than `noeviction`): this process then answers the ending it saw
for at most that long before reading Redis again. The memory store needs none of this: its
jobs are in the process.

Size: `SIZE` entries, least recently used dropped first; a decoded finished job is about
3 KB, so a full cache holds about 12 MB.
"""

from __future__ import annotations

import time
from collections import OrderedDict

from gateway.jobs import Job

SIZE = 4096
CLOCK_MARGIN = 30.0  # seconds before the earliest moment Redis may expire the document
MAX_AGE = 60.0  # seconds an entry answers before the next call reads Redis again


def final(job: Job) -> bool:
    """A document no step rewrites any more: ended, with no webhook delivery to record."""
    return job.status.terminal and job.webhook is None and job.finished_at is not None


class FinishedJobs:
    """A bounded LRU of final jobs, each until shortly before Redis may expire it.

    >>> finished = FinishedJobs(job_ttl=604800)
    >>> finished.keep(job)          # a document just read or written; kept if final
    >>> finished.get(job.id)        # the job, or None: read Redis
    """

    def __init__(
        self,
        job_ttl: float,
        *,
        size: int = SIZE,
        margin: float = CLOCK_MARGIN,
        max_age: float = MAX_AGE,
    ) -> None:
        self.job_ttl = job_ttl
        self.size = size
        self.margin = margin
        self.max_age = max_age
        self._entries: OrderedDict[str, tuple[Job, float]] = OrderedDict()  # id -> (job, until)

    def __len__(self) -> int:
        return len(self._entries)

    def get(self, job_id: str) -> Job | None:
        entry = self._entries.get(job_id)
        if entry is None:
            return None
        job, until = entry
        if time.monotonic() >= until:
            del self._entries[job_id]
            return None
        self._entries.move_to_end(job_id)
        return job

    def keep(self, job: Job) -> None:
        """Remember `job` if it is final and its document will outlive the entry."""
        if not final(job) or job.finished_at is None:
            return
        now, wall = time.monotonic(), time.time()
        expires = job.finished_at.timestamp() + self.job_ttl - self.margin  # wall clock
        life = min(expires - wall, self.max_age)
        if life <= 0:
            return
        entries = self._entries
        entries[job.id] = (job, now + life)
        entries.move_to_end(job.id)
        if len(entries) > self.size:
            entries.popitem(last=False)

    def until(self, job_id: str) -> float | None:
        """When the entry stops answering (monotonic seconds), for tests."""
        entry = self._entries.get(job_id)
        return None if entry is None else entry[1]
