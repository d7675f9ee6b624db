"""A batch of 100 at a real `imagegate serve` on Redis, run by a worker in another process."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import httpx

from tests.conftest import AUTH
from tests.processes import GatewayProcess, serve, worker
from tests.test_multiprocess import processes, shared_config

__all__ = ["processes"]  # the fixture, used by name


async def test_a_batch_of_100_under_a_rate_of_40(
    tmp_path: Path, redis_url: str, processes: list[GatewayProcess]
) -> None:
    plans = {"free": {"rate": "40/minute", "max_concurrent": None, "budget": None}}
    api_config = shared_config(tmp_path, redis_url, "api", plans=plans, workers={"concurrency": 0})
    worker_config = shared_config(tmp_path, redis_url, "workers", workers={"concurrency": 4})
    api, url = serve(api_config, tmp_path, "api")
    processes += [api, worker(worker_config, tmp_path)]
    body = {"jobs": [{"prompt": f"item {i}", "size": "256x256"} for i in range(100)]}
    async with httpx.AsyncClient(base_url=url, timeout=60) as http:
        answer = await http.post("/images/batches", json=body, headers=AUTH)
        assert answer.status_code == 202, answer.text
        data = answer.json()["data"]
        assert (data["admitted"], data["refused"]) == (40, 60)
        assert [item["index"] for item in data["items"] if "jobId" in item] == list(range(40))
        assert {item["error"]["code"] for item in data["items"][40:]} == {"rate_limited"}
        deadline = time.monotonic() + 60
        while True:
            page = await http.get(f"/images/batches/{data['batchId']}?limit=100", headers=AUTH)
            status = page.json()["data"]
            if status["counts"]["SUCCEEDED"] == 40 or time.monotonic() > deadline:
                break
            await asyncio.sleep(0.2)
    assert status["counts"] == {
        "PENDING": 0,
        "RUNNING": 0,
        "SUCCEEDED": 40,
        "FAILED": 0,
        "CANCELED": 0,
        "REFUSED": 60,
    }
    images = {item["job"]["images"][0]["sha256"] for item in status["items"] if "job" in item}
    assert len(images) == 40  # forty different prompts, forty different pictures
