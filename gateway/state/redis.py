"""`redis://`: the state shared by any number of gateway and worker processes.

Key names and lifetimes: `gateway/state/keys.py`. Every change to more than one key is one
Lua script (`redis_scripts.py`), so it is atomic, and every script is safe to run twice
(redis-py retries a command whose reply was lost): `submit` returns the stored job when the
id exists, and every status change is a compare-and-set `Change` from `gateway.jobs`.
Round trips: submit 1, get_job 1 (0 for a finished job this process has seen, below),
add_attempt 1, finish 1, count_active 1; claim 1 when work is waiting, else 1 + a blocking
XREADGROUP + 1. A start, an attempt and an ending are announced to the job's watchers by
the script that writes them (SPUBLISH in the script, `self.events` subscribes), not by a
command of their own. The first call of a script after Redis restarts costs one more (EVALSHA
fails, then EVAL). With `[state] replica_acks` a submit's script is followed by a WAIT in
the same write, so the job is on that many replicas when it is answered (redis_replicas.py).

Finished jobs are read once per process: a job that ended without a webhook is never
written again (every script's change to an existing job is compare-and-set on an active
status; only the outbox rewrites an ended job, and only its webhook state), so the
documents of such jobs that this process reads or writes are kept in a bounded LRU and
`get_job` answers them without Redis, each until shortly before Redis may expire it.
Why that returns exactly what a GET would: gateway/state/redis_finished.py.

A submit carries a deadline (`SUBMIT_DEADLINE` after it was sent, compared with Redis
`TIME`): a submit that sat in a stalled server's socket until after the client was told
503 refuses itself when the server resumes, so a 503 never becomes a job later. (This
needs the gateway's and Redis's clocks within well under a second of each other, as NTP
keeps them.)

The queue is at-least-once: an entry stays pending in the group until `finish` acks and
deletes it; a worker that dies leaves it pending, and after `visibility_timeout` another
worker takes it over (XPENDING IDLE + XCLAIM). From then on only the new holder's finish,
requeue or defer applies (the scripts check the entry's consumer, as a heartbeat does): a
worker that merely stalled cannot end the job before the new holder's billed call is
recorded on it. A job delivered more than `max_deliveries` times is handed out unstarted,
and the worker ends it `worker_lost` through the same finish pipeline as every other ending.

Redis Cluster (`redis+cluster://`): every key a script touches is in the state's one slot
(see gateway/state/keys.py), so each script stays one atomic step on one node and every
guarantee above holds as on one Redis; a failover promotes the slot's replica.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import replace
from datetime import datetime
from functools import lru_cache, partial
from typing import Any, TypeVar, cast

import orjson
from redis.commands.core import AsyncScript
from redis.exceptions import (
    NoScriptError,
    ResponseError,
)

from gateway import jobs
from gateway.events.redis import RedisJobEvents
from gateway.jobs import (
    ACTIVE,
    Attempt,
    Cancel,
    Job,
    JobError,
    JobResult,
    Resume,
    epoch_ms,
    record_to_json,
    utcnow,
)
from gateway.state import redis_scripts as lua
from gateway.state.base import (
    BudgetRefused,
    CachedBirth,
    Canceled,
    ConcurrencyLimited,
    ListQuery,
    Page,
    QueueStats,
    Reservation,
    SubmitExpired,
)
from gateway.state.keys import Keys
from gateway.state.redis_client import Client, close, connect, ready, unavailable
from gateway.state.redis_finished import FinishedJobs
from gateway.state.redis_outbox import RedisOutbox
from gateway.state.redis_queue_stats import read_queue_stats
from gateway.state.redis_replicas import ReplicaAcks
from gateway.usage.redis import RedisUsage

log = logging.getLogger("imagegate.state")

T = TypeVar("T")
MAX_DELIVERIES = 5
MAX_BLOCK = 5.0  # seconds one XREADGROUP blocks; its socket waits a second longer
GROUP = "workers"
# A submit not run by Redis within this many seconds of being sent refuses itself: by then
# its command timed out (1 s), so the client is being told 503.
SUBMIT_DEADLINE = 1.0
NONE = ("", "", "")  # a submit's reservation arguments when it reserves nothing


# orjson: compact like separators=(",", ":"), several times faster on every job read and
# write (a poll is one job document decoded; a job's life writes about five).
def _dumps(job: Job) -> bytes:
    data = job.to_json()
    data["spec"] = data.pop("spec")  # last: the scripts keep it verbatim
    return orjson.dumps(data)


# A document read again unchanged (a client polling a job) is decoded once: a Job is frozen,
# so the decoded one is shared.
@lru_cache(maxsize=256)
def _loads(doc: bytes | str) -> Job:
    return Job.from_json(orjson.loads(doc))


def _change(change: jobs.Change) -> bytes:
    return orjson.dumps(change.to_json())


def _holder(worker_id: str | None, delivery: int | None) -> tuple[str, str | int]:
    """The scripts' holder arguments: the consumer and its delivery's number, '' for none."""
    return worker_id or "", "" if delivery is None else delivery


def _ms(seconds: float) -> int:
    return max(1, round(seconds * 1000))


class RedisState:
    """The state Protocol on one Redis (7.0+) or a Redis Cluster.

    >>> state = RedisState.from_url("redis://127.0.0.1:6379/0", job_ttl=604800,
    ...                             cache_ttl=86400, visibility_timeout=300)
    """

    durable = True
    queued = 0  # the queue outlives this process: nothing to drain here

    def __init__(
        self,
        client: Client,
        blocking: Client,
        *,
        job_ttl: float,
        cache_ttl: float,
        visibility_timeout: float,
        max_deliveries: int = MAX_DELIVERIES,
        prefix: str = "ig",
        replica_acks: int = 0,
        replica_ack_timeout: float = 0.1,
    ) -> None:
        self.client = client
        self.blocking = blocking  # XREADGROUP BLOCK: a longer socket timeout
        self.job_ttl = job_ttl
        self.cache_ttl = cache_ttl
        self.visibility_timeout = visibility_timeout
        self.max_deliveries = max_deliveries
        self.replicas = ReplicaAcks(client, replica_acks, replica_ack_timeout)
        self.keys = Keys(prefix)
        self.stream = self.keys.queue
        # Bytes: sent with every script call, so encoded once here rather than per call.
        self._context = json.dumps(
            {
                "keys": self.keys.templates(),
                "deadlines": self.keys.deadlines,
                "deferred": self.keys.deferred,
                "outbox": self.keys.outbox,
                "active": sorted(status.value for status in ACTIVE),
                "group": GROUP,
                "lists": ["attempts", "reserved"],
            },
            separators=(",", ":"),
        ).encode()
        self._joins = json.dumps(
            {status.value: change.to_json() for status, change in jobs.joins().items()}
        ).encode()
        self._submit = client.register_script(lua.SUBMIT)
        self._take = client.register_script(lua.TAKE)
        self._start = client.register_script(lua.START)
        self._add_attempt = client.register_script(lua.ADD_ATTEMPT)
        self._patch = client.register_script(lua.PATCH)
        self._heartbeat = client.register_script(lua.HEARTBEAT)
        self._reserve = client.register_script(lua.RESERVE)
        self._finish = client.register_script(lua.FINISH)
        self._requeue = client.register_script(lua.REQUEUE)
        self._defer = client.register_script(lua.DEFER)
        self._count_active = client.register_script(lua.COUNT_ACTIVE)
        self._cancel = client.register_script(lua.CANCEL)
        self._due = client.register_script(lua.DUE)
        self._list = client.register_script(lua.LIST)
        self.outbox = RedisOutbox(self)
        self.usage = RedisUsage(client, prefix, owned=False)
        self.finished = FinishedJobs(job_ttl)  # final documents, read without Redis
        # Its scripts publish starts, attempts and endings; the subscriber is on this client.
        self.events = RedisJobEvents(client, prefix, owned=False)

    @classmethod
    def from_url(
        cls,
        url: str,
        *,
        job_ttl: float,
        cache_ttl: float,
        visibility_timeout: float,
        replica_acks: int = 0,
        replica_ack_timeout: float = 0.1,
    ) -> RedisState:
        """Two clients on `url` (gateway/state/redis_client.py): commands time out after
        1 s, blocking reads after `MAX_BLOCK + 1` s; a connection or timeout error is
        retried once, so an unreachable Redis answers `StateUnavailable` within about two
        seconds. On one node the commands' client coalesces what is issued in one turn of
        the loop into one write (gateway/state/redis_coalescing.py): it never blocks, and
        every blocking read goes through the other."""
        return cls(
            connect(url, coalesce=True),
            connect(url, MAX_BLOCK + 1.0),
            job_ttl=job_ttl,
            cache_ttl=cache_ttl,
            visibility_timeout=visibility_timeout,
            replica_acks=replica_acks,
            replica_ack_timeout=replica_ack_timeout,
        )

    # -- keys ------------------------------------------------------------------------
    def job_key(self, job_id: str) -> str:
        return self.keys.job(job_id)

    def followers_key(self, job_id: str) -> str:
        return self.keys.followers(job_id)

    async def script(self, script: AsyncScript, keys: list[str], *args: str | int) -> Any:
        """Run a script with the common arguments (for the modules beside this one)."""
        with unavailable():
            return await self._run(script, keys, self._args(*args))

    def _args(self, *extra: str | bytes | int) -> list[str | bytes | int]:
        return [self._context, utcnow().isoformat(), _ms(self.job_ttl), *extra]

    # -- the Protocol ------------------------------------------------------------------
    async def submit(
        self,
        job: Job,
        *,
        max_active: int | None = None,
        reservation: Reservation | None = None,
        deadline: float | None = None,
        cached: CachedBirth | None = None,
    ) -> Job:
        keys = self.keys
        names = [
            keys.job(job.id),
            keys.cache(job.fingerprint),
            keys.inflight(job.fingerprint),
            keys.queue,
            keys.active(job.tenant),
            keys.index(job.tenant),
            *((reservation.key,) if reservation else ()),
        ]
        if deadline is None:
            with unavailable():  # a cluster's discovery is no part of the submit's second
                await ready(self.client)
            deadline = time.time() + SUBMIT_DEADLINE
        args = self._args(
            _dumps(job),
            "1" if job.spec.no_cache else "0",
            "" if max_active is None else max_active,
            round(deadline * 1000),
            epoch_ms(job.created_at),
            _change(jobs.born_cached(cached.at if cached else utcnow())),
            self._joins,
            round(job.deadline.timestamp() * 1000) if job.deadline else "",
            *((reservation.amount, reservation.limit, reservation.ttl) if reservation else NONE),
        )
        if cached and cached.usage and not job.spec.no_cache:
            # The usage keys are in the state's slot: one step on a cluster too.
            usage_keys, usage_args = self.usage.packed(list(cached.usage))
            names += usage_keys
            args += usage_args
        with unavailable():
            if self.replicas.wanted:  # accepted means on the replicas too (ReplicaAcks)
                reply = await self.replicas.run(self._submit, names, args)
            else:
                reply = await self._run(self._submit, keys=names, args=args)
        if isinstance(reply, list):  # ['refused', why]
            if reply[1] == b"budget":
                raise BudgetRefused(job.tenant)
            if reply[1] == b"expired":
                raise SubmitExpired("the submit reached redis after its deadline")
            raise ConcurrencyLimited(job.tenant)
        stored = _loads(reply)
        self.finished.keep(stored)  # born from the cache (or a repeated submit of one)
        return stored

    async def reserve(self, reservation: Reservation, job_id: str | None = None) -> bool:
        args = self._args(
            reservation.amount,
            reservation.limit,
            reservation.ttl,
            json.dumps(record_to_json(reservation.hold())),
        )
        names = [reservation.key, *((self.keys.job(job_id),) if job_id else ())]
        with unavailable():
            return bool(await self._run(self._reserve, keys=names, args=args))

    async def spent(self, key: str) -> int:
        with unavailable():
            return int(await self.client.get(key) or 0)

    async def get_job(self, job_id: str) -> Job | None:
        if (kept := self.finished.get(job_id)) is not None:
            return kept
        with unavailable():
            doc = await self.client.get(self.job_key(job_id))
        if doc is None:
            return None
        job = _loads(doc)
        self.finished.keep(job)
        return job

    async def claim(self, worker_id: str, timeout: float) -> Job | None:
        deadline = time.monotonic() + timeout
        with unavailable():
            while True:
                reply = await self._grouped(partial(self._take_one, worker_id))
                if reply and reply[0] == b"job":
                    return _loads(reply[1])
                # Block for a new entry, but only until the next deferred job is due: its
                # falling due adds no entry that would wake the read; TAKE moves it.
                until = deadline
                if reply:  # ['wait', ms]
                    until = min(deadline, time.monotonic() + int(reply[1]) / 1000)
                while (remaining := until - time.monotonic()) > 0:
                    block = _ms(min(remaining, MAX_BLOCK))
                    entry = await self._grouped(partial(self._read, worker_id, block))
                    if entry is not None and (job := await self._start_entry(*entry)):
                        return job
                if time.monotonic() >= deadline:
                    return None

    async def _take_one(self, worker_id: str) -> Any:
        now = utcnow()
        starts = (_change(jobs.started(now)), _change(jobs.follower_started(now)))
        args = self._args(worker_id, _ms(self.visibility_timeout), self.max_deliveries, *starts)
        return await self._run(self._take, [self.stream, self.keys.deferred], args)

    async def _start_entry(self, entry_id: str, job_id: str) -> Job | None:
        now = utcnow()
        reply = await self._run(
            self._start,
            keys=[self.keys.job(job_id), self.stream],
            args=self._args(
                entry_id,
                job_id,
                self.max_deliveries,
                _change(jobs.started(now)),
                _change(jobs.follower_started(now)),
            ),
        )
        return _loads(reply[1]) if reply else None

    async def heartbeat(self, job_id: str, worker_id: str) -> bool:
        args = self._args(job_id, worker_id)
        with unavailable():
            keys = [self.keys.job(job_id), self.stream]
            held = await self._run(self._heartbeat, keys=keys, args=args)
        return bool(held)

    async def patch(self, job_id: str, change: jobs.Change) -> None:
        with unavailable():
            await self._run(
                self._patch, keys=[self.keys.job(job_id)], args=self._args(_change(change))
            )

    async def add_attempt(self, job_id: str, attempt: Attempt) -> None:
        args = self._args(json.dumps(record_to_json(attempt)))
        with unavailable():
            await self._run(self._add_attempt, keys=[self.keys.job(job_id)], args=args)

    async def finish(
        self,
        job_id: str,
        *,
        result: JobResult | None = None,
        error: JobError | None = None,
        now: datetime | None = None,
        worker_id: str | None = None,
        delivery: int | None = None,
    ) -> list[Job]:
        now = now or utcnow()
        args = self._args(
            _change(jobs.ended(now, result, error)),
            json.dumps(record_to_json(result)) if result is not None else "",
            _ms(self.cache_ttl),
            _change(jobs.cancel_ending(now)),
            *_holder(worker_id, delivery),
        )
        with unavailable():
            docs = await self._run(
                self._finish, keys=[self.keys.job(job_id), self.stream], args=args
            )
        return self._kept([_loads(doc) for doc in docs])

    async def requeue(
        self, job_id: str, *, worker_id: str | None = None, delivery: int | None = None
    ) -> bool:
        args = self._args(_change(jobs.requeued()), *_holder(worker_id, delivery))
        with unavailable():
            keys = [self.keys.job(job_id), self.stream]
            return bool(await self._run(self._requeue, keys=keys, args=args))

    async def defer(
        self,
        job_id: str,
        delay: float,
        resume: Resume,
        *,
        worker_id: str | None = None,
        delivery: int | None = None,
    ) -> bool:
        args = self._args(
            _change(jobs.deferred(resume)),
            _change(jobs.requeued()),
            _ms(delay),
            *_holder(worker_id, delivery),
        )
        names = [self.keys.job(job_id), self.stream, self.keys.deferred]
        with unavailable():
            return bool(await self._run(self._defer, keys=names, args=args))

    async def cancel(self, job_id: str, change: Cancel) -> Canceled:
        args = self._args(json.dumps(change.to_json(), separators=(",", ":")))
        with unavailable():
            reply = await self._run(
                self._cancel, keys=[self.keys.job(job_id), self.stream], args=args
            )
        if not reply:
            return Canceled(None, [])
        doc, ended, stopping = reply
        kept = self._kept([_loads(d) for d in ended])
        return Canceled(_loads(doc), kept, stopping.decode() or None)

    async def due(self, now: float, limit: int) -> list[str]:
        args = self._args(round(now * 1000), limit)
        with unavailable():
            ids = await self._run(self._due, keys=[self.keys.deadlines], args=args)
        return [job_id.decode() for job_id in ids]

    async def postpone(self, job_id: str, until: float) -> None:
        with unavailable():
            await self.client.zadd(self.keys.deadlines, {job_id: round(until * 1000)}, xx=True)

    async def list_jobs(self, query: ListQuery) -> Page:
        top, tie = "+inf", ""
        if query.before_ms is not None:
            top = f"({query.before_ms}"
        if query.cursor is not None and (
            query.before_ms is None or query.cursor[0] < query.before_ms
        ):
            top, tie = str(query.cursor[0]), query.cursor[1]
        bottom = "-inf" if query.after_ms is None else f"({query.after_ms}"
        statuses = json.dumps(sorted(status.value for status in query.statuses))
        args = self._args(top, tie, bottom, query.limit, query.scan, statuses)
        with unavailable():
            docs, last = await self._run(
                self._list, keys=[self.keys.index(query.tenant)], args=args
            )
        following = (round(float(last[0])), last[1].decode()) if last else None
        return Page([_loads(doc) for doc in docs], following)

    async def count_active(self, tenant: str) -> int:
        with unavailable():
            return int(await self._run(self._count_active, keys=[self.keys.active(tenant)]))

    async def referenced_keys(self) -> set[str]:
        """Storage keys of every image a live job or cache entry points to (for gc).

        A SCAN over job and cache keys: fine for a periodic gc; any Redis error raises
        `StateUnavailable`, never a partial set (gc would read that as "unreferenced").
        """
        keys: set[str] = set()
        with unavailable():
            for pattern in self.keys.patterns():
                batch: list[Any] = []
                async for name in self.client.scan_iter(match=pattern, count=500):
                    batch.append(name)
                    if len(batch) == 500:
                        keys |= _image_keys(await self.client.mget(batch))
                        batch = []
                if batch:
                    keys |= _image_keys(await self.client.mget(batch))
        return keys

    async def queue_stats(self) -> QueueStats:
        with unavailable():
            stats = await read_queue_stats(self.client, self.stream, GROUP)
            return replace(stats, deferred=int(await self.client.zcard(self.keys.deferred)))

    async def ping(self) -> None:
        with unavailable():
            await self.client.ping()

    async def aclose(self) -> None:
        await self.events.aclose()  # its subscriber first: it is on the command client
        for client in (self.client, self.blocking):
            await close(client)

    # -- internals ---------------------------------------------------------------------
    def _kept(self, found: list[Job]) -> list[Job]:
        """`found` (documents a script just read or wrote), the final ones remembered."""
        for job in found:
            self.finished.keep(job)
        return found

    async def _read(self, worker_id: str, block_ms: int) -> tuple[str, str] | None:
        """Wait for one new entry: (entry id, job id), or None when the block times out."""
        reply: Any = await self.blocking.xreadgroup(
            GROUP, worker_id, {self.stream: ">"}, count=1, block=block_ms
        )
        if not reply:
            return None
        [[_, [(entry_id, fields)]]] = reply  # one stream, one entry (RESP2 shape)
        return entry_id.decode(), fields[b"job"].decode()

    async def _run(
        self, script: AsyncScript, keys: list[str], args: list[str | bytes | int] | None = None
    ) -> Any:
        """EVALSHA; a Redis that lost its script cache (restart, failover) gets the source
        once by EVAL, which caches it again: 2 round trips then, never 3 (load + retry)."""
        argv = [*keys, *(args or [])]
        try:
            return await self.client.evalsha(script.sha, len(keys), *argv)
        except NoScriptError:
            return await self.client.eval(cast(str, script.script), len(keys), *argv)

    async def _grouped(self, call: Callable[[], Awaitable[T]]) -> T:
        """Run a consumer-group command, creating the group first if Redis lost it."""
        try:
            return await call()
        except ResponseError as exc:
            if "NOGROUP" not in str(exc):
                raise
        try:  # from 0: entries added before the group existed are still work
            await self.client.xgroup_create(self.stream, GROUP, id="0", mkstream=True)
        except ResponseError as exc:
            if "BUSYGROUP" not in str(exc):
                raise
        return await call()


def _image_keys(docs: list[bytes | str | None]) -> set[str]:
    """Image storage keys in job documents (their results and the inputs an edit reads)
    or cached results."""
    found: set[str] = set()
    for doc in docs:
        if doc is None:
            continue
        data = json.loads(doc)
        spec = data.get("spec")
        if spec is not None:  # `or ()`: cjson writes an empty list as {}
            found.update(spec.get("images") or ())
            found.update((spec["mask"],) if spec.get("mask") else ())
        result = data.get("result") if spec is not None else data
        for image in (result or {}).get("images", ()):
            found.add(image["key"])
    return found
