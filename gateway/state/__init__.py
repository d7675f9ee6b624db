"""State stores chosen by URI (gateway/schemes.py): `memory://` (embedded default),
`redis://` (shared) and `redis+cluster://` (shared, on a Redis Cluster)."""

from __future__ import annotations

from gateway.schemes import state_kind
from gateway.settings import Settings
from gateway.state.base import StateStore, StateUnavailable

__all__ = ["StateStore", "StateUnavailable", "state_from_settings"]


def state_from_settings(settings: Settings) -> StateStore:
    """Build the store named by `[state] url`; drivers are imported only when used."""
    url = settings.state.url
    if state_kind(url) == "memory":
        from gateway.state.memory import MemoryState

        return MemoryState(
            job_ttl=settings.state.job_ttl,
            cache_ttl=settings.cache.ttl,
            max_finished=settings.state.max_finished_jobs,
        )
    from gateway.state.redis import RedisState

    return RedisState.from_url(
        url,
        job_ttl=settings.state.job_ttl,
        cache_ttl=settings.cache.ttl,
        visibility_timeout=settings.workers.visibility_timeout,
        replica_acks=settings.state.replica_acks,
        replica_ack_timeout=settings.state.replica_ack_timeout,
    )
