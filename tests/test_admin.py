"""The admin API: admin keys only, tenants and backends as operators see them, reload."""

from __future__ import annotations

import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest
from starlette.testclient import TestClient

from gateway.app import create_app
from gateway.auth import key_hash
from gateway.settings import ConfigError, Settings, load_settings
from tests.conftest import AUTH, OTHER_AUTH, config_dict
from tests.fakes.kit import serving
from tests.fakes.openai_server import FakeOpenAI, error_body
from tests.fakes.script import error
from tests.polling import wait_for_job
from tests.processes import IMAGEGATE, cli_env, write_config
from tests.test_routing_retry import Clock

ADMIN_KEY = "ig_test_admin_key_0123456789"
ADMIN = {"Authorization": f"Bearer {ADMIN_KEY}"}
VENDOR_KEY = "sk-test-admin-vendor-0123456789"


def admin_config(tmp_path: Path, **overrides: object) -> dict:
    base = {
        "admin": {"keys": [key_hash(ADMIN_KEY)]},
        "backends": {"procedural": {"type": "procedural", "prices": {"default": "0.02"}}},
    }
    return config_dict(tmp_path, **{**base, **overrides})


@pytest.fixture
def admin_client(tmp_path: Path, make_client: Callable[..., TestClient]) -> TestClient:
    path = write_config(tmp_path / "gateway.toml", admin_config(tmp_path))
    app = create_app(load_settings(path), reload=lambda: load_settings(path))
    client = TestClient(app, raise_server_exceptions=False)
    client.__enter__()
    yield client
    client.__exit__(None, None, None)


def test_only_admin_keys_open_the_admin_api(admin_client: TestClient) -> None:
    for path in ("/admin/tenants", "/admin/backends"):
        assert admin_client.get(path, headers=ADMIN).status_code == 200
        tenant = admin_client.get(path, headers=AUTH)
        assert tenant.status_code == 403 and tenant.json()["error"]["code"] == "forbidden"
        assert admin_client.get(path).status_code == 401
        unknown = admin_client.get(path, headers={"X-API-Key": "ig_nobody"})
        assert unknown.status_code == 401 and unknown.json()["error"]["code"] == "unauthorized"
    assert admin_client.post("/admin/reload", headers=AUTH).status_code == 403
    # An admin key is not a tenant key.
    refused = admin_client.post("/images/jobs", json={"prompt": "x"}, headers=ADMIN)
    assert refused.status_code == 401
    assert admin_client.get("/images/jobs/job_x", headers=ADMIN).status_code == 401


def test_a_key_cannot_be_both_admin_and_tenant(tmp_path: Path) -> None:
    config = admin_config(tmp_path)
    config["tenants"]["demo"]["keys"] = [key_hash(ADMIN_KEY)]
    with pytest.raises(ConfigError, match="also an admin key"):
        load_settings(write_config(tmp_path / "both.toml", config))


def test_tenants_show_plan_rate_use_active_jobs_and_budget(admin_client: TestClient) -> None:
    for prompt in ("a pier", "a dune"):
        job_id = admin_client.post("/images/jobs", json={"prompt": prompt}, headers=AUTH)
        assert wait_for_job(admin_client, job_id.json()["data"]["jobId"], AUTH)["cost"] == "0.02"
    answer = admin_client.get("/admin/tenants", headers=ADMIN)
    tenants = {tenant["name"]: tenant for tenant in answer.json()["data"]["tenants"]}
    assert set(tenants) == {"demo", "other"}
    demo = tenants["demo"]
    assert demo["plan"] == "free" and demo["activeJobs"] == 0
    assert demo["limits"] == {
        "rate": "60/minute;1000/day",
        "pollRate": "600/minute",
        "maxConcurrent": 8,
        "budget": "5.00/day",
        "maxCostPerJob": "0.50",
    }
    assert demo["budget"] == {
        "limit": "5.00",
        "periodSeconds": 86400,
        "spent": "0.04",
        "remaining": "4.96",
    }
    submit = demo["rateWindows"]["submit"]
    assert [w["window"] for w in submit] == ["60 per 1 minute", "1000 per 1 day"]
    assert [(w["used"], w["remaining"]) for w in submit] == [(2, 58), (2, 998)]
    assert demo["rateWindows"]["poll"][0]["used"] >= 2
    other = tenants["other"]
    assert other["budget"]["spent"] == "0.00" and other["rateWindows"]["submit"][0]["used"] == 0


def test_backends_show_recent_calls_and_redacted_errors(
    make_client: Callable[..., TestClient],
    make_settings: Callable[..., Settings],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("TEST_OPENAI_KEY", VENDOR_KEY)
    with serving(FakeOpenAI(VENDOR_KEY)) as fake:
        leak = f"bad gateway at {fake.base_url}/internal with {VENDOR_KEY}"
        fake.will(error(500, error_body(leak, "server_error")))
        settings = make_settings(
            admin={"keys": [key_hash(ADMIN_KEY)]},
            backends={
                "openai": {
                    "type": "openai",
                    "base_url": f"{fake.base_url}/v1",
                    "api_key_env": "TEST_OPENAI_KEY",
                    "rate": "5/minute",
                    "prices": {"default": "0.04"},
                }
            },
            models={
                "procedural": {"default": False},
                "vendor": {
                    "default": True,
                    "targets": [{"backend": "openai", "model": "dall-e-3"}],
                    "sizes": ["1024x1024"],
                },
            },
        )
        client = make_client(settings, sleep=Clock())
        submitted = client.post("/images/jobs", json={"prompt": "a kite"}, headers=AUTH)
        job = wait_for_job(client, submitted.json()["data"]["jobId"], AUTH)
        answer = client.get("/admin/backends", headers=ADMIN)
    assert job["status"] == "SUCCEEDED" and job["attempts"] == 2
    backends = {backend["name"]: backend for backend in answer.json()["data"]["backends"]}
    openai = backends["openai"]
    assert backends["procedural"]["recent"] == {
        "calls": 0,
        "successRate": None,
        "latencySeconds": None,
        "lastErrors": [],
    }
    assert openai["name"] == "openai" and openai["type"] == "openai"
    assert openai["concurrencyScope"] == "process"
    (window,) = openai["rateWindows"]
    assert (window["window"], window["limit"], window["used"], window["remaining"]) == (
        "5 per 1 minute",
        5,
        2,
        3,
    )
    recent = openai["recent"]
    assert recent["calls"] == 2 and recent["successRate"] == 0.5
    assert set(recent["latencySeconds"]) == {"p50", "p90", "p99"}
    assert recent["latencySeconds"]["p50"] <= recent["latencySeconds"]["p99"]
    (last,) = recent["lastErrors"]
    assert last["outcome"] == job["attemptLog"][0]["outcome"] and last["at"].endswith("Z")
    assert "bad gateway at" in last["message"]
    assert VENDOR_KEY not in answer.text and fake.base_url not in answer.text
    assert "127.0.0.1" not in answer.text


def test_reload_applies_quota_changes_and_refuses_a_bad_file(
    tmp_path: Path, admin_client: TestClient
) -> None:
    path = tmp_path / "gateway.toml"
    changed = admin_config(tmp_path, plans={"free": {"rate": "7/minute"}})
    write_config(path, changed)
    applied = admin_client.post("/admin/reload", headers=ADMIN)
    assert applied.status_code == 200
    assert applied.json()["data"] == {
        "applied": True,
        "plans": 1,
        "tenants": 2,
        "restartNeeded": [],
    }
    tenants = admin_client.get("/admin/tenants", headers=ADMIN).json()["data"]["tenants"]
    assert tenants[0]["limits"]["rate"] == "7/minute"

    path.write_text(path.read_text().replace('rate = "7/minute"', 'rate = "seven"'))
    refused = admin_client.post("/admin/reload", headers=ADMIN)
    assert refused.status_code == 422
    assert refused.json()["error"]["code"] == "config_invalid"
    assert "plans.free.rate" in refused.json()["error"]["message"]
    tenants = admin_client.get("/admin/tenants", headers=ADMIN).json()["data"]["tenants"]
    assert tenants[0]["limits"]["rate"] == "7/minute"  # the running config stayed


def test_reload_rotates_admin_keys(tmp_path: Path, admin_client: TestClient) -> None:
    new_admin = "ig_test_admin_key_rotated_0123"
    write_config(
        tmp_path / "gateway.toml", admin_config(tmp_path, admin={"keys": [key_hash(new_admin)]})
    )
    assert admin_client.post("/admin/reload", headers=ADMIN).status_code == 200
    assert admin_client.get("/admin/tenants", headers=ADMIN).status_code == 401
    rotated = {"Authorization": f"Bearer {new_admin}"}
    assert admin_client.get("/admin/tenants", headers=rotated).status_code == 200
    assert admin_client.get("/admin/tenants", headers=OTHER_AUTH).status_code == 403


def test_keys_create_admin_prints_a_key_for_the_admin_section() -> None:
    result = subprocess.run(
        [*IMAGEGATE, "keys", "create", "--admin"],
        capture_output=True,
        text=True,
        env=cli_env(),
        timeout=60,
    )
    assert result.returncode == 0 and "[admin] keys" in result.stdout
    key = next(
        line.strip() for line in result.stdout.splitlines() if line.strip().startswith("ig_")
    )
    assert f'"{key_hash(key)}"' in result.stdout
    both = subprocess.run(
        [*IMAGEGATE, "keys", "create", "--admin", "--tenant", "acme"],
        capture_output=True,
        text=True,
        env=cli_env(),
        timeout=60,
    )
    assert both.returncode != 0 and "exactly one" in both.stderr
