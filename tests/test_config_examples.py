"""Every shipped config validates, including what its storage section resolves to."""

from __future__ import annotations

from pathlib import Path

import pytest

from gateway.settings import load_settings
from gateway.storage.s3 import resolve_s3

ROOT = Path(__file__).resolve().parent.parent
CONFIGS = sorted((ROOT / "config").glob("*.toml"))


@pytest.mark.parametrize("path", CONFIGS, ids=lambda path: path.name)
def test_shipped_config_is_valid(path: Path) -> None:
    settings = load_settings(path, environ={})
    if settings.storage.url.startswith("s3://"):
        location = resolve_s3(settings.storage.url, settings.storage, {})
        assert location.bucket and not location.credentials  # secrets never inline


def test_the_s3_example_exists() -> None:
    assert "production-s3.toml" in {path.name for path in CONFIGS}


def test_the_multivendor_example_shows_every_backend_type_and_passes_config_check() -> None:
    """`config check` also validates each backend's options by its type (the ComfyUI
    workflow file included), run from the root of the checkout as the example says."""
    import subprocess
    import sys
    import tomllib

    from backends.registry import BUILTIN

    path = ROOT / "config" / "production-multivendor.toml"
    types = {backend["type"] for backend in tomllib.loads(path.read_text())["backends"].values()}
    assert types == set(BUILTIN) - {"procedural"}
    check = subprocess.run(
        [sys.executable, "-m", "gateway.cli", "config", "check", str(path)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert check.returncode == 0, check.stdout + check.stderr
