"""State stores chosen by URI: `memory://` (embedded default) and `redis://` (shared)."""

from __future__ import annotations

from urllib.parse import urlsplit

from gateway.settings import ConfigError, Settings
from gateway.state.base import StateStore, StateUnavailable

__all__ = ["StateStore", "StateUnavailable", "state_from_settings"]


def state_from_settings(settings: Settings) -> StateStore:
    """Build the store named by `[state] url`; drivers are imported only when used."""
    url = settings.state.url
    scheme = urlsplit(url).scheme
    if scheme == "memory":
        from gateway.state.memory import MemoryState

        return MemoryState(
            job_ttl=settings.state.job_ttl,
            cache_ttl=settings.cache.ttl,
            max_finished=settings.state.max_finished_jobs,
        )
    if scheme in ("redis", "rediss", "unix"):
        from gateway.state.redis import RedisState

        return RedisState.from_url(
            url,
            job_ttl=settings.state.job_ttl,
            cache_ttl=settings.cache.ttl,
            visibility_timeout=settings.workers.visibility_timeout,
        )
    raise ConfigError(f"state.url: unknown scheme in {url!r}; use memory:// or redis://")
