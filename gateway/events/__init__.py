"""Job change notifications chosen by the state URL: `memory://` or `redis://` (base.py)."""

from __future__ import annotations

from urllib.parse import urlsplit

from gateway.events.base import JobEvents, Watch, announce
from gateway.events.waiting import wait_until_ended
from gateway.settings import ConfigError

__all__ = ["JobEvents", "Watch", "announce", "events_from_url", "wait_until_ended"]


def events_from_url(url: str) -> JobEvents:
    """Events beside the state named by `url`; drivers are imported only when used."""
    scheme = urlsplit(url).scheme
    if scheme == "memory":
        from gateway.events.memory import MemoryJobEvents

        return MemoryJobEvents()
    if scheme in ("redis", "rediss", "unix"):
        from gateway.events.redis import RedisJobEvents

        return RedisJobEvents.from_url(url)
    raise ConfigError(f"state.url: unknown scheme in {url!r}; use memory:// or redis://")
