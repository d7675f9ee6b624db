"""Idempotency records (IETF httpapi `Idempotency-Key`): one seam, two stores.

A keyed request first *begins* its key: the store atomically either takes the key for it
(a short lease, renewed while the request runs), or answers what is already there: the
first answer to replay, a request still in progress, or a different request body. When
the request ends, its answer *completes* the key (kept `ttl`), or a transient failure
(429, 5xx) *releases* it so a retry runs afresh. Completing and releasing apply only to the
lease they were given, so a request whose lease lapsed can never overwrite a newer owner.
"""

from __future__ import annotations

import base64
import json
import secrets
from dataclasses import dataclass
from typing import Any, Protocol


@dataclass(frozen=True)
class Answer:
    """What a keyed request answered: a rendered response, or the public error it raised."""

    status: int
    headers: tuple[tuple[str, str], ...] = ()
    body: bytes = b""
    error_code: str | None = None  # set: replay raises the error for its surface to render
    error_message: str = ""

    def to_json(self) -> dict[str, Any]:
        return {
            "status": self.status,
            "headers": [list(pair) for pair in self.headers],
            "body": base64.b64encode(self.body).decode(),
            "error_code": self.error_code,
            "error_message": self.error_message,
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Answer:
        return cls(
            status=data["status"],
            headers=tuple((name, value) for name, value in data["headers"]),
            body=base64.b64decode(data["body"]),
            error_code=data["error_code"],
            error_message=data["error_message"],
        )


@dataclass(frozen=True)
class Lease:
    """This request holds the key; `doc` is the stored pending record it owns."""

    doc: str


@dataclass(frozen=True)
class Replay:
    answer: Answer


@dataclass(frozen=True)
class InProgress:
    """The first request with this key has not answered yet (409)."""


@dataclass(frozen=True)
class Mismatch:
    """The key was used for a different request (422)."""


Claim = Lease | Replay | InProgress | Mismatch


def pending_doc(fingerprint: str) -> str:
    """A pending record; the random token makes each lease's record unique."""
    return json.dumps({"fp": fingerprint, "lease": secrets.token_hex(8)})


def completed_doc(fingerprint: str, answer: Answer) -> str:
    return json.dumps({"fp": fingerprint, "answer": answer.to_json()})


def judge(existing: str, fingerprint: str) -> Claim:
    """What a stored record means for a request with `fingerprint`."""
    data = json.loads(existing)
    if data["fp"] != fingerprint:
        return Mismatch()
    if "answer" in data:
        return Replay(Answer.from_json(data["answer"]))
    return InProgress()


class IdempotencyStore(Protocol):
    async def begin(self, scope: str, key: str, fingerprint: str, *, lease: float) -> Claim:
        """Take `key` (within `scope`, the tenant) for `lease` seconds, or say what holds it."""
        ...

    async def renew(self, scope: str, key: str, lease: Lease, seconds: float) -> None:
        """Extend a lease this request still holds (a long request keeps its key)."""
        ...

    async def complete(
        self, scope: str, key: str, lease: Lease, fingerprint: str, answer: Answer, ttl: float
    ) -> None:
        """Store the answer for `ttl` seconds, if the lease is still this request's."""
        ...

    async def release(self, scope: str, key: str, lease: Lease) -> None:
        """Forget the key, if the lease is still this request's (a retry runs afresh)."""
        ...

    async def aclose(self) -> None: ...
