"""Storage config: how s3:// finds its endpoint, region and credentials, and which URL mode
each configuration gets. Pure functions: nothing here touches the network."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from gateway.settings import ConfigError, Settings, StorageSettings
from gateway.signing import UrlSigner
from gateway.storage import open_image_store, url_builder
from gateway.storage.s3 import open_s3_store, resolve_s3
from gateway.storage.urls import CdnUrls, PresignedUrls, SignedRouteUrls

S3 = StorageSettings(url="s3://bucket/some/prefix")
KEYS = {"AWS_ACCESS_KEY_ID": "AKIAEXAMPLE", "AWS_SECRET_ACCESS_KEY": "very-secret-value"}


def test_bucket_prefix_and_defaults() -> None:
    location = resolve_s3(S3.url, S3, {})
    assert (location.bucket, location.prefix) == ("bucket", "some/prefix")
    assert location.region == "us-east-1"
    assert location.endpoint is None and location.allow_http is False and not location.credentials
    assert resolve_s3("s3://bucket", S3, {}).prefix is None


@pytest.mark.parametrize(
    ("configured", "environ", "expected"),
    [
        ("eu-central-1", {"AWS_REGION": "us-west-2"}, "eu-central-1"),
        (None, {"AWS_REGION": "us-west-2", "AWS_DEFAULT_REGION": "ap-south-1"}, "us-west-2"),
        (None, {"AWS_DEFAULT_REGION": "ap-south-1"}, "ap-south-1"),
    ],
)
def test_region_precedence(configured: str | None, environ: dict[str, str], expected: str) -> None:
    storage = S3.model_copy(update={"region": configured})
    assert resolve_s3(S3.url, storage, environ).region == expected


def test_endpoint_precedence() -> None:
    environ = {"AWS_ENDPOINT_URL": "https://generic.test", "AWS_ENDPOINT_URL_S3": "https://s3.test"}
    assert resolve_s3(S3.url, S3, environ).endpoint == "https://s3.test"
    assert resolve_s3(S3.url, S3, {"AWS_ENDPOINT_URL": "https://generic.test/"}).endpoint == (
        "https://generic.test"
    )
    configured = StorageSettings(url=S3.url, endpoint="https://minio.test")
    assert resolve_s3(S3.url, configured, environ).endpoint == "https://minio.test"


@pytest.mark.parametrize(
    "endpoint",
    ["http://127.0.0.1:9000", "http://localhost:9000", "http://[::1]:9000", "http://127.8.0.1"],
)
def test_plain_http_is_allowed_for_loopback(endpoint: str) -> None:
    assert resolve_s3(S3.url, S3, {"AWS_ENDPOINT_URL": endpoint}).allow_http is True


@pytest.mark.parametrize(
    "endpoint", ["http://10.0.0.5:9000", "http://minio:9000", "http://s3.example.com"]
)
def test_plain_http_elsewhere_is_a_config_error(endpoint: str) -> None:
    with pytest.raises(ConfigError, match="only for loopback"):
        resolve_s3(S3.url, S3, {"AWS_ENDPOINT_URL": endpoint})


def test_credentials_come_from_the_aws_variables_and_never_show() -> None:
    environ = {**KEYS, "AWS_SESSION_TOKEN": "token-value"}
    location = resolve_s3(S3.url, S3, environ)
    assert location.credentials == {
        "access_key_id": "AKIAEXAMPLE",
        "secret_access_key": "very-secret-value",
        "session_token": "token-value",
    }
    assert "very-secret-value" not in repr(location)
    assert "very-secret-value" not in repr(open_s3_store(location))


def test_half_a_key_pair_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match="AWS_SECRET_ACCESS_KEY") as caught:
        resolve_s3(S3.url, S3, {"AWS_ACCESS_KEY_ID": "AKIAEXAMPLE"})
    assert "AKIAEXAMPLE" not in str(caught.value)


def test_a_bucket_is_required() -> None:
    with pytest.raises(ConfigError, match="bucket"):
        resolve_s3("s3:///prefix", S3, {})


@pytest.mark.parametrize(
    ("storage", "mode"),
    [
        ({"url": "memory://"}, SignedRouteUrls),
        ({"url": "file://{tmp}/images"}, SignedRouteUrls),
        ({"url": "s3://bucket/p"}, PresignedUrls),
        ({"url": "s3://bucket/p", "cdn_base_url": "https://cdn.test"}, CdnUrls),
        ({"url": "file://{tmp}/images", "cdn_base_url": "https://cdn.test"}, CdnUrls),
    ],
)
def test_url_mode_follows_config(
    make_settings: Callable[..., Settings], tmp_path: Path, storage: dict[str, str], mode: type
) -> None:
    storage = {key: value.format(tmp=tmp_path) for key, value in storage.items()}
    settings = make_settings(storage=storage)
    images = open_image_store(settings.storage, KEYS)
    signer = UrlSigner(b"0123456789abcdef", 60)
    assert isinstance(url_builder(settings.storage, images, "http://gw.test", signer), mode)


@pytest.mark.parametrize(
    ("storage", "message"),
    [
        ({"url": "gs://bucket"}, r"storage\.url: unknown scheme 'gs' in 'gs://bucket'"),
        ({"retention": "0s"}, "retention must be positive"),
        ({"cdn_base_url": "cdn.example.com"}, r"not an http\(s\) URL"),
        ({"upload_attempts": 0}, "upload_attempts"),
    ],
)
def test_storage_settings_are_validated(
    make_settings: Callable[..., Settings], storage: dict[str, object], message: str
) -> None:
    with pytest.raises(ConfigError, match=message):
        make_settings(storage=storage)
