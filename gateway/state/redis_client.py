"""How every `redis://` store reaches Redis: short timeouts, one quick retry, and
connection-level failures raised as `StateUnavailable`."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from redis.asyncio import Redis
from redis.asyncio.retry import Retry
from redis.backoff import ExponentialBackoff
from redis.exceptions import ConnectionError, MasterDownError, ReadOnlyError, TimeoutError

from gateway.state.base import StateUnavailable

COMMAND_TIMEOUT = 1.0


def quick_retry() -> Retry:
    """One retry on a fresh connection after at most 0.2 s: after a Redis restart the
    pooled connections are dead, and the first command on each would otherwise fail."""
    return Retry(ExponentialBackoff(cap=0.2, base=0.05), retries=1)


def connect(url: str) -> Redis:
    """A client whose commands time out after 1 s and are retried once."""
    return Redis.from_url(
        url,
        socket_timeout=COMMAND_TIMEOUT,
        socket_connect_timeout=COMMAND_TIMEOUT,
        retry=quick_retry(),
    )


@contextmanager
def unavailable() -> Iterator[None]:
    """Connection-level failures become `StateUnavailable` (without the URL or password)."""
    try:
        yield
    # ConnectionError includes BusyLoadingError (still loading) and AuthenticationError;
    # ReadOnly and MasterDown are the answers of a replica during a failover.
    except (ConnectionError, TimeoutError, ReadOnlyError, MasterDownError) as exc:
        raise StateUnavailable(f"redis is unavailable ({type(exc).__name__})") from exc
