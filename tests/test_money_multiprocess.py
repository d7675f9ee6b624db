"""The issue's end-to-end money check, with real processes on one real Redis: two `serve`
processes share a 0.50/day budget, `high` 1536x1024 gpt-image-1 jobs are estimated at
0.25 from the size x quality table, so exactly 2 of 10 racing submits are admitted; the
worker running them is SIGKILLed while the vendor calls are in flight, another worker
reclaims them, they are charged from the fake OpenAI's token usage, and the tenant's
spent figure, its usage records and its jobs' costs all equal the sum of charged attempts.
"""

from __future__ import annotations

import asyncio
import json
import subprocess
import time
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx
import pytest

from gateway.budgets import Budget, Budgets
from gateway.settings import load_settings
from gateway.state import state_from_settings
from tests.conftest import AUTH
from tests.fakes.kit import serving
from tests.fakes.openai_server import FakeOpenAI
from tests.fakes.script import slow
from tests.processes import IMAGEGATE, GatewayProcess, cli_env, worker
from tests.test_multiprocess import fire, processes, serve_two, shared_config, wait_all  # noqa: F401

VENDOR_KEY = "sk-test-money-multiprocess-0123456789"
TABLE = {"1536x1024": {"low": "0.016", "medium": "0.063", "high": "0.25"}}
TOKENS = {"text_input": "5.00", "image_input": "10.00", "image_output": "40.00"}
BUDGET = Budget(Decimal("0.50"), 86400)


@pytest.fixture
def fake() -> Iterator[FakeOpenAI]:
    with serving(FakeOpenAI(VENDOR_KEY)) as fake:
        yield fake


def money_config(tmp_path: Path, redis_url: str, fake: FakeOpenAI, name: str, workers: int) -> Path:
    overrides: dict[str, Any] = {
        "workers": {"concurrency": workers, "visibility_timeout": "2s"},
        "plans": {
            "free": {
                "budget": "0.50/day",
                "max_cost_per_job": "1.00",
                "rate": None,
                "max_concurrent": None,
            }
        },
        "models": {
            "procedural": {"default": False},
            "gpt-image": {
                "default": True,
                "sizes": ["1536x1024"],
                "targets": [{"backend": "openai", "model": "gpt-image-1"}],
            },
        },
        "backends": {
            "openai": {
                "type": "openai",
                "base_url": f"{fake.base_url}/v1",
                "api_key_env": "TEST_OPENAI_KEY",
                "timeout": "60s",
                "prices": {"gpt-image-1": TABLE},
                "token_prices": {"gpt-image-1": TOKENS},
            }
        },
    }
    return shared_config(tmp_path, redis_url, name, **overrides)


async def spent(config: Path) -> Decimal:
    state = state_from_settings(load_settings(config, environ={}))
    try:
        return await Budgets(state).spent("demo", BUDGET)
    finally:
        await state.aclose()


async def wait_for_calls(fake: FakeOpenAI, count: int, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while len(fake.requests_to("/images/generations")) < count:
        assert time.monotonic() < deadline, "the worker never called the vendor"
        await asyncio.sleep(0.05)


async def test_two_processes_admit_exactly_the_budget_and_a_killed_worker_changes_nothing(
    tmp_path: Path,
    shared_url: str,
    fake: FakeOpenAI,
    processes: list[GatewayProcess],  # noqa: F811
) -> None:
    env = {"TEST_OPENAI_KEY": VENDOR_KEY}
    api = money_config(tmp_path, shared_url, fake, "api", workers=0)
    urls = serve_two(api, tmp_path, processes, **env)
    answers = await fire(urls, 10, lambda i: {"prompt": f"budget job {i}", "quality": "high"}, AUTH)
    admitted = [a for a in answers if a.status_code == 202]
    refused = [a for a in answers if a.status_code == 429]
    assert (len(admitted), len(refused)) == (2, 8)
    for answer in refused:
        error = answer.json()["error"]
        assert error["code"] == "budget_exhausted"
        assert "(0.50 USD per 86400s)" in error["message"] and "0.25 USD" in error["message"]
    assert await spent(api) == Decimal("0.50")  # both first attempts' worst case, reserved

    # The vendor holds both calls; the worker making them dies without a word.
    fake.will(slow(10), slow(10))
    workers = money_config(tmp_path, shared_url, fake, "workers", workers=2)
    doomed = worker(workers, tmp_path, "doomed", **env)
    await wait_for_calls(fake, 2)
    doomed.kill()
    processes.append(worker(workers, tmp_path, "rescuer", **env))
    ids = [a.json()["data"]["jobId"] for a in admitted]
    jobs = await wait_all(urls[1], ids, AUTH, timeout=60)

    assert {job["status"] for job in jobs} == {"SUCCEEDED"}, [job["error"] for job in jobs]
    assert len(fake.requests_to("/images/generations")) == 4  # 2 lost with the worker, 2 made
    # 3 prompt words x $5 + 6208 image tokens x $40 per million tokens = $0.248335 a job.
    attempts = [attempt for job in jobs for attempt in job["attemptLog"]]
    assert [(a["estimatedCost"], a["cost"]) for a in attempts] == [("0.25", "0.248335")] * 2
    assert [job["cost"] for job in jobs] == ["0.248335"] * 2
    charged = sum(Decimal(a["cost"]) for a in attempts)
    assert await spent(api) == charged == Decimal("0.49667")
    async with httpx.AsyncClient(base_url=urls[0], timeout=10) as http:
        (record,) = (await http.get("/v1/usage", headers=AUTH)).json()["data"]
    assert (record["jobs"], record["attempts"], record["images"]) == (2, 2, 2)
    assert record["chargedUsd"] == "0.49667"
    # The operator's view of the same records, from a process of its own.
    listed = await asyncio.to_thread(
        subprocess.run,
        [*IMAGEGATE, "usage", "--config", str(api), "--tenant", "demo", "--json"],
        capture_output=True,
        text=True,
        env=cli_env(),
        timeout=60,
    )
    assert listed.returncode == 0, listed.stderr
    assert json.loads(listed.stdout)["records"] == [record]
