"""`[state] replica_acks`: a submit is answered once its replicas have it (WAIT on the
submit's own connection), on one Redis with a replica and on a cluster with replicas.

The check that matters: with the replica stopped (SIGSTOP: connected, but acknowledging
nothing), a submit waits for the timeout and the shortfall is logged. A WAIT sent on any
other connection than the submit's would return at once (that connection wrote nothing)
and this test would fail; with the replica running the same submit is acknowledged.
"""

from __future__ import annotations

import logging
import os
import signal
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
import redis

from gateway.fingerprint import fingerprint
from gateway.jobs import Job, JobSpec, new_job_id
from gateway.state.keys import Keys
from gateway.state.redis import RedisState
from tests.servers import RedisClusterServers, RedisServer, redis_cluster

TIMEOUT = 0.3


@pytest.fixture
def replicated(tmp_path: Path) -> Iterator[tuple[str, RedisServer]]:
    """One Redis and its replica: (the master's URL, the replica)."""
    master = RedisServer(tmp_path / "master")
    master.start()
    replica = RedisServer(
        tmp_path / "replica", extra=("--replicaof", "127.0.0.1", str(master.port))
    )
    replica.start()
    try:
        with redis.Redis(port=master.port) as raw:
            _wait_for(lambda: raw.info("replication").get("slave0", {}).get("state") == "online")
        yield master.url, replica
    finally:
        replica.stop()
        master.stop()


@pytest.fixture
def cluster(tmp_path: Path) -> Iterator[RedisClusterServers]:
    with redis_cluster(tmp_path / "cluster", masters=3, replicas=1) as servers:
        yield servers


def _wait_for(check: object, timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while not check():  # type: ignore[operator]
        assert time.monotonic() < deadline, "replication did not start"
        time.sleep(0.05)


@contextmanager
def paused(server: RedisServer) -> Iterator[None]:
    """The server stops acknowledging anything, its connections open (SIGSTOP)."""
    assert server.process is not None
    os.kill(server.process.pid, signal.SIGSTOP)
    try:
        yield
    finally:
        os.kill(server.process.pid, signal.SIGCONT)


def a_job(prompt: str) -> Job:
    spec = JobSpec(prompt=prompt, model="procedural", size="64x64")
    return Job(id=new_job_id(), tenant="acme", spec=spec, fingerprint=fingerprint(spec))


async def submit_timed(state: RedisState, prompt: str) -> float:
    started = time.monotonic()
    stored = await state.submit(a_job(prompt))
    assert stored.status.value == "PENDING"
    assert await state.get_job(stored.id) is not None
    return time.monotonic() - started


async def check_waits_for_the_replica(
    url: str, replica: RedisServer, caplog: pytest.LogCaptureFixture
) -> None:
    state = RedisState.from_url(
        url,
        job_ttl=3600,
        cache_ttl=3600,
        visibility_timeout=60,
        replica_acks=1,
        replica_ack_timeout=TIMEOUT,
    )
    try:
        assert await submit_timed(state, "acknowledged") < TIMEOUT  # the replica answers
        assert state.replicas.short == 0
        with caplog.at_level(logging.WARNING, "imagegate.state"), paused(replica):
            assert await submit_timed(state, "unacknowledged") >= TIMEOUT
        assert "fewer replicas than [state] replica_acks = 1 (this one: 0" in caplog.text
        assert "127.0.0.1" not in caplog.text  # no host in the log
        assert await submit_timed(state, "acknowledged again") < TIMEOUT
    finally:
        await state.aclose()


async def test_a_submit_waits_for_the_replica_of_one_redis(
    replicated: tuple[str, RedisServer], caplog: pytest.LogCaptureFixture
) -> None:
    url, replica = replicated
    await check_waits_for_the_replica(url, replica, caplog)


async def test_a_submit_waits_for_the_replica_of_the_state_slot_on_a_cluster(
    cluster: RedisClusterServers, caplog: pytest.LogCaptureFixture
) -> None:
    replica = cluster.replica_of(cluster.owner(Keys().queue))
    await check_waits_for_the_replica(cluster.url, replica, caplog)


async def test_without_replica_acks_a_submit_does_not_wait(
    replicated: tuple[str, RedisServer],
) -> None:
    url, replica = replicated
    state = RedisState.from_url(url, job_ttl=3600, cache_ttl=3600, visibility_timeout=60)
    try:
        with paused(replica):
            assert await submit_timed(state, "not waited for") < TIMEOUT
    finally:
        await state.aclose()
