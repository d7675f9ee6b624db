"""Many gateway processes sharing one real Redis: exact quotas, one generation per prompt,
no accepted job lost to a killed worker or a restarted Redis."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.conftest import AUTH, OTHER_AUTH, config_dict, merge
from tests.fakes.kit import serving
from tests.fakes.openai_server import FakeOpenAI
from tests.fakes.script import slow
from tests.processes import GatewayProcess, serve, worker, write_config
from tests.servers import RedisServer

OPENAI_KEY = "sk-test-multiprocess-0123456789"


@pytest.fixture
def openai_fake() -> Iterator[FakeOpenAI]:
    with serving(FakeOpenAI(OPENAI_KEY)) as fake:
        yield fake


@pytest.fixture
def processes() -> Iterator[list[GatewayProcess]]:
    started: list[GatewayProcess] = []
    yield started
    for process in started:
        process.stop()


def shared_config(tmp_path: Path, redis: str, name: str = "gateway", **overrides: Any) -> Path:
    base = {
        "state": {"url": redis},
        "storage": {"url": f"file://{tmp_path / 'images'}"},
        "workers": {"visibility_timeout": "2s", "shutdown_grace": "2s"},
    }
    config = config_dict(tmp_path, **merge(base, overrides))
    config["server"].pop("public_url")  # each process builds URLs from its own port
    return write_config(tmp_path / f"{name}.toml", config)


def vendor_overrides(fake: FakeOpenAI) -> dict[str, Any]:
    return {
        "backends": {
            "procedural": {"type": "procedural"},
            "openai": {
                "type": "openai",
                "base_url": f"{fake.base_url}/v1",
                "api_key_env": "TEST_OPENAI_KEY",
                "prices": {"default": "0.04"},
            },
        },
        "models": {
            "procedural": {"default": False},
            "vendor": {
                "default": True,
                "sizes": ["1024x1024"],
                "targets": [{"backend": "openai", "model": "gpt-image-1"}],
            },
        },
    }


def serve_two(
    config: Path, tmp_path: Path, processes: list[GatewayProcess], **env: str
) -> list[str]:
    """Two `serve` processes on one config (and so one Redis); their base URLs."""
    urls = []
    for name in ("a", "b"):
        process, url = serve(config, tmp_path, name, **env)
        processes.append(process)
        urls.append(url)
    return urls


async def wait_all(
    base: str, ids: list[str], headers: dict[str, str], timeout: float = 60
) -> list[dict]:
    deadline = time.monotonic() + timeout
    async with httpx.AsyncClient(base_url=base, timeout=10) as http:
        while True:
            jobs = [
                (await http.get(f"/images/jobs/{job_id}", headers=headers)).json()["data"]
                for job_id in ids
            ]
            if all(job["status"] in ("SUCCEEDED", "FAILED") for job in jobs):
                return jobs
            if time.monotonic() > deadline:
                stuck = [job["status"] for job in jobs]
                raise AssertionError(f"jobs not finished after {timeout}s: {stuck}")
            await asyncio.sleep(0.1)


async def fire(
    urls: list[str], count: int, body: Any, headers: dict[str, str]
) -> list[httpx.Response]:
    """`count` submits at once, spread round-robin over `urls`."""
    async with httpx.AsyncClient(timeout=30, limits=httpx.Limits(max_connections=200)) as http:
        return await asyncio.gather(
            *[
                http.post(
                    f"{urls[i % len(urls)]}/images/jobs",
                    json=body(i) if callable(body) else body,
                    headers=headers,
                )
                for i in range(count)
            ]
        )


async def test_identical_submits_to_two_processes_generate_once(
    tmp_path: Path,
    shared_url: str,
    openai_fake: FakeOpenAI,
    processes: list[GatewayProcess],
) -> None:
    openai_fake.will(slow(1.0))  # keep the first generation in flight while the rest arrive
    config = shared_config(
        tmp_path,
        shared_url,
        plans={"free": {"rate": None, "max_concurrent": None}},
        **vendor_overrides(openai_fake),
    )
    urls = serve_two(config, tmp_path, processes, TEST_OPENAI_KEY=OPENAI_KEY)
    answers = await fire(urls, 50, {"prompt": "one lighthouse, fifty callers"}, AUTH)
    assert [a.status_code for a in answers] == [202] * 50
    ids = [a.json()["data"]["jobId"] for a in answers]
    assert len(set(ids)) == 50
    jobs = await wait_all(urls[0], ids, AUTH)
    assert {job["status"] for job in jobs} == {"SUCCEEDED"}
    assert len({job["images"][0]["sha256"] for job in jobs}) == 1
    assert len(openai_fake.requests_to("/images/generations")) == 1


async def test_rate_limit_is_exact_across_two_processes(
    tmp_path: Path, shared_url: str, processes: list[GatewayProcess]
) -> None:
    config = shared_config(
        tmp_path,
        shared_url,
        plans={"free": {"rate": "20/minute", "max_concurrent": None, "budget": None}},
        workers={"concurrency": 0},
    )
    urls = serve_two(config, tmp_path, processes)
    answers = await fire(urls, 200, lambda i: {"prompt": f"prompt {i}"}, AUTH)
    admitted = [a for a in answers if a.status_code == 202]
    refused = [a for a in answers if a.status_code == 429]
    assert (len(admitted), len(refused)) == (20, 180)
    for answer in refused:
        assert answer.json()["error"]["code"] == "rate_limited"
        assert answer.headers["RateLimit-Limit"] == "20"
        assert answer.headers["RateLimit-Remaining"] == "0"
        assert 1 <= int(answer.headers["Retry-After"]) <= 60
    # Remaining is read after each hit, so concurrent admissions may see each other's.
    assert all(0 <= int(a.headers["RateLimit-Remaining"]) < 20 for a in admitted)


async def test_jobs_of_a_killed_worker_finish_on_another(
    tmp_path: Path, shared_url: str, processes: list[GatewayProcess]
) -> None:
    api_config = shared_config(tmp_path, shared_url, "api", workers={"concurrency": 0})
    config = shared_config(
        tmp_path,
        shared_url,
        workers={"concurrency": 4, "visibility_timeout": "2s"},
        backends={"procedural": {"latency": "1.5s"}},
        plans={"free": {"rate": None, "max_concurrent": None}},
    )
    api, url = serve(api_config, tmp_path, "api")
    processes.append(api)
    doomed = worker(config, tmp_path, "doomed")
    processes.append(doomed)
    answers = await fire([url], 8, lambda i: {"prompt": f"kill test {i}"}, AUTH)
    ids = [a.json()["data"]["jobId"] for a in answers]
    async with httpx.AsyncClient(base_url=url) as http:
        deadline = time.monotonic() + 20
        while True:  # wait until the doomed worker holds jobs
            statuses = [
                (await http.get(f"/images/jobs/{i}", headers=AUTH)).json()["data"]["status"]
                for i in ids
            ]
            if statuses.count("RUNNING") >= 2 or time.monotonic() > deadline:
                break
            await asyncio.sleep(0.05)
    assert "RUNNING" in statuses
    doomed.kill()
    processes.append(worker(config, tmp_path, "rescuer"))
    jobs = await wait_all(url, ids, AUTH, timeout=60)
    assert {job["status"] for job in jobs} == {"SUCCEEDED"}, [j["error"] for j in jobs]


async def test_accepted_jobs_survive_a_redis_restart(
    tmp_path: Path, processes: list[GatewayProcess]
) -> None:
    redis = RedisServer(tmp_path / "redis", aof=True)
    redis.start()
    try:
        api_config = shared_config(
            tmp_path,
            redis.url,
            "api",
            workers={"concurrency": 0},
            plans={"free": {"max_concurrent": None}},
        )
        api, url = serve(api_config, tmp_path, "api")
        processes.append(api)
        answers = await fire([url], 10, lambda i: {"prompt": f"durable {i}"}, AUTH)
        ids = [a.json()["data"]["jobId"] for a in answers]
        assert all(a.status_code == 202 for a in answers)

        redis.stop()
        async with httpx.AsyncClient(base_url=url, timeout=10) as http:
            started = time.monotonic()
            down = await http.post("/images/jobs", json={"prompt": "while down"}, headers=AUTH)
            answered_in = time.monotonic() - started
            assert down.status_code == 503, down.text
            assert down.json()["error"]["code"] == "state_unavailable"
            assert "Traceback" not in down.text
            assert answered_in < 5  # bounded, never a hang (not a performance assertion)
        redis.start()

        processes.append(worker(shared_config(tmp_path, redis.url, "workers"), tmp_path))
        jobs = await wait_all(url, ids, AUTH, timeout=60)
        assert {job["status"] for job in jobs} == {"SUCCEEDED"}
    finally:
        for process in processes:
            process.stop()
        processes.clear()
        redis.stop()


async def test_dedup_never_crosses_tenants_in_tenant_scope(
    tmp_path: Path, redis_url: str, processes: list[GatewayProcess]
) -> None:
    config = shared_config(
        tmp_path,
        redis_url,
        cache={"scope": "tenant"},
        backends={"procedural": {"latency": "0.5s"}},
    )
    process, url = serve(config, tmp_path)
    processes.append(process)
    body = {"prompt": "the same words", "seed": 1}
    mine = (await fire([url], 1, body, AUTH))[0].json()["data"]
    theirs = (await fire([url], 1, body, OTHER_AUTH))[0].json()["data"]
    assert theirs["jobId"] != mine["jobId"] and theirs["cached"] is False
    [their_job] = await wait_all(url, [theirs["jobId"]], OTHER_AUTH)
    [my_job] = await wait_all(url, [mine["jobId"]], AUTH)
    assert their_job["joined"] is False and their_job["attempts"] == 1
    assert mine["jobId"] not in str(their_job)
    async with httpx.AsyncClient(base_url=url) as http:
        peek = await http.get(f"/images/jobs/{mine['jobId']}", headers=OTHER_AUTH)
        assert peek.status_code == 404
    # Tenant scope: the other tenant generated its own image object, not a shared result.
    assert my_job["attempts"] == 1


async def test_budget_admits_exactly_what_it_holds_across_two_processes(
    tmp_path: Path, shared_url: str, processes: list[GatewayProcess]
) -> None:
    config = shared_config(
        tmp_path,
        shared_url,
        plans={"free": {"budget": "0.10/day", "rate": None, "max_concurrent": None}},
        backends={"procedural": {"prices": {"default": "0.04"}, "latency": "1s"}},
    )
    urls = serve_two(config, tmp_path, processes)
    answers = await fire(urls, 10, lambda i: {"prompt": f"budget {i}"}, AUTH)
    admitted = [a for a in answers if a.status_code == 202]
    refused = [a for a in answers if a.status_code == 429]
    assert (len(admitted), len(refused)) == (2, 8)
    assert {a.json()["error"]["code"] for a in refused} == {"budget_exhausted"}
    jobs = await wait_all(urls[0], [a.json()["data"]["jobId"] for a in admitted], AUTH)
    assert [job["cost"] for job in jobs] == ["0.04", "0.04"]
