"""Workers: take a job from the queue, run it, finish it (and its followers), fire webhooks.

Shutdown never silently drops accepted work: with a durable state (Redis) running jobs
that do not finish within the grace period are handed back to the queue; with the
in-process `memory://` state, whose queue dies with the process, workers keep draining
the queue for the grace period and log every job they had to abandon.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
import time
import uuid

from gateway.cancels import Stopped, cancel_vendor_job
from gateway.claimer import BACKOFF_FIRST, Claimer
from gateway.deferral import Deferred
from gateway.endings import Endings
from gateway.errors import redact
from gateway.events import JobEvents
from gateway.heartbeats import Heartbeats
from gateway.jobs import (
    ACTIVE,
    Job,
    JobError,
    JobResult,
    client_cancel,
    delivery_exhausted,
    worker_lost,
)
from gateway.logs import job_context
from gateway.metrics import Metrics
from gateway.runner import JobRunner
from gateway.state.base import StateStore, StateUnavailable
from gateway.tasks import cancel_and_wait

log = logging.getLogger("imagegate.worker")

STOP_CHECK_EVERY = 2.0  # re-read for a missed wake-up; < CANCEL_WAIT, so a cancel still sees it


class WorkerPool:
    """`concurrency` workers fed by one claim loop (gateway/claimer.py); each job runs on
    its own task, with its heartbeats (a timer, gateway/heartbeats.py) and its cancel watch."""

    def __init__(
        self,
        state: StateStore,
        runner: JobRunner,
        endings: Endings,
        *,
        concurrency: int,
        grace: float,
        heartbeat_every: float | None = None,
        metrics: Metrics | None = None,
        events: JobEvents | None = None,
    ) -> None:
        self.state = state
        self.events = events  # to hear that a running job is to stop (gateway/cancels.py)
        self.runner = runner
        self.endings = endings
        self.concurrency = concurrency
        self.grace = grace
        self.durable = state.durable
        self.heartbeat_every = heartbeat_every
        self.metrics = metrics or Metrics()
        self.metrics.watch_workers(lambda: self.busy, lambda: self.alive)
        # The pool's consumer name on the queue, for every claim and heartbeat.
        self.name = f"{socket.gethostname()}-{uuid.uuid4().hex[:8]}"
        self._claiming: asyncio.Task[None] | None = None
        self._running: set[asyncio.Task[None]] = set()
        self._stopping = asyncio.Event()

    async def start(self) -> None:
        log.info("%s: %d in-process workers", self.name, self.concurrency)
        if self.concurrency == 0:
            return
        claimer = Claimer(
            self.state,
            self.name,
            self.concurrency,
            self._start_job,
            stopping=self._stopping,
            metrics=self.metrics,
        )
        self._claiming = asyncio.create_task(claimer.run(), name=f"claimer-{self.name}")
        self._claiming.add_done_callback(_claimer_ended)

    @property
    def busy(self) -> int:
        """Workers running a job now."""
        return len(self._running)

    @property
    def alive(self) -> int:
        """Workers able to take a job: all of them while the claim loop runs, none once
        it has ended (it died, or the pool stopped)."""
        running = self._claiming is not None and not self._claiming.done()
        return self.concurrency if running else 0

    async def stop(self) -> None:
        deadline = time.monotonic() + self.grace
        if not self.durable:
            await self._drain(deadline)
        self._stopping.set()
        running = list(self._running)
        if running:
            await asyncio.wait(running, timeout=max(0.0, deadline - time.monotonic()))
        # The claim loop first, so that no job starts after the running ones are stopped;
        # each of those hands its job back (`_work`).
        await cancel_and_wait(self._claiming)
        await cancel_and_wait(*self._running)
        abandoned = self.state.queued
        if abandoned and not self.durable:
            log.error(
                "shutdown: %d queued jobs abandoned after %.0fs (memory:// state is "
                "not durable; use redis:// to keep them)",
                abandoned,
                self.grace,
            )

    async def _drain(self, deadline: float) -> None:
        while self.state.queued and time.monotonic() < deadline:
            await asyncio.sleep(0.05)

    def _start_job(self, job: Job) -> asyncio.Task[None]:
        task = asyncio.create_task(self._work(job), name=f"job-{job.id}")
        self._running.add(task)
        task.add_done_callback(self._running.discard)
        return task

    async def _work(self, job: Job) -> None:
        """One worker's run of a claimed job (its slot is free again once this ends)."""
        work = asyncio.current_task()
        assert work is not None
        beats = Heartbeats(self.state, job.id, self.name, self.heartbeat_every, work.cancel)
        with job_context(job.tenant, job.id):
            try:
                await self.process(job)
            except asyncio.CancelledError:
                if beats.lost:  # another consumer runs the job now: neither hand it back nor end it
                    work.uncancel()
                    return
                await self._requeue(job)
                raise
            except StateUnavailable as exc:
                # The job stays claimed; on a durable state it is reclaimed once the
                # visibility timeout passes. This worker backs off and goes on.
                self.metrics.state_error("worker")
                log.warning("state unavailable while finishing job %s: %s", job.id, exc)
                await asyncio.sleep(BACKOFF_FIRST)
            except Exception as exc:
                # A bug, not an outcome: the job stays claimed as above, and the worker
                # goes on (its slot is given back) instead of ending with it.
                log.exception("worker failed on job %s: %s", job.id, redact(str(exc)))
            finally:
                await beats.stop()

    async def process(self, job: Job) -> list[Job]:
        """Run a claimed job to its end and record the outcome (finish pipeline)."""
        limit = self.state.max_deliveries
        if delivery_exhausted(job, limit):
            log.warning("job %s failed after %d deliveries (worker_lost)", job.id, limit)
            return await self._finish(job, worker_lost(limit))
        if job.stop:  # canceled while its last worker held it; that worker is gone
            await cancel_vendor_job(self.runner.backends, job.vendor_job)
            return await self._finish(job, client_cancel())
        run = asyncio.create_task(self.runner.run(job))
        asked: list[bool] = []
        watching = asyncio.create_task(self._stop_when_asked(job.id, run, asked))
        try:
            outcome: JobResult | JobError = await run
        except Deferred as deferred:
            watching.cancel()
            await self._defer(job, deferred)
            return []
        except StateUnavailable:
            raise
        except (Stopped, asyncio.CancelledError) as exc:
            if isinstance(exc, asyncio.CancelledError) and not asked:
                raise  # shutdown: the caller hands the job back
            log.info("job %s stopped: canceled while it ran", job.id)
            # The store ends it CANCELED with the reason recorded on it.
            outcome = client_cancel()
        except Exception as exc:
            log.exception("job %s failed unexpectedly: %s", job.id, redact(str(exc)))
            outcome = JobError("internal_error", "the gateway failed while running this job")
        finally:
            watching.cancel()
        return await self._finish(job, outcome)

    async def _finish(self, job: Job, outcome: JobResult | JobError) -> list[Job]:
        """End the job as the holder of its delivery. Once the job was reclaimed (this worker
        stalled past the visibility timeout, before a heartbeat could tell), by another
        consumer or by this process's own claim loop, the store ends nothing: the run that
        holds the latest delivery ends the job, with every billed call on it."""
        ended = await self.endings.finish(
            job.id, outcome, worker_id=self.name, delivery=job.deliveries
        )
        if not ended:
            with contextlib.suppress(StateUnavailable):  # the reason is only for the log
                current = await self.state.get_job(job.id)
                if current is not None and current.status in ACTIVE:
                    log.warning(
                        "job %s not ended here: its delivery was reclaimed (this worker "
                        "stalled past the visibility timeout); the run holding it ends it",
                        job.id,
                    )
        return ended

    async def _defer(self, job: Job, deferred: Deferred) -> None:
        """Hand the job back to the queue until its backend has room (the worker goes on)."""
        assert deferred.resume is not None, "the runner sets where the route stood"
        deferring = self.state.defer(
            job.id, deferred.delay, deferred.resume, worker_id=self.name, delivery=job.deliveries
        )
        if not await deferring:
            log.info("job %s not deferred: it ended, or another consumer holds it now", job.id)
            return
        await self.runner.attempter.changed([job.id])  # PENDING again: tell live streams
        self.metrics.deferred(deferred.backend, deferred.reason)
        log.info("job %s deferred %.2fs: %s", job.id, deferred.delay, deferred)

    async def _stop_when_asked(
        self, job_id: str, run: asyncio.Task[JobResult | JobError], asked: list[bool]
    ) -> None:
        """Cancel `run` once the store says the job's execution is to stop (`stop`, set by
        a cancel or a deadline) or the job ended without it (a forced cancel)."""
        if self.events is None:
            return
        async with self.events.watch(job_id) as watch:
            while not run.done():
                # Progress (its own claim and attempts) is neither a stop nor an ending.
                await watch.changed(STOP_CHECK_EVERY, progress=False)
                try:
                    current = await self.state.get_job(job_id)
                except StateUnavailable:
                    continue
                if current is None or current.stop or current.status.terminal:
                    asked.append(True)
                    run.cancel()
                    return

    async def _requeue(self, job: Job) -> None:
        with contextlib.suppress(Exception):
            requeue = self.state.requeue(job.id, worker_id=self.name, delivery=job.deliveries)
            if await asyncio.shield(requeue):
                log.warning("job %s handed back to the queue at shutdown", job.id)


def _claimer_ended(task: asyncio.Task[None]) -> None:
    """Say so when the claim loop dies (readiness reports it, the metric drops to 0)."""
    if not task.cancelled() and (exc := task.exception()) is not None:
        log.error("the claim loop died, no job starts here now: %s", redact(str(exc)), exc_info=exc)
