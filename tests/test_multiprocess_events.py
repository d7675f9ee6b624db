"""Live status of a job run by a worker in another process, over one real Redis."""

from __future__ import annotations

import asyncio
import json
import signal
from pathlib import Path

import httpx
from httpx_sse import aconnect_sse

from tests.conftest import AUTH
from tests.processes import GatewayProcess, serve, worker
from tests.test_multiprocess import processes, shared_config

__all__ = ["processes"]  # the fixture, used by name


async def test_events_of_a_job_run_by_a_worker_in_another_process(
    tmp_path: Path, redis_url: str, processes: list[GatewayProcess]
) -> None:
    api_config = shared_config(tmp_path, redis_url, "api", workers={"concurrency": 0})
    worker_config = shared_config(
        tmp_path,
        redis_url,
        "workers",
        workers={"concurrency": 1},
        backends={"procedural": {"latency": "500ms"}},
    )
    api, url = serve(api_config, tmp_path, "api")
    processes.append(api)
    seen: list[tuple[str, str, dict]] = []
    async with httpx.AsyncClient(base_url=url, timeout=30) as http:
        accepted = await http.post(
            "/images/jobs", json={"prompt": "watched from afar"}, headers=AUTH
        )
        job_id = accepted.json()["data"]["jobId"]
        async with aconnect_sse(
            http, "GET", f"/images/jobs/{job_id}/events", headers=AUTH
        ) as source:
            assert source.response.status_code == 200
            async for event in source.aiter_sse():
                seen.append((event.event, event.id, json.loads(event.data)))
                if len(seen) == 1:
                    # The stream is open on a job nobody runs yet: start a worker elsewhere.
                    processes.append(worker(worker_config, tmp_path))
    kinds = [(kind, data.get("status") or data.get("outcome")) for kind, _, data in seen]
    assert kinds == [
        ("status", "PENDING"),
        ("status", "RUNNING"),
        ("attempt", "ok"),
        ("status", "SUCCEEDED"),
        ("job", "SUCCEEDED"),
    ], kinds
    final = seen[-1][2]
    assert final["id"] == job_id and final["images"][0]["url"].startswith(url)
    assert final["attempts"] == 1 and final["backend"] == "procedural"
    assert [event_id for _, event_id, _ in seen] == [
        "0.0.PENDING",
        "1.0.RUNNING",
        "1.1.RUNNING",
        "1.1.SUCCEEDED",
        "1.1.SUCCEEDED",
    ]


async def test_a_stream_ends_at_shutdown_and_resumes_at_another_process(
    tmp_path: Path, redis_url: str, processes: list[GatewayProcess]
) -> None:
    api_config = shared_config(tmp_path, redis_url, "api", workers={"concurrency": 0})
    first, first_url = serve(api_config, tmp_path, "first")
    processes.append(first)
    async with httpx.AsyncClient(timeout=30) as http:
        accepted = await http.post(
            f"{first_url}/images/jobs", json={"prompt": "outlives its server"}, headers=AUTH
        )
        job_id = accepted.json()["data"]["jobId"]
        events_path = f"/images/jobs/{job_id}/events"
        seen = []
        async with aconnect_sse(http, "GET", f"{first_url}{events_path}", headers=AUTH) as source:
            async for event in source.aiter_sse():
                seen.append(event)
                # SIGTERM with the stream open: the server ends it and exits by itself.
                await asyncio.to_thread(first.stop)
        assert [event.event for event in seen] == ["status"]
        # It shut down by itself (uvicorn re-raises SIGTERM once done), not SIGKILLed at 30 s.
        assert first.process.returncode == -signal.SIGTERM, first.output()
        assert "Application shutdown complete" in first.output()

        second, second_url = serve(api_config, tmp_path, "second")
        processes.append(second)
        processes.append(worker(shared_config(tmp_path, redis_url, "workers"), tmp_path))
        resumed = []
        headers = {**AUTH, "Last-Event-ID": seen[-1].id}
        async with aconnect_sse(
            http, "GET", f"{second_url}{events_path}", headers=headers
        ) as source:
            async for event in source.aiter_sse():
                resumed.append(event)
    kinds = [
        (e.event, json.loads(e.data).get("status") or json.loads(e.data).get("outcome"))
        for e in resumed
    ]
    assert kinds[0] != ("status", "PENDING")  # nothing seen is sent again
    assert kinds[-3:] == [("attempt", "ok"), ("status", "SUCCEEDED"), ("job", "SUCCEEDED")], kinds
