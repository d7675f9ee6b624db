"""How every Redis-backed store reaches Redis, one node or a cluster: short timeouts, one
quick retry, and connection-level failures raised as `StateUnavailable`.

    redis://[user:password@]host:port/db              one node (rediss:// with TLS)
    redis+cluster://[user:password@]host:port[,host:port...]   Redis Cluster: the nodes
                                                     listed are where discovery starts
    rediss+cluster://...[?ssl_ca_certs=FILE&...]     the same over TLS (gateway/schemes.py)

The same options (`options`) serve the state's clients and the `limits` storage, so rate
limits time out and retry like the rest.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from redis.asyncio import Redis
from redis.asyncio.cluster import ClusterNode, RedisCluster
from redis.asyncio.retry import Retry
from redis.backoff import ExponentialBackoff
from redis.exceptions import (
    ClusterDownError,
    ConnectionError,
    MasterDownError,
    ReadOnlyError,
    RedisClusterException,
    TimeoutError,
    TryAgainError,
)

from gateway.schemes import cluster_nodes, is_cluster
from gateway.state.base import StateUnavailable
from gateway.state.redis_coalescing import CoalescingRedis
from gateway.state.redis_connection import lean_connections

COMMAND_TIMEOUT = 1.0
# Per client (per node on a cluster). redis-py's default (100) made bursts fail with
# MaxConnectionsError; a blocking pool waits instead but costs ~40 us per command in its
# condition variable, so: a large cap.
MAX_CONNECTIONS = 2048
# redis-py 8.2 runs at most one error-triggered topology refresh per this interval (its
# default: 1 s). Below the first retry's backoff (0.1 s), so a command that failed on a
# master killed within a second of the last refresh retries on the promoted replica
# instead of on the stale slot map; refreshes still collapse into one per interval.
TOPOLOGY_REFRESH_MIN_INTERVAL = 0.05

# The client of either form: the commands the stores use exist on both.
Client = Redis | RedisCluster


class ClusterClient(RedisCluster):
    """redis-py's cluster client, its topology read before the first command runs.

    redis-py 8.1 resolves a command's routing policy before it initializes the client, and
    concurrent first commands then share one connection ('NoneType' object has no attribute
    'writelines'); initializing first (it holds a lock) makes them wait for one discovery.
    """

    async def execute_command(self, *args: Any, **kwargs: Any) -> Any:
        if self._initialize:
            await self.initialize()
        return await super().execute_command(*args, **kwargs)


def quick_retry() -> Retry:
    """One retry on a fresh connection after at most 0.2 s: after a Redis restart the
    pooled connections are dead, and the first command on each would otherwise fail."""
    return Retry(ExponentialBackoff(cap=0.2, base=0.05), retries=1)


def options(socket_timeout: float = COMMAND_TIMEOUT) -> dict[str, Any]:
    """The connection options of every client, the `limits` storage's included."""
    return {
        "socket_timeout": socket_timeout,
        "socket_connect_timeout": COMMAND_TIMEOUT,
        "retry": quick_retry(),
        "max_connections": MAX_CONNECTIONS,
    }


def connect(url: str, socket_timeout: float = COMMAND_TIMEOUT, *, coalesce: bool = False) -> Client:
    """A client whose commands time out after `socket_timeout` and are retried once: a
    `RedisCluster` for `redis+cluster://`, else one `Redis` with its own pool. `coalesce`:
    on one node, commands issued together share one write (redis_coalescing.py; for
    stores that never block); commands are packed and written with less of redis-py's overhead
    (redis_connection.py)."""
    if is_cluster(url):
        nodes, found = cluster_nodes(url)
        connection: dict[str, Any] = dict(found)  # credentials, TLS
        startup = [ClusterNode(host, port) for host, port in nodes]
        return ClusterClient(
            startup_nodes=startup,
            topology_refresh_min_interval=TOPOLOGY_REFRESH_MIN_INTERVAL,
            **connection,
            **options(socket_timeout),
        )
    kind = CoalescingRedis if coalesce else Redis
    return lean_connections(kind.from_url(url, **options(socket_timeout)))


async def ready(client: Client) -> None:
    """A cluster client reads the topology now if it has not yet (one node: nothing to do),
    so what follows is timed from when the command itself can be sent."""
    if isinstance(client, RedisCluster):
        await client.initialize()


async def close(client: Client) -> None:
    """Close the client and its connections (a pool we built is ours to close)."""
    await client.aclose()
    if isinstance(client, Redis):
        await client.connection_pool.aclose()


@contextmanager
def unavailable() -> Iterator[None]:
    """Connection-level failures become `StateUnavailable` (without the URL or password)."""
    try:
        yield
    # ConnectionError includes BusyLoadingError (still loading) and AuthenticationError;
    # ReadOnly and MasterDown are the answers of a replica during a failover; a cluster
    # whose slots are not all served (a master lost, its replica not promoted yet) answers
    # CLUSTERDOWN or TRYAGAIN, or the client finds no node for a slot.
    except (
        ConnectionError,
        TimeoutError,
        ReadOnlyError,
        MasterDownError,
        ClusterDownError,
        TryAgainError,
        RedisClusterException,
    ) as exc:
        raise StateUnavailable(f"redis is unavailable ({type(exc).__name__})") from exc
