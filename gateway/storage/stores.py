"""`[storage] url` -> an `ImageStore`: `file://PATH` (default), `memory://`, `s3://bucket/prefix`."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from urllib.parse import urlsplit

from obstore.store import LocalStore, MemoryStore

from gateway.settings import ConfigError, StorageSettings
from gateway.storage.images import ImageStore
from gateway.storage.s3 import open_s3_store, resolve_s3


def open_image_store(storage: StorageSettings, environ: Mapping[str, str]) -> ImageStore:
    """The store the URL names. Opening touches no network (a local dir may be created)."""
    url = storage.url
    scheme = urlsplit(url).scheme
    if scheme == "memory":
        return ImageStore(MemoryStore(), keeps_attributes=True)
    if scheme == "file":
        path = Path(url.removeprefix("file://")).expanduser().resolve()
        # Local files keep no attributes: the file route derives them from the extension.
        return ImageStore(LocalStore(path, mkdir=True), keeps_attributes=False)
    if scheme == "s3":
        return ImageStore(open_s3_store(resolve_s3(url, storage, environ)), keeps_attributes=True)
    raise ConfigError(f"storage.url: unknown scheme in {url!r}; use file://, memory:// or s3://")
