"""Redis Cluster failover under a running gateway: the master serving the state's slot is
SIGKILLed, its replica is promoted (`CLUSTER FAILOVER TAKEOVER`), and every job the gateway
accepted before the kill still ends SUCCEEDED, through the same app (its clients
find the new master themselves); submits after the promotion are accepted again. Job
events (sharded pub/sub) move their subscriptions to the promoted replica.

Redis replicates asynchronously: a write acknowledged in the last instant before a master
dies can be lost with it. The gateway runs with `[state] replica_acks = 1` (a submit is
answered once the replica has it, gateway/state/redis_replicas.py) and the master is killed
right after the last submit: nothing answered 202 is lost. Later writes the kill loses (a
start, an ending) are redone: the job's delivery is still pending and is reclaimed.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import redis
from starlette.testclient import TestClient

from gateway.events import events_from_url
from gateway.settings import Settings
from gateway.state.keys import Keys
from gateway.state.redis_client import close, connect
from tests.conftest import AUTH
from tests.polling import TERMINAL
from tests.servers import RedisClusterServers, redis_cluster


@pytest.fixture
def cluster(tmp_path: Path) -> Iterator[RedisClusterServers]:
    """Three masters, each with a replica (its own cluster: this test changes the topology)."""
    with redis_cluster(tmp_path / "cluster", masters=3, replicas=1) as servers:
        yield servers


def fail_over(cluster: RedisClusterServers, key: str) -> datetime:
    """SIGKILL the master serving `key`, promote its replica, and wait until it serves the
    slot. When the master died."""
    master = cluster.owner(key)
    replica = cluster.replica_of(master)
    killed_at = datetime.now(UTC)
    master.kill()
    with redis.Redis(port=replica.port) as raw:
        assert raw.execute_command("CLUSTER", "FAILOVER", "TAKEOVER") in (b"OK", "OK", True)
    deadline = time.monotonic() + 30
    while not (cluster.role(replica) == "master" and cluster.owner(key) is replica):
        assert time.monotonic() < deadline, "the replica was not promoted"
        time.sleep(0.05)
    return killed_at


def ended(client: TestClient, job_id: str, timeout: float = 60.0) -> dict[str, Any]:
    """The job once it ended; a 503 (the state's master is being replaced) is waited out."""
    deadline = time.monotonic() + timeout
    while True:
        answer = client.get(f"/images/jobs/{job_id}", headers=AUTH)
        assert answer.status_code in (200, 503), answer.text
        if answer.status_code == 200 and answer.json()["data"]["status"] in TERMINAL:
            job: dict[str, Any] = answer.json()["data"]
            return job
        if time.monotonic() > deadline:
            raise AssertionError(f"job {job_id} not ended after {timeout}s: {answer.text}")
        time.sleep(0.05)


def submit(client: TestClient, prompt: str, timeout: float = 60.0) -> str:
    deadline = time.monotonic() + timeout
    while True:
        answer = client.post("/images/jobs", json={"prompt": prompt}, headers=AUTH)
        assert answer.status_code in (202, 503), answer.text
        if answer.status_code == 202:
            job_id: str = answer.json()["data"]["jobId"]
            return job_id
        if time.monotonic() > deadline:
            raise AssertionError(f"no submit accepted after {timeout}s: {answer.text}")
        time.sleep(0.05)


def test_jobs_accepted_before_a_master_dies_end_after_its_replica_takes_over(
    cluster: RedisClusterServers,
    make_settings: Callable[..., Settings],
    make_client: Callable[..., TestClient],
) -> None:
    settings = make_settings(
        state={"url": cluster.url, "replica_acks": 1},  # a 202 means on the replica too
        plans={"free": {"rate": None, "poll_rate": None, "max_concurrent": None}},
        backends={"procedural": {"latency": "300ms"}},
        workers={"concurrency": 2, "visibility_timeout": "2s"},
    )
    client = make_client(settings)
    accepted = [submit(client, f"a lighthouse before the failover {i}") for i in range(12)]

    killed_at = fail_over(cluster, Keys().queue)

    later = [submit(client, f"a lighthouse after the failover {i}") for i in range(3)]
    jobs = [ended(client, job_id) for job_id in accepted + later]
    assert [job["status"] for job in jobs] == ["SUCCEEDED"] * len(jobs), [
        job["error"] for job in jobs
    ]
    assert all(len(job["images"]) == 1 for job in jobs)
    # The failover happened mid-run: some accepted jobs were still waiting or running.
    assert any(datetime.fromisoformat(job["finishedAt"]) > killed_at for job in jobs[:12])


async def test_job_events_follow_the_promoted_replica(cluster: RedisClusterServers) -> None:
    here, there = events_from_url(cluster.url), events_from_url(cluster.url)
    channel = Keys().events("job_a")
    try:
        async with here.watch("job_a") as watch:
            await there.publish(["job_a"])
            assert await watch.changed(5)
            fail_over(cluster, channel)
            probe = connect(cluster.url)  # the live nodes only
            try:
                deadline = time.monotonic() + 30
                # Until the subscription is on the promoted replica (the listener moves it).
                while await probe.spublish(channel, "probe") != 1:
                    assert time.monotonic() < deadline, "the subscription did not move"
                    await asyncio.sleep(0.1)
            finally:
                await close(probe)
            while await watch.changed(0.05):  # drop the wakes of the outage
                pass
            await there.publish(["job_a"])
            assert await watch.changed(5)
            async with here.watch("job_b") as later:  # a new subscription, on the new master
                await there.publish(["job_b"])
                assert await later.changed(5)
    finally:
        await here.aclose()
        await there.aclose()
