"""The URL a client gets for a stored image, minted each time a job is read.

Three modes, chosen by config:

- `cdn_base_url` set: `{cdn_base_url}/{key}`, public and immutable (the key is the hash).
  The base maps to the storage root, the s3:// prefix included (e.g. a CDN origin path).
- else on S3: a presigned GET valid for `url_ttl`, capped at S3's 7-day maximum.
- else: the gateway's own HMAC-signed `/files/{key}` route, valid for `url_ttl`.

Minting at read time means a poll after expiry gets a fresh URL, never a dead one.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Protocol
from urllib.parse import quote

import obstore
from obstore.store import S3Store

from gateway.jobs import StoredImage
from gateway.settings import StorageSettings
from gateway.signing import UrlSigner
from gateway.storage.images import ImageStore

MAX_PRESIGN_SECONDS = 7 * 86400  # S3 refuses X-Amz-Expires above one week


class UrlBuilder(Protocol):
    async def url_for(self, image: StoredImage) -> str: ...

    async def url_for_key(self, key: str) -> str:
        """The URL of any stored object (an edit's input image, for a vendor to fetch)."""
        ...


class CdnUrls:
    def __init__(self, base_url: str) -> None:
        self.base_url = base_url.rstrip("/")

    async def url_for(self, image: StoredImage) -> str:
        return await self.url_for_key(image.key)

    async def url_for_key(self, key: str) -> str:
        return f"{self.base_url}/{quote(key)}"


class PresignedUrls:
    def __init__(self, store: S3Store, ttl: float) -> None:
        self.store = store
        self.expires_in = timedelta(seconds=min(ttl, MAX_PRESIGN_SECONDS))

    async def url_for(self, image: StoredImage) -> str:
        return await self.url_for_key(image.key)

    async def url_for_key(self, key: str) -> str:
        return await obstore.sign_async(self.store, "GET", key, self.expires_in)


class SignedRouteUrls:
    def __init__(self, base_url: str, signer: UrlSigner) -> None:
        self.base_url = base_url
        self.signer = signer

    async def url_for(self, image: StoredImage) -> str:
        return await self.url_for_key(image.key)

    async def url_for_key(self, key: str) -> str:
        return self.signer.sign(self.base_url, key)


def url_builder(
    storage: StorageSettings, images: ImageStore, gateway_url: str, signer: UrlSigner
) -> UrlBuilder:
    if storage.cdn_base_url:
        return CdnUrls(storage.cdn_base_url)
    if isinstance(images.store, S3Store):
        return PresignedUrls(images.store, storage.url_ttl)
    return SignedRouteUrls(gateway_url, signer)
