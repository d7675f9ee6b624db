"""The gateway on `redis://`: an API-only process and a worker process share one Redis."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from starlette.testclient import TestClient

from gateway.settings import Settings
from tests.conftest import AUTH
from tests.polling import wait_for_job
from tests.test_api_jobs import submit


def test_api_and_workers_in_separate_apps_share_the_queue(
    make_settings: Callable[..., Settings],
    make_client: Callable[..., TestClient],
    redis_url: str,
    tmp_path: Path,
) -> None:
    shared = {
        "state": {"url": redis_url},
        "storage": {"url": f"file://{tmp_path / 'images'}"},
    }
    api = make_client(make_settings(**shared, workers={"concurrency": 0}))
    first = submit(api, {"prompt": "a harbour at night", "size": "256x256"})
    twin = submit(api, {"prompt": "a harbour at night", "size": "256x256"})
    assert first["status"] == twin["status"] == "PENDING"  # no worker anywhere yet
    assert api.get("/healthz").status_code == 200

    make_client(make_settings(**shared, workers={"concurrency": 2}))  # a worker comes up
    done = wait_for_job(api, first["jobId"], AUTH)
    joined = wait_for_job(api, twin["jobId"], AUTH)
    assert done["status"] == joined["status"] == "SUCCEEDED"
    assert done["attempts"] == 1 and joined["images"] == done["images"]
    assert api.get(done["imageUrl"]).headers["content-type"] == "image/png"

    cached = submit(api, {"prompt": "a harbour at night", "size": "256x256"})
    assert cached["cached"] is True and cached["status"] == "SUCCEEDED"
