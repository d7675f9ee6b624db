"""The vendor path: jobs through the `openai` backend to a mock vendor in its own process.

Four mock vendors run side by side (benchmarks/vendor.py): a 1x1 PNG or a real 1024x1024
PNG, answered at once or after 100 ms. Each gateway target runs a config with one model
alias per vendor, so one gateway process serves every case. Per case and concurrency:

- `direct`: clients call the vendor itself (what the vendor alone serves, the ratio's base);
- `poll`: clients submit a new prompt, then poll until SUCCEEDED (benchmarks/e2e.py);
- `wait`: clients submit with `Prefer: wait`, answered with the finished job.

Around each gateway measurement the CPU time of the gateway's process tree and of
redis-server is read from /proc, so each row says what one job cost (submit, worker,
vendor call, image check and storage, and the client's reads) beside its rate.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from benchmarks.config import (
    BENCH_KEY,
    VENDOR_KEY_ENV,
    VENDOR_MODEL,
    vendor_alias,
    vendor_size,
    write_bench_config,
)
from benchmarks.cpu import tree_seconds
from benchmarks.e2e import E2EResult, OneJob, complete_job, drive, waited_job
from benchmarks.http1 import Http1
from benchmarks.peers import PeerReport, measure_peers
from benchmarks.results import VENDOR, Row
from benchmarks.targets import Target
from benchmarks.vendor import KEY as VENDOR_KEY
from benchmarks.vendor import PATH as VENDOR_PATH
from tests.servers import RedisServer

CASES = (("1x1", 0), ("1x1", 100), ("1024", 0), ("1024", 100))
QUICK_CASES = (("1x1", 0), ("1024", 100))  # `--quick`: one small and one real image
CLIENTS = ("poll", "wait")


def scenario(image: str, delay_ms: int, client: str) -> str:
    picture = "1x1 PNG" if image == "1x1" else "1024x1024 PNG"
    return f"vendor {picture}, {delay_ms} ms: {client}"


@dataclass(frozen=True)
class Plan:
    concurrencies: tuple[int, ...]
    seconds: float
    max_jobs: int
    log_level: str
    workers: tuple[int, ...] = (1,)  # `serve --workers N` values measured on redis
    before: Path | None = None  # another checkout, measured beside this one ("(before)")
    peers: tuple[str, ...] = ()  # other gateways measured against the same vendors
    cases: tuple[tuple[str, int], ...] = CASES  # (image, vendor delay in ms)


def _gateway_job(alias: str, image: str, client: str, tag: str) -> OneJob:
    async def one_job(http: Http1, index: int, number: int) -> tuple[bool, int]:
        body = {"prompt": f"{tag} {index} {number}", "model": alias, "size": vendor_size(image)}
        if client == "wait":
            job, polls = await waited_job(http, body), 0
        else:
            job, polls = await complete_job(http, body)
        return job["status"] == "SUCCEEDED", polls

    return one_job


def _direct_job(image: str) -> OneJob:
    async def one_job(http: Http1, index: int, number: int) -> tuple[bool, int]:
        body = {"model": VENDOR_MODEL, "prompt": f"direct {index} {number}", "n": 1}
        body["size"] = vendor_size(image)
        status, _ = await http.send("POST", VENDOR_PATH, body)
        return status == 200, 0

    return one_job


def _row(name: str, target: str, c: int, result: E2EResult, extra: dict[str, float]) -> Row:
    row = Row(name, target, c, result.jobs_per_s, result.p50_ms, result.p99_ms, result.failed)
    row.unit = "jobs/s"
    row.extra = extra
    print(f"  {target:9} {name:40} c={c:<3} {result.jobs_per_s:8.0f} jobs/s", flush=True)
    if result.first_error:
        print(f"    {result.failed} failed; the first: {result.first_error}", flush=True)
    return row


def _cpu_reader(pid: int | None) -> Callable[[], float]:
    return (lambda: tree_seconds(pid)) if pid is not None else (lambda: 0.0)


def _measure_gateway(
    target: Target, redis: RedisServer | None, vendors: dict[str, str], plan: Plan
) -> list[Row]:
    rows: list[Row] = []
    # Warm-up, not measured: every process of the target has started and connected.
    warm = _gateway_job(vendor_alias(*plan.cases[0]), plan.cases[0][0], "wait", "warm-up")
    asyncio.run(drive(target.base_url, BENCH_KEY, max(plan.concurrencies), 1.0, 10_000, warm))
    redis_pid = redis.process.pid if redis is not None and redis.process else None
    gateway_cpu, redis_cpu = _cpu_reader(target.pid), _cpu_reader(redis_pid)
    for image, delay in plan.cases:
        alias = vendor_alias(image, delay)
        for client in CLIENTS:
            for c in plan.concurrencies:
                one_job = _gateway_job(alias, image, client, uuid.uuid4().hex[:12])
                before = (gateway_cpu(), redis_cpu())
                result = asyncio.run(
                    drive(target.base_url, BENCH_KEY, c, plan.seconds, plan.max_jobs, one_job)
                )
                spent = (gateway_cpu() - before[0], redis_cpu() - before[1])
                jobs = max(1, result.jobs)
                extra = {
                    "jobs": result.jobs,
                    "gateway_cpu_ms": round(spent[0] * 1000 / jobs, 2),
                    "polls_per_job": round(result.polls / jobs, 2),
                }
                if redis_pid is not None:
                    extra["redis_cpu_ms"] = round(spent[1] * 1000 / jobs, 2)
                rows.append(_row(scenario(image, delay, client), target.name, c, result, extra))
    return rows


def _measure_direct(vendors: dict[str, Target], plan: Plan) -> list[Row]:
    rows: list[Row] = []
    for image, delay in plan.cases:
        vendor = vendors[vendor_alias(image, delay)]
        for c in plan.concurrencies:
            result = asyncio.run(
                drive(
                    vendor.base_url, VENDOR_KEY, c, plan.seconds, plan.max_jobs, _direct_job(image)
                )
            )
            rows.append(_row(scenario(image, delay, "direct"), VENDOR, c, result, {}))
    return rows


def gateway_targets(
    workdir: Path, redis: RedisServer, vendors: dict[str, str], plan: Plan
) -> list[tuple[Target, RedisServer | None]]:
    env = {VENDOR_KEY_ENV: VENDOR_KEY}
    memory = write_bench_config(workdir, "memory://", vendors)
    shared = write_bench_config(workdir, redis.url, vendors)
    targets: list[tuple[Target, RedisServer | None]] = [
        (Target.gateway("memory", memory, workdir, plan.log_level, None, env), None)
    ]
    for n in plan.workers:
        name = "redis" if n == 1 else f"redis x{n}"
        extra = ("--workers", str(n))  # N = 1 too: the row is `serve --workers 1`
        target = Target.gateway(name, shared, workdir, plan.log_level, redis, env, extra)
        targets.append((target, redis))
    if plan.before is not None:
        # The same configs and harness, the gateway's code from the other checkout.
        old = {**env, "PYTHONPATH": str(plan.before.resolve())}
        targets += [
            (Target.gateway("memory (before)", memory, workdir, plan.log_level, None, old), None),
            (Target.gateway("redis (before)", shared, workdir, plan.log_level, redis, old), redis),
        ]
    return targets


def measure_vendor_path(
    plan: Plan, workdir: Path, redis: RedisServer
) -> tuple[list[Row], PeerReport | None]:
    """Every vendor-path row: the vendors alone, then each gateway target; then the peers
    (`plan.peers`), against the same vendors."""
    vendors = {
        vendor_alias(image, delay): Target.vendor(f"vendor-{image}-{delay}", image, delay, workdir)
        for image, delay in plan.cases
    }
    rows: list[Row] = []
    try:
        for vendor in vendors.values():
            vendor.start()
        print("benchmarks: vendor path (mock vendors alone)", flush=True)
        rows += _measure_direct(vendors, plan)
        urls = {alias: vendor.base_url for alias, vendor in vendors.items()}
        for target, target_redis in gateway_targets(workdir, redis, urls, plan):
            print(f"benchmarks: vendor path through {target.name}", flush=True)
            if target_redis is not None:
                target_redis.flush()
            target.start()
            try:
                rows += _measure_gateway(target, target_redis, urls, plan)
            finally:
                target.stop()
        peers = None
        if "litellm" in plan.peers:
            print("benchmarks: peers (LiteLLM)", flush=True)
            gateways = [target for target, _ in gateway_targets(workdir, redis, urls, plan)]
            gateways = [g for g in gateways if g.name in ("memory", "redis")]
            redis.flush()
            peers = measure_peers(
                plan.cases, urls, gateways, plan.concurrencies, plan.seconds, workdir
            )
    finally:
        for vendor in vendors.values():
            vendor.stop()
    return rows, peers
