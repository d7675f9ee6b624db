"""Wait for a job to reach a terminal status, without timing assertions."""

from __future__ import annotations

import time
from typing import Any

from starlette.testclient import TestClient

TERMINAL = {"SUCCEEDED", "FAILED", "CANCELED"}


def wait_for_job(
    client: TestClient, job_id: str, headers: dict[str, str], timeout: float = 15.0
) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while True:
        response = client.get(f"/images/jobs/{job_id}", headers=headers)
        assert response.status_code == 200, response.text
        job: dict[str, Any] = response.json()["data"]
        if job["status"] in TERMINAL:
            return job
        if time.monotonic() > deadline:
            raise AssertionError(f"job {job_id} still {job['status']} after {timeout}s")
        time.sleep(0.02)
