"""One benchmark run: start every target, drive each scenario, collect a `Report`.

Per gateway target the order is chosen so no scenario inherits another's work: polls and
cache hits first (they queue nothing), then end to end (it keeps at most `concurrency`
jobs in flight), then new-prompt submits, which leave a backlog that the 4 in-process
workers are still rendering; so every level after one of those starts on a fresh process
(and a flushed Redis). The baseline runs first, with the same wrk, the scenarios it has
(it has no quotas and no jobs to finish).
"""

from __future__ import annotations

import asyncio
import time
import uuid
from dataclasses import dataclass
from pathlib import Path

from benchmarks import memory
from benchmarks.config import BENCH_KEY, PRICED_MODEL, QUOTA_KEY, SIZE, write_bench_config
from benchmarks.e2e import complete_job, run_e2e
from benchmarks.http1 import Http1
from benchmarks.installs import ensure
from benchmarks.redis_cost import measure_redis_cost
from benchmarks.results import BASELINE, E2E, V1_CACHE_HIT, V1_NEW, MemoryRow, Report, Row
from benchmarks.targets import Target
from benchmarks.vendor_path import CASES, Plan, measure_vendor_path
from benchmarks.wrk import run_wrk
from tests.servers import RedisServer

JOBS = "/images/jobs"
V1 = "/v1/images/generations"  # the OpenAI-compatible surface: answers once the job ended


@dataclass(frozen=True)
class Scenario:
    name: str
    mode: str  # wrk's ("get", "same", "new"), or "e2e" for the end-to-end driver
    quotas: bool = False  # as tenant bench-quotas: every limit on, the priced model
    backlog: bool = False  # leaves queued jobs behind: the next level needs a fresh process
    path: str = JOBS  # where "same" and "new" POST


# Gateway order: nothing that leaves a backlog before something that must not inherit one.
SCENARIOS = [
    Scenario("poll", "get"),
    Scenario("poll (quotas on)", "get", quotas=True),
    Scenario("submit (cache hit)", "same"),
    Scenario(V1_CACHE_HIT, "same", path=V1),
    # Each request waits for its own job, so at most `concurrency` are in flight: no backlog.
    Scenario(V1_NEW, "new", path=V1),
    Scenario(E2E, "e2e"),
    Scenario("submit (new prompt)", "new", backlog=True),
    Scenario("submit (new prompt, quotas on)", "new", quotas=True, backlog=True),
]


@dataclass(frozen=True)
class Options:
    concurrencies: tuple[int, ...]
    seconds: float
    redis_requests: int  # requests per scenario for the Redis accounting
    log_level: str = "info"
    warmup: bool = True  # a 1 s poll load before measuring (off in quick mode)
    fresh: bool = True  # restart after a backlog (off in quick mode: speed over accuracy)
    max_e2e_jobs: int = 20000
    vendor_path: bool = True  # the openai backend against mock vendor processes
    workers: tuple[int, ...] = (1, 2)  # `serve --workers N` values of the vendor path on redis
    before: Path | None = None  # a checkout whose gateway the vendor path measures beside
    peers: tuple[str, ...] = ()  # "litellm": the LiteLLM proxy against the same vendors
    vendor_cases: tuple[tuple[str, int], ...] = CASES  # (image, vendor delay ms) measured


@dataclass(frozen=True)
class Prepared:
    """What the scenarios of one target need: a job to poll per tenant, a cached prompt."""

    poll: str
    poll_quotas: str
    cached_prompt: str


async def _finished_job(http: Http1, body: dict[str, str]) -> str:
    job, _ = await complete_job(http, body)
    if job["status"] != "SUCCEEDED":
        raise RuntimeError(f"warm-up job ended {job['status']}: {job.get('error')}")
    return f"{JOBS}/{job['id']}"


async def _prepare(base_url: str, tag: str) -> Prepared:
    prompt = f"{tag} cached"
    async with Http1(base_url, BENCH_KEY) as http:
        poll = await _finished_job(http, {"prompt": prompt, "size": SIZE})
        _, again = await http.send("POST", JOBS, {"prompt": prompt, "size": SIZE})
        if not again["data"]["cached"]:  # else "cache hit" would measure something else
            raise RuntimeError(f"the same prompt again was not a cache hit: {again}")
    async with Http1(base_url, QUOTA_KEY) as http:
        body = {"prompt": f"{tag} quotas", "size": SIZE, "model": PRICED_MODEL}
        poll_quotas = await _finished_job(http, body)
    return Prepared(poll, poll_quotas, prompt)


def _measure(target: Target, scenario: Scenario, ready: Prepared, c: int, o: Options) -> Row:
    key, model = (QUOTA_KEY, PRICED_MODEL) if scenario.quotas else (BENCH_KEY, "")
    if scenario.mode == "e2e":
        return _end_to_end(target, c, o)
    path, prompt = scenario.path, uuid.uuid4().hex[:12]  # new: "<this> <thread> <counter>"
    if scenario.mode == "get":
        path = ready.poll_quotas if scenario.quotas else ready.poll
    elif scenario.mode == "same":
        prompt = ready.cached_prompt
    result = run_wrk(target.base_url, scenario.mode, path, key, prompt, c, o.seconds, model)
    rate, p50, p99 = result.rps, result.p50_ms, result.p99_ms
    print(f"  {target.name:9} {scenario.name:32} c={c:<3} {rate:8.0f} req/s", flush=True)
    return Row(scenario.name, target.name, c, rate, p50, p99, result.error_count)


def _measure_target(target: Target, options: Options, report: Report) -> None:
    tag = uuid.uuid4().hex[:8]
    target.start()
    try:
        if target.name == BASELINE:
            ready = Prepared(f"{JOBS}/job_baseline", "", f"{tag} cached")
            scenarios = [s for s in SCENARIOS if not s.quotas and s.mode != "e2e"]
        else:
            ready, scenarios = asyncio.run(_prepare(target.base_url, tag)), SCENARIOS
        if options.warmup:
            run_wrk(target.base_url, "get", ready.poll, BENCH_KEY, tag, 4, 1)
        idle = memory.rss_mib(target.pid)
        dirty = False
        for scenario in scenarios:
            for c in options.concurrencies:
                if dirty and options.fresh and target.name != BASELINE:
                    target.restart()
                report.rows.append(_measure(target, scenario, ready, c, options))
                dirty = scenario.backlog
    finally:
        target.stop()
    report.memory.append(MemoryRow(target.name, idle, target.peak_rss_mib))


def _end_to_end(target: Target, c: int, options: Options) -> Row:
    tag = uuid.uuid4().hex[:12]
    result = run_e2e(target.base_url, BENCH_KEY, c, options.seconds, options.max_e2e_jobs, tag)
    print(f"  {target.name:9} {E2E:32} c={c:<3} {result.jobs_per_s:8.0f} jobs/s", flush=True)
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
        if options.vendor_path:
            plan = Plan(
                options.concurrencies,
                options.seconds,
                options.max_e2e_jobs,
                options.log_level,
                options.workers,
                options.before,
                options.peers,
                options.vendor_cases,
            )
            report.vendor_rows, peers = measure_vendor_path(plan, workdir, redis)
            if peers is not None:
                report.peer_rows, report.peer_facts = peers.rows, peers.facts
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
