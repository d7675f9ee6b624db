"""SIGHUP re-reads the config: quotas and keys change live, a bad file changes nothing."""

from __future__ import annotations

import signal
import time
from collections.abc import Callable
from pathlib import Path

import httpx
import pytest
from starlette.testclient import TestClient

from gateway.auth import key_hash
from gateway.errors import ApiError
from gateway.reload import apply_quota_config
from gateway.settings import PlanSettings, Settings
from tests.conftest import AUTH, config_dict
from tests.processes import GatewayProcess, serve, write_config

NEW_KEY = "ig_test_key_added_by_reload_0123"


def quota_config(tmp_path: Path, rate: str, **extra_tenants: dict) -> Path:
    config = config_dict(
        tmp_path,
        plans={"free": {"rate": rate, "max_concurrent": None, "budget": None}},
        workers={"concurrency": 0},
    )
    config["server"].pop("public_url")
    config["tenants"].update(extra_tenants)
    return write_config(tmp_path / "gateway.toml", config)


def hang_up(process: GatewayProcess, reloads: int) -> None:
    """SIGHUP, then wait until the log shows the reload (or its refusal) happened."""
    process.process.send_signal(signal.SIGHUP)
    deadline = time.monotonic() + 10
    while process.output().count("config reload") < reloads:
        assert time.monotonic() < deadline, process.output()
        time.sleep(0.05)


def submit(http: httpx.Client, headers: dict[str, str] = AUTH) -> int:
    return http.post(
        "/images/jobs", json={"prompt": f"p {time.monotonic()}"}, headers=headers
    ).status_code


def test_sighup_applies_new_quotas_and_keys(tmp_path: Path) -> None:
    config = quota_config(tmp_path, "2/minute")
    process, url = serve(config, tmp_path)
    try:
        with httpx.Client(base_url=url, timeout=10) as http:
            assert [submit(http) for _ in range(3)] == [202, 202, 429]
            new_auth = {"Authorization": f"Bearer {NEW_KEY}"}
            assert submit(http, new_auth) == 401

            quota_config(tmp_path, "100/minute", newcomer={"keys": [key_hash(NEW_KEY)]})
            hang_up(process, 1)
            assert "config reloaded" in process.output()
            assert submit(http) == 202
            assert submit(http, new_auth) == 202

            config.write_text("[plans.free]\nrate = 'not a rate'\n")
            hang_up(process, 2)
            assert "config reload refused" in process.output()
            assert submit(http) == 202  # the last good config stays in force
    finally:
        process.stop()


def test_a_tenant_removed_by_a_reload_is_turned_away_mid_request(
    make_client: Callable[..., TestClient], make_settings: Callable[..., Settings]
) -> None:
    client = make_client()
    gateway = client.app.state.gateway  # type: ignore[attr-defined]
    without_other = make_settings()
    without_other = without_other.model_copy(
        update={"tenants": {"demo": without_other.tenants["demo"]}}
    )
    assert apply_quota_config(gateway, without_other) == []
    # A request that authenticated before the reload asks for its plan after it.
    with pytest.raises(ApiError) as caught:
        gateway.plan("other")
    assert (caught.value.status, caught.value.code) == (401, "unauthorized")
    # Jobs it already had admitted still run, with no further limits.
    assert gateway.settings.plan_for("other") == PlanSettings()


def test_a_reload_swaps_one_directory_that_the_api_and_the_workers_read(
    make_client: Callable[..., TestClient], make_settings: Callable[..., Settings]
) -> None:
    gateway = make_client().app.state.gateway  # type: ignore[attr-defined]
    before = gateway.live.current
    # The workers and the webhook secrets follow the gateway's one reference.
    assert gateway.workers.runner.live is gateway.live is gateway.webhook_secrets.live
    faster = make_settings(plans={"free": {"rate": "500/minute"}})
    apply_quota_config(gateway, faster)
    after = gateway.live.current
    assert after is not before and before.plans["demo"].rate != "500/minute"  # untouched
    assert after.plans["demo"].rate == "500/minute"
    assert gateway.plans is after.plans and gateway.keyring is after.keyring
    assert gateway.workers.runner.settings is after.settings is gateway.webhook_secrets.settings
    with pytest.raises(TypeError):
        after.plans["demo"] = PlanSettings()  # type: ignore[index]  # read-only
