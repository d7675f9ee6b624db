"""Per-tenant webhook secrets: from the environment, or generated and kept under `data_dir`.

A tenant with `webhook_secret_env` takes its secret(s) from that variable: one `whsec_...`
value, or several separated by spaces while the operator rotates (every one signs). Any
other tenant gets a secret generated on first start, kept in
`<data_dir>/webhooks/<tenant>.json` (mode 0600: the secret itself is needed to sign) and
printed once by `imagegate serve`. `imagegate webhooks rotate --tenant T` puts a new secret
first and keeps the old one signing until the overlap ends. Files are re-read when they
change, so running processes pick up a rotation. No secret is ever logged.
"""

from __future__ import annotations

import json
import logging
import os
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from gateway.directory import Directory, Live
from gateway.settings import ConfigError, Settings
from gateway.webhooks.signing import new_secret, secret_key

log = logging.getLogger("imagegate.webhooks")


class SecretsFile:
    """One tenant's generated secrets: `{"secrets": [{"secret", "until"}]}`, newest first;
    `until` (epoch seconds) ends an old secret's overlap, null for the current one."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._seen: tuple[float, list[dict[str, Any]]] | None = None

    def create(self) -> str | None:
        """Write a first secret unless the file exists; the secret when made now."""
        secret = new_secret()
        try:
            _write_new(self.path, _document([{"secret": secret, "until": None}]))
        except FileExistsError:  # another process (or an earlier start) made it
            return None
        return secret

    def entries(self) -> list[dict[str, Any]]:
        stamp = self.path.stat().st_mtime_ns
        if self._seen is None or self._seen[0] != stamp:
            entries = json.loads(self.path.read_text(encoding="utf-8"))["secrets"]
            self._seen = (stamp, entries)
        return self._seen[1]

    def rotate(self, overlap: float, now: float) -> str:
        secret = new_secret()
        kept = [dict(entry, until=entry["until"] or now + overlap) for entry in self.entries()]
        live = [entry for entry in kept if entry["until"] > now]
        _replace(self.path, _document([{"secret": secret, "until": None}, *live]))
        return secret


class TenantSecrets:
    """Which keys sign a tenant's webhooks now."""

    def __init__(
        self,
        settings: Settings,
        environ: Mapping[str, str],
        clock: Callable[[], float] = time.time,
        live: Live | None = None,
    ) -> None:
        self.clock = clock
        self.environ = environ
        # The gateway's directory, so a reload's tenants are read here too; alone (the
        # CLI, tests): a directory of its own.
        self.live = live or Live(Directory.of(settings, {}))
        self.directory = Path(settings.server.data_dir).expanduser() / "webhooks"
        self._files: dict[str, SecretsFile] = {}

    @property
    def settings(self) -> Settings:
        return self.live.current.settings

    def ensure(self) -> dict[str, str]:
        """Check every tenant's environment secret; generate missing file secrets.
        Returns the secrets generated now (to be shown once), by tenant."""
        made: dict[str, str] = {}
        for tenant, config in self.settings.tenants.items():
            if config.webhook_secret_env:
                self._from_env(tenant, config.webhook_secret_env)
                continue
            secret = self._file(tenant).create()
            if secret is not None:
                made[tenant] = secret
        return made

    def keys(self, tenant: str) -> list[bytes]:
        """The HMAC keys to sign with, newest first; LookupError for an unknown tenant."""
        config = self.settings.tenants.get(tenant)
        if config is None:
            raise LookupError(f"tenant {tenant!r} is not configured")
        if config.webhook_secret_env:
            return self._from_env(tenant, config.webhook_secret_env)
        file = self._file(tenant)
        if not file.path.exists() and file.create() is not None:  # added by a reload
            log.warning("generated a webhook secret for tenant %r (under data_dir)", tenant)
        now = self.clock()
        entries = file.entries()
        return [secret_key(e["secret"]) for e in entries if e["until"] is None or e["until"] > now]

    def rotate(self, tenant: str) -> str:
        """A new secret for `tenant`; the old one keeps signing for `rotation_overlap`."""
        config = self.settings.tenants.get(tenant)
        if config is None:
            raise ConfigError(f"no tenant {tenant!r} in the config")
        if config.webhook_secret_env:
            raise ConfigError(
                f"tenant {tenant!r} takes its webhook secret from ${config.webhook_secret_env}: "
                "rotate by setting it to 'NEW OLD' (both sign) and later to 'NEW'"
            )
        file = self._file(tenant)
        if not file.path.exists():
            file.create()
        return file.rotate(self.settings.webhooks.rotation_overlap, self.clock())

    def _file(self, tenant: str) -> SecretsFile:
        if tenant not in self._files:
            self._files[tenant] = SecretsFile(self.directory / f"{tenant}.json")
        return self._files[tenant]

    def _from_env(self, tenant: str, name: str) -> list[bytes]:
        values = self.environ.get(name, "").split()
        if not values:
            raise ConfigError(f"tenants.{tenant}.webhook_secret_env: ${name} is not set or empty")
        try:
            return [secret_key(value) for value in values]
        except ValueError as exc:
            raise ConfigError(f"tenants.{tenant}.webhook_secret_env: ${name}: {exc}") from None


def _document(entries: list[dict[str, Any]]) -> str:
    return json.dumps({"secrets": entries}, indent=2) + "\n"


def _write_beside(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_suffix(f".{os.getpid()}.tmp")
    fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        handle.write(text)
    return temporary


def _write_new(path: Path, text: str) -> None:
    """Create `path` whole or not at all (FileExistsError): a hard link never replaces,
    so of two processes starting together exactly one secret wins."""
    temporary = _write_beside(path, text)
    try:
        os.link(temporary, path)
    finally:
        temporary.unlink()


def _replace(path: Path, text: str) -> None:
    """Write beside, then rename over: a reader sees the old file or the new, never half."""
    os.replace(_write_beside(path, text), path)
