"""Every bad input gets a 4xx with the contract's code and a message naming the problem."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

import pytest
from starlette.testclient import TestClient

from gateway.events.memory import MemoryJobEvents
from gateway.jobs import Job
from gateway.state.keys import Keys
from gateway.usage.memory import MemoryUsage
from tests.conftest import AUTH

BAD_BODIES = [
    ({}, "invalid_request", "'prompt' is required"),
    ({"prompt": ""}, "invalid_request", "'prompt'"),
    ({"prompt": "   \n\t "}, "invalid_request", "empty or whitespace"),
    ({"prompt": "x" * 4001}, "invalid_request", "at most 4000"),
    ({"prompt": 5}, "invalid_request", "'prompt'"),
    ({"prompt": "ok", "n": 0}, "invalid_request", "'n'"),
    ({"prompt": "ok", "n": 5}, "invalid_request", "'n'"),
    ({"prompt": "ok", "n": "2"}, "invalid_request", "'n'"),
    ({"prompt": "ok", "n": 1.5}, "invalid_request", "'n'"),
    ({"prompt": "ok", "seed": "7"}, "invalid_request", "'seed'"),
    ({"prompt": "ok", "noCache": "yes"}, "invalid_request", "'noCache'"),
    ({"prompt": "ok", "size": "999x999"}, "invalid_request", "'size'"),
    ({"prompt": "ok", "size": 512}, "invalid_request", "'size'"),
    ({"prompt": "ok", "model": "dall-e-9"}, "model_not_found", "dall-e-9"),
    ({"prompt": "ok", "colour": "red"}, "invalid_request", "unknown field 'colour'"),
    ({"prompt": "ok", "negative_prompt": "x"}, "invalid_request", "unknown field"),
    ({"prompt": "ok", "metadata": {"a": 1}}, "invalid_request", "'metadata.a'"),
    (
        {"prompt": "ok", "metadata": {f"k{i}": "v" for i in range(17)}},
        "invalid_request",
        "'metadata'",
    ),
    ({"prompt": "ok", "webhookUrl": "ftp://x"}, "invalid_request", "'webhookUrl'"),
    ({"prompt": "ok", "outputFormat": "gif"}, "invalid_request", "'outputFormat'"),
    ([], "invalid_request", "JSON object"),
]


@pytest.mark.parametrize(("body", "code", "needle"), BAD_BODIES)
def test_bad_bodies_are_refused(
    make_client: Callable[..., TestClient], body: object, code: str, needle: str
) -> None:
    response = make_client().post("/images/jobs", json=body, headers=AUTH)
    assert response.status_code == 400, response.text
    error = response.json()["error"]
    assert response.json()["ok"] is False
    assert error["code"] == code
    assert needle in error["message"]


def test_invalid_json(make_client: Callable[..., TestClient]) -> None:
    response = make_client().post(
        "/images/jobs", content=b'{"prompt": ', headers={**AUTH, "Content-Type": "application/json"}
    )
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "invalid_request"
    assert "not valid JSON" in response.json()["error"]["message"]


def test_wrong_content_type(make_client: Callable[..., TestClient]) -> None:
    response = make_client().post(
        "/images/jobs", content=b"prompt=x", headers={**AUTH, "Content-Type": "text/plain"}
    )
    assert response.status_code == 415
    assert "application/json" in response.json()["error"]["message"]


@pytest.mark.parametrize("chunked", [False, True])
def test_body_over_the_limit(
    make_client: Callable[..., TestClient], make_settings: Callable, chunked: bool
) -> None:
    client = make_client(make_settings(server={"max_body_bytes": 1000}))
    body = b'{"prompt": "' + b"x" * 2000 + b'"}'
    content = iter([body[:700], body[700:]]) if chunked else body
    response = client.post(
        "/images/jobs", content=content, headers={**AUTH, "Content-Type": "application/json"}
    )
    assert response.status_code == 413
    assert response.json()["error"]["code"] == "payload_too_large"


@pytest.mark.parametrize(
    "headers",
    [
        {},
        {"Authorization": "Bearer "},
        {"Authorization": "Bearer ig_wrong"},
        {"Authorization": "Basic abc"},
        {"X-API-Key": "ig_wrong"},
    ],
)
def test_missing_or_wrong_key(make_client: Callable[..., TestClient], headers: dict) -> None:
    client = make_client()
    for response in (
        client.post("/images/jobs", json={"prompt": "x"}, headers=headers),
        client.get("/images/jobs/job_x", headers=headers),
    ):
        assert response.status_code == 401
        assert response.json()["error"]["code"] == "unauthorized"


class ExplodingState:
    """A state store whose every call fails with an unexpected error."""

    durable = True
    queued = 0
    max_deliveries = 5
    keys = Keys()
    usage = MemoryUsage()
    events = MemoryJobEvents()

    async def submit(self, job: Job) -> Job:
        raise RuntimeError("boom at /srv/secret/path with Bearer sk-abcdef123456")

    async def claim(self, worker_id: str, timeout: float) -> None:
        await asyncio.sleep(timeout)

    async def aclose(self) -> None:
        return None


def test_unexpected_errors_are_500_without_traceback(
    make_client: Callable[..., TestClient],
) -> None:
    client = make_client(state=ExplodingState())
    response = client.post("/images/jobs", json={"prompt": "x"}, headers=AUTH)
    assert response.status_code == 500
    assert response.json() == {
        "ok": False,
        "error": {"code": "internal_error", "message": "the gateway failed unexpectedly"},
    }
    assert "Traceback" not in response.text and "sk-" not in response.text
