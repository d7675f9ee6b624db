"""outputFormat png (default), webp and jpeg through the API to the stored object and back:
the right extension on the key, the right Content-Type from every store and URL mode."""

from __future__ import annotations

import io
from collections.abc import Callable
from pathlib import Path

import httpx
import pytest
from PIL import Image
from starlette.testclient import TestClient

from backends.mock import MockBackend, ok
from gateway.settings import Settings
from tests.conftest import AUTH
from tests.polling import wait_for_job
from tests.servers import S3Server

FORMATS = [
    # outputFormat, Content-Type, key extension, what Pillow decodes
    ("png", "image/png", "png", "PNG"),
    ("webp", "image/webp", "webp", "WEBP"),
    ("jpeg", "image/jpeg", "jpg", "JPEG"),
]


def client_for(
    storage: str,
    request: pytest.FixtureRequest,
    make_settings: Callable[..., Settings],
    make_client: Callable[..., TestClient],
    **overrides: object,
) -> TestClient:
    if storage == "s3":
        s3: S3Server = request.getfixturevalue("s3_proc")
        url = f"s3://{request.getfixturevalue('s3_bucket')}/formats"
        return make_client(make_settings(storage={"url": url}), environ=s3.environ, **overrides)
    tmp_path: Path = request.getfixturevalue("tmp_path")
    url = "memory://" if storage == "memory" else f"file://{tmp_path}/images"
    return make_client(make_settings(storage={"url": url}), **overrides)


def download(client: TestClient, url: str) -> httpx.Response:
    # Signed /files/ URLs point at the app itself; presigned ones at the S3 server.
    return client.get(url) if url.startswith("http://testserver/") else httpx.get(url)


@pytest.mark.parametrize("storage", ["file", "memory", "s3"])
@pytest.mark.parametrize(("output_format", "media_type", "extension", "decoded"), FORMATS)
def test_each_format_end_to_end(
    request: pytest.FixtureRequest,
    make_settings: Callable[..., Settings],
    make_client: Callable[..., TestClient],
    storage: str,
    output_format: str,
    media_type: str,
    extension: str,
    decoded: str,
) -> None:
    client = client_for(storage, request, make_settings, make_client)
    body = {"prompt": f"a kite, {output_format}", "size": "256x256"}
    if output_format != "png":  # png is the default: leave it out to test that too
        body["outputFormat"] = output_format
    submitted = client.post("/images/jobs", json=body, headers=AUTH)
    job = wait_for_job(client, submitted.json()["data"]["jobId"], AUTH)
    assert job["status"] == "SUCCEEDED", job["error"]
    assert job["outputFormat"] == output_format
    image = job["images"][0]
    assert image["contentType"] == media_type
    sha = image["sha256"]
    assert image["url"].split("?")[0].endswith(f"/images/{sha[:2]}/{sha}.{extension}")

    response = download(client, image["url"])
    assert response.status_code == 200
    assert response.headers["content-type"] == media_type
    picture = Image.open(io.BytesIO(response.content))
    assert picture.format == decoded and picture.size == (256, 256)


@pytest.mark.parametrize(("output_format", "media_type", "extension", "decoded"), FORMATS[1:])
def test_a_vendors_png_is_converted_to_the_requested_format(
    make_client: Callable[..., TestClient],
    output_format: str,
    media_type: str,
    extension: str,
    decoded: str,
) -> None:
    backend = MockBackend("procedural", script=[ok(returns_format="png")])
    client = make_client(backends={"procedural": backend})
    body = {"prompt": "png only vendor", "size": "256x256", "outputFormat": output_format}
    submitted = client.post("/images/jobs", json=body, headers=AUTH)
    job = wait_for_job(client, submitted.json()["data"]["jobId"], AUTH)
    assert job["status"] == "SUCCEEDED", job["error"]
    assert job["imageUrl"].split("?")[0].endswith(f".{extension}")
    response = client.get(job["imageUrl"])
    assert response.headers["content-type"] == media_type
    assert Image.open(io.BytesIO(response.content)).format == decoded
    assert backend.calls == 1
