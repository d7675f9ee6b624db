"""Usage records chosen by the state URL (gateway/schemes.py; see base.py)."""

from __future__ import annotations

from gateway.schemes import state_kind
from gateway.usage.base import UsageDelta, UsageKey, UsageRecord, UsageStore

__all__ = ["UsageDelta", "UsageKey", "UsageRecord", "UsageStore", "usage_from_url"]


def usage_from_url(url: str) -> UsageStore:
    """The store beside the state named by `url`; drivers are imported only when used."""
    if state_kind(url) == "memory":
        from gateway.usage.memory import MemoryUsage

        return MemoryUsage()
    from gateway.usage.redis import RedisUsage

    return RedisUsage.from_url(url)
