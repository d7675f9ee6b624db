"""Backends from other packages, found through the `imagegate.backends` entry-point group."""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from starlette.testclient import TestClient

from backends.registry import UnknownBackendType, available_types, backend_factory
from gateway.settings import ConfigError, Settings
from tests.conftest import AUTH
from tests.polling import wait_for_job

PLUGIN_DIR = Path(__file__).parent / "plugin"  # an installed distribution: code + dist-info


@pytest.fixture
def plugin_installed(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.syspath_prepend(str(PLUGIN_DIR))
    yield
    sys.modules.pop("imagegate_echo", None)


def test_entry_point_backend_is_discovered(plugin_installed: None) -> None:
    assert "echo" in available_types()
    assert backend_factory("echo").__name__ == "EchoBackend"


def test_unknown_type_names_the_available_ones() -> None:
    with pytest.raises(UnknownBackendType, match=r"available: .*procedural"):
        backend_factory("nope")


def test_plugin_serves_jobs_through_config_alone(
    plugin_installed: None,
    make_client: Callable[..., TestClient],
    make_settings: Callable[..., Settings],
) -> None:
    settings = make_settings(
        backends={"echo": {"type": "echo", "prices": {"default": "0.001"}}},
        models={
            "procedural": {"default": False},
            "echoed": {
                "default": True,
                "targets": [{"backend": "echo", "model": "e1"}],
                "sizes": ["64x64"],
            },
        },
    )
    client = make_client(settings)
    accepted = client.post("/images/jobs", json={"prompt": "plug"}, headers=AUTH)
    job = wait_for_job(client, accepted.json()["data"]["jobId"], AUTH)
    assert job["status"] == "SUCCEEDED" and job["backend"] == "echo"
    assert job["cost"] == "0.001" and job["images"][0]["width"] == 64


def test_unknown_backend_type_fails_at_start(
    make_client: Callable[..., TestClient], make_settings: Callable[..., Settings]
) -> None:
    settings = make_settings(backends={"procedural": {"type": "nope"}})
    with pytest.raises(ConfigError, match=r"backends\.procedural: unknown backend type 'nope'"):
        make_client(settings)
