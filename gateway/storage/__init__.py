"""Object storage and delivery: content-addressed image objects and the URLs clients get.

images.py   ImageStore over obstore: prepare (check, convert, hash), upload, get, list, delete
stores.py   `[storage] url` -> ImageStore (file://, memory://, s3://)
s3.py       S3 endpoint, region and credentials from config and AWS_* variables
urls.py     URL modes: CDN, presigned S3 GET, the gateway's signed /files/ route
"""

from gateway.storage.images import (
    ImageStore,
    ObjectBytes,
    ObjectInfo,
    PreparedImage,
    StorageUnavailable,
    prepare_image,
)
from gateway.storage.stores import open_image_store
from gateway.storage.urls import UrlBuilder, url_builder

__all__ = [
    "ImageStore",
    "ObjectBytes",
    "ObjectInfo",
    "PreparedImage",
    "StorageUnavailable",
    "UrlBuilder",
    "open_image_store",
    "prepare_image",
    "url_builder",
]
