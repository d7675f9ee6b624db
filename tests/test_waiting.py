"""Waiting without polling: `Prefer: wait=N` on the job API, and /v1 calls answered by a
job that a worker in another process runs (woken through Redis, not by polling)."""

from __future__ import annotations

import base64
import tomllib
from collections.abc import Callable
from pathlib import Path

import openai
from starlette.testclient import TestClient

from gateway.auth import key_hash
from gateway.settings import Settings, default_config_path
from tests.conftest import AUTH
from tests.polling import wait_for_job
from tests.processes import serve, worker, write_config

KEY = "ig_waiting_key_0123456789abcdef"


def test_prefer_wait_answers_the_finished_job(make_client: Callable[..., TestClient]) -> None:
    client = make_client()
    answer = client.post(
        "/images/jobs",
        json={"prompt": "waited for", "size": "256x256"},
        headers={**AUTH, "Prefer": "wait=20"},
    )
    assert answer.status_code == 200, answer.text
    job = answer.json()["data"]
    assert job["status"] == "SUCCEEDED" and job["images"][0]["width"] == 256
    assert answer.headers["preference-applied"] == "wait=20"
    assert answer.headers["location"] == f"/images/jobs/{job['id']}"


def test_prefer_wait_past_the_job_answers_202_and_the_job_runs_on(
    make_client: Callable[..., TestClient], make_settings: Callable[..., Settings]
) -> None:
    settings = make_settings(backends={"procedural": {"latency": "3s"}})
    client = make_client(settings)
    answer = client.post(
        "/images/jobs", json={"prompt": "slow"}, headers={**AUTH, "Prefer": "wait=1"}
    )
    assert answer.status_code == 202, answer.text
    accepted = answer.json()["data"]
    assert accepted["status"] in {"PENDING", "RUNNING"}
    assert wait_for_job(client, accepted["jobId"], AUTH)["status"] == "SUCCEEDED"


def test_v1_wakes_on_a_job_finished_by_another_process(redis_url: str, tmp_path: Path) -> None:
    config = tomllib.loads(default_config_path().read_text())
    config["server"]["data_dir"] = str(tmp_path / "data")
    config["state"] = {"url": redis_url}
    config["storage"] = {"url": f"file://{tmp_path / 'images'}"}
    config["tenants"] = {"demo": {"keys": [key_hash(KEY)], "generate_key": False}}
    path = write_config(tmp_path / "gateway.toml", config)
    # The API process runs no workers: only the worker process can finish the job.
    api, base = serve(path, tmp_path, IMAGEGATE_WORKERS__CONCURRENCY="0")
    runner = worker(path, tmp_path)
    try:
        with openai.OpenAI(api_key=KEY, base_url=f"{base}/v1") as sdk:
            answer = sdk.images.generate(
                prompt="across processes", size="256x256", response_format="b64_json"
            )
        assert answer.data is not None
        assert base64.b64decode(answer.data[0].b64_json or "").startswith(b"\x89PNG")
    finally:
        runner.stop()
        api.stop()
