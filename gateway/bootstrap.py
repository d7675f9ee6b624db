"""First-start material kept under `server.data_dir`: generated tenant keys, the signing secret.

A tenant with `generate_key = true` and no keys gets one key on first start; the key is
printed once and only its hash is kept, so a restart keeps the key working.
"""

from __future__ import annotations

import os
import secrets
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from gateway.auth import key_hash, new_key
from gateway.settings import Settings

MIN_SECRET_BYTES = 16


@dataclass
class Bootstrap:
    key_hashes: dict[str, tuple[str, ...]]
    signing_secret: bytes
    new_keys: dict[str, str] = field(default_factory=dict)  # tenant -> key made just now


def _write_private(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        handle.write(text)


def _generated_key_hash(path: Path, tenant: str, new_keys: dict[str, str]) -> str:
    if path.exists():
        return path.read_text(encoding="utf-8").strip()
    key = new_key()
    _write_private(path, key_hash(key) + "\n")
    new_keys[tenant] = key
    return key_hash(key)


def _signing_secret(settings: Settings, data_dir: Path, environ: Mapping[str, str]) -> bytes:
    from_env = environ.get(settings.storage.signing_secret_env, "")
    if from_env:
        if len(from_env.encode()) < MIN_SECRET_BYTES:
            raise ValueError(
                f"{settings.storage.signing_secret_env} must hold at least {MIN_SECRET_BYTES} bytes"
            )
        return from_env.encode()
    path = data_dir / "signing.secret"
    if not path.exists():
        _write_private(path, secrets.token_hex(32) + "\n")
    return path.read_text(encoding="utf-8").strip().encode()


def bootstrap(settings: Settings, environ: Mapping[str, str] | None = None) -> Bootstrap:
    environ = os.environ if environ is None else environ
    data_dir = Path(settings.server.data_dir).expanduser()
    new_keys: dict[str, str] = {}
    hashes: dict[str, tuple[str, ...]] = {}
    for tenant, config in settings.tenants.items():
        keys = config.keys
        if not keys and config.generate_key:
            path = data_dir / "keys" / f"{tenant}.sha256"
            keys = (_generated_key_hash(path, tenant, new_keys),)
        hashes[tenant] = keys
    return Bootstrap(hashes, _signing_secret(settings, data_dir, environ), new_keys)
