"""What schemathesis found against /openapi.json, kept as plain regression tests."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta

from starlette.testclient import TestClient

from tests.conftest import AUTH

JSON = {**AUTH, "Content-Type": "application/json"}


def test_a_limit_that_is_a_digit_only_to_isdigit_is_a_400(
    make_client: Callable[..., TestClient],
) -> None:
    client = make_client()
    batch = client.post("/images/batches", json={"jobs": [{"prompt": "a"}]}, headers=AUTH)
    batch_id = batch.json()["data"]["batchId"]
    for query in ("limit=²", "cursor=²", "limit=" + "9" * 5000):
        answer = client.get(f"/images/batches/{batch_id}?{query}", headers=AUTH)
        assert answer.status_code == 400, (query, answer.text)
    # A cursor is the next item's index, as nextCursor hands it out.
    assert client.get(f"/images/batches/{batch_id}?cursor=0", headers=AUTH).status_code == 200


def test_an_idempotent_body_json_cannot_hold_is_a_400_not_a_500(
    make_client: Callable[..., TestClient],
) -> None:
    client = make_client()
    bodies = (b'{"prompt": "a", "seed": ' + b"9" * 5000 + b"}", b"[" * 20_000)
    for index, body in enumerate(bodies):
        answer = client.post(
            "/images/jobs", content=body, headers={**JSON, "Idempotency-Key": f"k-{index}"}
        )
        assert answer.status_code == 400, answer.text


def test_the_same_key_with_another_cancel_after_is_another_request(
    make_client: Callable[..., TestClient],
) -> None:
    client = make_client()
    headers = {**AUTH, "Idempotency-Key": "k-deadline", "Cancel-After": "5m"}
    assert client.post("/images/jobs", json={"prompt": "a"}, headers=headers).status_code == 202
    again = client.post(
        "/images/jobs", json={"prompt": "a"}, headers={**headers, "Cancel-After": "1h"}
    )
    assert again.status_code == 422
    assert again.json()["error"]["code"] == "idempotency_key_reused"


def test_a_json_integer_written_with_a_zero_fraction_is_that_integer(
    make_client: Callable[..., TestClient],
) -> None:
    client = make_client()
    job = client.post("/images/jobs", json={"prompt": "two", "n": 2.0}, headers=AUTH)
    assert job.status_code == 202, job.text
    polled = client.get(f"/images/jobs/{job.json()['data']['jobId']}", headers=AUTH)
    assert polled.json()["data"]["n"] == 2
    refused = client.post("/images/jobs", json={"prompt": "x", "n": 2.5}, headers=AUTH)
    assert refused.status_code == 400


def test_since_is_a_calendar_day_only(make_client: Callable[..., TestClient]) -> None:
    client = make_client()
    assert client.get("/v1/usage?since=2026-W01-1", headers=AUTH).status_code == 400
    assert client.get("/v1/usage?since=2026-01-05", headers=AUTH).status_code == 200
    assert client.get("/v1/usage?since=", headers=AUTH).status_code == 200  # the default


def test_cancel_after_past_the_longest_deadline_is_the_longest(
    make_client: Callable[..., TestClient],
) -> None:
    client = make_client()
    long = client.post(
        "/images/jobs", json={"prompt": "slow"}, headers={**AUTH, "Cancel-After": "9999h"}
    )
    assert long.status_code == 202, long.text
    job = client.get(f"/images/jobs/{long.json()['data']['jobId']}", headers=AUTH).json()
    deadline = datetime.fromisoformat(job["data"]["deadline"].replace("Z", "+00:00"))
    assert deadline <= datetime.now(UTC) + timedelta(days=7)
    zero = client.post(
        "/images/jobs", json={"prompt": "now"}, headers={**AUTH, "Cancel-After": "0ms"}
    )
    assert zero.status_code == 400
    empty = client.post("/images/jobs", json={"prompt": "e"}, headers={**AUTH, "Cancel-After": ""})
    assert empty.status_code == 202
