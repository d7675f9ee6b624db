"""A global `max_concurrency` across real `imagegate serve` processes on one Redis, measured by
a fake AUTOMATIC1111 that counts the requests it is answering at once."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.conftest import AUTH
from tests.fakes.automatic1111_server import FakeAutomatic1111
from tests.fakes.inflight import InFlight
from tests.fakes.script import slow
from tests.fakes.serve import running
from tests.metrics_text import Scrape
from tests.processes import GatewayProcess, serve
from tests.test_multiprocess import fire, shared_config, wait_all

TXT2IMG = "/sdapi/v1/txt2img"


@pytest.fixture
def gpu() -> Iterator[tuple[FakeAutomatic1111, InFlight]]:
    fake = FakeAutomatic1111()
    counted = InFlight(fake.app, TXT2IMG)
    with running(counted) as base_url:
        fake.base_url = base_url
        yield fake, counted


@pytest.fixture
def processes() -> Iterator[list[GatewayProcess]]:
    started: list[GatewayProcess] = []
    yield started
    for process in started:
        if process.process.poll() is None:
            process.stop()


def gpu_config(
    tmp_path: Path,
    redis_url: str,
    fake: FakeAutomatic1111,
    cap: int,
    lease: str = "2s",
    **workers: Any,
) -> Path:
    return shared_config(
        tmp_path,
        redis_url,
        workers={"concurrency": 3, **workers},
        plans={"free": {"rate": None, "max_concurrent": None, "budget": None}},
        backends={
            "a1111": {
                "type": "automatic1111",
                "base_url": fake.base_url,
                "timeout": "90s",
                "free": True,
                "max_concurrency": cap,
                "concurrency_scope": "global",
                "concurrency_lease": lease,
            }
        },
        models={
            "procedural": {"default": False},
            "gpu": {
                "default": True,
                "sizes": ["64x64"],
                "targets": [{"backend": "a1111", "model": "default"}],
            },
        },
    )


def deferred(base_url: str) -> float:
    scrape = Scrape(httpx.get(f"{base_url}/metrics", timeout=10).text)
    return scrape.value("imagegate_jobs_deferred_total", backend="a1111", reason="concurrency")


async def test_a_global_cap_holds_at_exactly_n_across_two_processes(
    tmp_path: Path,
    redis_url: str,
    gpu: tuple[FakeAutomatic1111, InFlight],
    processes: list[GatewayProcess],
) -> None:
    fake, counted = gpu
    jobs = 12
    fake.will(*(slow(0.4) for _ in range(jobs)))
    config = gpu_config(tmp_path, redis_url, fake, cap=2)
    urls = []
    for name in ("a", "b"):  # 2 x 3 workers: up to 6 calls at once without the cap
        process, url = serve(config, tmp_path, name)
        processes.append(process)
        urls.append(url)
    answers = await fire(urls, jobs, lambda i: {"prompt": f"gpu job {i}"}, AUTH)
    assert [a.status_code for a in answers] == [202] * jobs
    done = await wait_all(urls[0], [a.json()["data"]["jobId"] for a in answers], AUTH, 120)
    assert {job["status"] for job in done} == {"SUCCEEDED"}, [job["error"] for job in done]
    assert [job["attempts"] for job in done] == [1] * jobs  # waiting added no attempt
    assert counted.total == jobs
    assert counted.peak == 2  # reached, never passed
    assert sum(deferred(url) for url in urls) >= 1  # the cap sent jobs back to the queue


async def test_a_killed_holders_slot_comes_back_after_its_lease(
    tmp_path: Path,
    redis_url: str,
    gpu: tuple[FakeAutomatic1111, InFlight],
    processes: list[GatewayProcess],
) -> None:
    fake, counted = gpu
    fake.will(slow(120))  # the doomed process's call never ends by itself
    # The lease outlasts the visibility timeout by seconds, so both jobs (the survivor's
    # own and the reclaimed one) surely find the dead holder's slot still taken.
    config = gpu_config(tmp_path, redis_url, fake, cap=1, lease="6s", visibility_timeout="2s")
    doomed, doomed_url = serve(config, tmp_path, "doomed")
    processes.append(doomed)
    async with httpx.AsyncClient(timeout=10) as http:
        held = await http.post(f"{doomed_url}/images/jobs", json={"prompt": "held"}, headers=AUTH)
        deadline = time.monotonic() + 30
        while counted.now == 0:  # the doomed process holds the only slot
            assert time.monotonic() < deadline, doomed.output()
            await asyncio.sleep(0.02)
        survivor, url = serve(config, tmp_path, "survivor")
        processes.append(survivor)
        doomed.kill()  # SIGKILL: its lease is neither renewed nor released
        waiting = await http.post(f"{url}/images/jobs", json={"prompt": "next"}, headers=AUTH)
    ids = [held.json()["data"]["jobId"], waiting.json()["data"]["jobId"]]
    done = await wait_all(url, ids, AUTH, 90)
    assert [job["status"] for job in done] == ["SUCCEEDED", "SUCCEEDED"], done
    assert counted.peak == 1
    # The survivor found the slot taken (the dead lease, or the reclaimed job) and deferred
    # rather than waiting; once the lease ran out, both jobs got the slot in turn.
    assert deferred(url) >= 1
