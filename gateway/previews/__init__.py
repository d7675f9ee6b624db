"""Streaming previews chosen by the state URL: `memory://` or `redis://` (see base.py)."""

from __future__ import annotations

from urllib.parse import urlsplit

from gateway.previews.base import Preview, PreviewStore
from gateway.settings import ConfigError

__all__ = ["Preview", "PreviewStore", "previews_from_url"]


def previews_from_url(url: str) -> PreviewStore:
    """The store beside the state named by `url`; drivers are imported only when used."""
    scheme = urlsplit(url).scheme
    if scheme == "memory":
        from gateway.previews.memory import MemoryPreviews

        return MemoryPreviews()
    if scheme in ("redis", "rediss", "unix"):
        from gateway.previews.redis import RedisPreviews

        return RedisPreviews.from_url(url)
    raise ConfigError(f"state.url: unknown scheme in {url!r}; use memory:// or redis://")
