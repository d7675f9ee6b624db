"""One benchmark run: start every target, drive each scenario, collect a `Report`.

Per gateway target the order is chosen so no scenario inherits another's work: polls and
cache hits first (they queue nothing), then end to end (it keeps at most `concurrency`
jobs in flight), then new-prompt submits, which leave a backlog that the 4 in-process
workers are still rendering; so each later new-prompt level starts on a fresh process
(and a flushed Redis). The baseline runs first, the same scenarios, with the same wrk.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from dataclasses import dataclass
from pathlib import Path

from benchmarks import memory
from benchmarks.config import BENCH_KEY, SIZE, write_bench_config
from benchmarks.e2e import complete_job, run_e2e
from benchmarks.http1 import Http1
from benchmarks.installs import ensure
from benchmarks.redis_cost import measure_redis_cost
from benchmarks.results import BASELINE, E2E, MemoryRow, Report, Row
from benchmarks.targets import Target
from benchmarks.wrk import run_wrk
from tests.servers import RedisServer

JOBS = "/images/jobs"
# (scenario, wrk mode); new prompts last: they leave work behind.
SCENARIOS = [("poll", "get"), ("submit (cache hit)", "same"), ("submit (new prompt)", "new")]


@dataclass(frozen=True)
class Options:
    concurrencies: tuple[int, ...]
    seconds: float
    redis_requests: int  # requests per scenario for the Redis accounting
    log_level: str = "info"
    warmup: bool = True  # a 1 s poll load before measuring (off in quick mode)
    max_e2e_jobs: int = 20000


async def _prepare(base_url: str, tag: str) -> tuple[str, str]:
    """A finished job to poll and a prompt whose result is cached: (job id, prompt)."""
    prompt = f"{tag} cached"
    async with Http1(base_url, BENCH_KEY) as http:
        job, _ = await complete_job(http, {"prompt": prompt, "size": SIZE})
        if job["status"] != "SUCCEEDED":
            raise RuntimeError(f"warm-up job ended {job['status']}: {job.get('error')}")
        _, again = await http.send("POST", JOBS, {"prompt": prompt, "size": SIZE})
        if not again["data"]["cached"]:  # else "cache hit" would measure something else
            raise RuntimeError(f"the same prompt again was not a cache hit: {again}")
    return job["id"], prompt


def _load(target: Target, scenario: str, mode: str, path: str, tag: str, c: int, o: Options) -> Row:
    result = run_wrk(target.base_url, mode, path, BENCH_KEY, tag, c, o.seconds)
    row = Row(
        scenario, target.name, c, result.rps, result.p50_ms, result.p99_ms, result.error_count
    )
    print(f"  {target.name:9} {scenario:22} c={c:<3} {result.rps:8.0f} req/s", flush=True)
    return row


def _measure_target(target: Target, options: Options, report: Report) -> None:
    tag = uuid.uuid4().hex[:8]
    target.start()
    try:
        if target.name == BASELINE:
            poll_path, same_prompt = f"{JOBS}/job_baseline", f"{tag} cached"
        else:
            job_id, same_prompt = asyncio.run(_prepare(target.base_url, tag))
            poll_path = f"{JOBS}/{job_id}"
        if options.warmup:
            run_wrk(target.base_url, "get", poll_path, BENCH_KEY, tag, 4, 1)
        idle = memory.rss_mib(target.pid)
        for scenario, mode in SCENARIOS[:2]:
            path = poll_path if mode == "get" else JOBS
            for c in options.concurrencies:
                report.rows.append(_load(target, scenario, mode, path, same_prompt, c, options))
        if target.name != BASELINE:
            for c in options.concurrencies:
                report.rows.append(_end_to_end(target, tag, c, options))
        for i, c in enumerate(options.concurrencies):
            if i and target.name != BASELINE:
                target.restart()
            new = f"{tag}-c{c}"  # prompts unique across levels too
            report.rows.append(_load(target, "submit (new prompt)", "new", JOBS, new, c, options))
    finally:
        target.stop()
    report.memory.append(MemoryRow(target.name, idle, target.peak_rss_mib))


def _end_to_end(target: Target, tag: str, c: int, options: Options) -> Row:
    result = run_e2e(target.base_url, BENCH_KEY, c, options.seconds, options.max_e2e_jobs, tag)
    print(f"  {target.name:9} {E2E:22} c={c:<3} {result.jobs_per_s:8.0f} jobs/s", flush=True)
    polls = result.polls / result.jobs if result.jobs else 0.0
    rate, p50, p99 = result.jobs_per_s, result.p50_ms, result.p99_ms
    row = Row(E2E, target.name, c, rate, p50, p99, result.failed, unit="jobs/s")
    row.extra = {"jobs": result.jobs, "polls_per_job": round(polls, 2)}
    return row


def run(options: Options, workdir: Path, meta: dict[str, object]) -> Report:
    """Every target and scenario of `options`; processes live under `workdir`."""
    ensure("wrk")
    ensure("redis-server")
    report = Report(
        meta={
            **meta,
            "concurrencies": list(options.concurrencies),
            "seconds_per_measurement": options.seconds,
            "log_level": options.log_level,
        }
    )
    started = time.monotonic()
    redis = RedisServer(workdir / "redis")
    redis.start()
    assert redis.process is not None
    redis_idle = memory.rss_mib(redis.process.pid)
    try:
        memory_config = write_bench_config(workdir, "memory://")
        redis_config = write_bench_config(workdir, redis.url)
        targets = [
            Target.baseline(workdir, options.log_level),
            Target.gateway("memory", memory_config, workdir, options.log_level, None),
            Target.gateway("redis", redis_config, workdir, options.log_level, redis),
        ]
        for target in targets:
            print(f"benchmarks: {target.name}", flush=True)
            _measure_target(target, options, report)
        redis_peak = memory.peak_rss_mib(redis.process.pid)
        report.memory.append(MemoryRow("redis-server (redis target's)", redis_idle, redis_peak))
        redis.flush()
        print("benchmarks: redis accounting", flush=True)
        report.redis_cost = measure_redis_cost(
            redis.url, workdir / "inprocess", options.redis_requests
        )
    finally:
        redis.stop()
    report.apply_ratios()
    report.meta["elapsed_s"] = round(time.monotonic() - started, 1)
    return report
