"""Batch records chosen by the state URL (gateway/schemes.py; see base.py)."""

from __future__ import annotations

from gateway.batches.base import MAX_ITEMS, Batch, BatchItem, BatchStore, new_batch_id
from gateway.schemes import state_kind

__all__ = ["MAX_ITEMS", "Batch", "BatchItem", "BatchStore", "batches_from_url", "new_batch_id"]


def batches_from_url(url: str) -> BatchStore:
    """The store beside the state named by `url`; drivers are imported only when used."""
    if state_kind(url) == "memory":
        from gateway.batches.memory import MemoryBatches

        return MemoryBatches()
    from gateway.batches.redis import RedisBatches

    return RedisBatches.from_url(url)
