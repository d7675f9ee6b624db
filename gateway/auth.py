"""API keys -> tenants. Keys are kept only as sha256 hashes and compared in constant time."""

from __future__ import annotations

import hashlib
import hmac
import secrets
from collections.abc import Iterable, Mapping

from gateway import logs
from gateway.errors import unauthorized

KEY_PREFIX = "ig_"


def new_key() -> str:
    return KEY_PREFIX + secrets.token_urlsafe(32)


def key_hash(key: str) -> str:
    """The `sha256:<hex>` line that config holds for `key`."""
    return "sha256:" + hashlib.sha256(key.encode()).hexdigest()


class KeyRing:
    def __init__(self, hashes_by_tenant: Mapping[str, Iterable[str]]) -> None:
        self._entries = [
            (bytes.fromhex(digest.removeprefix("sha256:")), tenant)
            for tenant, digests in hashes_by_tenant.items()
            for digest in digests
        ]

    def tenant_for(self, key: str) -> str | None:
        """The tenant holding `key`, or None. Every entry is compared, match or not."""
        presented = hashlib.sha256(key.encode()).digest()
        found: str | None = None
        for digest, tenant in self._entries:
            if hmac.compare_digest(digest, presented):
                found = tenant
        return found

    def authenticate(self, headers: Mapping[str, str]) -> str:
        """Tenant for `Authorization: Bearer <key>` or `X-API-Key: <key>`; else 401."""
        tenant = self.tenant_for(presented_key(headers))
        if tenant is None:
            raise unauthorized("unknown API key")
        logs.tenant.set(tenant)  # the request's further log lines name the tenant
        return tenant


def presented_key(headers: Mapping[str, str]) -> str:
    """The key of `Authorization: Bearer <key>` or `X-API-Key: <key>`; 401 when neither."""
    authorization = headers.get("authorization", "")
    scheme, _, credential = authorization.partition(" ")
    key = credential.strip() if scheme.lower() == "bearer" else ""
    key = key or headers.get("x-api-key", "").strip()
    if not key:
        raise unauthorized("missing API key: send 'Authorization: Bearer <key>'")
    return key
