"""One place where vendor HTTP failures become `BackendError` (the httpx way: map at the edge).

    status_error(vendor, status, detail, ...)   HTTP status (+ vendor detail) -> its error type
    transport_errors(vendor, billed=...)        httpx timeouts / connection errors -> BackendError
    parse_retry_after(header)                   `Retry-After` seconds or HTTP-date -> seconds
    json_object(response)                       a JSON error body, or {} when it is not JSON
    clean(text, secrets)                        vendor text made safe to carry in an error

Charging is decided by the error type (see `backends.errors`): an answered 4xx/5xx is not
billed, a timeout after the request went out may be. `billed=True` marks work the vendor
already charged for (downloading a finished result), so every failure there is charged.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from email.utils import parsedate_to_datetime
from typing import Any

import httpx
import orjson

from backends.errors import (
    AuthError,
    BackendError,
    ContentRefused,
    InvalidRequest,
    QuotaExhausted,
    RateLimited,
    Timeout,
    VendorUnavailable,
)
from backends.redaction import redact

MAX_DETAIL = 300  # vendor prose beyond this is noise in a job's error


def clean(text: str, secrets: Iterable[str] = ()) -> str:
    """Drop our own key verbatim, then every key/token/signature/URL shape, then trim."""
    for secret in secrets:
        if secret:
            text = text.replace(secret, "[redacted-key]")
    text = " ".join(redact(text).split())
    return text if len(text) <= MAX_DETAIL else text[: MAX_DETAIL - 1] + "…"


def parse_json(data: str | bytes) -> Any:
    """A vendor's JSON. orjson first: an image answer is megabytes of base64, which it
    reads several times faster; what it refuses (NaN, integers past 64 bits) the standard
    parser still gets. Raises ValueError for what neither reads."""
    try:
        return orjson.loads(data)
    except orjson.JSONDecodeError:
        return json.loads(data)


def json_object(response: httpx.Response) -> dict[str, Any]:
    """A vendor's JSON object, or {} (error bodies are JSON by contract, but proxies in front
    of vendors answer HTML)."""
    try:
        body = parse_json(response.content)
    except ValueError:
        return {}
    return body if isinstance(body, dict) else {}


def parse_retry_after(value: str | None, *, now: float | None = None) -> float | None:
    """`Retry-After: 2` or `Retry-After: Wed, 21 Oct 2015 07:28:00 GMT` -> seconds (>= 0)."""
    if not value or not value.strip():
        return None
    value = value.strip()
    try:
        seconds = float(value)
    except ValueError:
        try:
            when = parsedate_to_datetime(value)
        except (TypeError, ValueError, IndexError):
            return None
        seconds = when.timestamp() - (time.time() if now is None else now)
    return max(0.0, seconds) if seconds == seconds else None  # NaN is no advice


def status_error(
    vendor: str,
    status: int,
    detail: str,
    *,
    headers: Mapping[str, str] | None = None,
    rejected: bool = False,
    exhausted: bool = False,
    billed: bool = False,
    secrets: Iterable[str] = (),
) -> BackendError:
    """Map a non-2xx answer to its error type. `rejected` is the vendor's own "content policy"
    verdict; `exhausted` its "out of credit" (e.g. OpenAI's 429 `insufficient_quota`)."""
    message = f"{vendor} answered HTTP {status}" + (f": {clean(detail, secrets)}" if detail else "")
    retry_after = parse_retry_after((headers or {}).get("retry-after"))
    kind: type[BackendError]
    if rejected:
        kind = ContentRefused
    elif exhausted or status == 402:
        kind = QuotaExhausted
    elif status in (401, 403):
        kind = AuthError
    elif status == 429:
        kind = RateLimited
    elif status in (408, 504):
        # The vendor's own front timed out waiting for its generator, which may still bill.
        return Timeout(message, sent=True, retry_after=retry_after, billed=billed)
    elif status >= 500 or status == 409:
        kind = VendorUnavailable
    else:  # 400 bad input/config, 404 model, 413, 422
        kind = InvalidRequest
    return kind(message, retry_after=retry_after, billed=billed)


@contextmanager
def transport_errors(vendor: str, *, billed: bool = False) -> Iterator[None]:
    """Translate httpx's exception tree. Connect failures and pool waits happen before any
    byte reaches the vendor (not sent); read/write failures happen after (maybe charged)."""
    try:
        yield
    except (httpx.ConnectTimeout, httpx.PoolTimeout) as exc:
        raise Timeout(f"{vendor}: {_what(exc)} before sending", sent=False, billed=billed) from exc
    except httpx.TimeoutException as exc:
        raise Timeout(f"{vendor}: {_what(exc)} waiting for the answer", sent=True) from exc
    except httpx.ConnectError as exc:
        raise VendorUnavailable(f"{vendor}: could not connect", billed=billed) from exc
    except httpx.TransportError as exc:
        raise VendorUnavailable(
            f"{vendor}: connection failed mid-request ({type(exc).__name__})", billed=True
        ) from exc


def _what(exc: httpx.TimeoutException) -> str:
    # The class says which phase timed out; the exception text may carry a URL, so skip it.
    return {
        httpx.ConnectTimeout: "connect timed out",
        httpx.PoolTimeout: "no free connection in time",
        httpx.WriteTimeout: "write timed out",
        httpx.ReadTimeout: "read timed out",
    }.get(type(exc), "timed out")
