"""Structured logs: JSON lines from a real `imagegate serve`, request ids kept and echoed."""

from __future__ import annotations

import io
import json
import logging
import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from starlette.testclient import TestClient

from gateway import logs
from gateway.auth import key_hash
from gateway.settings import LoggingSettings
from tests.conftest import API_KEY, AUTH, config_dict
from tests.processes import IMAGEGATE, cli_env, terminate, write_config
from tests.servers import free_port, wait_for_port
from tests.test_admin import ADMIN_KEY


@pytest.fixture
def restore_logging() -> Iterator[None]:
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    yield
    root.handlers, root.level = handlers, level


def test_json_lines_carry_the_context(restore_logging: None) -> None:
    stream = io.StringIO()
    logs.configure_logging(LoggingSettings(format="json", level="debug"), stream)
    log = logging.getLogger("imagegate.test")
    token = logs.request_id.set("req-1")
    with logs.job_context("acme", "job_abc"):
        log.info("inside %s", "the job")
    logs.request_id.reset(token)
    log.warning("outside")
    try:
        raise ValueError("secret text that must stay out")
    except ValueError:
        log.exception("it broke")
    lines = [json.loads(line) for line in stream.getvalue().splitlines()]
    assert lines[0] == {
        "time": lines[0]["time"],
        "level": "INFO",
        "logger": "imagegate.test",
        "message": "inside the job",
        "request_id": "req-1",
        "tenant": "acme",
        "job_id": "job_abc",
    }
    assert lines[0]["time"].endswith("Z")
    assert lines[1]["request_id"] is None and "tenant" not in lines[1]
    assert lines[2]["error"] == "ValueError" and "secret text" not in stream.getvalue()


def test_text_format_names_the_context(restore_logging: None) -> None:
    stream = io.StringIO()
    logs.configure_logging(LoggingSettings(format="text", level="INFO"), stream)
    with logs.job_context("acme", "job_abc"):
        logging.getLogger("imagegate.test").info("hello")
    logging.getLogger("imagegate.test").debug("below the level")
    assert stream.getvalue().count("\n") == 1
    assert "INFO imagegate.test [-] tenant=acme job_id=job_abc hello" in stream.getvalue()


def test_request_ids_are_kept_when_safe_and_made_otherwise(
    make_client: Callable[..., TestClient],
) -> None:
    client = make_client()
    kept = client.get("/livez", headers={"X-Request-Id": "trace-0af7651916cd43dd"})
    assert kept.headers["x-request-id"] == "trace-0af7651916cd43dd"
    for unsafe in (b"has spaces", b"x" * 129, "caf\u00e9".encode(), b"semi;colon", b"<script>"):
        made = client.get("/livez", headers={"X-Request-Id": unsafe})
        assert made.headers["x-request-id"] not in (unsafe.decode("latin-1"), "")
        assert logs.valid_request_id(made.headers["x-request-id"])
    errors = client.get("/images/jobs/nope", headers={**AUTH, "X-Request-Id": "r-404"})
    assert errors.status_code == 404 and errors.headers["x-request-id"] == "r-404"


def _serve_json(tmp_path: Path) -> tuple[subprocess.Popen[bytes], str, Path]:
    config = config_dict(
        tmp_path,
        admin={"keys": [key_hash(ADMIN_KEY)]},
        logging={"format": "json", "level": "info"},
        storage={"url": f"file://{tmp_path / 'images'}"},
        server={"public_url": None},
    )
    path = write_config(tmp_path / "gateway.toml", config)
    port = free_port()
    stderr = tmp_path / "stderr.log"
    with stderr.open("wb") as sink:  # the child keeps its own copy of the descriptor
        process = subprocess.Popen(
            [*IMAGEGATE, "serve", "--config", str(path), "--port", str(port)],
            cwd=tmp_path,
            env=cli_env(),
            stdout=subprocess.DEVNULL,
            stderr=sink,
        )
    wait_for_port(port, timeout=30)
    return process, f"http://127.0.0.1:{port}", stderr


def test_a_real_serve_process_logs_json_lines_with_the_request_id(tmp_path: Path) -> None:
    process, base, stderr = _serve_json(tmp_path)
    auth = {"Authorization": f"Bearer {API_KEY}"}
    try:
        with httpx.Client(base_url=base, timeout=10) as http:
            sent = {**auth, "X-Request-Id": "req-submit-1"}
            submitted = http.post("/images/jobs", json={"prompt": "a quay"}, headers=sent)
            assert submitted.headers["x-request-id"] == "req-submit-1"
            job_id = submitted.json()["data"]["jobId"]
            polled = http.get(
                f"/images/jobs/{job_id}", headers={**auth, "X-Request-Id": "req-poll"}
            )
            assert polled.status_code == 200
            signed = http.get("/files/images/x.png?exp=1&sig=deadbeefsignature")
            assert signed.status_code == 403
            admin = {"Authorization": f"Bearer {ADMIN_KEY}", "X-Request-Id": "req-reload"}
            assert http.post("/admin/reload", headers=admin).status_code == 200
    finally:
        terminate(process)
    lines: list[dict[str, Any]] = [json.loads(line) for line in stderr.read_text().splitlines()]
    assert lines and all(
        {"time", "level", "logger", "message", "request_id"} <= set(line) for line in lines
    )
    access = [line for line in lines if line["logger"] == "uvicorn.access"]
    by_path = {line["path"]: line for line in access}
    assert by_path["/images/jobs"]["request_id"] == "req-submit-1"
    assert by_path["/images/jobs"]["status"] == 202 and by_path["/images/jobs"]["method"] == "POST"
    assert by_path[f"/images/jobs/{job_id}"]["request_id"] == "req-poll"
    assert by_path[f"/images/jobs/{job_id}"]["tenant"] == "demo"
    assert len(access) == 4 and all(line["request_id"] for line in access)
    # A request that logs on its own: each of its lines carries its id.
    reload_lines = [line for line in lines if line["request_id"] == "req-reload"]
    assert {line["logger"] for line in reload_lines} == {"imagegate.reload", "uvicorn.access"}
    assert all(
        line["request_id"] == "req-reload" for line in lines if line["logger"] == "imagegate.reload"
    )
    assert "deadbeefsignature" not in stderr.read_text() and API_KEY not in stderr.read_text()
    assert any("Application shutdown complete" in line["message"] for line in lines)
