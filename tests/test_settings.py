"""Config loading: units, validation messages that say where, env overrides, plan merging."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import pytest

from gateway.settings import ConfigError, default_config_path, load_settings
from gateway.units import parse_budget, parse_duration, parse_money, parse_size


@pytest.mark.parametrize(
    ("text", "seconds"), [("500ms", 0.5), ("30s", 30), ("5m", 300), ("2h", 7200), ("7d", 604800)]
)
def test_durations(text: str, seconds: float) -> None:
    assert parse_duration(text) == seconds


@pytest.mark.parametrize("bad", ["", "5", "5 weeks", "-1s", "1.2.3s"])
def test_bad_durations(bad: str) -> None:
    with pytest.raises(ValueError, match="invalid duration"):
        parse_duration(bad)


def test_money_budget_size() -> None:
    assert parse_money("0.04") == Decimal("0.04")
    assert parse_budget("5.00/day") == (Decimal("5.00"), 86400)
    assert parse_size("1024x768") == (1024, 768)
    for bad in ("abc", "-1", "NaN"):
        with pytest.raises(ValueError):
            parse_money(bad)
    with pytest.raises(ValueError):
        parse_budget("5/fortnight")
    with pytest.raises(ValueError):
        parse_size("1024*768")


def test_embedded_default_is_valid() -> None:
    settings = load_settings(default_config_path(), environ={})
    assert settings.state.url == "memory://"
    assert settings.server.host == "127.0.0.1"
    assert settings.default_model == "procedural"
    assert settings.tenants["demo"].generate_key


def write(tmp_path: Path, text: str) -> Path:
    base = default_config_path().read_text()
    path = tmp_path / "gateway.toml"
    path.write_text(base + "\n" + text)
    return path


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        ("[tenants.bad]\nkeys = ['not-a-hash']", "tenants.bad.keys: keys hold 'sha256:"),
        ("[plans.fast]\nrate = '10 per minute please'", "plans.fast.rate: invalid rate"),
        ("[plans.fast]\nbudget = '5'", "plans.fast.budget: invalid budget"),
        ("[tenants.x]\nplan = 'gold'", "plan 'gold' is not defined"),
        (
            "[models.two]\ndefault = true\ntargets = [{backend='procedural', model='m'}]",
            "exactly one model must have default = true",
        ),
        ("[models.two]\ntargets = [{backend='nowhere', model='m'}]", "'nowhere' is not defined"),
        (
            "[models.two]\nsizes = ['big']\ntargets = [{backend='procedural', model='m'}]",
            "models.two.sizes: invalid size",
        ),
        ("[plans.slow]\nmax_cost_per_job = 'cheap'", "plans.slow.max_cost_per_job: invalid amount"),
        ("[backends.slow]\ntype = 'procedural'\nlatency = 'forever'", "invalid duration"),
    ],
)
def test_invalid_configs_name_the_problem(tmp_path: Path, extra: str, message: str) -> None:
    with pytest.raises(ConfigError) as caught:
        load_settings(write(tmp_path, extra), environ={})
    assert message in str(caught.value)


def test_unknown_keys_are_refused(tmp_path: Path) -> None:
    path = tmp_path / "c.toml"
    path.write_text(default_config_path().read_text().replace("[server]", "[server]\nprot = 1"))
    with pytest.raises(ConfigError, match=r"server\.prot: Extra inputs are not permitted"):
        load_settings(path, environ={})


def test_missing_file_and_bad_toml(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="no such config file"):
        load_settings(tmp_path / "missing.toml", environ={})
    bad = tmp_path / "bad.toml"
    bad.write_text("[server\n")
    with pytest.raises(ConfigError, match="invalid TOML"):
        load_settings(bad, environ={})


def test_environment_overrides() -> None:
    settings = load_settings(
        environ={
            "IMAGEGATE_SERVER__PORT": "9001",
            "IMAGEGATE_STATE__URL": "redis://127.0.0.1:6390/2",
            "IMAGEGATE_PLANS__FREE__RATE": "5/minute",
            "IMAGEGATE_WORKERS__CONCURRENCY": "0",
        }
    )
    assert settings.server.port == 9001
    assert settings.server.base_url == "http://127.0.0.1:9001"
    assert settings.state.url == "redis://127.0.0.1:6390/2"
    assert settings.plans["free"].rate == "5/minute"
    assert settings.workers.concurrency == 0


def test_config_env_names_the_file(tmp_path: Path) -> None:
    path = write(tmp_path, "")
    path.write_text(path.read_text().replace("port = 8080", "port = 8123"))
    assert load_settings(environ={"IMAGEGATE_CONFIG": str(path)}).server.port == 8123


def test_tenant_fields_override_the_plan(tmp_path: Path) -> None:
    path = write(tmp_path, "[tenants.vip]\nplan = 'free'\nrate = '1000/minute'\n")
    plan = load_settings(path, environ={}).plan_for("vip")
    assert plan.rate == "1000/minute"
    assert plan.budget == "5.00/day"
