"""`imagegate serve --workers N`: N API processes on one port over one Redis."""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.conftest import AUTH, config_dict
from tests.processes import IMAGEGATE, GatewayProcess, cli_env, write_config
from tests.servers import free_port, wait_for_port


def servers(pid: int) -> set[int]:
    """The child processes uvicorn spawned to serve (not multiprocessing's own helpers)."""
    found: set[int] = set()
    for task in Path(f"/proc/{pid}/task").iterdir():
        for child in (task / "children").read_text().split():
            if b"spawn_main" in Path(f"/proc/{child}/cmdline").read_bytes():
                found.add(int(child))
    return found


@pytest.fixture
def two_processes(tmp_path: Path, redis_url: str) -> Iterator[tuple[GatewayProcess, str]]:
    config = config_dict(
        tmp_path,
        state={"url": redis_url},
        storage={"url": f"file://{tmp_path / 'images'}"},
        workers={"concurrency": 3, "shutdown_grace": "2s"},
    )
    config["server"].pop("public_url")
    path = write_config(tmp_path / "gateway.toml", config)
    port = free_port()
    args = ["serve", "--config", str(path), "--port", str(port), "--workers", "2"]
    process = GatewayProcess(args, tmp_path, tmp_path / "serve.log", cli_env())
    try:
        wait_for_port(port, timeout=30)
        yield process, f"http://127.0.0.1:{port}"
    finally:
        process.stop()


def test_two_api_processes_share_the_port_and_the_jobs(
    two_processes: tuple[GatewayProcess, str],
) -> None:
    process, url = two_processes
    with httpx.Client(base_url=url, headers=AUTH, timeout=30) as http:
        # Each submit on a connection of its own, so the kernel spreads them.
        ids = []
        for i in range(12):
            answer = httpx.post(
                f"{url}/images/jobs",
                json={"prompt": f"harbour {i}", "size": "256x256"},
                headers={**AUTH, "Prefer": "wait=20"},
                timeout=30,
            )
            assert answer.status_code == 200, answer.text
            ids.append(answer.json()["data"]["id"])
        for job_id in ids:  # any process answers for any job: the state is shared
            job = http.get(f"/images/jobs/{job_id}").json()["data"]
            assert job["status"] == "SUCCEEDED"
            assert http.get(job["imageUrl"]).headers["content-type"] == "image/png"
    served = servers(process.process.pid)
    assert len(served) == 2, process.output()
    log = process.output()
    assert "Imagegate listening on" in log
    # Every child ran its share of workers.concurrency = 3: ceil(3 / 2) = 2 each.
    assert log.count("2 in-process workers") == 2, log


def test_memory_state_refuses_more_than_one_process(tmp_path: Path) -> None:
    path = write_config(tmp_path / "gateway.toml", config_dict(tmp_path))
    done = subprocess.run(
        [*IMAGEGATE, "serve", "--config", str(path), "--port", "0", "--workers", "2"],
        cwd=tmp_path,
        env=cli_env(),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 1
    assert "--workers 2 needs state shared between processes" in done.stderr
    assert "memory://" in done.stderr and "Traceback" not in done.stderr
