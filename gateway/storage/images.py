"""Image bytes in object storage (obstore), content-addressed.

Keys derive from the image's sha256 (`images/ab/abcd....png`), so identical images are
stored once: storing them again rewrites the same object (which also refreshes its
`last_modified`, the age that retention and `imagegate gc` go by).
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import re
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import obstore
from obstore.exceptions import BaseError
from obstore.store import ObjectStore

from backends.imaging import FORMATS, INLINE_BYTES, ImageInfo, convert, inspect, inspect_inline
from gateway.errors import redact
from gateway.jobs import StoredImage

CACHE_CONTROL = "public, max-age=31536000, immutable"  # content-addressed: never changes
PREFIX = "images/"
EXTENSION_MEDIA_TYPES = {ext: media for _, (_, media, ext) in FORMATS.items()}
IMAGE_KEY = re.compile(
    rf"^{PREFIX}[0-9a-f]{{2}}/[0-9a-f]{{64}}\.(?:{'|'.join(EXTENSION_MEDIA_TYPES)})$"
)


class StorageUnavailable(Exception):
    """Object storage failed (down, refused, full). The message is already redacted."""


@dataclass(frozen=True)
class ObjectBytes:
    data: bytes
    media_type: str


@dataclass(frozen=True)
class ObjectInfo:
    key: str
    size: int
    last_modified: datetime


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
        return f"{PREFIX}{self.sha256[:2]}/{self.sha256}.{self.extension}"


def prepare_image(
    data: bytes, output_format: str, checked: ImageInfo | None = None
) -> PreparedImage:
    """Check the image whole (truncated or non-image bytes raise `NotAnImage`; nothing is
    decoded unless it must be converted) unless `checked` holds what `inspect` answered for
    these bytes, convert it when the vendor returned another format than the requested one,
    and hash it. CPU work: call it in a thread."""
    info = checked if checked is not None else inspect(data)
    if info.format != output_format:
        data = convert(data, output_format)
    return _prepared(data, info, output_format)


def _prepared(data: bytes, info: ImageInfo, output_format: str) -> PreparedImage:
    _, media_type, extension = FORMATS[output_format]
    return PreparedImage(
        data, hashlib.sha256(data).hexdigest(), info.width, info.height, media_type, extension
    )


@contextlib.contextmanager
def storage_faults(action: str, key: str) -> Iterator[None]:
    """obstore errors -> `StorageUnavailable` with one redacted line (its messages carry the
    endpoint URL and a multi-line debug dump). A missing object stays `FileNotFoundError`."""
    try:
        yield
    except FileNotFoundError:
        raise
    except (BaseError, OSError) as exc:
        raise StorageUnavailable(f"{action} {key}: {_summary(exc)}") from exc


def _summary(exc: Exception) -> str:
    """One redacted line. S3 error bodies are cut off: a SignatureDoesNotMatch body echoes
    the canonical request, session token included; only its `<Code>` is kept."""
    line = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
    code = re.search(r"<Code>(\w+)</Code>", line)
    summary = line.partition("<")[0].rstrip(": ") + (f" ({code[1]})" if code else "")
    return redact(summary)[:300]


def _info(meta: Any) -> ObjectInfo:
    return ObjectInfo(meta["path"], meta["size"], meta["last_modified"])


class ImageStore:
    """Images in one obstore store. `keeps_attributes`: the store records Content-Type and
    Cache-Control on the object (S3, memory), which a CDN or presigned GET then serves."""

    def __init__(self, store: ObjectStore, *, keeps_attributes: bool) -> None:
        self.store = store
        self._keeps_attributes = keeps_attributes

    async def prepare(
        self, data: bytes, output_format: str = "png", checked: ImageInfo | None = None
    ) -> PreparedImage:
        """`prepare_image`: the check on the event loop where it is cheap (`inspect_inline`),
        or none when `checked` (a backend's check of these bytes) answers it; the hash there
        too when the image is small. A large image's hash, and any conversion or decoding
        check, take one thread hop."""
        info = checked if checked is not None else inspect_inline(data)
        if info is not None and info.format == output_format and len(data) <= INLINE_BYTES:
            return _prepared(data, info, output_format)
        return await asyncio.to_thread(prepare_image, data, output_format, info)

    async def upload(self, image: PreparedImage) -> StoredImage:
        attributes = (
            {"Content-Type": image.media_type, "Cache-Control": CACHE_CONTROL}
            if self._keeps_attributes
            else None
        )
        with storage_faults("upload of", image.key):
            await obstore.put_async(self.store, image.key, image.data, attributes=attributes)
        return StoredImage(
            image.key, image.sha256, image.width, image.height, len(image.data), image.media_type
        )

    async def put(self, data: bytes, output_format: str = "png") -> StoredImage:
        return await self.upload(await self.prepare(data, output_format))

    async def get(self, key: str) -> ObjectBytes | None:
        try:
            with storage_faults("read of", key):
                result = await obstore.get_async(self.store, key)
                data = bytes(await result.bytes_async())
        except FileNotFoundError:
            return None
        extension = key.rsplit(".", 1)[-1]
        return ObjectBytes(data, EXTENSION_MEDIA_TYPES.get(extension, "application/octet-stream"))

    async def head(self, key: str) -> ObjectInfo | None:
        try:
            with storage_faults("head of", key):
                return _info(await obstore.head_async(self.store, key))
        except FileNotFoundError:
            return None

    async def ping(self) -> None:
        """Raise `StorageUnavailable` when the store cannot be reached (a HEAD of a key
        that need not exist: a missing object is an answer)."""
        await self.head(f"{PREFIX}readiness-probe")

    async def list_images(self) -> AsyncIterator[ObjectInfo]:
        """Every object whose key has the gateway's content-addressed shape."""
        with storage_faults("listing of", PREFIX):
            async for chunk in obstore.list(self.store, prefix=PREFIX):
                for meta in chunk:
                    if IMAGE_KEY.match(meta["path"]):
                        yield _info(meta)

    async def delete(self, key: str) -> None:
        with contextlib.suppress(FileNotFoundError), storage_faults("delete of", key):
            await obstore.delete_async(self.store, key)
