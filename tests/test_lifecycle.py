"""The lifecycle in `gateway/jobs.py`: each change as Python applies it and as the Redis
scripts receive it are the same, and a change never applies to a status it does not expect."""

from __future__ import annotations

import importlib
import pkgutil
import re
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest

import gateway
from gateway import jobs
from gateway.fingerprint import fingerprint
from gateway.jobs import (
    ACTIVE,
    Change,
    IllegalTransition,
    Job,
    JobError,
    JobResult,
    JobSpec,
    JobStatus,
    Resume,
    StoredImage,
    VendorJob,
    new_job_id,
)

NOW = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)
RESULT = JobResult(
    "ab" * 32,
    "procedural",
    "64x64",
    "procedural",
    3,
    1,
    Decimal("0.04"),
    (StoredImage("images/x.png", "cd" * 32, 64, 64, 10),),
)
ERROR = JobError("backend_unavailable", "vendor said no")


def job_in(status: JobStatus) -> Job:
    spec = JobSpec(prompt="a fox", model="procedural", size="64x64")
    return Job(
        new_job_id(),
        "demo",
        spec,
        fingerprint(spec),
        status=status,
        created_at=NOW - timedelta(seconds=5),
    )


CHANGES: dict[str, Change] = {
    "started": jobs.started(NOW),
    "follower_started": jobs.follower_started(NOW),
    "requeued": jobs.requeued(),
    "born_cached": jobs.born_cached(NOW),
    "succeeded": jobs.ended(NOW, RESULT, None),
    "failed": jobs.ended(NOW, None, ERROR),
    "canceled": jobs.canceled(NOW),
    "deadline": jobs.canceled(NOW, JobError("deadline_exceeded", "past its deadline")),
    "deferred": jobs.deferred(Resume(target=1, tries=2)),
    "vendor_job": jobs.vendor_job_started(VendorJob("replicate", "p_1")),
    "cancel_ending": jobs.cancel_ending(NOW),
    **{f"join_{status}": change for status, change in jobs.joins().items()},
    **{
        f"cancel_{role}": change
        for role, change in vars(jobs.cancel(NOW, jobs.client_cancel(), force=True)).items()
    },
}


def patched(document: dict[str, Any], change: Change) -> dict[str, Any]:
    """What a Redis script makes of a job document: the JSON patch, the increments."""
    encoded = change.to_json()
    result = {**document, **encoded["set"]}
    for name, n in encoded["incr"].items():
        result[name] += n
    return result


@pytest.mark.parametrize("name", sorted(CHANGES))
@pytest.mark.parametrize("status", list(JobStatus))
def test_python_and_the_scripts_apply_a_change_alike(name: str, status: JobStatus) -> None:
    change, job = CHANGES[name], job_in(status)
    if status not in change.expected:
        with pytest.raises(IllegalTransition):
            change.apply(job)
        return
    assert change.apply(job).to_json() == patched(job.to_json(), change)


@pytest.mark.parametrize("status", sorted(JobStatus))
def test_nothing_leaves_a_terminal_status(status: JobStatus) -> None:
    for change in CHANGES.values():
        assert change.applies_to(job_in(status)) is (status in change.expected)
        if status.terminal:
            assert status not in change.expected


def test_endings_apply_to_active_jobs_only() -> None:
    for name in ("succeeded", "failed", "canceled", "deadline"):
        assert CHANGES[name].expected == ACTIVE
        ended = CHANGES[name].apply(job_in(JobStatus.RUNNING))
        assert ended.status.terminal and ended.finished_at == NOW


def test_a_started_delivery_is_counted() -> None:
    job = job_in(JobStatus.PENDING)
    started = jobs.started(NOW).apply(job)
    assert (started.status, started.started_at, started.deliveries) == (
        JobStatus.RUNNING,
        NOW,
        1,
    )
    assert not jobs.delivery_exhausted(started, 1)
    assert jobs.delivery_exhausted(jobs.started(NOW).apply(started), 1)


def lua_sources() -> dict[str, str]:
    """Every Lua script of the gateway: the module constants that call Redis."""
    found = {}
    for module in pkgutil.walk_packages(gateway.__path__, "gateway."):
        for name, value in vars(importlib.import_module(module.name)).items():
            if name.isupper() and isinstance(value, str) and "redis.call(" in value:
                found[f"{module.name}.{name}"] = value
    return found


def test_no_lua_script_names_a_status() -> None:
    sources = lua_sources()
    assert {"gateway.state.redis_scripts.CANCEL", "gateway.state.redis_outbox.CLAIM"} <= set(
        sources
    )
    for where, source in sources.items():
        for status in JobStatus:
            assert not re.search(rf"\b{status.value}\b", source), (where, status)
