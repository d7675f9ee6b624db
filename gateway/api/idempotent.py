"""`Idempotency-Key` on creating POSTs: `@idempotent` around a handler (IETF httpapi draft).

The same key (per tenant) with the same request replays the first answer: status, body
and headers (Location, RateLimit-*), marked `Idempotent-Replayed: true`; a public error
the first request raised is raised again for its surface to render. The same key with a
different method, path or body is `422 idempotency_key_reused`; a key whose first request
is still running is `409 idempotency_key_in_use`. A 429 or 5xx answer (or a crash)
releases the key, so the client's retry runs afresh; so does a streamed answer (sent as
it is made, it cannot be replayed). Answers are kept `ANSWER_TTL`.
A request without the header is handled as if the decorator were not there.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import json
import logging
import re
from collections.abc import Awaitable, Callable

from starlette.requests import Request
from starlette.responses import Response
from starlette.types import Message, Receive

from gateway.api.envelope import read_body
from gateway.errors import ApiError, invalid_request
from gateway.idempotency import Answer, IdempotencyStore, InProgress, Lease, Mismatch, Replay
from gateway.services import Gateway
from gateway.settings import Settings
from gateway.tasks import cancel_and_wait

log = logging.getLogger("imagegate.idempotency")

Endpoint = Callable[[Request], Awaitable[Response]]
HEADER = "idempotency-key"
ANSWER_TTL = 24 * 3600.0
LEASE = 30.0  # a crashed request frees its key after this; a live one renews it
MAX_KEY = 255
REPLAYED_HEADERS_DROPPED = frozenset({"content-length", "date", "server"})


# Printable ASCII, 1..255 characters, bare or as an RFC 8941 string ("..."); the OpenAPI
# document states the same pattern.
KEY_PATTERN = r'"([ -~]{1,255})"|(?!"[ -~]*"$)([ -~]{1,255})'  # `""` is an empty key
_KEY = re.compile(KEY_PATTERN)


def parse_key(raw: str) -> str:
    """The key, as an RFC 8941 string (`"abc"`) or bare; printable ASCII, 1..255 chars."""
    found = _KEY.fullmatch(raw)
    if found is None:
        raise invalid_request(
            f"'Idempotency-Key' must be 1 to {MAX_KEY} printable ASCII characters"
        )
    return found.group(1) or found.group(2)


_BOUNDARY = re.compile(r'multipart/[^;]*;.*\bboundary="?([^";]{1,200})', re.IGNORECASE)

# Request headers that change what a request creates (a job's deadline), so a retry with
# another value is another request.
MEANINGFUL_HEADERS = ("cancel-after",)


def request_fingerprint(request: Request, body: bytes) -> str:
    """Method, path, query, the meaningful headers and body; a JSON body in canonical form
    (key order and spacing do not make two requests different), a multipart body without
    its boundary (a client picks a new one for each try)."""
    boundary = _BOUNDARY.search(request.headers.get("content-type", ""))
    try:
        canonical = json.dumps(json.loads(body), sort_keys=True, separators=(",", ":")).encode()
    except (ValueError, RecursionError):  # not JSON, or JSON the handler refuses (400)
        canonical = body.replace(boundary[1].encode(), b"") if boundary else body
    digest = hashlib.sha256()
    headers = [request.headers.get(name, "") for name in MEANINGFUL_HEADERS]
    for part in (request.method, request.url.path, request.url.query, *headers):
        digest.update(part.encode() + b"\0")
    digest.update(canonical)
    return digest.hexdigest()


def key_in_use() -> ApiError:
    return ApiError(
        409,
        "idempotency_key_in_use",
        "a request with this Idempotency-Key is still in progress; retry after it answers",
        {"Retry-After": "1"},
    )


def key_reused() -> ApiError:
    return ApiError(
        422,
        "idempotency_key_reused",
        "this Idempotency-Key was already used for a different request",
    )


def transient(status: int) -> bool:
    """Answers a retry may change: they release the key instead of being replayed."""
    return status == 429 or status >= 500


def idempotent(handler: Endpoint, body_limit: Callable[[Settings], int] | None = None) -> Endpoint:
    """`handler`, made idempotent under the header. `body_limit` is the handler's own
    body limit (default `server.max_body_bytes`): the body is read here first."""

    async def endpoint(request: Request) -> Response:
        raw = request.headers.get(HEADER)
        if raw is None:
            return await handler(request)
        key = parse_key(raw)
        gateway: Gateway = request.app.state.gateway
        tenant = gateway.keyring.authenticate(request.headers)
        settings = gateway.settings
        limit = body_limit(settings) if body_limit else settings.server.max_body_bytes
        body = await read_body(request, limit)
        fingerprint = request_fingerprint(request, body)
        store = gateway.idempotency
        claim = await store.begin(tenant, key, fingerprint, lease=LEASE)
        if isinstance(claim, Replay):
            return replay(claim.answer)
        if isinstance(claim, InProgress):
            raise key_in_use()
        if isinstance(claim, Mismatch):
            raise key_reused()
        held = Held(store, tenant, key, claim, fingerprint)
        return await held.run(handler, Request(request.scope, _replaying(body, request.receive)))

    endpoint.__name__ = getattr(handler, "__name__", "endpoint")
    endpoint.__doc__ = handler.__doc__
    return endpoint


class Held:
    """One request holding its key: runs the handler, then completes or releases."""

    def __init__(
        self, store: IdempotencyStore, tenant: str, key: str, lease: Lease, fingerprint: str
    ) -> None:
        self.store, self.tenant, self.key = store, tenant, key
        self.lease, self.fingerprint = lease, fingerprint

    async def run(self, handler: Endpoint, request: Request) -> Response:
        renewing = asyncio.create_task(self._renew())
        try:
            response = await handler(request)
        except ApiError as error:
            await self._settle(
                error.status,
                Answer(
                    error.status,
                    tuple(error.headers.items()),
                    error_code=error.code,
                    error_message=error.message,
                ),
            )
            raise
        except BaseException:
            await asyncio.shield(self._settle(500, None))
            raise
        finally:
            await cancel_and_wait(renewing)
        if not hasattr(response, "body"):  # a stream (/v1 `stream: true`): nothing to replay
            await self._settle(response.status_code, None)
            return response
        await self._settle(response.status_code, _recorded(response))
        return response

    async def _settle(self, status: int, answer: Answer | None) -> None:
        """Keep the answer, or free the key. A store failure here is logged, not raised:
        the request itself went through, and its answer matters more than the record."""
        try:
            if answer is None or transient(status):
                await self.store.release(self.tenant, self.key, self.lease)
            else:
                await self.store.complete(
                    self.tenant, self.key, self.lease, self.fingerprint, answer, ANSWER_TTL
                )
        except Exception as exc:
            log.warning("idempotency record not settled (%s); it lapses in %ss", exc, LEASE)

    async def _renew(self) -> None:
        while True:
            await asyncio.sleep(LEASE / 3)
            with contextlib.suppress(Exception):
                await self.store.renew(self.tenant, self.key, self.lease, LEASE)


def _recorded(response: Response) -> Answer:
    headers = tuple(
        (name, value)
        for name, value in response.headers.items()
        if name not in REPLAYED_HEADERS_DROPPED
    )
    return Answer(response.status_code, headers, bytes(response.body))


def replay(answer: Answer) -> Response:
    if answer.error_code is not None:
        headers = {**dict(answer.headers), "Idempotent-Replayed": "true"}
        raise ApiError(answer.status, answer.error_code, answer.error_message, headers)
    response = Response(answer.body, status_code=answer.status)
    for name, value in answer.headers:
        response.headers.append(name, value)
    response.headers["Idempotent-Replayed"] = "true"
    return response


def _replaying(body: bytes, receive: Receive) -> Receive:
    """A `receive` that hands the handler the body this decorator already read, then
    passes on what the client sends next (its disconnect)."""
    sent = False

    async def replayed() -> Message:
        nonlocal sent
        if sent:
            return await receive()
        sent = True
        return {"type": "http.request", "body": body, "more_body": False}

    return replayed

    return receive
