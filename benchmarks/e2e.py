"""End to end: jobs per second from submit to SUCCEEDED, the way a client sees them.

wrk measures single requests; a job's life is a submit followed by polls until the job is
done, so this driver is a small asyncio client: `concurrency` clients, one connection
each, each submits a new prompt, polls it until it is terminal, then starts the next,
until the window closes (or `max_jobs` is reached). Jobs still running when the window
closes are waited for (bounded) and counted, so the rate covers every job it started.

Polls wait 2 ms, then back off (4, 8, ... 64, 100, 100 ms ...): tight polling would spend the
server's time answering polls and measure poll throughput instead. The cost is latency
resolution: a job is seen done up to one interval after it was.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, Protocol

from benchmarks.config import SIZE
from benchmarks.http1 import Http1

FIRST_POLL, MAX_POLL = 0.002, 0.1  # seconds between polls of one job, doubling
JOB_TIMEOUT = 30.0
TERMINAL = {"SUCCEEDED", "FAILED", "CANCELED"}


class JobClient(Protocol):
    async def send(
        self, method: str, path: str, body: Any = None, headers: str = ""
    ) -> tuple[int, Any]: ...


@dataclass(frozen=True)
class E2EResult:
    jobs: int  # reached SUCCEEDED
    failed: int  # reached another terminal status, or timed out
    seconds: float
    p50_ms: float
    p99_ms: float
    polls: int
    first_error: str = ""  # what the first failed job raised (for the harness's log)

    @property
    def jobs_per_s(self) -> float:
        return self.jobs / self.seconds if self.seconds else 0.0


def percentile(values: list[float], pct: float) -> float:
    if not values:
        return 0.0
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(pct / 100 * (len(ordered) - 1)))]


async def complete_job(
    http: JobClient, body: dict[str, Any], timeout: float = JOB_TIMEOUT
) -> tuple[dict[str, Any], int]:
    """Submit `body` and poll until the job is terminal: (the job, number of polls)."""
    status, answer = await http.send("POST", "/images/jobs", body)
    if status != 202:
        raise RuntimeError(f"submit answered {status}: {answer}")
    job_id = answer["data"]["jobId"]
    deadline, polls, interval = time.monotonic() + timeout, 0, FIRST_POLL
    while True:
        await asyncio.sleep(interval)  # never at once: a new job is not done yet
        interval = min(MAX_POLL, interval * 2)
        status, answer = await http.send("GET", f"/images/jobs/{job_id}")
        polls += 1
        if status != 200:
            raise RuntimeError(f"poll answered {status}: {answer}")
        job: dict[str, Any] = answer["data"]
        if job["status"] in TERMINAL:
            return job, polls
        if time.monotonic() > deadline:
            raise TimeoutError(f"job {job_id} still {job['status']} after {timeout}s")


# One client's job: (client index, job number) -> (reached SUCCEEDED, polls it took).
OneJob = Callable[[Http1, int, int], Awaitable[tuple[bool, int]]]


async def waited_job(
    http: JobClient, body: dict[str, Any], timeout: float = JOB_TIMEOUT
) -> dict[str, Any]:
    """Submit `body` with `Prefer: wait`: the answer is the finished job, no polls."""
    prefer = f"Prefer: wait={round(timeout)}\r\n"
    status, answer = await http.send("POST", "/images/jobs", body, prefer)
    if status != 200:
        raise RuntimeError(f"a waited submit answered {status}: {answer}")
    job: dict[str, Any] = answer["data"]
    return job


async def drive(
    base_url: str, key: str, concurrency: int, seconds: float, max_jobs: int, one_job: OneJob
) -> E2EResult:
    """`concurrency` clients, each running `one_job` after the other until the window
    closes; jobs started before it closed are waited for and counted."""
    latencies: list[float] = []
    failed = polls = started = 0
    start = time.monotonic()
    deadline = start + seconds
    last_done = start
    errors: list[str] = []

    async def one_client(index: int) -> None:
        nonlocal failed, polls, started, last_done
        async with Http1(base_url, key) as http:
            while time.monotonic() < deadline and started < max_jobs:
                started += 1
                began = time.monotonic()
                try:
                    succeeded, n = await one_job(http, index, started)
                except (TimeoutError, RuntimeError) as exc:
                    failed += 1
                    errors.append(f"{type(exc).__name__}: {exc}"[:300])
                    continue
                last_done = time.monotonic()
                polls += n
                if succeeded:
                    latencies.append((last_done - began) * 1000)
                else:
                    failed += 1

    await asyncio.gather(*(one_client(i) for i in range(concurrency)))
    return E2EResult(
        jobs=len(latencies),
        failed=failed,
        seconds=last_done - start,
        p50_ms=percentile(latencies, 50),
        p99_ms=percentile(latencies, 99),
        polls=polls,
        first_error=errors[0] if errors else "",
    )


def run_e2e(
    base_url: str, key: str, concurrency: int, seconds: float, max_jobs: int, tag: str
) -> E2EResult:
    """Submit-then-poll clients on the procedural backend (new prompts, `SIZE`)."""

    async def one_job(http: Http1, index: int, number: int) -> tuple[bool, int]:
        body = {"prompt": f"{tag} e2e {index} {number}", "size": SIZE}
        job, polls = await complete_job(http, body)
        return job["status"] == "SUCCEEDED", polls

    return asyncio.run(drive(base_url, key, concurrency, seconds, max_jobs, one_job))
