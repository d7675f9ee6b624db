"""Metrics across processes: an API-only `serve` and an `imagegate worker --metrics-port`
on one Redis each count their own part of a job."""

from __future__ import annotations

import time
from pathlib import Path

import httpx

from tests.conftest import AUTH, config_dict
from tests.metrics_text import Scrape
from tests.processes import GatewayProcess, cli_env, serve, write_config
from tests.servers import free_port, wait_for_port


def test_worker_process_serves_its_own_metrics(tmp_path: Path, redis_url: str) -> None:
    config = config_dict(
        tmp_path,
        state={"url": redis_url},
        storage={"url": f"file://{tmp_path / 'images'}"},
        workers={"concurrency": 3, "shutdown_grace": "2s"},
    )
    config["server"].pop("public_url")
    api_only = write_config(tmp_path / "api.toml", {**config, "workers": {"concurrency": 0}})
    workers = write_config(tmp_path / "worker.toml", config)
    metrics_port = free_port()
    worker = GatewayProcess(
        ["worker", "--config", str(workers), "--metrics-port", str(metrics_port)],
        tmp_path,
        tmp_path / "worker.log",
        cli_env(),
    )
    api, base = serve(api_only, tmp_path, name="api")
    try:
        wait_for_port(metrics_port, timeout=30)
        with httpx.Client(base_url=base, timeout=10) as http:
            job_id = http.post("/images/jobs", json={"prompt": "a buoy"}, headers=AUTH).json()[
                "data"
            ]["jobId"]
            deadline = time.monotonic() + 20
            while http.get(f"/images/jobs/{job_id}", headers=AUTH).json()["data"]["status"] in (
                "PENDING",
                "RUNNING",
            ):
                assert time.monotonic() < deadline, worker.output()
                time.sleep(0.05)
            served = Scrape(http.get("/metrics").text)
        done = Scrape(httpx.get(f"http://127.0.0.1:{metrics_port}/metrics", timeout=10).text)
    finally:
        api.stop()
        worker.stop()
    assert served.value("imagegate_jobs_submitted_total", tenant="demo") == 1
    assert served.value("imagegate_jobs_finished_total") == 0  # finished in the worker
    assert served.value("imagegate_workers_total") == 0
    assert done.value("imagegate_jobs_finished_total", tenant="demo", status="SUCCEEDED") == 1
    assert done.value("imagegate_vendor_attempts_total", backend="procedural", outcome="ok") == 1
    assert done.value("imagegate_workers_total") == 3
    assert done.value("imagegate_jobs_submitted_total") == 0
