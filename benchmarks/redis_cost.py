"""Redis cost per request: round trips and commands, by client count and by INFO.

The gateway runs in this process (the same `create_app`, ASGI transport, no sockets on the
HTTP side) against the harness's redis-server, and a fixed number of requests is sent one
at a time, so each figure divided by that number is exact:

- round trips and the commands sent, counted on the client (`RedisCounter`), EVALSHA named
  by script;
- the commands Redis executed, scripts' inner calls included, and the server time they
  took, from `INFO commandstats` before and after.

Request scenarios run with no workers (nothing else touches Redis meanwhile); the worker's
cost per job runs with one worker, counted on the worker role only.
"""

from __future__ import annotations

import asyncio
import uuid
from collections import Counter
from contextlib import AsyncExitStack
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import redis

from benchmarks.config import BENCH_KEY, PRICED_MODEL, QUOTA_KEY, SIZE, bench_config
from benchmarks.e2e import complete_job
from benchmarks.redis_counting import ROLE, RedisCounter, script_names
from gateway.app import create_app
from gateway.settings import parse_settings

TENANTS = {"bench": (BENCH_KEY, {}), "bench-quotas": (QUOTA_KEY, {"model": PRICED_MODEL})}
WARMUP = 5


@dataclass
class RedisCost:
    """What one request (or one job, for the worker) cost in Redis, averaged over `n`."""

    scenario: str
    tenant: str
    n: int
    round_trips: float
    sent: dict[str, float]  # command (EVALSHA by script) -> per request, client side
    executed: dict[str, float] = field(default_factory=dict)  # server side, scripts' inner calls
    server_usec: float | None = None  # Redis CPU time per request, from commandstats


def _commandstats(client: redis.Redis) -> dict[str, tuple[int, float]]:
    stats: dict[str, Any] = client.info("commandstats")
    return {
        name.removeprefix("cmdstat_"): (int(v["calls"]), float(v["usec"]))
        for name, v in stats.items()
        if name != "cmdstat_info"
    }


def _per(counter: Counter[str], n: int) -> dict[str, float]:
    return {name: count / n for name, count in sorted(counter.items()) if count}


class _Asgi:
    """The driver's `JobClient` over httpx's in-process ASGI transport."""

    def __init__(self, http: httpx.AsyncClient) -> None:
        self.http = http

    async def send(
        self, method: str, path: str, body: Any = None, headers: str = ""
    ) -> tuple[int, Any]:
        lines = (line.partition(":") for line in headers.split("\r\n") if line)
        extra = {name: value.strip() for name, _, value in lines}
        response = await self.http.request(method, path, json=body, headers=extra)
        return response.status_code, response.json()


class _Session:
    """A counter and Redis's own statistics around N requests sent one at a time."""

    def __init__(self, counter: RedisCounter, server: redis.Redis) -> None:
        self.counter = counter
        self.server = server

    async def measure(
        self, scenario: str, tenant: str, n: int, send: Any, role: str = "api"
    ) -> RedisCost:
        for i in range(WARMUP):  # connections made, scripts cached, windows created
            await send(f"warm-{i}")
        before = _commandstats(self.server)
        self.counter.reset()
        for i in range(n):
            await send(str(i))
        after = _commandstats(self.server)
        sent: Counter[str] = Counter(
            {name: c for (r, name), c in self.counter.commands.items() if r == role}
        )
        cost = RedisCost(scenario, tenant, n, self.counter.round_trips[role] / n, _per(sent, n))
        if role == "api":  # with workers on, the server also ran their commands meanwhile
            calls = Counter({k: v[0] - before.get(k, (0, 0.0))[0] for k, v in after.items()})
            usec = sum(v[1] - before.get(k, (0, 0.0))[1] for k, v in after.items())
            cost.executed, cost.server_usec = _per(calls, n), usec / n
        return cost


async def _open(
    stack: AsyncExitStack, settings: Any, workers: int, counter: RedisCounter, key: str
) -> httpx.AsyncClient:
    app = create_app(settings, worker_concurrency=workers)
    ROLE.set("worker")  # tasks the lifespan starts (the worker loops) keep this role
    await stack.enter_async_context(app.router.lifespan_context(app))
    ROLE.set("api")
    gateway = app.state.gateway
    counter.scripts.update(
        script_names(
            {
                "state": gateway.state,
                "limits": gateway.admission.rates.storage,
                "usage": gateway.usage,
            }
        )
    )
    return await stack.enter_async_context(
        httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app),
            base_url="http://bench",
            headers={"Authorization": f"Bearer {key}"},
        )
    )


async def _tenant(
    settings: Any, counter: RedisCounter, server: redis.Redis, tenant: str, n: int, tag: str
) -> list[RedisCost]:
    key, extra = TENANTS[tenant]
    prefix = f"{tag} {tenant}"

    def body(prompt: str) -> dict[str, str]:
        return {"prompt": f"{prefix} {prompt}", "size": SIZE, **extra}

    results: list[RedisCost] = []
    # With one worker: a cached result and a finished job to poll, then the worker's own
    # cost per job.
    async with AsyncExitStack() as stack:
        http = await _open(stack, settings, 1, counter, key)
        finished, _ = await complete_job(_Asgi(http), body("cached"))

        async def one_job(i: str) -> None:
            await complete_job(_Asgi(http), body(f"job {i}"))

        session = _Session(counter, server)
        results.append(await session.measure("job (worker side)", tenant, n, one_job, "worker"))
    # No workers: each request's own cost, alone on the server.
    async with AsyncExitStack() as stack:
        api = await _open(stack, settings, 0, counter, key)

        async def submit_new(i: str) -> None:
            (await api.post("/images/jobs", json=body(f"new {i}"))).raise_for_status()

        async def submit_cached(i: str) -> None:
            response = await api.post("/images/jobs", json=body("cached"))
            assert response.json()["data"]["cached"], response.text

        async def poll(i: str) -> None:
            (await api.get(f"/images/jobs/{finished['id']}")).raise_for_status()

        session = _Session(counter, server)
        for name, send in (
            ("submit (new prompt)", submit_new),
            ("submit (cache hit)", submit_cached),
            ("poll", poll),
        ):
            results.append(await session.measure(name, tenant, n, send))
    return results


async def _measure(redis_url: str, workdir: Path, n: int) -> list[RedisCost]:
    settings = parse_settings(bench_config(workdir, redis_url))
    server = redis.Redis.from_url(redis_url)
    server.flushall()
    tag = uuid.uuid4().hex[:8]
    results: list[RedisCost] = []
    try:
        with RedisCounter() as counter:
            for tenant in TENANTS:
                results += await _tenant(settings, counter, server, tenant, n, tag)
    finally:
        server.close()
    return results


def measure_redis_cost(redis_url: str, workdir: Path, n: int) -> list[RedisCost]:
    """Per-request Redis cost of each scenario, for both tenants (see the module doc)."""
    workdir.mkdir(parents=True, exist_ok=True)
    return asyncio.run(_measure(redis_url, workdir, n))
