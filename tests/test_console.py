"""The web console's files and the routes it reads: served from the package with their
content types and a strict CSP; `GET /images/models`; `GET /admin/history`."""

from __future__ import annotations

import re
import zipfile
from collections.abc import Callable
from pathlib import Path

import pytest
from starlette.testclient import TestClient

from gateway.api.console import image_sources, load_assets
from gateway.auth import key_hash
from gateway.settings import Settings
from tests.conftest import AUTH
from tests.polling import wait_for_job
from tests.test_admin import ADMIN, ADMIN_KEY

ROOT = Path(__file__).resolve().parent.parent
CONSOLE = ROOT / "gateway" / "console"


@pytest.fixture
def client(make_client: Callable[..., TestClient], make_settings: Callable[..., Settings]):
    return make_client(
        make_settings(
            admin={"keys": [key_hash(ADMIN_KEY)]},
            backends={"procedural": {"type": "procedural", "prices": {"default": "0.02"}}},
        )
    )


def test_console_files_are_served_with_their_types_and_a_strict_policy(client: TestClient) -> None:
    page = client.get("/console")
    assert page.status_code == 200
    assert page.headers["content-type"] == "text/html; charset=utf-8"
    assert page.text == (CONSOLE / "index.html").read_text()
    policy = page.headers["content-security-policy"]
    directives = dict(d.strip().split(" ", 1) for d in policy.split(";"))
    assert directives["default-src"] == "'none'"
    assert directives["script-src"] == "'self'"  # no inline code, no eval
    assert directives["style-src"] == "'self'"
    assert directives["connect-src"] == "'self'"
    assert directives["frame-ancestors"] == "'none'"
    assert directives["require-trusted-types-for"] == "'script'"
    assert page.headers["x-content-type-options"] == "nosniff"
    assert page.headers["referrer-policy"] == "no-referrer"
    for name, content_type in [
        ("main.js", "text/javascript; charset=utf-8"),
        ("console.css", "text/css; charset=utf-8"),
        ("favicon.svg", "image/svg+xml"),
    ]:
        answer = client.get(f"/console/{name}")
        assert answer.status_code == 200 and answer.headers["content-type"] == content_type
        assert answer.content == (CONSOLE / name).read_bytes()
        assert "content-security-policy" in answer.headers
        again = client.get(f"/console/{name}", headers={"If-None-Match": answer.headers["etag"]})
        assert again.status_code == 304 and again.content == b""
    # Every file the page or a module names is one the gateway serves.
    served = set(load_assets())
    named = {
        name
        for path in CONSOLE.iterdir()
        for name in re.findall(r'(?:from "\./|"/console/)([\w.-]+)"', path.read_text())
    }
    assert {"main.js", "console.css", "favicon.svg", "api.js", "dom.js"} <= named <= served


def test_unknown_console_files_are_not_found(client: TestClient) -> None:
    for path in ("/console/nope.js", "/console/..%2Fapp.py", "/console/", "/console/a/b.js"):
        answer = client.get(path)
        assert answer.status_code == 404, path
        assert answer.json()["error"]["code"] == "not_found"


def test_images_may_come_from_the_gateway_its_cdn_or_its_bucket(
    make_settings: Callable[..., Settings],
) -> None:
    plain = image_sources(make_settings(), {})
    assert plain == ["'self'", "data:", "blob:", "http://testserver"]
    cdn = image_sources(make_settings(storage={"cdn_base_url": "https://cdn.example/i"}), {})
    assert cdn[-1] == "https://cdn.example"
    bucket = make_settings(storage={"url": "s3://pictures/p"})
    assert image_sources(bucket, {})[-1] == "https://*.amazonaws.com"
    local = {"AWS_ENDPOINT_URL": "http://127.0.0.1:9000"}
    assert image_sources(bucket, local)[-1] == "http://127.0.0.1:9000"


def test_the_package_ships_the_console(tmp_path: Path) -> None:
    """A wheel built from this tree (what pip installs) holds every console file."""
    from hatchling.builders.wheel import WheelBuilder

    (wheel,) = WheelBuilder(str(ROOT)).build(directory=str(tmp_path), versions=["standard"])
    names = set(zipfile.ZipFile(wheel).namelist())
    expected = {f"gateway/console/{path.name}" for path in CONSOLE.iterdir()}
    assert expected and expected <= names


def test_models_list_what_the_key_may_use(
    make_client: Callable[..., TestClient], make_settings: Callable[..., Settings]
) -> None:
    settings = make_settings(
        models={
            "square": {
                "targets": [{"backend": "procedural", "model": "procedural-v1"}],
                "sizes": ["256x256", "512x512"],
                "default_size": "512x512",
            }
        },
        tenants={"other": {"models": ["square"]}},
    )
    client = make_client(settings)
    answer = client.get("/images/models", headers=AUTH)
    assert answer.status_code == 200
    models = {m["name"]: m for m in answer.json()["data"]["models"]}
    assert set(models) == {"procedural", "square"}
    assert models["square"] == {
        "name": "square",
        "default": False,
        "sizes": ["256x256", "512x512"],
        "defaultSize": "512x512",
        "qualities": None,  # the procedural generator takes any quality
        "maxN": 4,
        "seed": True,
        "negativePrompt": True,
    }
    assert models["procedural"]["default"] is True
    from tests.conftest import OTHER_AUTH

    only = client.get("/images/models", headers=OTHER_AUTH).json()["data"]["models"]
    assert [m["name"] for m in only] == ["square"]
    assert client.get("/images/models").status_code == 401


def test_history_samples_totals_queue_and_budgets(client: TestClient) -> None:
    job = client.post("/images/jobs", json={"prompt": "a pier"}, headers=AUTH).json()["data"]
    assert wait_for_job(client, job["jobId"], AUTH)["cost"] == "0.02"
    assert client.get("/admin/history", headers=AUTH).status_code == 403
    answer = client.get("/admin/history", headers=ADMIN)
    assert answer.status_code == 200
    data = answer.json()["data"]
    assert data["everySeconds"] == 10
    now = data["samples"][-1]  # taken at the request; the sampler's own come before it
    assert len(data["samples"]) >= 2
    assert now["jobsSubmitted"] == 1 and now["jobsReused"] == 0 and now["jobsFailed"] == 0
    assert now["chargedUsd"] == "0.02" and now["queueDepth"] == 0
    assert now["budgetSpent"] == {"demo": "0.02", "other": "0.00"}
    assert data["samples"][0]["at"] <= now["at"]
    overview = client.get("/admin/overview", headers=ADMIN).json()["data"]
    assert overview["queue"] == {"depth": 0, "oldestAgeSeconds": 0.0, "deferred": 0}
