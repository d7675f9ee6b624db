"""`rediss://` and `rediss+cluster://`: the whole gateway on a redis-server, then on a
3-master Redis Cluster, that speak only TLS (a test CA's certificate; `?ssl_ca_certs=`
names the CA file, as redis-py reads it from a URL; the cluster's bus speaks TLS too).

Every Redis client goes through `gateway/state/redis_client.connect` (the state, the
`limits` storage, job events, previews, capacity), so one app run covers them: a submit
under rate limits, answered finished through `Prefer: wait` (events), then polled under the
poll rate. A URL without the CA refuses the server's certificate, and the client is told
`503 state_unavailable` without the host, the port or the TLS error.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator

import pytest
import redis
from starlette.testclient import TestClient

from gateway.settings import Settings
from tests.conftest import AUTH
from tests.servers import RedisClusterServers, RedisTlsServer, redis_cluster, redis_tls_server

WAIT = {**AUTH, "Prefer": "wait=20"}


@pytest.fixture(scope="module")
def tls_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RedisTlsServer]:
    with redis_tls_server(tmp_path_factory.mktemp("redis-tls")) as server:
        yield server


@pytest.fixture(scope="module")
def tls_cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RedisClusterServers]:
    with redis_cluster(tmp_path_factory.mktemp("redis-tls-cluster"), tls=True) as cluster:
        yield cluster


@pytest.fixture(params=["redis", "redis+cluster"])
def tls(request: pytest.FixtureRequest) -> RedisTlsServer | RedisClusterServers:
    """A clean TLS-only Redis: one server, then a cluster."""
    name = "tls_server" if request.param == "redis" else "tls_cluster"
    servers: RedisTlsServer | RedisClusterServers = request.getfixturevalue(name)
    servers.flush()
    return servers


def keys_on(tls: RedisTlsServer | RedisClusterServers) -> list[bytes]:
    """Every key, read over TLS (on a cluster, from every master)."""
    nodes = tls.masters() if isinstance(tls, RedisClusterServers) else [tls]
    found: list[bytes] = []
    for node in nodes:
        with node.client() as raw:
            found += raw.keys("*")
    return found


def test_the_gateway_runs_on_redis_over_tls(
    tls: RedisTlsServer | RedisClusterServers,
    make_settings: Callable[..., Settings],
    make_client: Callable[..., TestClient],
) -> None:
    client = make_client(make_settings(state={"url": tls.url}))

    answer = client.post("/images/jobs", json={"prompt": "a harbour over TLS"}, headers=WAIT)

    assert answer.status_code == 200, answer.text
    job = answer.json()["data"]
    assert job["status"] == "SUCCEEDED"
    assert answer.headers["RateLimit-Limit"] == "60"  # the free plan, counted on Redis
    polled = client.get(f"/images/jobs/{job['id']}", headers=AUTH)
    assert polled.status_code == 200
    assert polled.json()["data"]["status"] == "SUCCEEDED"
    stored = keys_on(tls)  # the job and the limits' windows are on the TLS server(s)
    assert f"ig:{{ig}}:job:{job['id']}".encode() in stored
    assert any(b"LIMITS" in key for key in stored)


def test_a_certificate_nobody_vouched_for_is_a_503_that_names_nothing(
    tls: RedisTlsServer | RedisClusterServers,
    make_settings: Callable[..., Settings],
    make_client: Callable[..., TestClient],
    caplog: pytest.LogCaptureFixture,
) -> None:
    untrusted = tls.url.split("?")[0]  # the system's CAs: the test CA is not among them
    client = make_client(make_settings(state={"url": untrusted}))

    with caplog.at_level(logging.WARNING):
        answer = client.post("/images/jobs", json={"prompt": "refused"}, headers=AUTH)

    assert answer.status_code == 503, answer.text
    assert answer.json()["error"]["code"] == "state_unavailable"
    ports = [str(node.port) for node in getattr(tls, "nodes", [tls])]
    for secret in (*ports, "127.0.0.1", "CERTIFICATE", "ssl"):
        assert secret not in answer.text
        assert secret not in caplog.text


def test_the_servers_refuse_plain_tcp(tls: RedisTlsServer | RedisClusterServers) -> None:
    """The fixtures are what they claim: no plain-TCP port a test could be using instead."""
    for node in getattr(tls, "nodes", [tls]):
        with pytest.raises(redis.exceptions.ConnectionError):
            redis.Redis(port=node.port, socket_timeout=2).ping()
