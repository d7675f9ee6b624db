"""Batch records chosen by the state URL: `memory://` or `redis://` (see base.py)."""

from __future__ import annotations

from urllib.parse import urlsplit

from gateway.batches.base import MAX_ITEMS, Batch, BatchItem, BatchStore, new_batch_id
from gateway.settings import ConfigError

__all__ = ["MAX_ITEMS", "Batch", "BatchItem", "BatchStore", "batches_from_url", "new_batch_id"]


def batches_from_url(url: str) -> BatchStore:
    """The store beside the state named by `url`; drivers are imported only when used."""
    scheme = urlsplit(url).scheme
    if scheme == "memory":
        from gateway.batches.memory import MemoryBatches

        return MemoryBatches()
    if scheme in ("redis", "rediss", "unix"):
        from gateway.batches.redis import RedisBatches

        return RedisBatches.from_url(url)
    raise ConfigError(f"state.url: unknown scheme in {url!r}; use memory:// or redis://")
