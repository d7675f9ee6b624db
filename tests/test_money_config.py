"""Prices are checked before the config ships: every routable (model, size) is priced,
typos are refused, free backends are declared; `config check` names backend, model, size."""

from __future__ import annotations

import tomllib
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from gateway.settings import ConfigError, Settings, default_config_path, parse_settings
from tests.conftest import config_dict
from tests.processes import write_config
from tests.test_cli import run_cli

GPT_IMAGE = {
    "1024x1024": {"low": "0.011", "medium": "0.042", "high": "0.167"},
    "1536x1024": {"low": "0.016", "medium": "0.063", "high": "0.25"},
}


def vendor_config(**backend: Any) -> dict[str, Any]:
    """A route to a (procedural-typed) vendor backend `paid` serving model `m`."""
    return {
        "models": {
            "procedural": {"default": False},
            "paid": {
                "default": True,
                "targets": [{"backend": "paid", "model": "m"}],
                "sizes": ["1024x1024", "1536x1024"],
            },
        },
        "backends": {"paid": {"type": "openai", "api_key_env": "X", **backend}},
    }


def refused(make_settings: Callable[..., Settings], **overrides: Any) -> str:
    with pytest.raises(ConfigError) as caught:
        make_settings(**overrides)
    return str(caught.value)


def test_a_vendor_without_prices_is_refused_unless_free(
    make_settings: Callable[..., Settings],
) -> None:
    message = refused(make_settings, **vendor_config())
    assert "backends.paid: model 'm' has no price for size 1024x1024, 1536x1024" in message
    assert "models.paid" in message and "free = true" in message
    assert make_settings(**vendor_config(free=True)).backends["paid"].free


def test_a_missing_size_is_named(make_settings: Callable[..., Settings]) -> None:
    message = refused(make_settings, **vendor_config(prices={"m": {"1024x1024": "0.04"}}))
    assert "backends.paid: model 'm' has no price for size 1536x1024" in message
    make_settings(**vendor_config(prices={"m": {"1024x1024": "0.04", "default": "0.08"}}))
    make_settings(**vendor_config(prices={"m": GPT_IMAGE}))


def test_a_price_key_naming_no_routed_model_is_a_typo(
    make_settings: Callable[..., Settings],
) -> None:
    message = refused(
        make_settings, **vendor_config(prices={"gpt-imgae-1": "0.04", "default": "0.04"})
    )
    assert 'backends.paid.prices: "gpt-imgae-1" is not a model any route sends' in message
    assert "(routed models: m)" in message
    tokens = {"text_input": "5", "image_input": "10", "image_output": "40"}
    message = refused(
        make_settings, **vendor_config(prices={"m": "0.04"}, token_prices={"n": tokens})
    )
    assert 'backends.paid.token_prices: "n"' in message


def test_a_size_no_alias_allows_is_a_typo(make_settings: Callable[..., Settings]) -> None:
    message = refused(
        make_settings,
        **vendor_config(prices={"m": {**GPT_IMAGE, "1024x1792": "0.08", "default": "0.1"}}),
    )
    assert 'backends.paid.prices."m": size 1024x1792 is allowed by no model alias' in message


def test_free_with_prices_contradicts(make_settings: Callable[..., Settings]) -> None:
    message = refused(make_settings, **vendor_config(free=True, prices={"m": "0.04"}))
    assert "free = true contradicts its prices" in message


def test_procedural_is_free_unless_priced(
    make_settings: Callable[..., Settings], tmp_path: Path
) -> None:
    data = config_dict(tmp_path)
    del data["backends"]["procedural"]["prices"]
    assert parse_settings(data).backends["procedural"].prices == {}
    data["backends"]["procedural"]["prices"] = {"other": "0.01"}
    with pytest.raises(ConfigError) as caught:
        parse_settings(data)
    message = str(caught.value)
    assert "backends.procedural: model 'procedural-v1' has no price for size" in message
    assert '"other" is not a model any route sends' in message


def test_every_problem_is_reported_at_once(make_settings: Callable[..., Settings]) -> None:
    message = refused(
        make_settings, **vendor_config(prices={"m": {"1024x1024": "0.04"}, "typo": "0.01"})
    )
    assert "has no price for size 1536x1024" in message and '"typo"' in message


def test_config_check_names_the_typoed_model(tmp_path: Path) -> None:
    text = (
        default_config_path()
        .read_text()
        .replace('prices = { default = "0.00" }', 'prices = { "procedural-v2" = "0.01" }')
    )
    config = tmp_path / "typo.toml"
    config.write_text(text)
    assert tomllib.loads(text)["backends"]["procedural"]["prices"] == {"procedural-v2": "0.01"}
    result = run_cli("config", "check", str(config))
    assert result.returncode != 0
    assert '"procedural-v2" is not a model any route sends' in result.stderr
    assert "model 'procedural-v1' has no price for size 512x512" in result.stderr


def vendor_file(tmp_path: Path, name: str, **backend: Any) -> Path:
    data = config_dict(tmp_path)
    data["models"] = {
        "gpt-image": {
            "default": True,
            "targets": [{"backend": "openai", "model": "gpt-image-1"}],
            "sizes": list(GPT_IMAGE),
        }
    }
    data["backends"] = {"openai": {"type": "openai", "api_key_env": "NOT_SET", **backend}}
    return write_config(tmp_path / name, data)


def test_config_check_names_a_quality_the_vendor_model_does_not_take(tmp_path: Path) -> None:
    """A typo'd quality ("hihg") would make `high` jobs fall back to the table's highest
    listed price (medium's); the built backend's declared qualities catch it."""
    table = {size: dict(prices) for size, prices in GPT_IMAGE.items()}
    table["1536x1024"]["hihg"] = table["1536x1024"].pop("high")
    prices = {"gpt-image-1": table}
    result = run_cli("config", "check", str(vendor_file(tmp_path, "quality.toml", prices=prices)))
    assert result.returncode != 0
    assert (
        "backends.openai.prices.\"gpt-image-1\".1536x1024: quality 'hihg' is not one model "
        "'gpt-image-1' takes (qualities: auto, high, low, medium)"
    ) in result.stderr + result.stdout
    table["1536x1024"]["high"] = table["1536x1024"].pop("hihg")
    fixed = run_cli("config", "check", str(vendor_file(tmp_path, "fixed.toml", prices=prices)))
    assert fixed.returncode == 0, fixed.stderr


@pytest.mark.parametrize("command", ["serve", "worker"])
def test_start_up_refuses_an_unpriced_route(tmp_path: Path, command: str) -> None:
    path = vendor_file(tmp_path, "unpriced.toml")
    result = run_cli(command, "--config", str(path), cwd=tmp_path)
    assert result.returncode == 1 and "Traceback" not in result.stderr
    assert (
        "backends.openai: model 'gpt-image-1' has no price for size 1024x1024, 1536x1024 "
        "(routed by models.gpt-image)"
    ) in result.stderr


def test_config_check_refuses_a_size_typo_and_passes_a_declared_free_vendor(
    tmp_path: Path,
) -> None:
    typo = {**GPT_IMAGE, "1536x1042": GPT_IMAGE["1536x1024"]}
    result = run_cli(
        "config", "check", str(vendor_file(tmp_path, "typo.toml", prices={"gpt-image-1": typo}))
    )
    assert result.returncode != 0
    assert (
        'backends.openai.prices."gpt-image-1": size 1536x1042 is allowed by no model alias '
        "routed here (sizes: 1024x1024, 1536x1024)"
    ) in result.stderr + result.stdout
    free = run_cli("config", "check", str(vendor_file(tmp_path, "free.toml", free=True)))
    assert free.returncode == 0, free.stderr + free.stdout
