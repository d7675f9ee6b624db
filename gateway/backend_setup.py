"""The host's side of the backend contract: from `[backends.NAME]` settings to built backends.

The host resolves what a backend must not do itself: the type's class (registry), its
`options` (validated by the type's own pydantic model, also by `imagegate config check`), the
vendor key (read from the injected environment, never by the backend), and the injected
HTTP client and guarded download.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import httpx
from pydantic import ValidationError

from backends.base import (
    Backend,
    BackendClass,
    BackendConfig,
    BackendDeps,
    Download,
    needs_key,
    options_model,
    plain_download,
)
from backends.registry import backend_factory
from gateway.outbound import OutboundGuard, guarded_download
from gateway.settings import BackendSettings, ConfigError, Settings

# Top-level settings a type may take as options (kept top-level for existing configs).
LIFTED_FIELDS = ("latency", "fail_rate")


def backend_class(name: str, settings: BackendSettings) -> BackendClass:
    try:
        return backend_factory(settings.type)
    except LookupError as exc:
        raise ConfigError(f"backends.{name}: {exc}") from None


def backend_options(name: str, settings: BackendSettings, cls: BackendClass) -> Any:
    """`options` validated by the type's own model; errors name `backends.NAME.options.KEY`."""
    model = options_model(cls)
    raw = dict(settings.options)
    for lifted in LIFTED_FIELDS:
        if lifted in model.model_fields and lifted not in raw:
            raw[lifted] = getattr(settings, lifted)
    try:
        return model.model_validate(raw)
    except ValidationError as exc:
        problems = []
        for error in exc.errors():
            where = ".".join(str(part) for part in error["loc"])
            path = f"backends.{name}.options" + (f".{where}" if where else "")
            problems.append(f"{path}: {error['msg']}")
        raise ConfigError("; ".join(problems)) from None


def check_backends(settings: Settings) -> None:
    """Types and options of every backend (what `config check` can verify without keys)."""
    for name, backend in settings.backends.items():
        backend_options(name, backend, backend_class(name, backend))


def backend_config(
    name: str, settings: BackendSettings, cls: BackendClass, environ: Mapping[str, str]
) -> BackendConfig[Any]:
    return BackendConfig(
        name=name,
        type=settings.type,
        options=backend_options(name, settings, cls),
        base_url=settings.base_url,
        # Self-hosted servers need no key, but take one when api_key_env names it.
        api_key=_api_key(name, settings, environ)
        if needs_key(cls) or settings.api_key_env
        else None,
        timeout=settings.timeout,
    )


def build_backend(
    name: str,
    settings: BackendSettings,
    http: httpx.AsyncClient,
    environ: Mapping[str, str],
    download: Download | None = None,
) -> Backend:
    cls = backend_class(name, settings)
    deps = BackendDeps(http=http, download=download or plain_download(http))
    return cls(backend_config(name, settings, cls, environ), deps)


def build_backends(
    settings: Settings,
    http: httpx.AsyncClient,
    environ: Mapping[str, str],
    guard: OutboundGuard | None = None,
) -> dict[str, Backend]:
    """Every configured backend; with `guard`, result URLs are downloaded through it (each
    backend trusting only the host of its own configured `base_url`)."""
    built: dict[str, Backend] = {}
    for name, backend in settings.backends.items():
        download = None
        if guard is not None:
            cap = settings.outbound.max_download_bytes
            download = guarded_download(guard, backend.base_url, cap)
        built[name] = build_backend(name, backend, http, environ, download)
    return built


def _api_key(name: str, settings: BackendSettings, environ: Mapping[str, str]) -> str:
    """Read once at start-up so a missing key fails start-up, not the first job."""
    env = settings.api_key_env
    if not env:
        raise ConfigError(f"backends.{name}: api_key_env must name the variable holding the key")
    key = environ.get(env, "").strip()
    if not key:
        raise ConfigError(f"backends.{name}: environment variable {env} is not set or empty")
    return key
