"""The job API end to end in one process: submit, poll, fetch the image."""

from __future__ import annotations

import io
import re
from collections.abc import Callable
from datetime import datetime

from PIL import Image
from starlette.testclient import TestClient

from tests.conftest import API_KEY, AUTH, OTHER_AUTH
from tests.polling import wait_for_job

ISO_UTC = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$")
JOB_FIELDS = {
    "id",
    "status",
    "prompt",
    "model",
    "size",
    "n",
    "imageUrl",
    "images",
    "error",
    "cached",
    "createdAt",
    "startedAt",
    "finishedAt",
    "durationMs",
    "cost",
    "attempts",
    "backend",
}


def submit(client: TestClient, body: dict, headers: dict[str, str] = AUTH) -> dict:
    response = client.post("/images/jobs", json=body, headers=headers)
    assert response.status_code == 202, response.text
    assert response.headers["location"] == f"/images/jobs/{response.json()['data']['jobId']}"
    return response.json()["data"]


def test_submit_poll_and_download(make_client: Callable[..., TestClient]) -> None:
    client = make_client()
    accepted = submit(client, {"prompt": "a lighthouse at dusk", "size": "256x256", "n": 2})
    assert accepted["status"] in {"PENDING", "RUNNING", "SUCCEEDED"}
    assert accepted["cached"] is False

    job = wait_for_job(client, accepted["jobId"], AUTH)
    assert set(job) >= JOB_FIELDS
    assert job["status"] == "SUCCEEDED"
    assert job["prompt"] == "a lighthouse at dusk"
    assert (job["model"], job["size"], job["n"]) == ("procedural", "256x256", 2)
    assert job["error"] is None and job["backend"] == "procedural" and job["attempts"] == 1
    for field in ("createdAt", "startedAt", "finishedAt"):
        assert ISO_UTC.match(job[field]), job[field]
    assert datetime.fromisoformat(job["finishedAt"]) >= datetime.fromisoformat(job["createdAt"])
    assert isinstance(job["durationMs"], int) and job["durationMs"] >= 0

    assert len(job["images"]) == 2 and job["imageUrl"] == job["images"][0]["url"]
    assert job["imageUrl"].startswith("http://testserver/files/images/")
    for image in job["images"]:
        response = client.get(image["url"])
        assert response.status_code == 200
        assert response.headers["content-type"] == "image/png"
        picture = Image.open(io.BytesIO(response.content))
        assert picture.format == "PNG" and picture.size == (256, 256)
        assert (image["width"], image["height"], image["bytes"]) == (
            256,
            256,
            len(response.content),
        )
    assert job["images"][0]["sha256"] != job["images"][1]["sha256"]


def test_x_api_key_header_is_accepted(make_client: Callable[..., TestClient]) -> None:
    client = make_client()
    accepted = submit(client, {"prompt": "x"}, headers={"X-API-Key": API_KEY})
    assert client.get(
        f"/images/jobs/{accepted['jobId']}", headers={"X-API-Key": API_KEY}
    ).is_success


def test_identical_prompt_is_served_from_cache(make_client: Callable[..., TestClient]) -> None:
    client = make_client()
    first = wait_for_job(client, submit(client, {"prompt": "a  cat ", "seed": 7})["jobId"], AUTH)
    again = submit(client, {"prompt": "a cat", "seed": 7})
    assert again["cached"] is True and again["status"] == "SUCCEEDED"
    second = wait_for_job(client, again["jobId"], AUTH)
    assert second["images"][0]["sha256"] == first["images"][0]["sha256"]
    assert second["attempts"] == 0 and second["cost"] == "0.00"
    fresh = submit(client, {"prompt": "a cat", "seed": 7, "noCache": True})
    assert fresh["cached"] is False


def test_another_tenants_job_is_not_found(make_client: Callable[..., TestClient]) -> None:
    client = make_client()
    job_id = submit(client, {"prompt": "private"})["jobId"]
    theirs = client.get(f"/images/jobs/{job_id}", headers=OTHER_AUTH)
    missing = client.get("/images/jobs/job_000000000000000000000000", headers=OTHER_AUTH)
    assert theirs.status_code == missing.status_code == 404
    assert theirs.json()["error"]["code"] == missing.json()["error"]["code"] == "job_not_found"


def test_tampered_or_expired_file_urls_are_refused(make_client: Callable[..., TestClient]) -> None:
    client = make_client()
    job = wait_for_job(client, submit(client, {"prompt": "signed"})["jobId"], AUTH)
    url = job["imageUrl"]
    tampered = re.sub(r"sig=([0-9a-f])", lambda m: "sig=" + ("0" if m[1] != "0" else "1"), url)
    expired = re.sub(r"exp=\d+", "exp=1000", url)
    other_key = url.replace("/images/", "/images/x", 1)
    for bad in (tampered, expired, other_key, url.split("?")[0]):
        response = client.get(bad)
        assert response.status_code == 403, bad
        assert response.json()["error"]["code"] == "forbidden"


def test_healthz(make_client: Callable[..., TestClient]) -> None:
    response = make_client().get("/healthz")
    assert response.status_code == 200 and response.json() == {"ok": True, "data": {"status": "ok"}}


def test_unknown_route_uses_the_envelope(make_client: Callable[..., TestClient]) -> None:
    response = make_client().get("/nope")
    assert response.status_code == 404 and response.json()["ok"] is False
