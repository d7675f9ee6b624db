"""Streaming previews chosen by the state URL (gateway/schemes.py; see base.py)."""

from __future__ import annotations

from gateway.previews.base import Preview, PreviewStore
from gateway.schemes import state_kind

__all__ = ["Preview", "PreviewStore", "previews_from_url"]


def previews_from_url(url: str) -> PreviewStore:
    """The store beside the state named by `url`; drivers are imported only when used."""
    if state_kind(url) == "memory":
        from gateway.previews.memory import MemoryPreviews

        return MemoryPreviews()
    from gateway.previews.redis import RedisPreviews

    return RedisPreviews.from_url(url)
