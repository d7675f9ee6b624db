"""Job change notifications chosen by the state URL (gateway/schemes.py; base.py)."""

from __future__ import annotations

from gateway.events.base import JobEvents, Watch
from gateway.events.waiting import wait_until_ended
from gateway.schemes import state_kind

__all__ = ["JobEvents", "Watch", "events_from_url", "wait_until_ended"]


def events_from_url(url: str) -> JobEvents:
    """Events beside the state named by `url`; drivers are imported only when used."""
    if state_kind(url) == "memory":
        from gateway.events.memory import MemoryJobEvents

        return MemoryJobEvents()
    from gateway.events.redis import RedisJobEvents

    return RedisJobEvents.from_url(url)
