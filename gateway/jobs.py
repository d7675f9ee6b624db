"""The job model and the one owner of its lifecycle: statuses, every status change, JSON.

Each status change is computed here as a `Change`: the fields it writes and the statuses it
may apply to. The stores (memory, Redis) apply changes atomically and compare-and-set: a
job whose status is not among the expected ones is left alone, which is what makes a stale
worker, a reclaimed delivery or a cancel that lost a race harmless. No store decides a
status itself (the Redis scripts never name one).

    PENDING --started--> RUNNING --ended--> SUCCEEDED | FAILED
       |  <--requeued--    |
       |  <--deferred--    |    (not handed out again before its not-before time)
       +----canceled-------+--canceled--> CANCELED
    PENDING --born_cached--> SUCCEEDED (a cached result; no backend call)

Cancel (the client's, or a deadline's) ends a PENDING job at once. A RUNNING job is
stopped cooperatively: the cancel is recorded on it (`cancel`, the error it will end
with) and, when no other job waits on its execution, `stop` tells the worker holding it
to abandon the attempt and end it CANCELED through the finish pipeline. A RUNNING leader
others still wait on keeps running for them and ends CANCELED when its execution ends.
"""

from __future__ import annotations

import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from enum import StrEnum
from typing import Any

from gateway.money.format import usd


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
ACTIVE = frozenset({JobStatus.PENDING, JobStatus.RUNNING})


class IllegalTransition(Exception):
    """A `Change` applied to a job whose status it does not expect."""


def utcnow() -> datetime:
    return datetime.now(UTC)


def iso(moment: datetime | None) -> str | None:
    if moment is None:
        return None
    return moment.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def epoch_ms(moment: datetime) -> int:
    """Whole milliseconds since the epoch, truncated as `iso` writes them (exact: no float)."""
    return (moment - EPOCH) // timedelta(milliseconds=1)


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


SKIPPED = "unsupported_"  # outcome prefix of a target passed over (`unsupported_seed`)


@dataclass(frozen=True)
class Attempt:
    """One call to a backend: who, how it ended, what it was expected to cost and what it
    was charged, and the usage the vendor reported (gateway/money/tokens.usage_to_json).
    A target that could not honour the request is recorded too, with no call made."""

    backend: str
    model: str
    outcome: str  # "ok", a public error code, or SKIPPED + the parameter
    cost: Decimal  # charged
    duration_ms: int
    estimated_cost: Decimal | None = None
    usage: dict[str, Any] | None = None

    @property
    def called(self) -> bool:
        """Whether the backend was called (a skipped target was not)."""
        return not self.outcome.startswith(SKIPPED)


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
class VendorJob:
    """A job a vendor runs for an attempt (Replicate's prediction id, fal's request id),
    as the backend reported it: whoever stops the attempt can cancel it by this."""

    backend: str
    handle: str


@dataclass(frozen=True)
class Hold:
    """Money reserved on a tenant budget counter (`key`, named by the state's key module)."""

    key: str
    amount: Decimal


@dataclass(frozen=True)
class JobError:
    code: str
    message: str


@dataclass(frozen=True)
class Resume:
    """Where a deferred job picks its route up again: at target index `target`, whose
    attempts so far number `tries`."""

    target: int
    tries: int


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
    # Edits and variations: input images and mask as object-storage keys (named by sha256).
    operation: str = "generate"  # "generate" | "edit" | "variation"
    images: tuple[str, ...] = ()
    mask: str | None = None
    input_fidelity: str | None = None
    partial_images: int = 0  # streaming previews asked of the vendor (not in the fingerprint)

    def __post_init__(self) -> None:
        # From JSON the keys come back as a list (or `{}`: Lua's cjson writes [] that way).
        if not isinstance(self.images, tuple):
            object.__setattr__(self, "images", tuple(self.images or ()))

    @property
    def input_keys(self) -> tuple[str, ...]:
        """Storage keys the job reads (input images, then the mask): gc keeps them."""
        return self.images + ((self.mask,) if self.mask else ())


@dataclass(frozen=True)
class WebhookState:
    """Where a job's ending is delivered and how that is going (gateway/webhooks/).

    `next_attempt_ms` (epoch ms, the store's clock) is set when the event is due: by the
    ending change (`Change.apply`), then by the outbox; it is the outbox index."""

    url: str
    status: str = "pending"  # pending | delivered | failed
    attempts: int = 0
    since: int = 0  # attempts made before the current round (a redelivery starts one)
    last_status: int | None = None
    last_error: str | None = None
    next_attempt_ms: int | None = None

    def to_json(self) -> dict[str, Any]:
        return dict(self.__dict__)


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
    # Every reservation taken on the tenant's budget for this job, oldest first; what is
    # reserved and not charged (`cost`) goes back once, when the job ends.
    reserved: tuple[Hold, ...] = ()
    # The store settled `reserved` against `cost` in the step that ended the job.
    settled: bool = False
    # No attempt starts after this moment; an unfinished job ends CANCELED at it.
    deadline: datetime | None = None
    resume: Resume | None = None  # set when the job was deferred (gateway/deferral.py)
    # A cancel asked for while the job ran: the error it ends CANCELED with once its
    # execution ends (code `canceled` or `deadline_exceeded`).
    cancel: JobError | None = None
    # The execution this job leads is to stop now: no job waits on it any more.
    stop: bool = False
    vendor_job: VendorJob | None = None  # the latest one its attempts started
    webhook: WebhookState | None = None  # its ending's delivery (the outbox event)

    @property
    def reserved_total(self) -> Decimal:
        return sum((hold.amount for hold in self.reserved), Decimal("0"))

    @property
    def cost(self) -> Decimal:
        return sum((a.cost for a in self.attempts), Decimal("0"))

    @property
    def calls(self) -> int:
        """Backend calls made for the job (its attempts, skipped targets not counted)."""
        return sum(1 for attempt in self.attempts if attempt.called)

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
            "spec": {
                **self.spec.__dict__,
                "metadata": dict(self.spec.metadata),
                "images": list(self.spec.images),
            },
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
            "reserved": [record_to_json(hold) for hold in self.reserved],
            "deadline": self.deadline.isoformat() if self.deadline else None,
            "resume": record_to_json(self.resume) if self.resume else None,
            "cancel": record_to_json(self.cancel) if self.cancel else None,
            "stop": self.stop,
            "settled": self.settled,
            "vendor_job": record_to_json(self.vendor_job) if self.vendor_job else None,
            "webhook": self.webhook.to_json() if self.webhook else None,
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
                Attempt(
                    **{
                        **a,
                        "cost": Decimal(a["cost"]),
                        "estimated_cost": _money(a.get("estimated_cost")),
                        "usage": a.get("usage") or None,
                    }
                )
                for a in _list(data.get("attempts"))
            ),
            deliveries=data.get("deliveries", 0),
            reserved=tuple(
                Hold(h["key"], Decimal(h["amount"])) for h in _list(data.get("reserved"))
            ),
            deadline=_parse_time(data.get("deadline")),
            resume=Resume(**data["resume"]) if data.get("resume") else None,
            cancel=JobError(**data["cancel"]) if data.get("cancel") else None,
            stop=bool(data.get("stop", False)),
            settled=bool(data.get("settled", False)),
            vendor_job=VendorJob(**data["vendor_job"]) if data.get("vendor_job") else None,
            webhook=WebhookState(**data["webhook"]) if data.get("webhook") else None,
        )


def record_to_json(
    record: Attempt | JobResult | JobError | Hold | Resume | VendorJob,
) -> dict[str, Any]:
    """One part of a job in the job's JSON format (what `Job.to_json` writes for it)."""
    encoded = dict(record.__dict__)
    for money in ("cost", "amount", "estimated_cost"):
        if encoded.get(money) is not None:
            encoded[money] = usd(encoded[money])
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


def _money(value: str | None) -> Decimal | None:
    return Decimal(value) if value is not None else None


def _parse_time(value: str | None) -> datetime | None:
    return datetime.fromisoformat(value) if value else None


def _list(value: Any) -> list[Any]:
    """A JSON array member; Lua's cjson writes an empty one as `{}`, and old documents
    kept `reserved` as an object of windows, which carries no counter name to refund."""
    return value if isinstance(value, list) else []


# How each field a `Change` may write looks in the job's JSON (as `Job.to_json` writes it).
FIELD_JSON: dict[str, Callable[[Any], Any]] = {
    "status": lambda status: status.value,
    "cached": bool,
    "leader_id": lambda value: value,
    "started_at": lambda moment: moment.isoformat() if moment else None,
    "finished_at": lambda moment: moment.isoformat() if moment else None,
    "result": lambda record: record_to_json(record) if record else None,
    "error": lambda record: record_to_json(record) if record else None,
    "resume": lambda record: record_to_json(record) if record else None,
    "cancel": lambda record: record_to_json(record) if record else None,
    "stop": bool,
    "vendor_job": lambda record: record_to_json(record) if record else None,
}


# -- the lifecycle ---------------------------------------------------------------------------
@dataclass(frozen=True)
class Change:
    """One status change: the fields it writes, and the statuses it may apply to.

    `count_delivery` also adds one to `deliveries` (a claim), `return_delivery` takes one
    back (a deferral). Stores apply a change only to a job whose status is in `expected`,
    atomically with whatever else the step does. A change that ends a job also makes its
    webhook event due (`records_event`): the outbox entry is written in the same step as
    the terminal status.
    """

    expected: frozenset[JobStatus]
    fields: dict[str, Any]
    count_delivery: bool = False
    return_delivery: bool = False

    def applies_to(self, job: Job) -> bool:
        return job.status in self.expected

    def apply(self, job: Job) -> Job:
        if job.status not in self.expected:
            raise IllegalTransition(f"{job.id}: {self.fields.get('status')} from {job.status}")
        changed = replace(job, **self.fields)
        if self.count_delivery or self.return_delivery:
            changed = replace(changed, deliveries=job.deliveries + self._delivery_delta)
        if self.records_event and changed.webhook is not None:
            due = replace(changed.webhook, next_attempt_ms=int(time.time() * 1000))
            changed = replace(changed, webhook=due)
        return changed

    @property
    def records_event(self) -> bool:
        return self.fields.get("status") in TERMINAL

    @property
    def _delivery_delta(self) -> int:
        return int(self.count_delivery) - int(self.return_delivery)

    def to_json(self) -> dict[str, Any]:
        """The change as the Redis scripts take it: expected statuses, the JSON patch, and
        counters to increment."""
        return {
            "expected": sorted(status.value for status in self.expected),
            "set": {name: FIELD_JSON[name](value) for name, value in self.fields.items()},
            "incr": {"deliveries": self._delivery_delta} if self._delivery_delta else {},
            "outbox": self.records_event,
        }


WORKER_LOST = "worker_lost"


def started(now: datetime) -> Change:
    """A delivery starts the job: a queued one, or (a reclaim) one a dead worker held."""
    return Change(ACTIVE, {"status": JobStatus.RUNNING, "started_at": now}, count_delivery=True)


def follower_started(now: datetime) -> Change:
    """A job following an execution starts when the execution does."""
    return Change(frozenset({JobStatus.PENDING}), {"status": JobStatus.RUNNING, "started_at": now})


def requeued() -> Change:
    """A RUNNING job (and its followers) goes back to the queue: shutdown, a lost worker."""
    return Change(frozenset({JobStatus.RUNNING}), {"status": JobStatus.PENDING})


def deferred(resume: Resume) -> Change:
    """A RUNNING job whose next attempt cannot start yet (the vendor's rate window or
    concurrency is full) goes back to the queue to resume its route at `resume`. Its claim
    is not counted: waiting is not a worker lost. (Followers take `requeued`.)"""
    return Change(
        frozenset({JobStatus.RUNNING}),
        {"status": JobStatus.PENDING, "resume": resume},
        return_delivery=True,
    )


def vendor_job_started(vendor_job: VendorJob) -> Change:
    """An active job's attempt started a vendor job (no status changes)."""
    return Change(ACTIVE, {"vendor_job": vendor_job})


def born_cached(now: datetime) -> Change:
    """A new job answered from the result cache (the store adds the cached `result`)."""
    return Change(
        frozenset({JobStatus.PENDING}),
        {"status": JobStatus.SUCCEEDED, "cached": True, "finished_at": now},
    )


def joins() -> dict[JobStatus, Change]:
    """How a new job joins an execution in flight, by the status of the job leading it:
    it takes that status (the store adds `leader_id` and the leader's `started_at`). An
    execution whose leader is in no status here cannot be joined."""
    pending = frozenset({JobStatus.PENDING})
    return {
        JobStatus.PENDING: Change(pending, {}),
        JobStatus.RUNNING: Change(pending, {"status": JobStatus.RUNNING}),
    }


def ended(now: datetime, result: JobResult | None, error: JobError | None) -> Change:
    """An active job ends SUCCEEDED with `result`, else FAILED with `error`."""
    status = JobStatus.SUCCEEDED if result is not None else JobStatus.FAILED
    return Change(ACTIVE, {"status": status, "result": result, "error": error, "finished_at": now})


CANCELED_BY_CLIENT = "canceled"
DEADLINE_EXCEEDED = "deadline_exceeded"


def canceled(now: datetime, error: JobError | None = None) -> Change:
    """An active job ends CANCELED (by its client, or at its deadline with `error`)."""
    return Change(ACTIVE, {"status": JobStatus.CANCELED, "error": error, "finished_at": now})


def client_cancel() -> JobError:
    return JobError(CANCELED_BY_CLIENT, "the job was canceled by its client")


def deadline_exceeded() -> JobError:
    return JobError(DEADLINE_EXCEEDED, "the job did not finish before its deadline")


@dataclass(frozen=True)
class Cancel:
    """The changes one cancel may write, by the role of the job it reaches; the store
    picks by role (a follower, a queued leader, a running leader), never by status.

    - `follower`: a job following an execution ends CANCELED at once, alone.
    - `queued`: a PENDING job ends CANCELED at once; its execution passes to its oldest
      waiting follower (`promoted`), or leaves the queue when none waits.
    - `running`: a RUNNING job records the cancel; `stopped` then asks its worker to stop
      the execution, once no follower still waits on it.
    - `forced`: (a sweep past its grace) a RUNNING job whose worker did not stop it ends
      CANCELED now, its execution with it.
    """

    follower: Change
    queued: Change
    running: Change
    stopped: Change
    promoted: Change
    forced: Change | None = None

    def to_json(self) -> dict[str, Any]:
        return {
            name: change.to_json() for name, change in self.__dict__.items() if change is not None
        }


def cancel(now: datetime, error: JobError, *, force: bool = False) -> Cancel:
    pending, running = frozenset({JobStatus.PENDING}), frozenset({JobStatus.RUNNING})
    ending = {"status": JobStatus.CANCELED, "error": error, "finished_at": now}
    return Cancel(
        follower=Change(ACTIVE, ending),
        queued=Change(pending, ending),
        running=Change(running, {"cancel": error}),
        stopped=Change(running, {"stop": True}),
        promoted=Change(pending, {"leader_id": None}),
        forced=Change(running, ending) if force else None,
    )


def cancel_ending(now: datetime) -> Change:
    """How a job whose `cancel` was recorded ends with its execution (the store adds the
    recorded error)."""
    return Change(ACTIVE, {"status": JobStatus.CANCELED, "finished_at": now})


def delivery_exhausted(job: Job, max_deliveries: int) -> bool:
    """A job delivered more than `max_deliveries` times kept killing its workers: the store
    hands it out unstarted, and the worker ends it `worker_lost`."""
    return job.deliveries > max_deliveries


def worker_lost(max_deliveries: int) -> JobError:
    return JobError(WORKER_LOST, f"no worker finished the job in {max_deliveries} deliveries")
