"""`s3://bucket/prefix` through obstore, configured the way the AWS CLI would be.

Endpoint and region come from `[storage]` or else the usual variables (`AWS_ENDPOINT_URL_S3`,
`AWS_ENDPOINT_URL`, `AWS_REGION`, `AWS_DEFAULT_REGION`); static credentials only from
`AWS_ACCESS_KEY_ID`, `AWS_SECRET_ACCESS_KEY` and `AWS_SESSION_TOKEN`, never from the file.
Without them obstore's own chain applies (web identity, container or instance roles).
Plain http is allowed only for loopback endpoints (a local MinIO or test server).
"""

from __future__ import annotations

import ipaddress
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, cast
from urllib.parse import urlsplit

from obstore.store import S3Store

from gateway.settings import ConfigError, StorageSettings

if TYPE_CHECKING:
    from obstore.store import S3Config

DEFAULT_REGION = "us-east-1"
CREDENTIAL_VARIABLES = {
    "access_key_id": "AWS_ACCESS_KEY_ID",
    "secret_access_key": "AWS_SECRET_ACCESS_KEY",
    "session_token": "AWS_SESSION_TOKEN",
}


@dataclass(frozen=True)
class S3Location:
    bucket: str
    prefix: str | None
    region: str
    endpoint: str | None = None
    allow_http: bool = False
    credentials: dict[str, str] = field(default_factory=dict, repr=False)


def _first(environ: Mapping[str, str], *names: str) -> str | None:
    return next((environ[name] for name in names if environ.get(name)), None)


def is_loopback(endpoint: str) -> bool:
    host = urlsplit(endpoint).hostname or ""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def resolve_s3(url: str, storage: StorageSettings, environ: Mapping[str, str]) -> S3Location:
    """Everything needed to open the store, checked without touching the network."""
    parts = urlsplit(url)
    if not parts.netloc:
        raise ConfigError(f"storage.url {url!r}: name a bucket, e.g. s3://my-bucket/images")
    endpoint = storage.endpoint or _first(environ, "AWS_ENDPOINT_URL_S3", "AWS_ENDPOINT_URL")
    allow_http = False
    if endpoint is not None and endpoint.startswith("http://"):
        if not is_loopback(endpoint):
            raise ConfigError(
                f"storage endpoint {endpoint!r}: plain http is allowed only for loopback "
                "endpoints; use https"
            )
        allow_http = True
    credentials = {
        key: environ[name] for key, name in CREDENTIAL_VARIABLES.items() if environ.get(name)
    }
    if ("access_key_id" in credentials) != ("secret_access_key" in credentials):
        raise ConfigError("set both AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, or neither")
    return S3Location(
        bucket=parts.netloc,
        prefix=parts.path.strip("/") or None,
        region=(
            storage.region or _first(environ, "AWS_REGION", "AWS_DEFAULT_REGION") or DEFAULT_REGION
        ),
        endpoint=endpoint.rstrip("/") if endpoint else None,
        allow_http=allow_http,
        credentials=credentials,
    )


def open_s3_store(location: S3Location) -> S3Store:
    config: dict[str, Any] = {"region": location.region, **location.credentials}
    if location.endpoint:
        config["endpoint"] = location.endpoint
    return S3Store(
        location.bucket,
        prefix=location.prefix,
        config=cast("S3Config", config),
        client_options={"allow_http": location.allow_http, "connect_timeout": "5s"},
        # The runner's tenacity policy is the one retry layer, so its bound is the real one.
        retry_config={"max_retries": 0},
    )
