"""Every shipped config validates, including what its storage section resolves to."""

from __future__ import annotations

from pathlib import Path

import pytest

from gateway.settings import load_settings
from gateway.storage.s3 import resolve_s3

CONFIGS = sorted((Path(__file__).resolve().parent.parent / "config").glob("*.toml"))


@pytest.mark.parametrize("path", CONFIGS, ids=lambda path: path.name)
def test_shipped_config_is_valid(path: Path) -> None:
    settings = load_settings(path, environ={})
    if settings.storage.url.startswith("s3://"):
        location = resolve_s3(settings.storage.url, settings.storage, {})
        assert location.bucket and not location.credentials  # secrets never inline


def test_the_s3_example_exists() -> None:
    assert "production-s3.toml" in {path.name for path in CONFIGS}
