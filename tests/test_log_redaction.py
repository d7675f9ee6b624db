"""Nothing internal in logs or job errors: no URL query string in any log line at any level
(vendor presigned URLs, our own `?exp=&sig=`), no internal host:port in a job's error."""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from backends.base import BackendError, GenerationRequest
from gateway.auth import key_hash
from gateway.backend_setup import build_backend
from gateway.logs import RedactQueryStrings
from gateway.settings import BackendSettings, default_config_path
from tests.conftest import API_KEY, AUTH
from tests.fakes.kit import serving
from tests.fakes.openai_server import FakeOpenAI, error_body
from tests.fakes.script import Step, error
from tests.processes import GatewayProcess, cli_env, free_port, write_config
from tests.servers import wait_for_port

VENDOR_KEY = "sk-test-openai-redaction-0123456789"
ENV = "IMAGEGATE_TEST_OPENAI_KEY"


@pytest.fixture
def fake() -> Iterator[FakeOpenAI]:
    with serving(FakeOpenAI(VENDOR_KEY)) as fake:
        yield fake


def record(msg: str, *args: object) -> logging.LogRecord:
    return logging.LogRecord("x", logging.INFO, __file__, 1, msg, args, None)


def test_filter_removes_query_strings_from_message_and_arguments() -> None:
    access = record(
        '%s - "%s %s HTTP/%s" %d',
        "127.0.0.1:5000",
        "GET",
        "/files/images/ab/x.png?exp=1&sig=abc",
        "1.1",
        200,
    )
    vendor = record("HTTP Request: GET https://cdn.example/x.png?X-Amz-Signature=beef 200")
    for item in (access, vendor):
        RedactQueryStrings().filter(item)
    assert (
        access.getMessage()
        == '127.0.0.1:5000 - "GET /files/images/ab/x.png?[redacted] HTTP/1.1" 200'
    )
    assert vendor.getMessage() == "HTTP Request: GET https://cdn.example/x.png?[redacted] 200"
    question = record("is it ok? yes=1")  # prose with a question mark stays
    RedactQueryStrings().filter(question)
    assert question.getMessage() == "is it ok? yes=1"


def test_serve_at_debug_logs_no_query_string(fake: FakeOpenAI, tmp_path: Path) -> None:
    """A real `imagegate serve --log-level debug`: the vendor answers a presigned-looking URL,
    the client downloads its image through our signed /files/ URL."""
    config = tomllib_default()
    config["server"]["data_dir"] = str(tmp_path / "data")
    config["tenants"] = {"demo": {"keys": [key_hash(API_KEY)]}}
    config["backends"] = {
        "openai": {
            "type": "openai",
            "base_url": f"{fake.base_url}/v1",
            "api_key_env": ENV,
            "prices": {"dall-e-2": "0.016"},
        }
    }
    config["models"] = {
        "default": {
            "targets": [{"backend": "openai", "model": "dall-e-2"}],
            "sizes": ["256x256"],
            "default": True,
        }
    }
    path = write_config(tmp_path / "gateway.toml", config)
    fake.will(Step("url"))  # answered as a presigned-looking download URL
    port = free_port()
    process = GatewayProcess(
        ["serve", "--config", str(path), "--port", str(port), "--log-level", "debug"],
        tmp_path,
        tmp_path / "serve.log",
        cli_env(**{ENV: VENDOR_KEY}),
    )
    try:
        wait_for_port(port, timeout=30)
        base = f"http://127.0.0.1:{port}"
        with httpx.Client(base_url=base, timeout=10) as client:
            job_id = client.post("/images/jobs", json={"prompt": "fox"}, headers=AUTH).json()[
                "data"
            ]["jobId"]
            deadline = time.monotonic() + 30
            job = client.get(f"/images/jobs/{job_id}", headers=AUTH).json()["data"]
            while job["status"] not in ("SUCCEEDED", "FAILED") and time.monotonic() < deadline:
                time.sleep(0.05)
                job = client.get(f"/images/jobs/{job_id}", headers=AUTH).json()["data"]
            assert job["status"] == "SUCCEEDED", job
            assert "?exp=" in job["imageUrl"]
            assert client.get(job["imageUrl"]).status_code == 200
    finally:
        process.stop()
    output = process.output()
    assert fake.requests_to("/files/", method="GET"), "the vendor URL was downloaded"
    assert "GET /files/images/" in output, "the access log was written"
    assert "DEBUG" in output, "debug logging was on"
    for secret in ("X-Amz-Signature", "deadbeef", "sig=", "exp="):
        assert secret not in output


def tomllib_default() -> dict:
    import tomllib

    return tomllib.loads(default_config_path().read_text())


async def test_a_vendor_error_echoing_headers_carries_no_internal_host(
    fake: FakeOpenAI, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(ENV, VENDOR_KEY)
    port = fake.base_url.rsplit(":", 1)[1]
    fake.will(
        error(
            400,
            error_body(
                f"Bad request. Received headers: host: 127.0.0.1:{port}, accept: */*; "
                f"upstream 10.20.30.40:8443 and api.internal.corp:9000 refused"
            ),
        )
    )
    settings = BackendSettings(type="openai", base_url=f"{fake.base_url}/v1", api_key_env=ENV)
    async with httpx.AsyncClient() as http:
        backend = build_backend("openai", settings, http, os.environ)
        with pytest.raises(BackendError) as caught:
            await backend.generate(
                GenerationRequest(prompt="x", model="dall-e-2", width=64, height=64)
            )
    message = caught.value.message
    assert "Bad request" in message
    for internal in (f"127.0.0.1:{port}", "10.20.30.40", "api.internal.corp:9000", port):
        assert internal not in message
