"""`GET /images/jobs`: the caller's jobs, newest first, paged, filtered; clear 400s; one
read against `poll_rate`; over memory:// and a real Redis."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from starlette.testclient import TestClient

from gateway.api.listing_cursor import admin_scope, encode_cursor, tenant_scope
from gateway.settings import Settings
from tests.conftest import AUTH, OTHER_AUTH
from tests.polling import wait_for_job


def listing(client: TestClient, headers: dict[str, str] = AUTH, **params: Any) -> Any:
    answer = client.get("/images/jobs", params=params, headers=headers)
    assert answer.status_code == 200, answer.text
    return answer.json()["data"]


def submit(client: TestClient, prompt: str) -> str:
    answer = client.post("/images/jobs", json={"prompt": prompt}, headers=AUTH)
    assert answer.status_code == 202, answer.text
    job_id: str = answer.json()["data"]["jobId"]
    return job_id


def test_pages_newest_first_and_only_the_callers_own(
    make_client: Callable[..., TestClient], make_settings: Callable[..., Settings], store_url: str
) -> None:
    client = make_client(make_settings(state={"url": store_url}, workers={"concurrency": 0}))
    made = [submit(client, f"listed {i}") for i in range(5)]
    first = listing(client, limit=2)
    assert [job["id"] for job in first["jobs"]] == made[:2:-1][:2] == [made[4], made[3]]
    assert first["jobs"][0]["status"] == "PENDING" and "prompt" in first["jobs"][0]
    newer = submit(client, "arrives meanwhile")
    second = listing(client, limit=2, cursor=first["nextCursor"])
    assert [job["id"] for job in second["jobs"]] == [made[2], made[1]]
    third = listing(client, limit=2, cursor=second["nextCursor"])
    assert [job["id"] for job in third["jobs"]] == [made[0]] and third["nextCursor"] is None
    assert listing(client, limit=1)["jobs"][0]["id"] == newer
    assert listing(client, headers=OTHER_AUTH) == {"jobs": [], "nextCursor": None}


def test_filters_by_status_and_creation_time(
    make_client: Callable[..., TestClient], make_settings: Callable[..., Settings], store_url: str
) -> None:
    client = make_client(make_settings(state={"url": store_url}))
    done = submit(client, "finished one")
    finished = wait_for_job(client, done, AUTH)
    assert finished["status"] == "SUCCEEDED"
    canceled = submit(client, "canceled one")
    client.post(f"/images/jobs/{canceled}/cancel", headers=AUTH)
    # A worker may finish the job before the cancel reaches it (409): then it succeeded.
    second = wait_for_job(client, canceled, AUTH)
    late = second["status"] == "SUCCEEDED"
    ids = lambda data: [job["id"] for job in data["jobs"]]  # noqa: E731
    assert ids(listing(client, status="SUCCEEDED")) == ([canceled] if late else []) + [done]
    assert set(ids(listing(client, status="succeeded,CANCELED"))) <= {done, canceled}
    assert ids(listing(client, createdBefore=finished["createdAt"])) == []
    assert done in ids(listing(client, createdAfter="2000-01-01T00:00:00Z"))
    after = listing(client, createdAfter=finished["createdAt"], status="SUCCEEDED")
    assert ids(after) == (
        [canceled] if late and second["createdAt"] > finished["createdAt"] else []
    )


@pytest.mark.parametrize(
    ("params", "named"),
    [
        ({"limit": "0"}, "'limit' must be an integer from 1 to 100"),
        ({"limit": "101"}, "'limit' must be an integer from 1 to 100"),
        ({"limit": "ten"}, "'limit'"),
        ({"limit": "-1"}, "'limit'"),
        ({"limit": "2.5"}, "'limit'"),
        ({"limit": "007"}, "'limit'"),
        ({"limit": "+5"}, "'limit'"),
        ({"limit": "\u0661"}, "'limit'"),  # an Arabic-Indic one: a digit, not an ASCII one
        ({"status": "DONE"}, "'status'"),
        ({"status": "RUNNING,"}, "'status'"),
        ({"status": "EXPIRED"}, "'status'"),
        ({"createdAfter": "yesterday"}, "'createdAfter'"),
        ({"createdAfter": "2026-12-01"}, "'createdAfter'"),  # a bare date
        ({"createdAfter": "2026-12-01T12:00:00"}, "'createdAfter'"),  # no offset
        ({"createdAfter": "2026-12-01T12:00Z"}, "'createdAfter'"),  # no seconds
        ({"createdAfter": "20261201T120000Z"}, "'createdAfter'"),  # ISO basic, not RFC 3339
        ({"createdAfter": "2026-12-01T12:00:00+25:00"}, "'createdAfter'"),
        ({"createdAfter": "2026-12-01T12:00:00 01:00"}, "%2B"),  # a '+' sent unencoded
        ({"createdBefore": "2026-13-01T00:00:00Z"}, "'createdBefore'"),
        ({"createdBefore": "2026-02-30T00:00:00Z"}, "'createdBefore'"),
        ({"createdBefore": " 2026-12-01T12:00:00Z"}, "'createdBefore'"),
        ({"cursor": "not-a-cursor"}, "'cursor'"),
        ({"cursor": "v1:1:job_ab"}, "'cursor'"),  # the old, readable form
        ({"cursor": "A" * 66}, "'cursor'"),
        ({"cursor": encode_cursor((1, "job_ab"), tenant_scope("other"))}, "'cursor'"),
        ({"cursor": encode_cursor((1, "job_ab"), admin_scope(None))}, "'cursor'"),
        ({"sort": "asc"}, "unknown query parameter 'sort'"),
    ],
)
def test_bad_parameters_are_400s_naming_them(
    make_client: Callable[..., TestClient], params: dict[str, str], named: str
) -> None:
    client = make_client()
    answer = client.get("/images/jobs", params=params, headers=AUTH)
    assert answer.status_code == 400, answer.text
    error = answer.json()["error"]
    assert error["code"] == "invalid_request" and named in error["message"], error


def test_listing_needs_a_key_and_counts_against_the_poll_rate(
    make_client: Callable[..., TestClient], make_settings: Callable[..., Settings]
) -> None:
    client = make_client(make_settings(plans={"free": {"poll_rate": "2/minute"}}))
    assert client.get("/images/jobs").status_code == 401
    listing(client)
    listing(client)
    refused = client.get("/images/jobs", headers=AUTH)
    assert refused.status_code == 429 and refused.json()["error"]["code"] == "rate_limited"
    assert "Retry-After" in refused.headers
