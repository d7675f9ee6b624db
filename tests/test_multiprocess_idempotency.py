"""Idempotency-Key across two `imagegate serve` processes on one real Redis."""

from __future__ import annotations

import asyncio
from pathlib import Path

import httpx

from gateway.state.keys import Keys
from gateway.state.redis_client import close, connect
from tests.conftest import AUTH
from tests.processes import GatewayProcess
from tests.test_multiprocess import processes, serve_two, shared_config, wait_all

__all__ = ["processes"]  # the fixture, used by name


async def test_fifty_keyed_submits_over_two_processes_make_one_job(
    tmp_path: Path, shared_url: str, processes: list[GatewayProcess]
) -> None:
    config = shared_config(
        tmp_path,
        shared_url,
        plans={"free": {"rate": None, "max_concurrent": None}},
        backends={"procedural": {"latency": "300ms"}},
    )
    urls = serve_two(config, tmp_path, processes)
    headers = {**AUTH, "Idempotency-Key": "checkout-7f3a"}
    body = {"prompt": "fifty callers, one key", "size": "256x256"}
    async with httpx.AsyncClient(timeout=30, limits=httpx.Limits(max_connections=100)) as http:
        answers = await asyncio.gather(
            *(
                http.post(f"{urls[i % 2]}/images/jobs", json=body, headers=headers)
                for i in range(50)
            )
        )
    created = [
        a for a in answers if a.status_code == 202 and "idempotent-replayed" not in a.headers
    ]
    replayed = [a for a in answers if a.headers.get("idempotent-replayed") == "true"]
    busy = [a for a in answers if a.status_code == 409]
    assert len(created) == 1, [a.status_code for a in answers]
    assert len(created) + len(replayed) + len(busy) == 50
    job_id = created[0].json()["data"]["jobId"]
    assert {a.json()["data"]["jobId"] for a in replayed} <= {job_id}
    assert all(a.headers["location"] == f"/images/jobs/{job_id}" for a in replayed)
    assert {a.json()["error"]["code"] for a in busy} <= {"idempotency_key_in_use"}

    async with httpx.AsyncClient(timeout=30) as http:  # a late retry, at either process
        late = [await http.post(f"{url}/images/jobs", json=body, headers=headers) for url in urls]
    assert [a.json() for a in late] == [created[0].json()] * 2
    assert all(a.headers["idempotent-replayed"] == "true" for a in late)

    probe = connect(shared_url)  # one Redis or the cluster: every node is scanned
    try:
        stored = [key async for key in probe.scan_iter(match=Keys().patterns()[0], count=1000)]
    finally:
        await close(probe)
    assert [key.decode() for key in stored] == [Keys().job(job_id)]
    [job] = await wait_all(urls[1], [job_id], AUTH)
    assert job["status"] == "SUCCEEDED"
