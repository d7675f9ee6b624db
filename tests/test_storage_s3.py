"""S3 storage end to end against a real S3-protocol server on 127.0.0.1: upload, presigned
GET over plain HTTP, refusal of tampered URLs, CDN URLs, one object per distinct image."""

from __future__ import annotations

import hashlib
import re
import time
from collections.abc import Callable
from datetime import timedelta
from urllib.parse import parse_qs, urlsplit

import httpx
import obstore
from starlette.testclient import TestClient

from gateway.settings import Settings, StorageSettings
from gateway.storage.s3 import open_s3_store, resolve_s3
from tests.conftest import AUTH
from tests.polling import wait_for_job
from tests.servers import S3Server

PREFIX = "gw/images-v1"


def s3_settings(make_settings: Callable[..., Settings], bucket: str, **storage: object) -> Settings:
    return make_settings(storage={"url": f"s3://{bucket}/{PREFIX}", **storage})


def run_job(client: TestClient, body: dict) -> dict:
    response = client.post("/images/jobs", json=body, headers=AUTH)
    assert response.status_code == 202, response.text
    return wait_for_job(client, response.json()["data"]["jobId"], AUTH)


def bucket_keys(s3: S3Server, bucket: str) -> list[str]:
    store = open_s3_store(resolve_s3(f"s3://{bucket}", StorageSettings(), s3.environ))
    return sorted(meta["path"] for chunk in obstore.list(store) for meta in chunk)


def with_param(url: str, name: str, value: str) -> str:
    return re.sub(rf"([?&]{name}=)[^&]*", lambda m: m[1] + value, url)


def test_upload_and_presigned_get(
    make_settings: Callable[..., Settings],
    make_client: Callable[..., TestClient],
    s3_proc: S3Server,
    s3_bucket: str,
) -> None:
    client = make_client(s3_settings(make_settings, s3_bucket), environ=s3_proc.environ)
    job = run_job(client, {"prompt": "a harbour in fog", "size": "256x256"})
    assert job["status"] == "SUCCEEDED", job["error"]
    image = job["images"][0]
    url = urlsplit(image["url"])
    sha = image["sha256"]
    assert f"{url.scheme}://{url.netloc}" == s3_proc.endpoint
    assert url.path == f"/{s3_bucket}/{PREFIX}/images/{sha[:2]}/{sha}.png"
    query = parse_qs(url.query)
    assert query["X-Amz-Expires"] == ["3600"] and "X-Amz-Signature" in query

    response = httpx.get(image["url"])  # plain HTTP, no credentials: the URL is the grant
    assert response.status_code == 200
    assert response.headers["content-type"] == "image/png"
    assert response.headers["cache-control"] == "public, max-age=31536000, immutable"
    assert hashlib.sha256(response.content).hexdigest() == sha
    assert len(response.content) == image["bytes"]


def test_tampered_presigned_urls_are_refused(
    make_settings: Callable[..., Settings],
    make_client: Callable[..., TestClient],
    s3_proc: S3Server,
    s3_bucket: str,
) -> None:
    client = make_client(s3_settings(make_settings, s3_bucket), environ=s3_proc.environ)
    job = run_job(client, {"prompt": "tamper with me", "size": "256x256"})
    url = job["imageUrl"]
    assert httpx.get(url).status_code == 200
    signature = parse_qs(urlsplit(url).query)["X-Amz-Signature"][0]
    flipped = ("0" if signature[0] != "0" else "1") + signature[1:]
    tampered = [
        with_param(url, "X-Amz-Signature", flipped),
        with_param(url, "X-Amz-Expires", "7200"),  # a longer life than was signed
        url.replace("/images/", "/images/x", 1),  # another object
        url.split("?")[0],  # no signature at all
    ]
    for bad in tampered:
        assert httpx.get(bad).status_code == 403, bad


def test_presigned_lifetime_is_capped_at_seven_days(
    make_settings: Callable[..., Settings],
    make_client: Callable[..., TestClient],
    s3_proc: S3Server,
    s3_bucket: str,
) -> None:
    settings = s3_settings(make_settings, s3_bucket, url_ttl="30d")
    job = run_job(make_client(settings, environ=s3_proc.environ), {"prompt": "long"})
    assert parse_qs(urlsplit(job["imageUrl"]).query)["X-Amz-Expires"] == ["604800"]
    assert httpx.get(job["imageUrl"]).status_code == 200


def test_a_poll_after_expiry_gets_a_fresh_url(
    make_settings: Callable[..., Settings],
    make_client: Callable[..., TestClient],
    s3_proc: S3Server,
    s3_bucket: str,
) -> None:
    settings = s3_settings(make_settings, s3_bucket, url_ttl="1s")
    client = make_client(settings, environ=s3_proc.environ)
    job = run_job(client, {"prompt": "short-lived", "size": "256x256"})
    time.sleep(2.1)  # X-Amz-Date has whole seconds: 2.1 s is past any 1 s grant
    assert httpx.get(job["imageUrl"]).status_code == 403
    # A fresh URL lives one second (less after X-Amz-Date's rounding): on a loaded machine
    # the GET may come later, so each try polls again for a new one.
    statuses = []
    for _ in range(5):
        fresh = wait_for_job(client, job["id"], AUTH)["imageUrl"]
        assert fresh != job["imageUrl"]
        statuses.append(httpx.get(fresh).status_code)
        if statuses[-1] == 200:
            break
    assert statuses[-1] == 200, statuses


def test_cdn_mode_urls_are_public_and_the_object_is_cacheable(
    make_settings: Callable[..., Settings],
    make_client: Callable[..., TestClient],
    s3_proc: S3Server,
    s3_bucket: str,
) -> None:
    settings = s3_settings(make_settings, s3_bucket, cdn_base_url="https://cdn.example.test/img/")
    job = run_job(make_client(settings, environ=s3_proc.environ), {"prompt": "cdn"})
    sha = job["images"][0]["sha256"]
    assert job["imageUrl"] == f"https://cdn.example.test/img/images/{sha[:2]}/{sha}.png"
    # What the CDN would fetch from its origin:
    store = open_s3_store(resolve_s3(settings.storage.url, settings.storage, s3_proc.environ))
    origin = obstore.sign(store, "GET", f"images/{sha[:2]}/{sha}.png", timedelta(minutes=1))
    response = httpx.get(origin)
    assert response.status_code == 200 and response.headers["content-type"] == "image/png"
    assert "immutable" in response.headers["cache-control"]


def test_identical_images_are_stored_once(
    make_settings: Callable[..., Settings],
    make_client: Callable[..., TestClient],
    s3_proc: S3Server,
    s3_bucket: str,
) -> None:
    client = make_client(s3_settings(make_settings, s3_bucket), environ=s3_proc.environ)
    same = {"prompt": "twins", "seed": 3, "size": "256x256", "noCache": True}
    first, second = run_job(client, same), run_job(client, same)
    other = run_job(client, {**same, "prompt": "not twins"})
    assert first["images"][0]["sha256"] == second["images"][0]["sha256"]
    keys = bucket_keys(s3_proc, s3_bucket)
    assert keys == sorted(
        f"{PREFIX}/images/{sha[:2]}/{sha}.png"
        for sha in {first["images"][0]["sha256"], other["images"][0]["sha256"]}
    )
