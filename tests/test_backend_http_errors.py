"""The shared HTTP error seam as pure functions: statuses, Retry-After, httpx exceptions."""

from __future__ import annotations

from datetime import UTC, datetime
from email.utils import format_datetime

import httpx
import pytest

from backends.base import BackendError
from backends.http_errors import (
    MAX_DETAIL,
    as_charged,
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
    ("status", "code", "retryable"),
    [
        (400, "backend_unavailable", False),
        (401, "backend_unavailable", False),
        (402, "backend_unavailable", False),
        (403, "backend_unavailable", False),
        (404, "backend_unavailable", False),
        (408, "timeout", True),
        (409, "backend_unavailable", True),
        (413, "backend_unavailable", False),
        (422, "backend_unavailable", False),
        (429, "backend_unavailable", True),
        (500, "backend_unavailable", True),
        (502, "backend_unavailable", True),
        (503, "backend_unavailable", True),
        (504, "timeout", True),
    ],
)
def test_status_mapping(status: int, code: str, retryable: bool) -> None:
    error = status_error("acme", status, "detail")
    assert (error.code, error.retryable, error.charged) == (code, retryable, False)
    assert error.message == f"acme answered HTTP {status}: detail"


def test_rejection_wins_over_status_and_retry_after_is_kept() -> None:
    rejected = status_error("acme", 400, "no", rejected=True)
    assert (rejected.code, rejected.retryable) == ("content_rejected", False)
    limited = status_error("acme", 429, "", headers={"retry-after": "3"})
    assert (limited.retry_after, limited.message) == (3.0, "acme answered HTTP 429")
    assert status_error("acme", 429, "quota", retryable=False).retryable is False


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


def test_as_charged_keeps_everything_else() -> None:
    error = BackendError("timeout", "m", retryable=True, retry_after=4.0)
    charged = as_charged(error)
    assert (charged.code, charged.message, charged.retryable, charged.retry_after) == (
        "timeout",
        "m",
        True,
        4.0,
    )
    assert charged.charged is True
    assert as_charged(charged) is charged
