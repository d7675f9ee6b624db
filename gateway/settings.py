"""Load and validate the gateway's TOML config (plus `IMAGEGATE_*` overrides) into frozen models.

Settings are read once; nothing else in the gateway calls `os.getenv` for configuration.
Environment overrides use `IMAGEGATE_<SECTION>__<KEY>` (double underscore between levels),
e.g. `IMAGEGATE_SERVER__PORT=9000` or `IMAGEGATE_STATE__URL=redis://127.0.0.1:6379/0`.
"""

from __future__ import annotations

import ipaddress
import os
import tomllib
from collections.abc import Mapping
from decimal import Decimal
from pathlib import Path
from typing import Annotated, Any, Literal

from limits import parse_many
from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    PlainValidator,
    ValidationError,
    field_validator,
    model_validator,
)

from gateway.money.prices import ModelPrice, parse_model_price
from gateway.money.tokens import TokenPrices
from gateway.money.validation import price_problems
from gateway.schemes import (
    BadUrl,
    cluster_nodes,
    is_cluster,
    state_kind,
    storage_kind,
)
from gateway.schemes import ConfigError as ConfigError
from gateway.units import parse_budget, parse_duration, parse_money, parse_size

ENV_PREFIX = "IMAGEGATE_"
CONFIG_ENV = "IMAGEGATE_CONFIG"

Seconds = Annotated[float, BeforeValidator(parse_duration)]
Money = Annotated[Decimal, BeforeValidator(parse_money)]
Prices = dict[str, Annotated[ModelPrice, PlainValidator(parse_model_price)]]


def _check_rate(value: str | None) -> str | None:
    if value is not None:
        try:
            parse_many(value)
        except ValueError:
            raise ValueError(
                f'invalid rate {value!r}: use the limits notation, e.g. "10/minute;200/day"'
            ) from None
    return value


def _check_budget(value: str | None) -> str | None:
    if value is not None:
        parse_budget(value)
    return value


Rate = Annotated[str | None, BeforeValidator(_check_rate)]
Budget = Annotated[str | None, BeforeValidator(_check_budget)]


class Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class ServerSettings(Section):
    host: str = "127.0.0.1"
    port: int = Field(8080, ge=0, le=65535)
    public_url: str | None = None
    max_body_bytes: int = Field(64 * 1024, gt=0)
    max_header_bytes: int = Field(32 * 1024, ge=1024)  # request line + headers; else 431
    data_dir: str = "./data"

    @property
    def base_url(self) -> str:
        """Base of absolute URLs handed to clients."""
        return (self.public_url or f"http://{self.host}:{self.port}").rstrip("/")


class StateSettings(Section):
    url: str = "memory://"
    job_ttl: Seconds = 7 * 86400.0
    # memory:// only: finished jobs (and cached results) kept, the oldest dropped first.
    max_finished_jobs: int = Field(50_000, ge=1)
    # redis:// and redis+cluster:// only: a submit is answered once this many replicas have
    # it (WAIT), or once replica_ack_timeout passed (logged); 0 = Redis's asynchronous default.
    replica_acks: int = Field(0, ge=0, le=16)
    replica_ack_timeout: Seconds = Field(0.1, gt=0, le=0.5)  # below the 1 s command timeout

    @field_validator("url")
    @classmethod
    def _known_scheme(cls, url: str) -> str:
        try:
            state_kind(url)
            if is_cluster(url):
                cluster_nodes(url)
        except BadUrl as exc:
            raise ValueError(exc.detail) from None
        return url


class StorageSettings(Section):
    """Where images go and how clients reach them (see config/gateway.toml for each key)."""

    url: str = "file://./data/images"
    cdn_base_url: str | None = None
    url_ttl: Seconds = 3600.0
    signing_secret_env: str = "IMAGEGATE_SIGNING_SECRET"
    # s3:// only; each falls back to the usual AWS_* variable, credentials come only from there.
    endpoint: str | None = None
    region: str | None = None
    upload_attempts: Annotated[int, Field(ge=1, le=10)] = 4
    retention: Seconds | None = None  # None keeps images forever
    gc_min_age: Seconds = 3600.0  # gc never deletes younger objects: a job may be storing now

    @field_validator("url")
    @classmethod
    def _known_scheme(cls, url: str) -> str:
        try:
            storage_kind(url)
        except BadUrl as exc:
            raise ValueError(exc.detail) from None
        return url

    @field_validator("cdn_base_url", "endpoint")
    @classmethod
    def _http_url(cls, url: str | None) -> str | None:
        if url is not None and not url.startswith(("https://", "http://")):
            raise ValueError(f"{url!r} is not an http(s) URL")
        return url.rstrip("/") if url else url

    @field_validator("retention")
    @classmethod
    def _positive(cls, retention: float | None) -> float | None:
        if retention is not None and retention <= 0:
            raise ValueError("retention must be positive (leave it out to keep images forever)")
        return retention


class CacheSettings(Section):
    ttl: Seconds = 86400.0
    scope: Literal["global", "tenant"] = "global"


class WorkerSettings(Section):
    concurrency: int = Field(4, ge=0, le=256)
    visibility_timeout: Seconds = 300.0
    shutdown_grace: Seconds = 30.0


class RetrySettings(Section):
    max_attempts: int = Field(3, ge=1, le=20)
    initial: Seconds = 0.5
    max: Seconds = 10.0


class PlanSettings(Section):
    rate: Rate = None
    poll_rate: Rate = None
    max_concurrent: int | None = Field(None, ge=1)
    budget: Budget = None
    max_cost_per_job: Money | None = None


def _check_key_hashes(keys: tuple[str, ...], how: str) -> tuple[str, ...]:
    for key in keys:
        digest = key.removeprefix("sha256:")
        if not key.startswith("sha256:") or len(digest) != 64 or not _is_hex(digest):
            raise ValueError(
                f"keys hold 'sha256:<64 hex digits>' hashes, never raw keys (make one with {how})"
            )
    return keys


class TenantSettings(PlanSettings):
    plan: str | None = None
    keys: tuple[str, ...] = ()
    generate_key: bool = False
    models: tuple[str, ...] | None = None  # the aliases its keys may use (None: every one)
    # Webhooks: the default URL of its jobs, the hosts a job's own `webhookUrl` may name
    # (empty: any), and the variable holding its signing secret (else generated).
    webhook_url: str | None = None
    webhook_hosts: tuple[str, ...] = ()
    webhook_secret_env: str | None = None

    @field_validator("webhook_url")
    @classmethod
    def _webhook_is_http(cls, url: str | None) -> str | None:
        if url is not None and not url.startswith(("https://", "http://")):
            raise ValueError(f"{url!r} is not an http(s) URL")
        return url

    @field_validator("keys")
    @classmethod
    def _keys_are_hashes(cls, keys: tuple[str, ...]) -> tuple[str, ...]:
        return _check_key_hashes(keys, "`imagegate keys create --tenant NAME`")


class AdminSettings(Section):
    """Keys of the admin API (`/admin`); never tenant keys."""

    keys: tuple[str, ...] = ()

    @field_validator("keys")
    @classmethod
    def _keys_are_hashes(cls, keys: tuple[str, ...]) -> tuple[str, ...]:
        return _check_key_hashes(keys, "`imagegate keys create --admin`")


class LoggingSettings(Section):
    format: Literal["text", "json"] = "text"
    level: Literal["debug", "info", "warning", "error", "critical"] = "info"

    @field_validator("level", mode="before")
    @classmethod
    def _lower(cls, level: Any) -> Any:
        return level.lower() if isinstance(level, str) else level


class Target(Section):
    backend: str
    model: str


class ModelSettings(Section):
    targets: tuple[Target, ...] = Field(min_length=1)
    sizes: tuple[str, ...] = ("1024x1024",)
    default_size: str | None = None
    default: bool = False
    # OpenAI model names this alias also answers to on /v1 (e.g. "gpt-image-1", "dall-e-3").
    openai_names: tuple[str, ...] = ()

    @field_validator("sizes")
    @classmethod
    def _sizes_parse(cls, sizes: tuple[str, ...]) -> tuple[str, ...]:
        if not sizes:
            raise ValueError("at least one size is required")
        for size in sizes:
            parse_size(size)
        return sizes

    @model_validator(mode="after")
    def _default_size_allowed(self) -> ModelSettings:
        if self.default_size is not None and self.default_size not in self.sizes:
            raise ValueError(f"default_size {self.default_size!r} is not one of sizes")
        return self

    @property
    def size_or_default(self) -> str:
        return self.default_size or self.sizes[0]


class BackendSettings(Section):
    type: str
    base_url: str | None = None
    api_key_env: str | None = None
    timeout: Seconds = 60.0
    max_concurrency: int | None = Field(None, ge=1)
    # "process": max_concurrency per gateway process; "global": across every process on
    # the shared Redis (leases that expire, so a crashed holder's slot comes back).
    concurrency_scope: Literal["process", "global"] = "process"
    concurrency_lease: Seconds = Field(30.0, ge=1.0)
    rate: Rate = None
    # USD per image by model (x size x quality): gateway/money/prices.py.
    prices: Prices = Field(default_factory=dict)
    token_prices: dict[str, TokenPrices] = Field(default_factory=dict)
    free: bool = False  # runs without prices (a self-hosted server); procedural is by default
    latency: Seconds = 0.0
    fail_rate: float = Field(0.0, ge=0.0, le=1.0)
    options: dict[str, Any] = Field(default_factory=dict)

    @model_validator(mode="after")
    def _global_needs_a_cap(self) -> BackendSettings:
        if self.concurrency_scope == "global" and self.max_concurrency is None:
            raise ValueError('concurrency_scope = "global" needs max_concurrency')
        return self


class OutboundSettings(Section):
    """Requests to user-supplied URLs (webhooks, vendor result URLs): gateway/outbound/."""

    allow_networks: tuple[str, ...] = ()  # CIDRs let through the guard (development, tests)
    timeout: Seconds = 10.0
    max_download_bytes: int = Field(64 * 1024 * 1024, gt=0)  # a vendor's result image

    @field_validator("allow_networks")
    @classmethod
    def _cidrs(cls, networks: tuple[str, ...]) -> tuple[str, ...]:
        for cidr in networks:
            try:
                ipaddress.ip_network(cidr)
            except ValueError:
                raise ValueError(
                    f'{cidr!r} is not a network in CIDR notation (e.g. "127.0.0.0/8")'
                ) from None
        return networks


DEFAULT_RETRY_SCHEDULE = ("0s", "5s", "5m", "30m", "2h", "5h", "10h", "10h")


class WebhookSettings(Section):
    """Delivery of job endings to webhooks (gateway/webhooks/)."""

    # The delay before each attempt of a round; the first is the ending itself.
    retry_schedule: tuple[Seconds, ...] = tuple(parse_duration(d) for d in DEFAULT_RETRY_SCHEDULE)
    jitter: float = Field(0.1, ge=0.0, le=1.0)  # each delay spread by +- this fraction
    rotation_overlap: Seconds = 86400.0  # how long a rotated-out secret still signs
    concurrency: int = Field(8, ge=1, le=256)  # deliveries in flight per process
    poll_interval: Seconds = 1.0  # how often a process looks for due events
    lease: Seconds = 60.0  # a claimed event is due again after this if its deliverer dies

    @field_validator("retry_schedule")
    @classmethod
    def _starts_now(cls, schedule: tuple[float, ...]) -> tuple[float, ...]:
        if not schedule or schedule[0] != 0:
            raise ValueError('must start with "0s": the first delivery is made when the job ends')
        return schedule


class OpenAIApiSettings(Section):
    """The OpenAI-compatible /v1 surface: how long a call waits for its job to end."""

    wait_limit: Seconds = 120.0


class InputSettings(Section):
    """Input images of edits and variations (`/v1/images/edits`, `images` on the job API)."""

    max_image_bytes: int = Field(16 * 1024 * 1024, gt=0)  # one image or mask
    max_pixels: int = Field(40_000_000, gt=0)  # width x height, checked before decoding
    max_request_bytes: int = Field(64 * 1024 * 1024, gt=0)  # a whole request carrying images


class Settings(Section):
    server: ServerSettings = ServerSettings()
    state: StateSettings = StateSettings()
    storage: StorageSettings = StorageSettings()
    cache: CacheSettings = CacheSettings()
    workers: WorkerSettings = WorkerSettings()
    retry: RetrySettings = RetrySettings()
    logging: LoggingSettings = LoggingSettings()
    admin: AdminSettings = AdminSettings()
    openai_api: OpenAIApiSettings = OpenAIApiSettings()
    outbound: OutboundSettings = OutboundSettings()
    webhooks: WebhookSettings = WebhookSettings()
    inputs: InputSettings = InputSettings()
    plans: dict[str, PlanSettings] = Field(default_factory=dict)
    tenants: dict[str, TenantSettings] = Field(default_factory=dict)
    models: dict[str, ModelSettings] = Field(default_factory=dict)
    backends: dict[str, BackendSettings] = Field(default_factory=dict)

    @model_validator(mode="after")
    def _cross_references(self) -> Settings:
        problems = cross_problems(self) + price_problems(self)
        if problems:
            raise ValueError("\n".join(problems))
        return self

    @property
    def default_model(self) -> str:
        return next(alias for alias, model in self.models.items() if model.default)

    def may_use(self, tenant: str, alias: str) -> bool:
        """Whether `tenant`'s keys may use the model `alias` (`tenants.NAME.models`)."""
        own = self.tenants.get(tenant)
        return own is None or own.models is None or alias in own.models

    def plan_for(self, tenant: str) -> PlanSettings:
        """The tenant's effective limits: its plan, overridden by its own fields. A tenant
        no longer in the config (removed by a reload) keeps no limits for the jobs it
        already had admitted."""
        own = self.tenants.get(tenant)
        if own is None:
            return PlanSettings()
        base = self.plans.get(own.plan, PlanSettings()) if own.plan else PlanSettings()
        overrides = own.model_dump(include=set(PlanSettings.model_fields), exclude_unset=True)
        return base.model_copy(update=overrides)


def cross_problems(settings: Settings, unchecked: frozenset[str] = frozenset()) -> list[str]:
    """Every problem between sections (a reference to nothing, two defaults, ...), each line
    starting with its path. `unchecked` names entries (`"backends.NAME"`) that exist but did
    not validate (`imagegate config check` collects their own errors): references to them
    are not reported, and a dropped model skips the checks over all models."""
    problems: list[str] = []
    models_whole = not any(name.startswith("models.") for name in unchecked)
    if models_whole and not settings.models:
        problems.append("models: at least one [models.ALIAS] is required")
    defaults = [alias for alias, model in settings.models.items() if model.default]
    if models_whole and settings.models and len(defaults) != 1:
        problems.append(
            f"models: exactly one model must have default = true, found {len(defaults)}"
            + (f" ({', '.join(defaults)})" if defaults else "")
        )
    answered: dict[str, str] = {}
    for alias, model in settings.models.items():
        for name in model.openai_names:
            if name in settings.models or answered.setdefault(name, alias) != alias:
                problems.append(
                    f"models.{alias}: openai name {name!r} is already an alias or "
                    "answered by another model"
                )
        for target in model.targets:
            known = target.backend in settings.backends
            if not known and f"backends.{target.backend}" not in unchecked:
                problems.append(
                    f"models.{alias}: target backend {target.backend!r} is not defined "
                    "under [backends]"
                )
    for name, tenant in settings.tenants.items():
        plan = tenant.plan
        if plan is not None and plan not in settings.plans and f"plans.{plan}" not in unchecked:
            problems.append(f"tenants.{name}: plan {plan!r} is not defined")
        for alias in tenant.models or ():
            if alias not in settings.models and f"models.{alias}" not in unchecked:
                problems.append(f"tenants.{name}: model {alias!r} is not defined")
        if set(tenant.keys) & set(settings.admin.keys):
            problems.append(f"tenants.{name}: a key is also an admin key; use separate keys")
    return problems


def _is_hex(text: str) -> bool:
    return all(c in "0123456789abcdef" for c in text)


def default_config_path() -> Path:
    """The embedded default: packaged beside the code, or `config/gateway.toml` in a checkout."""
    packaged = Path(__file__).with_name("default_config.toml")
    if packaged.exists():
        return packaged
    return Path(__file__).resolve().parent.parent / "config" / "gateway.toml"


def _parse_env_value(raw: str) -> Any:
    try:
        return tomllib.loads(f"v = {raw}")["v"]
    except tomllib.TOMLDecodeError:
        return raw


def apply_env_overrides(data: dict[str, Any], environ: Mapping[str, str]) -> dict[str, Any]:
    """Merge `IMAGEGATE_SECTION__KEY=value` variables into the raw config."""
    for name, raw in environ.items():
        if not name.startswith(ENV_PREFIX) or "__" not in name:
            continue
        path = [part.lower() for part in name[len(ENV_PREFIX) :].split("__")]
        node = data
        for part in path[:-1]:
            node = node.setdefault(part, {})
            if not isinstance(node, dict):
                raise ConfigError(f"{name}: {'.'.join(path[:-1])} is not a table")
        node[path[-1]] = _parse_env_value(raw)
    return data


def _format_validation_error(source: str, exc: ValidationError) -> str:
    lines: list[str] = []
    for error in exc.errors():
        message = error["msg"].removeprefix("Value error, ")
        if error["loc"]:
            lines.append(f"  {'.'.join(str(part) for part in error['loc'])}: {message}")
        else:  # a whole-config check: one problem a line, each naming its own path
            lines += [f"  {line.strip()}" for line in message.split("\n")]
    return "\n".join([f"{source}: {len(lines)} problem(s)", *lines])


def parse_settings(data: dict[str, Any], source: str = "config") -> Settings:
    try:
        return Settings.model_validate(data)
    except ValidationError as exc:
        raise ConfigError(_format_validation_error(source, exc)) from None


def load_settings(
    path: str | Path | None = None, environ: Mapping[str, str] | None = None
) -> Settings:
    """Read a TOML file (default: `$IMAGEGATE_CONFIG`, else the embedded default) and validate."""
    environ = os.environ if environ is None else environ
    chosen = Path(path or environ.get(CONFIG_ENV) or default_config_path())
    try:
        data = tomllib.loads(chosen.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ConfigError(f"{chosen}: no such config file") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{chosen}: invalid TOML: {exc}") from None
    return parse_settings(apply_env_overrides(data, environ), source=str(chosen))
