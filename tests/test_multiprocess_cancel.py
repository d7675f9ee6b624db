"""Cancel across processes on one real Redis: `imagegate serve` takes the cancel, an
`imagegate worker` running the job on the Replicate fake stops it, and the fake sees
Replicate's cancel call; a deadline ends a job that no worker ever takes."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.conftest import AUTH
from tests.fakes.kit import serving
from tests.fakes.replicate_server import FakeReplicate
from tests.fakes.script import Step
from tests.processes import GatewayProcess, serve, worker
from tests.test_multiprocess import processes, shared_config

__all__ = ["processes"]  # the fixture, used by name

KEY = "r8_multiprocess_cancel_0123456789"
FLUX = "black-forest-labs/flux-schnell"


@pytest.fixture
def replicate() -> Iterator[FakeReplicate]:
    with serving(FakeReplicate(KEY)) as fake:
        yield fake


def replicate_config(fake: FakeReplicate) -> dict[str, Any]:
    return {
        "backends": {
            "procedural": {"type": "procedural"},
            "replicate": {
                "type": "replicate",
                "base_url": fake.base_url,
                "api_key_env": "TEST_REPLICATE_KEY",
                "timeout": "60s",
                "prices": {FLUX: "0.003"},
                "options": {"poll_interval": 0.05},
            },
        },
        "models": {
            "procedural": {"default": False},
            "flux": {
                "default": True,
                "sizes": ["1024x1024"],
                "targets": [{"backend": "replicate", "model": FLUX}],
            },
        },
        "plans": {"free": {"rate": None, "poll_rate": None, "budget": "5.00/day"}},
    }


def until(check: Any, timeout: float = 30.0) -> Any:
    deadline = time.monotonic() + timeout
    while not (found := check()):
        if time.monotonic() > deadline:
            raise AssertionError("condition not reached")
        time.sleep(0.05)
    return found


def test_cancel_a_running_replicate_job_run_by_another_process(
    tmp_path: Path, redis_url: str, replicate: FakeReplicate, processes: list[GatewayProcess]
) -> None:
    replicate.will(Step("stuck"))  # the prediction runs until someone cancels it
    overrides = replicate_config(replicate)
    api_config = shared_config(tmp_path, redis_url, "api", workers={"concurrency": 0}, **overrides)
    worker_config = shared_config(
        tmp_path,
        redis_url,
        "workers",
        workers={"concurrency": 1, "visibility_timeout": "30s"},
        **overrides,
    )
    api, url = serve(api_config, tmp_path, "api", TEST_REPLICATE_KEY=KEY)
    processes.append(api)
    processes.append(worker(worker_config, tmp_path, TEST_REPLICATE_KEY=KEY))
    with httpx.Client(base_url=url, timeout=30) as http:
        accepted = http.post("/images/jobs", json={"prompt": "a koi pond"}, headers=AUTH)
        assert accepted.status_code == 202, accepted.text
        job_id = accepted.json()["data"]["jobId"]
        until(lambda: replicate.requests_to("/predictions/", "GET"))  # it is being polled
        answer = http.post(f"/images/jobs/{job_id}/cancel", headers=AUTH)
        assert answer.status_code in (200, 202), answer.text
        job = until(
            lambda: (
                (found := http.get(f"/images/jobs/{job_id}", headers=AUTH).json()["data"])["status"]
                == "CANCELED"
                and found
            )
        )
    assert job["error"]["code"] == "canceled"
    cancels = replicate.requests_to("/cancel")
    assert len(cancels) == 1 and cancels[0].headers["authorization"] == f"Bearer {KEY}"
    (prediction,) = replicate.predictions.values()
    assert cancels[0].path.endswith(f"/v1/predictions/{prediction.json['id']}/cancel")
    assert prediction.json["status"] == "canceled"
    # The abandoned prediction may have been billed: it stays charged, at its estimate.
    assert [a["outcome"] for a in job["attemptLog"]] == ["canceled"] and job["cost"] == "0.003"


def test_a_deadline_ends_a_job_no_worker_takes(
    tmp_path: Path, redis_url: str, replicate: FakeReplicate, processes: list[GatewayProcess]
) -> None:
    overrides = replicate_config(replicate)
    api_config = shared_config(tmp_path, redis_url, "api", workers={"concurrency": 0}, **overrides)
    api, url = serve(api_config, tmp_path, "api", TEST_REPLICATE_KEY=KEY)
    processes.append(api)
    with httpx.Client(base_url=url, timeout=30) as http:
        accepted = http.post(
            "/images/jobs",
            json={"prompt": "never picked up"},
            headers={**AUTH, "Cancel-After": "500ms"},
        )
        job_id = accepted.json()["data"]["jobId"]
        job = until(
            lambda: (
                (found := http.get(f"/images/jobs/{job_id}", headers=AUTH).json()["data"])["status"]
                == "CANCELED"
                and found
            )
        )
    assert job["error"]["code"] == "deadline_exceeded" and job["cost"] == "0.00"
    assert replicate.received == []  # no attempt started
