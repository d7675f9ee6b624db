"""Webhooks: the finished job is POSTed, signed, to the URL the client gave."""

from __future__ import annotations

import hashlib
import hmac
import json
import time
from collections.abc import Callable

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route
from starlette.testclient import TestClient

from gateway.settings import Settings
from tests.conftest import AUTH
from tests.fakes.serve import running

SECRET = "a-webhook-signing-secret-of-32-bytes!"


def test_finished_and_cached_jobs_are_posted_signed(
    make_client: Callable[..., TestClient], make_settings: Callable[..., Settings]
) -> None:
    received: list[tuple[bytes, str]] = []
    answers = iter([503, 200, 200])  # the first delivery fails and is retried

    async def hook(request: Request) -> Response:
        received.append((await request.body(), request.headers["x-imagegate-signature"]))
        return Response(status_code=next(answers, 200))

    with running(Starlette(routes=[Route("/hook", hook, methods=["POST"])])) as base:
        settings = make_settings(outbound={"allow_networks": ["127.0.0.0/8"]})
        client = make_client(settings, environ={"IMAGEGATE_SIGNING_SECRET": SECRET})
        body = {"prompt": "notify me", "webhookUrl": f"{base}/hook"}
        first = client.post("/images/jobs", json=body, headers=AUTH).json()["data"]
        deadline = time.monotonic() + 15
        while len(received) < 2 and time.monotonic() < deadline:
            time.sleep(0.05)
        cached = client.post("/images/jobs", json=body, headers=AUTH).json()["data"]
        assert cached["cached"] is True
        while len(received) < 3 and time.monotonic() < deadline:
            time.sleep(0.05)

    assert len(received) == 3
    for raw, signature in received:
        expected = hmac.new(SECRET.encode(), raw, hashlib.sha256).hexdigest()
        assert signature == f"sha256={expected}"
    jobs = [json.loads(raw)["data"] for raw, _ in received]
    assert [job["id"] for job in jobs] == [first["jobId"], first["jobId"], cached["jobId"]]
    assert {job["status"] for job in jobs} == {"SUCCEEDED"}
    assert jobs[0]["imageUrl"] and jobs[2]["cached"] is True
