"""Shared fixtures: settings and app factories; per session a real redis-server, a real
Redis Cluster (three masters) and an S3 server."""

from __future__ import annotations

import copy
import tomllib
import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from starlette.testclient import TestClient

from gateway.app import create_app
from gateway.auth import key_hash
from gateway.settings import Settings, default_config_path, parse_settings
from gateway.vendor_http import vendor_client
from tests.servers import (
    RedisClusterServers,
    RedisServer,
    S3Server,
    redis_cluster,
    redis_server,
    s3_server,
)

API_KEY = "ig_test_key_alpha_0123456789"
OTHER_KEY = "ig_test_key_beta_0123456789"
AUTH = {"Authorization": f"Bearer {API_KEY}"}
OTHER_AUTH = {"Authorization": f"Bearer {OTHER_KEY}"}


def merge(base: dict[str, Any], overrides: dict[str, Any]) -> dict[str, Any]:
    merged = copy.deepcopy(base)
    for key, value in overrides.items():
        if isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = merge(merged[key], value)
        else:
            merged[key] = value
    return merged


def config_dict(tmp_path: Path, **overrides: Any) -> dict[str, Any]:
    """The embedded default with two keyed tenants, data under `tmp_path`, then overrides."""
    base = tomllib.loads(default_config_path().read_text())
    base = merge(
        base,
        {
            "server": {"data_dir": str(tmp_path / "data"), "public_url": "http://testserver"},
            "storage": {"url": "memory://"},
            "workers": {"concurrency": 2, "shutdown_grace": "5s"},
            "retry": {"initial": "10ms", "max": "50ms"},
            "tenants": {
                "demo": {"plan": "free", "keys": [key_hash(API_KEY)], "generate_key": False},
                "other": {"plan": "free", "keys": [key_hash(OTHER_KEY)]},
            },
        },
    )
    merged = merge(base, overrides)
    workers = merged["workers"]
    if workers["concurrency"] == 0 and "shutdown_grace" not in overrides.get("workers", {}):
        # No in-process worker: nothing drains a memory:// queue at shutdown, so its
        # grace would only be waited out (5 s at the end of every such test).
        workers["shutdown_grace"] = "10ms"
    return merged


@pytest.fixture
def make_settings(tmp_path: Path) -> Callable[..., Settings]:
    def factory(**overrides: Any) -> Settings:
        return parse_settings(config_dict(tmp_path, **overrides))

    return factory


@pytest.fixture
def make_client(make_settings: Callable[..., Settings]) -> Iterator[Callable[..., TestClient]]:
    """`make_client(settings=None, **gateway_overrides)`: a started app behind a TestClient."""
    clients: list[TestClient] = []

    def factory(settings: Settings | None = None, **overrides: Any) -> TestClient:
        app = create_app(settings or make_settings(), **overrides)
        client = TestClient(app, raise_server_exceptions=False)
        client.__enter__()
        clients.append(client)
        return client

    yield factory
    for client in reversed(clients):
        client.__exit__(None, None, None)


@pytest.fixture
async def http() -> AsyncIterator[httpx.AsyncClient]:
    """The HTTP client the gateway gives its backends (httpx over aiohttp), closed after
    the test: the backend suites run over what production runs."""
    async with vendor_client() as client:
        yield client


@pytest.fixture(scope="session")
def redis_proc(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RedisServer]:
    with redis_server(tmp_path_factory.mktemp("redis")) as server:
        yield server


@pytest.fixture
def redis_url(redis_proc: RedisServer) -> str:
    """A clean database on the session's redis-server."""
    redis_proc.flush()
    return redis_proc.url


@pytest.fixture(scope="session")
def cluster_proc(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RedisClusterServers]:
    """Three masters, no replicas (the failover test starts its own cluster with them)."""
    with redis_cluster(tmp_path_factory.mktemp("cluster")) as cluster:
        yield cluster


@pytest.fixture
def cluster_url(cluster_proc: RedisClusterServers) -> str:
    """`redis+cluster://...` of the session's cluster, every master flushed."""
    cluster_proc.flush()
    return cluster_proc.url


SHARED = {"redis": "redis_url", "redis+cluster": "cluster_url"}


@pytest.fixture(params=["memory", "redis", "redis+cluster"])
def state_url(request: pytest.FixtureRequest) -> str:
    """Run the test over every state store: `memory://`, a clean real Redis database and
    a clean real Redis Cluster."""
    if request.param == "memory":
        return "memory://"
    url: str = request.getfixturevalue(SHARED[request.param])
    return url


@pytest.fixture(params=["memory", "redis"])
def store_url(request: pytest.FixtureRequest) -> str:
    """`memory://` and a clean real Redis database: for tests of what the gateway does
    over its state (the HTTP API, workers, money, webhooks), not of the store itself.

    A Redis Cluster changes only the client and the key slots under the same scripts, and
    those run over `redis+cluster://` too in the suites about them: the state contract
    (`state_url`, `make_state`), the other stores' contracts, job events, the
    multi-process exactness tests (`shared_url`) and the failover tests. Run a test over
    `state_url` instead when it is about cluster behaviour."""
    if request.param == "memory":
        return "memory://"
    url: str = request.getfixturevalue(SHARED[request.param])
    return url


@pytest.fixture(params=["redis", "redis+cluster"])
def shared_url(request: pytest.FixtureRequest) -> str:
    """The multi-process tests' shared state: one clean Redis, then a clean Redis Cluster."""
    url: str = request.getfixturevalue(SHARED[request.param])
    return url


@pytest.fixture(scope="session")
def s3_proc() -> Iterator[S3Server]:
    with s3_server() as server:
        yield server


@pytest.fixture
def s3_bucket(s3_proc: S3Server) -> str:
    """A new, empty bucket on the session's S3 server (its AWS_* are `s3_proc.environ`)."""
    name = f"imagegate-{uuid.uuid4().hex[:16]}"
    s3_proc.create_bucket(name)
    return name
