"""One error, rendered per surface: the job API's envelope, OpenAI's shape under /v1."""

from __future__ import annotations

import json
from collections.abc import Callable

import pytest
from starlette.testclient import TestClient

from gateway.api.envelope import failure
from gateway.api.openai_errors import openai_failure
from gateway.errors import ApiError, from_job_error, invalid_request
from gateway.jobs import JobError


@pytest.mark.parametrize(
    ("code", "status"),
    [
        ("content_rejected", 400),
        ("retry_budget_exhausted", 502),
        ("backend_unavailable", 502),
        ("worker_lost", 502),
        ("timeout", 504),
        ("budget_exhausted", 429),
        ("storage_unavailable", 503),
    ],
)
def test_job_failures_map_to_statuses(code: str, status: int) -> None:
    error = from_job_error(JobError(code, "what happened"))
    assert (error.status, error.code, error.message) == (status, code, "what happened")


def test_one_error_two_shapes() -> None:
    error = invalid_request("'size': too big", "size")
    envelope = json.loads(failure(error).body)
    assert envelope == {
        "ok": False,
        "error": {"code": "invalid_request", "message": "'size': too big"},
    }
    assert json.loads(openai_failure(error).body) == {
        "error": {
            "message": "'size': too big",
            "type": "invalid_request_error",
            "param": "size",
            "code": "invalid_request",
        }
    }


def _body(error: ApiError) -> dict[str, object]:
    rendered: dict[str, object] = json.loads(openai_failure(error).body)["error"]
    return rendered


def test_openai_codes_and_types() -> None:
    assert _body(ApiError(401, "unauthorized", "no key"))["code"] == "invalid_api_key"
    assert _body(ApiError(400, "content_rejected", "no"))["code"] == "content_policy_violation"
    limited = _body(ApiError(429, "rate_limited", "slow down"))
    assert (limited["type"], limited["code"]) == ("requests", "rate_limit_exceeded")
    broke = _body(ApiError(429, "budget_exhausted", "no money"))
    assert (broke["type"], broke["code"]) == ("insufficient_quota", "insufficient_quota")
    assert _body(ApiError(404, "not_found", "gone"))["type"] == "invalid_request_error"
    assert _body(ApiError(502, "backend_unavailable", "down"))["type"] == "server_error"
    # The gateway already spent its retry budget: the SDK must not pay for it again.
    spent = openai_failure(ApiError(502, "retry_budget_exhausted", "spent"))
    assert spent.headers["x-should-retry"] == "false"
    assert "x-should-retry" not in openai_failure(ApiError(502, "backend_unavailable", "x")).headers


def test_surfaces_render_their_own_shape(make_client: Callable[..., TestClient]) -> None:
    client = make_client()
    jobs = client.post("/images/jobs", json={"prompt": "x"})
    assert jobs.status_code == 401 and jobs.json()["ok"] is False
    assert jobs.json()["error"]["code"] == "unauthorized"
    v1 = client.get("/v1/no-such-route")
    assert v1.status_code == 404
    assert set(v1.json()["error"]) == {"message", "type", "param", "code"}
