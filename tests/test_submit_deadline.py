"""A submit answered 503 never becomes a job later (issue 9, point 5).

A real redis-server is frozen with SIGSTOP while submits are on the wire: each client is
told `503 state_unavailable`, but its script sits in the frozen server's sockets. When the
server resumes, each such submit must refuse itself (its deadline, compared with Redis
`TIME`, has passed), so the jobs stored are exactly the 202s the clients received.
"""

from __future__ import annotations

import os
import signal
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
import redis
from starlette.testclient import TestClient

from gateway.settings import Settings
from gateway.state.keys import Keys
from tests.conftest import AUTH
from tests.servers import RedisServer


@pytest.fixture
def own_redis(tmp_path: Path) -> Iterator[RedisServer]:
    server = RedisServer(tmp_path / "redis")
    server.start()
    try:
        yield server
    finally:
        if server.process is not None:
            os.kill(server.process.pid, signal.SIGCONT)
        server.stop()


def stored_jobs(server: RedisServer) -> int:
    client = redis.Redis(port=server.port)
    try:
        return sum(1 for _ in client.scan_iter(match=Keys().patterns()[0], count=1000))
    finally:
        client.close()


def test_a_503_during_a_frozen_redis_never_becomes_a_job(
    make_client: Callable[..., TestClient],
    make_settings: Callable[..., Settings],
    own_redis: RedisServer,
) -> None:
    settings = make_settings(
        state={"url": own_redis.url},
        workers={"concurrency": 0},  # API only: nothing else talks to Redis
        plans={"free": {"rate": None, "poll_rate": None, "max_concurrent": None}},
    )
    client = make_client(settings)

    def submit(i: int) -> int:
        answer = client.post("/images/jobs", json={"prompt": f"frozen {i}"}, headers=AUTH)
        if answer.status_code == 503:
            assert answer.json()["error"]["code"] == "state_unavailable"
        return answer.status_code

    before = [submit(i) for i in range(3)]
    assert before == [202, 202, 202]
    assert own_redis.process is not None
    os.kill(own_redis.process.pid, signal.SIGSTOP)
    try:
        with ThreadPoolExecutor(8) as pool:
            during = list(pool.map(submit, range(100, 108)))
    finally:
        os.kill(own_redis.process.pid, signal.SIGCONT)
    assert during == [503] * 8  # the scripts were sent, and are queued in the server
    time.sleep(0.5)  # the resumed server runs what its sockets held
    after = [submit(i) for i in range(200, 203)]
    assert after == [202, 202, 202]
    statuses = before + during + after
    assert stored_jobs(own_redis) == statuses.count(202) == 6
