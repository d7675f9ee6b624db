"""End to end: jobs per second from submit to SUCCEEDED, the way a client sees them.

wrk measures single requests; a job's life is a submit followed by polls until the job is
done, so this driver is a small asyncio client: `concurrency` clients each submit a new
prompt, poll it every `POLL_INTERVAL` until it is terminal, then start the next, until
the window closes (or `max_jobs` is reached). Jobs still running when the window closes
are waited for (bounded) and counted, so the rate covers every job it started.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass
from typing import Any

import httpx

from benchmarks.config import SIZE

POLL_INTERVAL = 0.005  # seconds between polls of one job; also the latency resolution
JOB_TIMEOUT = 30.0
TERMINAL = {"SUCCEEDED", "FAILED", "CANCELED"}


@dataclass(frozen=True)
class E2EResult:
    jobs: int  # reached SUCCEEDED
    failed: int  # reached another terminal status, or timed out
    seconds: float
    p50_ms: float
    p99_ms: float
    polls: int

    @property
    def jobs_per_s(self) -> float:
        return self.jobs / self.seconds if self.seconds else 0.0


def percentile(values: list[float], pct: float) -> float:
    if not values:
        return 0.0
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(pct / 100 * (len(ordered) - 1)))]


async def complete_job(
    http: httpx.AsyncClient, body: dict[str, Any], timeout: float = JOB_TIMEOUT
) -> tuple[dict[str, Any], int]:
    """Submit `body` and poll until the job is terminal: (the job, number of polls)."""
    response = await http.post("/images/jobs", json=body)
    if response.status_code != 202:
        raise RuntimeError(f"submit answered {response.status_code}: {response.text}")
    job_id = response.json()["data"]["jobId"]
    deadline, polls = time.monotonic() + timeout, 0
    while True:
        answer = await http.get(f"/images/jobs/{job_id}")
        polls += 1
        job: dict[str, Any] = answer.json()["data"]
        if job["status"] in TERMINAL:
            return job, polls
        if time.monotonic() > deadline:
            raise TimeoutError(f"job {job_id} still {job['status']} after {timeout}s")
        await asyncio.sleep(POLL_INTERVAL)


def client(base_url: str, key: str, connections: int) -> httpx.AsyncClient:
    return httpx.AsyncClient(
        base_url=base_url,
        headers={"Authorization": f"Bearer {key}"},
        limits=httpx.Limits(max_connections=connections, max_keepalive_connections=connections),
        timeout=JOB_TIMEOUT,
    )


async def _drive(
    base_url: str, key: str, concurrency: int, seconds: float, max_jobs: int, tag: str
) -> E2EResult:
    latencies: list[float] = []
    failed = polls = started = 0
    start = time.monotonic()
    deadline = start + seconds
    last_done = start

    async def one_client(index: int, http: httpx.AsyncClient) -> None:
        nonlocal failed, polls, started, last_done
        while time.monotonic() < deadline and started < max_jobs:
            started += 1
            body = {"prompt": f"{tag} e2e {index} {started}", "size": SIZE}
            began = time.monotonic()
            try:
                job, n = await complete_job(http, body)
            except (TimeoutError, RuntimeError, httpx.HTTPError):
                failed += 1
                continue
            last_done = time.monotonic()
            polls += n
            if job["status"] == "SUCCEEDED":
                latencies.append((last_done - began) * 1000)
            else:
                failed += 1

    async with client(base_url, key, concurrency) as http:
        await asyncio.gather(*(one_client(i, http) for i in range(concurrency)))
    return E2EResult(
        jobs=len(latencies),
        failed=failed,
        seconds=last_done - start,
        p50_ms=percentile(latencies, 50),
        p99_ms=percentile(latencies, 99),
        polls=polls,
    )


def run_e2e(
    base_url: str, key: str, concurrency: int, seconds: float, max_jobs: int, tag: str
) -> E2EResult:
    return asyncio.run(_drive(base_url, key, concurrency, seconds, max_jobs, tag))
