"""The cursor of a job listing: opaque to the client, valid only for the listing that issued it.

A cursor is base64url (unpadded) of a version byte, a tag and the position of the last
job read: its creation time (epoch ms) and id. The tag is an HMAC of the position keyed by
the listing's scope (a tenant's own listing, or the admin listing and its tenant filter),
so a cursor changed by hand, cut short, or issued to another tenant or another listing is
refused (400 naming `cursor`) instead of silently paging from somewhere else. The key is
no secret, by design: whoever forged a cursor could only name a position in a listing it
may read anyway, and no secret has to be shared by every gateway process.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import re
import struct

from gateway.errors import invalid_request

VERSION = 1
TAG_BYTES = 12
# What a cursor looks like (stated by the OpenAPI document): base64url, unpadded.
CURSOR_PATTERN = "[A-Za-z0-9_-]{30,200}"
_CURSOR = re.compile(CURSOR_PATTERN)
_JOB_ID = re.compile(rb"job_[0-9a-f]{1,64}")
_HEAD = struct.Struct(">Bq")  # version, creation (epoch ms)

Position = tuple[int, str]


def tenant_scope(tenant: str) -> str:
    return f"tenant:{tenant}"


def admin_scope(tenant: str | None) -> str:
    return "admin" if tenant is None else f"admin:{tenant}"


def _tag(scope: str, body: bytes) -> bytes:
    return hmac.new(scope.encode(), body, hashlib.sha256).digest()[:TAG_BYTES]


def encode_cursor(position: Position, scope: str) -> str:
    created, job_id = position
    body = _HEAD.pack(VERSION, created) + job_id.encode("ascii")
    raw = body[:1] + _tag(scope, body) + body[1:]
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode("ascii")


def decode_cursor(cursor: str, scope: str) -> Position:
    """The position a cursor of this listing names; a 400 naming `cursor` otherwise."""
    refused = invalid_request(
        "'cursor' is not one this listing issued: pass its nextCursor unchanged", "cursor"
    )
    if _CURSOR.fullmatch(cursor) is None:
        raise refused
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
    except (binascii.Error, ValueError):
        raise refused from None
    tag, body = raw[1 : 1 + TAG_BYTES], raw[:1] + raw[1 + TAG_BYTES :]
    if len(body) <= _HEAD.size or not hmac.compare_digest(tag, _tag(scope, body)):
        raise refused
    version, created = _HEAD.unpack_from(body)
    job_id = body[_HEAD.size :]
    if version != VERSION or _JOB_ID.fullmatch(job_id) is None:
        raise refused
    return created, job_id.decode("ascii")
