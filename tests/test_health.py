"""Probes: `/livez` answers while the process runs; `/readyz` names the part that is down."""

from __future__ import annotations

import subprocess
from collections.abc import Callable
from pathlib import Path

from starlette.testclient import TestClient

from gateway import __version__
from gateway.settings import Settings
from tests.processes import IMAGEGATE, cli_env
from tests.servers import RedisServer, s3_server


def test_ready_when_every_part_answers(make_client: Callable[..., TestClient]) -> None:
    client = make_client()
    assert client.get("/livez").json() == {"ok": True, "data": {"status": "ok"}}
    ready = client.get("/readyz")
    assert ready.status_code == 200
    assert ready.json()["data"] == {
        "status": "ready",
        "checks": {"config": "ok", "state": "ok", "storage": "ok", "workers": "ok"},
    }


def test_an_api_only_process_needs_no_workers(
    make_client: Callable[..., TestClient], make_settings: Callable[..., Settings]
) -> None:
    client = make_client(make_settings(workers={"concurrency": 0}))
    assert client.get("/readyz").json()["data"]["checks"]["workers"] == "none"


def test_readyz_fails_while_redis_is_stopped(
    make_client: Callable[..., TestClient], make_settings: Callable[..., Settings], tmp_path: Path
) -> None:
    redis = RedisServer(tmp_path / "redis")  # this test's own: it takes it down
    redis.start()
    try:
        client = make_client(make_settings(state={"url": redis.url}))
        assert client.get("/readyz").status_code == 200
        redis.stop()
        down = client.get("/readyz")
        assert down.status_code == 503 and down.headers["retry-after"] == "1"
        error = down.json()["error"]
        assert error["code"] == "not_ready" and error["message"] == "not ready: state unavailable"
        assert error["checks"]["state"] == "unavailable" and error["checks"]["storage"] == "ok"
        assert str(redis.port) not in down.text
        assert client.get("/livez").status_code == 200  # alive, only not ready
        redis.start()
        assert client.get("/readyz").status_code == 200
    finally:
        redis.stop()


def test_readyz_fails_while_object_storage_is_down(
    make_client: Callable[..., TestClient], make_settings: Callable[..., Settings]
) -> None:
    with s3_server() as s3:
        s3.create_bucket("ready-bucket")
        settings = make_settings(storage={"url": "s3://ready-bucket/x", "upload_attempts": 1})
        client = make_client(settings, environ=s3.environ)
        assert client.get("/readyz").status_code == 200
        s3.stop()
        down = client.get("/readyz")
        assert down.status_code == 503
        assert down.json()["error"]["checks"]["storage"] == "unavailable"
        assert s3.endpoint not in down.text


def test_version_flag() -> None:
    result = subprocess.run(
        [*IMAGEGATE, "--version"], capture_output=True, text=True, env=cli_env(), timeout=60
    )
    assert result.returncode == 0 and result.stdout.strip() == f"imagegate {__version__}"
