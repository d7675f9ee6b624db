"""`rediss://`: the whole gateway on a redis-server that speaks only TLS (a test CA's
certificate; `?ssl_ca_certs=` names the CA file, as redis-py reads it from the URL).

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
from tests.servers import RedisTlsServer, redis_tls_server

WAIT = {**AUTH, "Prefer": "wait=20"}


@pytest.fixture(scope="module")
def tls(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RedisTlsServer]:
    with redis_tls_server(tmp_path_factory.mktemp("redis-tls")) as server:
        yield server


def test_the_gateway_runs_on_redis_over_tls(
    tls: RedisTlsServer,
    make_settings: Callable[..., Settings],
    make_client: Callable[..., TestClient],
) -> None:
    tls.flush()
    client = make_client(make_settings(state={"url": tls.url}))

    answer = client.post("/images/jobs", json={"prompt": "a harbour over TLS"}, headers=WAIT)

    assert answer.status_code == 200, answer.text
    job = answer.json()["data"]
    assert job["status"] == "SUCCEEDED"
    assert answer.headers["RateLimit-Limit"] == "60"  # the free plan, counted on Redis
    polled = client.get(f"/images/jobs/{job['id']}", headers=AUTH)
    assert polled.status_code == 200
    assert polled.json()["data"]["status"] == "SUCCEEDED"
    with tls.client() as raw:  # the job and the limits' windows are on the TLS server
        assert raw.exists(f"ig:{{ig}}:job:{job['id']}")
        assert any(b"LIMITS" in key for key in raw.keys("*"))


def test_a_certificate_nobody_vouched_for_is_a_503_that_names_nothing(
    tls: RedisTlsServer,
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
    for secret in (str(tls.port), "127.0.0.1", "CERTIFICATE", "ssl"):
        assert secret not in answer.text
        assert secret not in caplog.text


def test_the_server_refuses_plain_tcp(tls: RedisTlsServer) -> None:
    """The fixture is what it claims: no plain-TCP port a test could be using instead."""
    with pytest.raises(redis.exceptions.ConnectionError):
        redis.Redis(port=tls.port, socket_timeout=2).ping()
