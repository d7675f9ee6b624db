"""HMAC-signed, expiring URLs for the gateway's own file route."""

from __future__ import annotations

import hmac
import re
import time
from functools import lru_cache
from urllib.parse import quote

# What a URL minted by `sign` can hold: anything else is refused before any arithmetic
# (`"²".isdigit()` is true; a 5000-digit int cannot be parsed; a non-ASCII str cannot be
# compared in constant time).
_EXPIRES = re.compile(r"[0-9]{1,12}")
_SIGNATURE = re.compile(r"[0-9a-f]{64}")


class UrlSigner:
    def __init__(self, secret: bytes, ttl: float) -> None:
        if len(secret) < 16:
            raise ValueError("the signing secret must be at least 16 bytes")
        self._secret = secret
        self.ttl = ttl
        # Expiry has one-second steps: a URL polled again within the second is minted once.
        self._minted = lru_cache(maxsize=1024)(self._mint)

    def _signature(self, key: str, expires: int) -> str:
        message = f"{key}\n{expires}".encode()
        return hmac.digest(self._secret, message, "sha256").hex()  # one-shot: C all the way

    def sign(self, base_url: str, key: str, now: float | None = None) -> str:
        """`{base_url}/files/{key}?exp=...&sig=...`, valid for `ttl` seconds from `now`."""
        return self._minted(base_url, key, int((now or time.time()) + self.ttl))

    def _mint(self, base_url: str, key: str, expires: int) -> str:
        return f"{base_url}/files/{quote(key)}?exp={expires}&sig={self._signature(key, expires)}"

    def verify(self, key: str, expires: str, signature: str, now: float | None = None) -> bool:
        """True when the signature matches and has not expired (constant-time compare)."""
        if not (_EXPIRES.fullmatch(expires) and _SIGNATURE.fullmatch(signature)):
            return False
        expected = self._signature(key, int(expires))
        return hmac.compare_digest(expected, signature) and int(expires) >= (now or time.time())
