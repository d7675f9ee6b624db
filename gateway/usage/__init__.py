"""Usage records chosen by the state URL: `memory://` or `redis://` (see base.py)."""

from __future__ import annotations

from urllib.parse import urlsplit

from gateway.settings import ConfigError
from gateway.usage.base import UsageDelta, UsageKey, UsageRecord, UsageStore

__all__ = ["UsageDelta", "UsageKey", "UsageRecord", "UsageStore", "usage_from_url"]


def usage_from_url(url: str) -> UsageStore:
    """The store beside the state named by `url`; drivers are imported only when used."""
    scheme = urlsplit(url).scheme
    if scheme == "memory":
        from gateway.usage.memory import MemoryUsage

        return MemoryUsage()
    if scheme in ("redis", "rediss", "unix"):
        from gateway.usage.redis import RedisUsage

        return RedisUsage.from_url(url)
    raise ConfigError(f"state.url: unknown scheme in {url!r}; use memory:// or redis://")
