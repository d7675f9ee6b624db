"""Per-tenant webhook secrets: generated under data_dir (0600, never logged), or from the
environment; rotation with an overlap in which both secrets sign."""

from __future__ import annotations

import json
import logging
import stat
import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from standardwebhooks.webhooks import Webhook, WebhookVerificationError
from starlette.testclient import TestClient

from gateway.directory import Directory, Live
from gateway.settings import ConfigError, Settings, load_settings
from gateway.webhooks import TenantSecrets, new_secret, secret_key
from tests.conftest import AUTH, config_dict
from tests.fakes.kit import serving
from tests.fakes.receiver import Receiver
from tests.processes import IMAGEGATE, cli_env, write_config
from tests.webhook_kit import QUICK, settled


class Clock:
    def __init__(self, now: float = 1_800_000_000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def secrets_file(settings: Settings, tenant: str) -> Path:
    return Path(settings.server.data_dir) / "webhooks" / f"{tenant}.json"


def test_generated_once_kept_private_and_stable(make_settings: Callable[..., Settings]) -> None:
    settings = make_settings()
    made = TenantSecrets(settings, {}).ensure()
    assert set(made) == {"demo", "other"} and made["demo"] != made["other"]
    path = secrets_file(settings, "demo")
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert json.loads(path.read_text())["secrets"][0]["secret"] == made["demo"]
    again = TenantSecrets(settings, {})
    assert again.ensure() == {}  # a restart keeps them
    assert again.keys("demo") == [secret_key(made["demo"])]


def test_a_secret_is_never_logged(
    make_client: Callable[..., TestClient],
    make_settings: Callable[..., Settings],
    caplog: pytest.LogCaptureFixture,
) -> None:
    settings = make_settings()
    with caplog.at_level(logging.DEBUG):
        make_client(settings)
    secret = json.loads(secrets_file(settings, "demo").read_text())["secrets"][0]["secret"]
    assert "generated a webhook secret for tenant 'demo'" in caplog.text
    assert secret not in caplog.text and secret.removeprefix("whsec_") not in caplog.text


def test_from_the_environment(make_settings: Callable[..., Settings]) -> None:
    settings = make_settings(tenants={"demo": {"webhook_secret_env": "DEMO_HOOK_SECRET"}})
    with pytest.raises(ConfigError, match=r"tenants\.demo\.webhook_secret_env.*not set"):
        TenantSecrets(settings, {}).ensure()
    with pytest.raises(ConfigError, match="at least 24 bytes"):
        TenantSecrets(settings, {"DEMO_HOOK_SECRET": "whsec_c2hvcnQ="}).ensure()
    with pytest.raises(ConfigError, match="whsec_"):
        TenantSecrets(settings, {"DEMO_HOOK_SECRET": "not-a-secret"}).ensure()
    new, old = new_secret(), new_secret()
    secrets = TenantSecrets(settings, {"DEMO_HOOK_SECRET": f"{new} {old}"})
    assert set(secrets.ensure()) == {"other"}  # demo's comes from the environment
    assert secrets.keys("demo") == [secret_key(new), secret_key(old)]
    assert not secrets_file(settings, "demo").exists()
    with pytest.raises(ConfigError, match="DEMO_HOOK_SECRET"):
        secrets.rotate("demo")


def test_rotation_signs_with_both_until_the_overlap_ends(
    make_settings: Callable[..., Settings],
) -> None:
    settings = make_settings(webhooks={"rotation_overlap": "1h"})
    clock = Clock()
    secrets = TenantSecrets(settings, {}, clock)
    old = secrets.ensure()["demo"]
    new = secrets.rotate("demo")
    assert secrets.keys("demo") == [secret_key(new), secret_key(old)]
    clock.now += 3599
    assert secrets.keys("demo") == [secret_key(new), secret_key(old)]
    clock.now += 2
    assert secrets.keys("demo") == [secret_key(new)]
    newest = secrets.rotate("demo")  # the expired one is dropped from the file
    entries = json.loads(secrets_file(settings, "demo").read_text())["secrets"]
    assert [entry["secret"] for entry in entries] == [newest, new]


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    with serving(Receiver()) as running:
        yield running


def test_during_the_overlap_a_receiver_holding_either_secret_verifies(
    make_client: Callable[..., TestClient], tmp_path: Path, receiver: Receiver
) -> None:
    config = config_dict(tmp_path, outbound={"allow_networks": ["127.0.0.0/8"]}, webhooks=QUICK)
    path = write_config(tmp_path / "gateway.toml", config)
    settings = load_settings(path, environ={})
    client = make_client(settings)
    old = json.loads(secrets_file(settings, "demo").read_text())["secrets"][0]["secret"]

    def deliver(prompt: str) -> None:
        answer = client.post(
            "/images/jobs", json={"prompt": prompt, "webhookUrl": receiver.url}, headers=AUTH
        )
        settled(client, answer.json()["data"]["jobId"])

    deliver("before the rotation")
    Webhook(old).verify(receiver.deliveries[-1].body, receiver.deliveries[-1].headers)

    # The operator rotates with the CLI while the gateway runs.
    rotated = subprocess.run(
        [*IMAGEGATE, "webhooks", "rotate", "--tenant", "demo", "--config", str(path)],
        capture_output=True,
        text=True,
        env=cli_env(),
        timeout=60,
        check=True,
    )
    new = next(word for word in rotated.stdout.split() if word.startswith("whsec_"))
    assert new != old
    deliver("during the overlap")
    latest = receiver.deliveries[-1]
    assert len(latest.headers["webhook-signature"].split()) == 2
    for holder in (old, new):
        Webhook(holder).verify(latest.body, latest.headers)
    with pytest.raises(WebhookVerificationError):
        Webhook(new_secret()).verify(latest.body, latest.headers)


def test_config_check_env_checks_each_tenants_webhook_secret(tmp_path: Path) -> None:
    from gateway.config_check import check_config

    config = config_dict(tmp_path, tenants={"demo": {"webhook_secret_env": "DEMO_HOOK_SECRET"}})
    path = write_config(tmp_path / "gateway.toml", config)
    base = {"IMAGEGATE_SIGNING_SECRET": "a-signing-secret-of-at-least-16-bytes"}
    where = "tenants.demo.webhook_secret_env"

    def problems(environ: dict[str, str]) -> list[str]:
        report = check_config(path, environ, env=True)
        return [p.message for p in report.problems if p.path == where]

    assert problems(base) == ["$DEMO_HOOK_SECRET is not set or empty"]
    assert "whsec_" in problems({**base, "DEMO_HOOK_SECRET": "plain-text"})[0]
    assert problems({**base, "DEMO_HOOK_SECRET": new_secret()}) == []
    assert check_config(path, base).problems == []  # without --env the file alone is fine


def test_a_tenant_added_by_a_reload_gets_a_secret_at_its_first_delivery(
    make_settings: Callable[..., Settings],
) -> None:
    live = Live(Directory.of(make_settings(), {}))
    secrets = TenantSecrets(make_settings(), {}, live=live)
    secrets.ensure()
    live.current = Directory.of(make_settings(tenants={"newcomer": {"plan": "free"}}), {})
    (key,) = secrets.keys("newcomer")
    assert stat.S_IMODE(secrets_file(secrets.settings, "newcomer").stat().st_mode) == 0o600
    assert secrets.keys("newcomer") == [key]  # kept, not made again
