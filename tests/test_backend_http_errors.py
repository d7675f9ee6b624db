"""The shared HTTP error seam as pure functions: statuses, Retry-After, httpx exceptions."""

from __future__ import annotations

from datetime import UTC, datetime
from email.utils import format_datetime

import httpx
import pytest

from backends.errors import (
    AuthError,
    BackendError,
    BadImage,
    BadResponse,
    ContentRefused,
    InvalidRequest,
    OutputFiltered,
    QuotaExhausted,
    RateLimited,
    Timeout,
    VendorFailed,
    VendorUnavailable,
)
from backends.http_errors import (
    MAX_DETAIL,
    clean,
    parse_retry_after,
    status_error,
    transport_errors,
)

NOW = datetime(2030, 1, 1, 12, 0, 0, tzinfo=UTC).timestamp()


@pytest.mark.parametrize(
    ("header", "seconds"),
    [
        ("2", 2.0),
        (" 1.5 ", 1.5),
        ("-3", 0.0),
        (format_datetime(datetime(2030, 1, 1, 12, 0, 7, tzinfo=UTC), usegmt=True), 7.0),
        (format_datetime(datetime(2029, 12, 31, tzinfo=UTC), usegmt=True), 0.0),
        ("soon", None),
        ("nan", None),
        ("", None),
        (None, None),
    ],
)
def test_parse_retry_after(header: str | None, seconds: float | None) -> None:
    assert parse_retry_after(header, now=NOW) == seconds


@pytest.mark.parametrize(
    ("status", "kind"),
    [
        (400, InvalidRequest),
        (401, AuthError),
        (402, QuotaExhausted),
        (403, AuthError),
        (404, InvalidRequest),
        (408, Timeout),
        (409, VendorUnavailable),
        (413, InvalidRequest),
        (422, InvalidRequest),
        (429, RateLimited),
        (500, VendorUnavailable),
        (502, VendorUnavailable),
        (503, VendorUnavailable),
        (504, Timeout),
    ],
)
def test_status_mapping(status: int, kind: type[BackendError]) -> None:
    error = status_error("acme", status, "detail")
    assert type(error) is kind
    assert error.message == f"acme answered HTTP {status}: detail"


@pytest.mark.parametrize(
    ("kind", "code", "retryable", "charged"),
    [
        (AuthError, "backend_unavailable", False, False),
        (QuotaExhausted, "backend_unavailable", False, False),
        (InvalidRequest, "backend_unavailable", False, False),
        (ContentRefused, "content_rejected", False, False),
        (OutputFiltered, "content_rejected", False, True),
        (RateLimited, "backend_unavailable", True, False),
        (VendorUnavailable, "backend_unavailable", True, False),
        (VendorFailed, "backend_unavailable", True, True),
        (BadResponse, "backend_unavailable", True, True),
        (BadImage, "backend_unavailable", True, True),
    ],
)
def test_the_type_decides_retry_and_charge(
    kind: type[BackendError], code: str, retryable: bool, charged: bool
) -> None:
    error = kind("m")
    assert (error.code, error.retryable, error.charged) == (code, retryable, charged)
    assert error.as_billed().charged is True


def test_a_timeout_is_charged_once_sent_and_504_counts_as_sent() -> None:
    assert Timeout("m", sent=False).charged is False
    assert Timeout("m", sent=True).charged is True
    assert (Timeout("m", sent=False).code, Timeout("m", sent=False).retryable) == ("timeout", True)
    assert status_error("acme", 504, "").charged is True


def test_rejection_wins_over_status_and_retry_after_is_kept() -> None:
    rejected = status_error("acme", 400, "no", rejected=True)
    assert type(rejected) is ContentRefused
    limited = status_error("acme", 429, "", headers={"retry-after": "3"})
    assert (limited.retry_after, limited.message) == (3.0, "acme answered HTTP 429")
    assert type(status_error("acme", 429, "quota", exhausted=True)) is QuotaExhausted


def test_outcome_names_the_type() -> None:
    assert RateLimited("m").outcome == "rate_limited"
    assert VendorUnavailable("m").outcome == "vendor_unavailable"


def test_clean_removes_our_key_and_known_shapes_and_trims() -> None:
    text = "key=abc.DEF-our-secret sk-proj-abcdefgh r8_abcdefgh https://x.test/a?sig=1 " * 20
    cleaned = clean(text, ("abc.DEF-our-secret",))
    assert "our-secret" not in cleaned
    assert "sk-proj" not in cleaned and "r8_abc" not in cleaned and "x.test" not in cleaned
    assert len(cleaned) == MAX_DETAIL


@pytest.mark.parametrize(
    ("raised", "code", "charged"),
    [
        (httpx.ConnectTimeout("t"), "timeout", False),
        (httpx.PoolTimeout("t"), "timeout", False),  # waiting for a connection: nothing sent
        (httpx.ReadTimeout("t"), "timeout", True),
        (httpx.WriteTimeout("t"), "timeout", True),
        (httpx.ConnectError("refused"), "backend_unavailable", False),
        (httpx.RemoteProtocolError("peer closed"), "backend_unavailable", True),
        (httpx.ReadError("reset"), "backend_unavailable", True),
    ],
)
def test_transport_errors(raised: httpx.HTTPError, code: str, charged: bool) -> None:
    with pytest.raises(BackendError) as caught, transport_errors("acme"):
        raise raised
    error = caught.value
    assert (error.code, error.retryable, error.charged) == (code, True, charged)
    assert error.__cause__ is raised


def test_billed_work_is_always_charged() -> None:
    with pytest.raises(BackendError) as caught, transport_errors("acme", billed=True):
        raise httpx.ConnectError("refused")
    assert caught.value.charged is True
