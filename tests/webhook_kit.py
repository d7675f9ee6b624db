"""What the webhook tests share: settings that deliver to loopback quickly, a tenant secret
from the environment, polling a job until its webhook settles."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from starlette.testclient import TestClient

from gateway.settings import Settings
from gateway.webhooks import new_secret
from tests.conftest import AUTH

SECRET = new_secret()
SECRET_ENV = "IMAGEGATE_TEST_DEMO_WEBHOOK_SECRET"
ENVIRON = {SECRET_ENV: SECRET}
QUICK = {
    "retry_schedule": ["0s", "10ms", "10ms", "10ms", "10ms"],
    "jitter": 0.0,
    "poll_interval": "50ms",
}


def webhook_settings(
    make_settings: Callable[..., Settings],
    state_url: str = "memory://",
    *,
    webhooks: dict[str, Any] | None = None,
    **overrides: Any,
) -> Settings:
    return make_settings(
        state={"url": state_url},
        outbound={"allow_networks": ["127.0.0.0/8"]},
        webhooks={**QUICK, **(webhooks or {})},
        tenants={"demo": {"webhook_secret_env": SECRET_ENV}},
        **overrides,
    )


def settled(client: TestClient, job_id: str, seconds: float = 60.0) -> dict[str, Any]:
    """The job once its webhook is delivered or failed (not pending)."""
    deadline = time.monotonic() + seconds
    while True:
        job: dict[str, Any] = client.get(f"/images/jobs/{job_id}", headers=AUTH).json()["data"]
        webhook = job["webhook"]
        if webhook and webhook["status"] != "pending":
            return job
        assert time.monotonic() < deadline, f"webhook still pending: {job}"
        time.sleep(0.02)
