"""`[storage] url` -> an `ImageStore`: `file://PATH` (default), `memory://`, `s3://bucket/prefix`."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

from obstore.store import LocalStore, MemoryStore

from gateway.schemes import storage_kind
from gateway.settings import StorageSettings
from gateway.storage.images import ImageStore
from gateway.storage.s3 import open_s3_store, resolve_s3


def open_image_store(storage: StorageSettings, environ: Mapping[str, str]) -> ImageStore:
    """The store the URL names. Opening touches no network (a local dir may be created)."""
    url = storage.url
    kind = storage_kind(url)
    if kind == "memory":
        return ImageStore(MemoryStore(), keeps_attributes=True)
    if kind == "file":
        path = Path(url.removeprefix("file://")).expanduser().resolve()
        # Local files keep no attributes: the file route derives them from the extension.
        return ImageStore(LocalStore(path, mkdir=True), keeps_attributes=False)
    return ImageStore(open_s3_store(resolve_s3(url, storage, environ)), keeps_attributes=True)
