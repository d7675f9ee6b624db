"""Batches: each item admitted on its own, one batch id, status counts, cursor paging."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from starlette.testclient import TestClient

from gateway.settings import Settings
from tests.conftest import AUTH, OTHER_AUTH

UNLIMITED = {"free": {"rate": None, "max_concurrent": None, "budget": None}}


def jobs(count: int, prefix: str = "batch item") -> dict[str, Any]:
    return {"jobs": [{"prompt": f"{prefix} {i}", "size": "256x256"} for i in range(count)]}


def wait_batch(client: TestClient, batch_id: str, timeout: float = 20) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while True:
        data: dict[str, Any] = client.get(f"/images/batches/{batch_id}", headers=AUTH).json()[
            "data"
        ]
        counts = data["counts"]
        if counts["PENDING"] == counts["RUNNING"] == 0:
            return data
        assert time.monotonic() < deadline, counts
        time.sleep(0.05)


def test_each_item_is_admitted_or_refused_on_its_own(
    make_client: Callable[..., TestClient], make_settings: Callable[..., Settings], store_url: str
) -> None:
    settings = make_settings(
        state={"url": store_url},
        plans=UNLIMITED,
        backends={"procedural": {"prices": {"default": "0.02"}}},
    )
    client = make_client(settings)
    body = {
        "jobs": [
            {"prompt": "a red kite", "size": "256x256"},
            {"size": "256x256"},
            {"prompt": "a blue kite", "model": "no-such-model"},
            {"prompt": "a green kite", "size": "256x256", "seed": 3},
        ]
    }
    answer = client.post("/images/batches", json=body, headers=AUTH)
    assert answer.status_code == 202, answer.text
    data = answer.json()["data"]
    assert answer.headers["location"] == f"/images/batches/{data['batchId']}"
    assert (data["admitted"], data["refused"]) == (2, 2)
    first, missing, unknown, last = data["items"]
    assert [item["index"] for item in data["items"]] == [0, 1, 2, 3]
    assert first["jobId"].startswith("job_") and first["status"] in ("PENDING", "RUNNING")
    assert missing["error"] == {
        "code": "invalid_request",
        "message": "jobs[1]: 'prompt' is required",
    }
    assert unknown["error"]["code"] == "model_not_found"
    assert unknown["error"]["message"].startswith("jobs[2]: ")

    status = wait_batch(client, data["batchId"])
    assert status["counts"] == {
        "PENDING": 0,
        "RUNNING": 0,
        "SUCCEEDED": 2,
        "FAILED": 0,
        "CANCELED": 0,
        "REFUSED": 2,
    }
    assert status["cost"] == "0.04" and status["total"] == 4
    assert status["items"][0]["job"]["id"] == first["jobId"]
    assert status["items"][0]["job"]["imageUrl"].startswith("http://testserver/")
    assert status["items"][1] == {"index": 1, "error": missing["error"]}
    # A batch's job is an ordinary job.
    polled = client.get(f"/images/jobs/{last['jobId']}", headers=AUTH).json()["data"]
    assert polled["status"] == "SUCCEEDED" and polled["seed"] == 3


def test_a_batch_of_100_under_a_rate_of_40_admits_exactly_40(
    make_client: Callable[..., TestClient], make_settings: Callable[..., Settings], store_url: str
) -> None:
    plans = {"free": {"rate": "40/minute", "max_concurrent": None, "budget": None}}
    settings = make_settings(state={"url": store_url}, plans=plans, workers={"concurrency": 0})
    client = make_client(settings)
    answer = client.post("/images/batches", json=jobs(100), headers=AUTH)
    assert answer.status_code == 202, answer.text
    data = answer.json()["data"]
    assert (data["admitted"], data["refused"]) == (40, 60)
    assert all("jobId" in item for item in data["items"][:40])
    assert {item["error"]["code"] for item in data["items"][40:]} == {"rate_limited"}
    assert answer.headers["ratelimit-limit"] == "40"
    assert answer.headers["ratelimit-remaining"] == "0"
    status = client.get(f"/images/batches/{data['batchId']}?limit=100", headers=AUTH).json()["data"]
    assert status["counts"]["PENDING"] == 40 and status["counts"]["REFUSED"] == 60
    refused = client.post("/images/jobs", json={"prompt": "one more"}, headers=AUTH)
    assert refused.status_code == 429  # the batch used the tenant's rate like 100 submits


def test_items_page_with_a_cursor(make_client: Callable[..., TestClient], make_settings) -> None:
    client = make_client(make_settings(plans=UNLIMITED))
    batch_id = client.post("/images/batches", json=jobs(5), headers=AUTH).json()["data"]["batchId"]
    seen, cursor, pages = [], None, 0
    while True:
        query = f"?limit=2&cursor={cursor}" if cursor else "?limit=2"
        page = client.get(f"/images/batches/{batch_id}{query}", headers=AUTH).json()["data"]
        seen += [item["index"] for item in page["items"]]
        pages += 1
        cursor = page["nextCursor"]
        if cursor is None:
            break
    assert (seen, pages) == ([0, 1, 2, 3, 4], 3)
    refusals = [
        ("?cursor=nonsense", "'cursor'"),
        ("?limit=0", "'limit'"),
        ("?limit=101", "'limit'"),
        ("?limit=two", "'limit'"),
        ("?limit=02", "'limit'"),
        ("?limit=2&limit=3", "'limit'"),
        ("?order=desc", "'order'"),
    ]
    for bad, named in refusals:
        refused = client.get(f"/images/batches/{batch_id}{bad}", headers=AUTH)
        assert refused.status_code == 400, bad
        error = refused.json()["error"]
        assert error["code"] == "invalid_request" and named in error["message"], error
    # Empty values are left out: the first page, of the default size.
    empty = client.get(f"/images/batches/{batch_id}?limit=&cursor=", headers=AUTH)
    assert [item["index"] for item in empty.json()["data"]["items"]] == [0, 1, 2, 3, 4]


def test_another_tenants_batch_is_not_found(make_client: Callable[..., TestClient]) -> None:
    client = make_client()
    batch_id = client.post("/images/batches", json=jobs(1), headers=AUTH).json()["data"]["batchId"]
    for path in (f"/images/batches/{batch_id}", "/images/batches/batch_nope"):
        answer = client.get(path, headers=OTHER_AUTH)
        assert answer.status_code == 404 and answer.json()["error"]["code"] == "batch_not_found"


def test_a_malformed_batch_is_refused_whole(make_client: Callable[..., TestClient]) -> None:
    client = make_client()
    for body in ({"jobs": []}, jobs(101), {"jobs": {"prompt": "x"}}, {**jobs(1), "extra": 1}, []):
        answer = client.post("/images/batches", json=body, headers=AUTH)
        assert answer.status_code == 400, body
        assert "'jobs'" in answer.json()["error"]["message"]


def test_a_keyed_batch_is_admitted_once(
    make_client: Callable[..., TestClient], make_settings: Callable[..., Settings]
) -> None:
    client = make_client(make_settings(plans=UNLIMITED))
    headers = {**AUTH, "Idempotency-Key": "nightly-run-42"}
    first = client.post("/images/batches", json=jobs(3, "keyed"), headers=headers)
    again = client.post("/images/batches", json=jobs(3, "keyed"), headers=headers)
    assert again.json() == first.json() and again.headers["idempotent-replayed"] == "true"
    other = client.post("/images/batches", json=jobs(2, "keyed"), headers=headers)
    assert other.status_code == 422
