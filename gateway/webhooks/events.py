"""The event a job's ending sends: `{"type", "timestamp", "data": <the job document>}`.

One event per job (a job ends once), so its id is derived from the job's: every retry and
every redelivery carries the same `webhook-id`, which receivers deduplicate by.
"""

from __future__ import annotations

import json
from typing import Any

from gateway.jobs import Job, JobStatus, iso

EVENT_TYPES = {
    JobStatus.SUCCEEDED: "job.succeeded",
    JobStatus.FAILED: "job.failed",
    JobStatus.CANCELED: "job.canceled",
}


def event_id(job: Job) -> str:
    return "msg_" + job.id.removeprefix("job_")


def event_body(job: Job, document: dict[str, Any]) -> bytes:
    event = {
        "type": EVENT_TYPES[job.status],
        "timestamp": iso(job.finished_at or job.created_at),
        "data": document,
    }
    return json.dumps(event, separators=(",", ":")).encode()
