"""The listings' query parameters, strictly: RFC 3339 bounds in any offset, empty values as
absent, repeated ones refused, and cursors good only for the listing that issued them
(a tenant's own, another tenant's, the admin listing's); over memory:// and a real Redis."""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest
from starlette.testclient import TestClient

from gateway.auth import key_hash
from gateway.settings import Settings
from tests.conftest import AUTH, OTHER_AUTH
from tests.test_admin import ADMIN, ADMIN_KEY


@pytest.fixture
def client(
    make_client: Callable[..., TestClient], make_settings: Callable[..., Settings], store_url: str
) -> TestClient:
    settings = make_settings(
        state={"url": store_url},
        # Jobs stay PENDING (nothing changes under the listing) and are dropped at the end.
        workers={"concurrency": 0, "shutdown_grace": "10ms"},
        admin={"keys": [key_hash(ADMIN_KEY)]},
        plans={"free": {"poll_rate": "1000/minute", "max_concurrent": 100}},
    )
    return make_client(settings)


def created(client: TestClient, prompt: str, auth: dict[str, str] = AUTH) -> dict[str, Any]:
    """Submit a job; return it once the clock has moved past its creation millisecond, so
    the next job's creation time differs from it."""
    answer = client.post("/images/jobs", json={"prompt": prompt}, headers=auth)
    assert answer.status_code == 202, answer.text
    job: dict[str, Any] = client.get(answer.headers["Location"], headers=auth).json()["data"]
    moment = moment_of(job)
    while datetime.now(UTC) <= moment + timedelta(milliseconds=1):
        time.sleep(0.001)
    return job


def moment_of(job: dict[str, Any]) -> datetime:
    return datetime.fromisoformat(job["createdAt"].replace("Z", "+00:00"))


def page(client: TestClient, path: str, auth: dict[str, str], query: str) -> Any:
    answer = client.get(f"{path}?{query}", headers=auth)
    assert answer.status_code == 200, answer.text
    return answer.json()["data"]


def ids(client: TestClient, query: str) -> list[str]:
    return [job["id"] for job in page(client, "/images/jobs", AUTH, query)["jobs"]]


def refused(client: TestClient, path: str, auth: dict[str, str], query: str) -> str:
    answer = client.get(f"{path}?{query}", headers=auth)
    assert answer.status_code == 400, answer.text
    error = answer.json()["error"]
    assert error["code"] == "invalid_request"
    message: str = error["message"]
    return message


def written(moment: datetime, hours: float, *, lower: bool = False, fraction: bool = False) -> str:
    """`moment` as an RFC 3339 date-time in the offset `hours` from UTC, %-encoded."""
    local = moment.astimezone(timezone(timedelta(hours=hours)))
    text = local.isoformat(timespec="milliseconds" if fraction else "seconds")
    if hours == 0:
        text = text.replace("+00:00", "z" if lower else "Z")
    if lower:
        text = text.replace("T", "t")
    return text.replace("+", "%2B")


def test_created_bounds_are_rfc3339_date_times_in_any_offset(client: TestClient) -> None:
    jobs = [created(client, f"bounded {i}") for i in range(3)]
    first, middle, last = (job["id"] for job in jobs)
    at = moment_of(jobs[1])
    assert at.microsecond % 1000 == 0  # the API writes whole milliseconds
    # The same instant in three offsets and spellings: exclusive bounds either way.
    assert ids(client, f"createdBefore={written(at, 5.5, fraction=True)}") == [first]
    assert ids(client, f"createdAfter={written(at, -3, fraction=True)}") == [last]
    assert ids(client, f"createdAfter={written(at, 0, lower=True, fraction=True)}") == [last]
    # Whole seconds: a bound a second around the middle one.
    second_before = written(moment_of(jobs[0]) - timedelta(seconds=1), 1)
    assert ids(client, f"createdAfter={second_before}") == [last, middle, first]
    assert ids(client, "createdBefore=2100-12-31T23:59:60Z") == [
        last,
        middle,
        first,
    ]  # a leap second
    assert ids(client, "createdAfter=2100-01-01T00:00:00.123456789-00:00") == []


def test_an_empty_value_is_the_parameter_left_out(client: TestClient) -> None:
    made = [created(client, f"many {i}") for i in range(21)]
    empty = page(
        client, "/images/jobs", AUTH, "status=&createdAfter=&createdBefore=&limit=&cursor="
    )
    assert [job["id"] for job in empty["jobs"]] == [job["id"] for job in made[::-1][:20]]
    assert empty["nextCursor"] is not None  # the default limit, 20
    assert page(client, "/images/jobs", AUTH, "")["jobs"] == empty["jobs"]
    created(client, "the other tenant's", OTHER_AUTH)
    everyone = page(client, "/admin/jobs", ADMIN, "tenant=&limit=30&status=")
    assert everyone["tenant"] is None and len(everyone["jobs"]) == 22


@pytest.mark.parametrize("path", ["/images/jobs", "/admin/jobs"])
def test_unknown_or_repeated_parameters_are_refused_by_name(client: TestClient, path: str) -> None:
    auth = AUTH if path == "/images/jobs" else ADMIN
    assert "'limit' is given more than once" in refused(client, path, auth, "limit=1&limit=2")
    assert "'status'" in refused(client, path, auth, "status=PENDING&status=RUNNING")
    message = refused(client, path, auth, "status=PENDING&order=asc")
    assert "unknown query parameter 'order'" in message and "createdAfter" in message
    assert "'tenant'" in refused(client, "/images/jobs", AUTH, "tenant=demo")  # admin only


def test_a_cursor_is_good_only_for_the_listing_that_issued_it(client: TestClient) -> None:
    mine = [created(client, f"mine {i}")["id"] for i in range(3)]
    [created(client, f"theirs {i}", OTHER_AUTH) for i in range(2)]
    first = page(client, "/images/jobs", AUTH, "limit=1")
    cursor = first["nextCursor"]
    assert first["jobs"][0]["id"] == mine[2] and "job_" not in cursor  # opaque
    assert ids(client, f"limit=5&cursor={cursor}") == [mine[1], mine[0]]
    # Changed by hand, cut short, or lengthened: refused, naming the cursor.
    middle = len(cursor) // 2
    flipped = cursor[:middle] + ("A" if cursor[middle] != "A" else "B") + cursor[middle + 1 :]
    for bad in (flipped, cursor[:-4], cursor + "AAAA", cursor[:middle]):
        assert "'cursor'" in refused(client, "/images/jobs", AUTH, f"cursor={bad}")
    # Another tenant's cursor, and the admin listing's, are not this listing's.
    theirs = page(client, "/images/jobs", OTHER_AUTH, "limit=1")["nextCursor"]
    assert "'cursor'" in refused(client, "/images/jobs", AUTH, f"cursor={theirs}")
    assert "'cursor'" in refused(client, "/admin/jobs", ADMIN, f"cursor={cursor}")
    every = page(client, "/admin/jobs", ADMIN, "limit=2")["nextCursor"]
    assert "'cursor'" in refused(client, "/images/jobs", AUTH, f"cursor={every}")
    one = page(client, "/admin/jobs", ADMIN, "tenant=demo&limit=1")["nextCursor"]
    assert "'cursor'" in refused(client, "/admin/jobs", ADMIN, f"cursor={one}")
    assert "'cursor'" in refused(client, "/admin/jobs", ADMIN, f"tenant=other&cursor={one}")
    # Each goes on where it stopped in its own listing.
    rest = page(client, "/admin/jobs", ADMIN, f"tenant=demo&limit=5&cursor={one}")["jobs"]
    assert [job["id"] for job in rest] == [mine[1], mine[0]]
    assert len(page(client, "/admin/jobs", ADMIN, f"limit=5&cursor={every}")["jobs"]) == 3
