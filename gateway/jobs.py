"""The job model: statuses, the legal transitions in one place, JSON (de)serialisation."""

from __future__ import annotations

import secrets
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from decimal import Decimal
from enum import StrEnum
from typing import Any


class JobStatus(StrEnum):
    PENDING = "PENDING"
    RUNNING = "RUNNING"
    SUCCEEDED = "SUCCEEDED"
    FAILED = "FAILED"
    CANCELED = "CANCELED"

    @property
    def terminal(self) -> bool:
        return self in TERMINAL


TERMINAL = frozenset({JobStatus.SUCCEEDED, JobStatus.FAILED, JobStatus.CANCELED})

# RUNNING -> PENDING is a requeue (shutdown or a reclaimed delivery); terminal states are final.
TRANSITIONS: dict[JobStatus, frozenset[JobStatus]] = {
    JobStatus.PENDING: frozenset(
        {JobStatus.RUNNING, JobStatus.SUCCEEDED, JobStatus.FAILED, JobStatus.CANCELED}
    ),
    JobStatus.RUNNING: frozenset(
        {JobStatus.PENDING, JobStatus.SUCCEEDED, JobStatus.FAILED, JobStatus.CANCELED}
    ),
    JobStatus.SUCCEEDED: frozenset(),
    JobStatus.FAILED: frozenset(),
    JobStatus.CANCELED: frozenset(),
}


class IllegalTransition(Exception):
    """A status change the job model forbids (e.g. anything out of a terminal status)."""


def utcnow() -> datetime:
    return datetime.now(UTC)


def iso(moment: datetime | None) -> str | None:
    if moment is None:
        return None
    return moment.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def new_job_id() -> str:
    return "job_" + secrets.token_hex(12)


@dataclass(frozen=True)
class StoredImage:
    """One image of a result, as kept in object storage."""

    key: str
    sha256: str
    width: int
    height: int
    bytes: int
    media_type: str = "image/png"


@dataclass(frozen=True)
class Attempt:
    """One call to a backend: who, how it ended, what it cost."""

    backend: str
    model: str
    outcome: str  # "ok" or a public error code
    cost: Decimal
    duration_ms: int


@dataclass(frozen=True)
class JobResult:
    """The result record: what was generated, by whom, for how much."""

    prompt_sha256: str
    model: str
    size: str
    backend: str
    duration_ms: int
    attempts: int
    cost: Decimal
    images: tuple[StoredImage, ...]


@dataclass(frozen=True)
class JobError:
    code: str
    message: str


@dataclass(frozen=True)
class JobSpec:
    """What the client asked for, validated and with defaults applied."""

    prompt: str
    model: str
    size: str
    n: int = 1
    seed: int | None = None
    negative_prompt: str | None = None
    quality: str | None = None
    output_format: str = "png"
    no_cache: bool = False
    webhook_url: str | None = None
    metadata: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class Job:
    id: str
    tenant: str
    spec: JobSpec
    fingerprint: str
    status: JobStatus = JobStatus.PENDING
    cached: bool = False
    leader_id: str | None = None  # set when this job follows another job's execution
    created_at: datetime = field(default_factory=utcnow)
    started_at: datetime | None = None
    finished_at: datetime | None = None
    result: JobResult | None = None
    error: JobError | None = None
    attempts: tuple[Attempt, ...] = ()
    deliveries: int = 0
    # Tenant budget reserved at admission for the first attempt: {window: USD}.
    reserved: dict[int, Decimal] = field(default_factory=dict)

    def transition(self, status: JobStatus, **changes: Any) -> Job:
        """A copy in `status`, or `IllegalTransition` if the model forbids the move."""
        if status not in TRANSITIONS[self.status]:
            raise IllegalTransition(f"{self.id}: {self.status} -> {status} is not allowed")
        now = utcnow()
        if status is JobStatus.RUNNING:
            changes.setdefault("started_at", now)
        if status.terminal:
            changes.setdefault("finished_at", now)
        return replace(self, status=status, **changes)

    @property
    def cost(self) -> Decimal:
        return sum((a.cost for a in self.attempts), Decimal("0"))

    @property
    def duration_ms(self) -> int | None:
        if self.finished_at is None:
            return None
        start = self.started_at or self.created_at
        return max(0, round((self.finished_at - start).total_seconds() * 1000))

    def to_json(self) -> dict[str, Any]:
        # Written out by hand: this runs on every submit and every state change, and a
        # generic walk over dataclass fields was the largest cost of a submit.
        return {
            "id": self.id,
            "tenant": self.tenant,
            "spec": {**self.spec.__dict__, "metadata": dict(self.spec.metadata)},
            "fingerprint": self.fingerprint,
            "status": self.status.value,
            "cached": self.cached,
            "leader_id": self.leader_id,
            "created_at": self.created_at.isoformat(),
            "started_at": self.started_at.isoformat() if self.started_at else None,
            "finished_at": self.finished_at.isoformat() if self.finished_at else None,
            "result": record_to_json(self.result) if self.result else None,
            "error": record_to_json(self.error) if self.error else None,
            "attempts": [record_to_json(attempt) for attempt in self.attempts],
            "deliveries": self.deliveries,
            "reserved": {window: str(amount) for window, amount in self.reserved.items()},
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Job:
        result = data.get("result")
        error = data.get("error")
        return cls(
            id=data["id"],
            tenant=data["tenant"],
            spec=JobSpec(**data["spec"]),
            fingerprint=data["fingerprint"],
            status=JobStatus(data["status"]),
            cached=data["cached"],
            leader_id=data.get("leader_id"),
            created_at=datetime.fromisoformat(data["created_at"]),
            started_at=_parse_time(data.get("started_at")),
            finished_at=_parse_time(data.get("finished_at")),
            result=_result_from_json(result) if result else None,
            error=JobError(**error) if error else None,
            attempts=tuple(
                Attempt(**{**a, "cost": Decimal(a["cost"])}) for a in data.get("attempts", ())
            ),
            deliveries=data.get("deliveries", 0),
            reserved={int(w): Decimal(v) for w, v in data.get("reserved", {}).items()},
        )


def record_to_json(record: Attempt | JobResult | JobError) -> dict[str, Any]:
    """One part of a job in the job's JSON format (what `Job.to_json` writes for it)."""
    encoded = dict(record.__dict__)
    if "cost" in encoded:
        encoded["cost"] = str(encoded["cost"])
    if "images" in encoded:
        encoded["images"] = [dict(image.__dict__) for image in encoded["images"]]
    return encoded


def _result_from_json(data: dict[str, Any]) -> JobResult:
    return JobResult(
        **{
            **data,
            "cost": Decimal(data["cost"]),
            "images": tuple(StoredImage(**image) for image in data["images"]),
        }
    )


def _parse_time(value: str | None) -> datetime | None:
    return datetime.fromisoformat(value) if value else None
