"""Image bytes in object storage (obstore), content-addressed, and the URLs clients get.

Keys derive from the image's sha256 (`images/ab/abcd....png`), so identical images are
stored once. URLs are minted when a job is read, so a poll after expiry gets a fresh one.
"""

from __future__ import annotations

import asyncio
import hashlib
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

import obstore
from obstore.store import LocalStore, MemoryStore, ObjectStore

from backends.imaging import FORMATS, MEDIA_TYPES, convert, inspect
from gateway.jobs import StoredImage
from gateway.settings import ConfigError
from gateway.signing import UrlSigner

CACHE_CONTROL = "public, max-age=31536000, immutable"
EXTENSION_MEDIA_TYPES = {ext: media for _, (_, media, ext) in FORMATS.items()}


@dataclass(frozen=True)
class ObjectBytes:
    data: bytes
    media_type: str


def object_store_from_url(url: str) -> tuple[ObjectStore, bool]:
    """`file://PATH` or `memory://` -> (store, whether it keeps object attributes)."""
    parts = urlsplit(url)
    if parts.scheme == "memory":
        return MemoryStore(), True
    if parts.scheme == "file":
        path = Path(url.removeprefix("file://")).expanduser().resolve()
        return LocalStore(path, mkdir=True), False
    raise ConfigError(f"storage.url: unknown scheme in {url!r}; use file://PATH or memory://")


@dataclass(frozen=True)
class PreparedImage:
    """Checked, hashed bytes ready to upload (kept until stored, so a storage retry never
    asks the vendor again)."""

    data: bytes
    sha256: str
    width: int
    height: int
    media_type: str
    extension: str

    @property
    def key(self) -> str:
        return f"images/{self.sha256[:2]}/{self.sha256}.{self.extension}"


def prepare_image(data: bytes, output_format: str) -> PreparedImage:
    """Decode fully (truncated or non-image bytes raise `NotAnImage`), convert to the
    requested format when the vendor returned another one, and hash. CPU work: call it
    in a thread."""
    info = inspect(data)
    if info.format != output_format:
        data = convert(data, output_format)
    _, media_type, extension = FORMATS[output_format]
    return PreparedImage(
        data, hashlib.sha256(data).hexdigest(), info.width, info.height, media_type, extension
    )


class ImageStore:
    def __init__(self, store: ObjectStore, *, keeps_attributes: bool) -> None:
        self._store = store
        self._keeps_attributes = keeps_attributes

    async def prepare(self, data: bytes, output_format: str = "png") -> PreparedImage:
        return await asyncio.to_thread(prepare_image, data, output_format)

    async def upload(self, image: PreparedImage) -> StoredImage:
        attributes = (
            {"Content-Type": image.media_type, "Cache-Control": CACHE_CONTROL}
            if self._keeps_attributes
            else None
        )
        await obstore.put_async(self._store, image.key, image.data, attributes=attributes)
        return StoredImage(
            image.key, image.sha256, image.width, image.height, len(image.data), image.media_type
        )

    async def put(self, data: bytes, output_format: str = "png") -> StoredImage:
        return await self.upload(await self.prepare(data, output_format))

    async def get(self, key: str) -> ObjectBytes | None:
        try:
            result = await obstore.get_async(self._store, key)
        except FileNotFoundError:
            return None
        data = bytes(await result.bytes_async())
        extension = key.rsplit(".", 1)[-1]
        return ObjectBytes(data, EXTENSION_MEDIA_TYPES.get(extension, "application/octet-stream"))

    async def delete(self, key: str) -> None:
        await obstore.delete_async(self._store, key)


class UrlBuilder:
    """Absolute URLs for stored images: here, the gateway's own signed `/files/` route."""

    def __init__(self, base_url: str, signer: UrlSigner) -> None:
        self.base_url = base_url
        self.signer = signer

    def url_for(self, image: StoredImage) -> str:
        return self.signer.sign(self.base_url, image.key)


__all__ = [
    "MEDIA_TYPES",
    "ImageStore",
    "ObjectBytes",
    "PreparedImage",
    "UrlBuilder",
    "object_store_from_url",
]
