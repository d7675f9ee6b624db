"""Every problem of a config in one run: `imagegate config check`, and `serve` / `worker`
start-up, which refuse to start on the same list.

Each problem names its config path. The file's own problems are always checked: every field
of every section (an entry that does not validate does not hide the others), references
between sections, prices, backend types and options, the storage URL. With `env` the
environment the gateway would run in is checked too: each backend's key variable, the
URL-signing secret and each tenant's `webhook_secret_env`. Warnings do not stop anything: a
tenant nobody can log in as, and shared (`redis://`) state whose processes would each make
their own signing secret.
"""

from __future__ import annotations

import asyncio
import os
import tomllib
import typing
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
from pydantic import TypeAdapter, ValidationError

from backends.base import BackendClass, BackendConfig, BackendDeps, needs_key, plain_download
from gateway.backend_setup import backend_class, backend_options
from gateway.bootstrap import MIN_SECRET_BYTES
from gateway.money.validation import price_problems, quality_problems
from gateway.schemes import state_kind
from gateway.settings import (
    CONFIG_ENV,
    BackendSettings,
    ConfigError,
    Settings,
    apply_env_overrides,
    cross_problems,
    default_config_path,
)
from gateway.storage.s3 import resolve_s3
from gateway.webhooks.check import webhook_secret_problems


@dataclass(frozen=True)
class Problem:
    path: str
    message: str
    warning: bool = False

    def __str__(self) -> str:
        return f"{'warning' if self.warning else 'error'}: {self.path}: {self.message}"


@dataclass
class Report:
    source: str
    problems: list[Problem] = field(default_factory=list)
    settings: Settings | None = None  # set when there is no error

    @property
    def errors(self) -> list[Problem]:
        return [problem for problem in self.problems if not problem.warning]

    @property
    def warnings(self) -> list[Problem]:
        return [problem for problem in self.problems if problem.warning]

    def text(self) -> str:
        """A heading and one line per problem, errors first."""
        counts = f"{len(self.errors)} error(s), {len(self.warnings)} warning(s)"
        ordered = self.errors + self.warnings
        return "\n".join([f"{self.source}: {counts}", *(f"  {p}" for p in ordered)])


def config_path(path: str | Path | None, environ: Mapping[str, str]) -> Path:
    """`--config FILE`, else `$IMAGEGATE_CONFIG`, else the embedded default."""
    return Path(path or environ.get(CONFIG_ENV) or default_config_path())


def check_config(
    path: str | Path | None,
    environ: Mapping[str, str] | None = None,
    *,
    env: bool = False,
    secret_required: bool = False,
) -> Report:
    """Check the file at `path` (with `IMAGEGATE_*` overrides from `environ`); not from a
    running event loop (backends are built once in a loop of their own). `env` checks
    the vendor keys and signing secret in `environ`; `secret_required` makes a missing
    secret under shared state an error rather than a warning (`config check --env`)."""
    environ = os.environ if environ is None else environ
    chosen = config_path(path, environ)
    report = Report(str(chosen))
    try:
        data = tomllib.loads(chosen.read_text(encoding="utf-8"))
        data = apply_env_overrides(data, environ)
    except FileNotFoundError:
        report.problems.append(Problem("file", "no such config file"))
        return report
    except tomllib.TOMLDecodeError as exc:
        report.problems.append(Problem("file", f"invalid TOML: {exc}"))
        return report
    except ConfigError as exc:
        report.problems.append(_problem(str(exc)))
        return report
    settings, unchecked = _sections(data, report.problems)
    report.problems += [_problem(line) for line in cross_problems(settings, unchecked)]
    if not any(name.startswith("backends.") for name in unchecked):
        typos = not any(name.startswith("models.") for name in unchecked)
        report.problems += [_problem(line) for line in price_problems(settings, typos=typos)]
    report.problems += _backend_problems(settings, environ if env else None)
    report.problems += _storage_problems(settings, environ)
    report.problems += _warnings(settings)
    report.problems += _secret_problems(settings, environ, env, secret_required)
    if env:
        report.problems += [Problem(*found) for found in webhook_secret_problems(settings, environ)]
    if not report.errors:
        try:  # the whole model once more: every validator, including any added later
            report.settings = Settings.model_validate(data)
        except ValidationError as exc:
            report.problems += _validation_problems(exc, ())
    return report


def _problem(line: str, warning: bool = False) -> Problem:
    path, separator, message = line.partition(": ")
    return Problem(path, message, warning) if separator else Problem("config", line, warning)


def _validation_problems(exc: ValidationError, prefix: tuple[str, ...]) -> list[Problem]:
    problems: list[Problem] = []
    for error in exc.errors():
        message = error["msg"].removeprefix("Value error, ")
        loc = (*prefix, *(str(part) for part in error["loc"]))
        if loc:
            problems.append(Problem(".".join(loc), message))
        else:  # a whole-model check: one problem a line, each naming its path
            problems += [_problem(line.strip()) for line in message.splitlines() if line.strip()]
    return problems


def _sections(data: dict[str, Any], problems: list[Problem]) -> tuple[Settings, frozenset[str]]:
    """Each section (and each entry of a table of entries) validated on its own, so one bad
    entry hides nothing else. Returns what validated, and the entries that did not."""
    valid: dict[str, Any] = {}
    unchecked: set[str] = set()
    for name in data:
        if name not in Settings.model_fields:
            problems.append(Problem(name, "unknown section"))
    for name, info in Settings.model_fields.items():
        if name not in data:
            continue
        annotation: Any = info.annotation
        if typing.get_origin(annotation) is dict:
            entry_type = typing.get_args(annotation)[1]
            raw = data[name]
            if not isinstance(raw, dict):
                problems.append(Problem(name, "must be a table of [" + name + ".NAME] entries"))
                continue
            entries: dict[str, Any] = {}
            for key, value in raw.items():
                try:
                    entries[key] = TypeAdapter(entry_type).validate_python(value)
                except ValidationError as exc:
                    problems += _validation_problems(exc, (name, key))
                    unchecked.add(f"{name}.{key}")
            valid[name] = entries
        else:
            try:
                valid[name] = TypeAdapter(annotation).validate_python(data[name])
            except ValidationError as exc:
                problems += _validation_problems(exc, (name,))
    defaults = {
        name: info.get_default(call_default_factory=True)
        for name, info in Settings.model_fields.items()
        if name not in valid
    }
    return Settings.model_construct(**defaults, **valid), frozenset(unchecked)


def _backend_problems(settings: Settings, environ: Mapping[str, str] | None) -> list[Problem]:
    """Each backend's type and options; with `environ`, also its key variable."""
    problems: list[Problem] = []
    for name, backend in settings.backends.items():
        try:
            cls = backend_class(name, backend)
        except ConfigError as exc:
            problems.append(_problem(str(exc)))
            continue
        try:
            backend_options(name, backend, cls)
        except ConfigError as exc:
            problems += [_problem(part) for part in str(exc).split("; ")]
        else:
            problems += _construct_problem(name, backend, cls, environ or {})
        if environ is None or not (needs_key(cls) or backend.api_key_env):
            continue
        where = f"backends.{name}.api_key_env"
        if not backend.api_key_env:
            problems.append(Problem(where, "must name the variable holding the vendor key"))
        elif not environ.get(backend.api_key_env, "").strip():
            problems.append(
                Problem(where, f"environment variable {backend.api_key_env} is not set or empty")
            )
    return problems


def _construct_problem(
    name: str, backend: BackendSettings, cls: BackendClass, environ: Mapping[str, str]
) -> list[Problem]:
    """Build the backend once (what its constructor refuses, e.g. a missing base_url), with
    a stand-in key where the environment has none (the key is checked apart, with `env`)."""
    key = environ.get(backend.api_key_env or "", "").strip() or "config-check-stand-in"
    config = BackendConfig(
        name=name,
        type=backend.type,
        options=backend_options(name, backend, cls),
        base_url=backend.base_url,
        api_key=key,
        timeout=backend.timeout,
    )

    async def build() -> list[str]:
        async with httpx.AsyncClient() as http:
            built = cls(config, BackendDeps(http=http, download=plain_download(http)))
            try:  # price keys naming a quality the vendor model does not take
                return quality_problems(name, backend, lambda m: built.capabilities(m).qualities)
            finally:
                await built.aclose()

    try:
        return [_problem(line) for line in asyncio.run(build())]
    except (ValueError, ConfigError) as exc:
        return [_problem(str(exc))]


def _storage_problems(settings: Settings, environ: Mapping[str, str]) -> list[Problem]:
    if not settings.storage.url.startswith("s3://"):
        return []
    try:
        resolve_s3(settings.storage.url, settings.storage, environ)
    except ConfigError as exc:
        message = str(exc).removeprefix("storage.url ")
        return [Problem("storage.url", message)]
    return []


def _warnings(settings: Settings) -> list[Problem]:
    ignored = []
    if settings.state.replica_acks and state_kind(settings.state.url) == "memory":
        ignored.append(
            Problem(
                "state.replica_acks",
                "has no effect on memory:// (there is no replica to wait for)",
                warning=True,
            )
        )
    return ignored + [
        Problem(
            f"tenants.{name}",
            "has no keys and generate_key is false: nobody can use this tenant "
            "(add a hash from `imagegate keys create --tenant NAME`)",
            warning=True,
        )
        for name, tenant in settings.tenants.items()
        if not tenant.keys and not tenant.generate_key
    ]


def _secret_problems(
    settings: Settings, environ: Mapping[str, str], env: bool, required: bool
) -> list[Problem]:
    """The secret that signs the gateway's own file URLs comes from the variable named by
    `storage.signing_secret_env`, else it is generated under `server.data_dir`: fine for one
    process, but processes sharing `redis://` state would each make their own and refuse each
    other's URLs (unless they share data_dir)."""
    variable = settings.storage.signing_secret_env
    where = "storage.signing_secret_env"
    secret = environ.get(variable, "")
    if secret:
        if env and len(secret.encode()) < MIN_SECRET_BYTES:
            return [Problem(where, f"{variable} must hold at least {MIN_SECRET_BYTES} bytes")]
        return []
    if settings.state.url.startswith("memory:"):
        return []
    return [
        Problem(
            where,
            f"{variable} is not set: with shared state ({settings.state.url.split('://')[0]}://) "
            f"every process makes its own signing secret under server.data_dir unless they "
            f"share it, and refuses the others' image URLs; set {variable} on every host",
            warning=not required,
        )
    ]
