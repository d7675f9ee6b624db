"""The admin API's record listings over `memory://` and a real Redis: `GET /admin/usage`
(every tenant's usage records, or one's), `GET /admin/jobs` (every tenant's recent jobs
merged newest first, or one's; paged by cursor) and their checks of query parameters."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest
from starlette.testclient import TestClient

from gateway.admin_jobs import merged, position
from gateway.auth import key_hash
from gateway.jobs import Job, JobSpec
from gateway.settings import Settings
from gateway.state.base import Page
from tests.conftest import AUTH, OTHER_AUTH
from tests.polling import wait_for_job
from tests.test_admin import ADMIN, ADMIN_KEY


@pytest.fixture
def client(
    make_client: Callable[..., TestClient], make_settings: Callable[..., Settings], store_url: str
) -> TestClient:
    settings = make_settings(
        state={"url": store_url},
        admin={"keys": [key_hash(ADMIN_KEY)]},
        backends={
            "procedural": {"type": "procedural", "prices": {"default": "0.02"}},
            "broken": {"type": "procedural", "fail_rate": 1.0, "prices": {"default": "0.02"}},
        },
        models={
            "broken": {
                "targets": [{"backend": "broken", "model": "procedural-v1"}],
                "sizes": ["512x512"],
            }
        },
    )
    return make_client(settings)


def run(client: TestClient, auth: dict[str, str], prompt: str, n: int = 1, **body: Any) -> dict:
    answer = client.post("/images/jobs", json={"prompt": prompt, "n": n, **body}, headers=auth)
    assert answer.status_code == 202, answer.text
    return wait_for_job(client, answer.json()["data"]["jobId"], auth)


def test_usage_lists_every_tenants_records_or_one(client: TestClient) -> None:
    jobs = [
        run(client, AUTH, "a pier", n=2),
        run(client, AUTH, "a pier", n=2),  # cached: saves its estimate
        run(client, OTHER_AUTH, "a dune"),
    ]
    assert [job["cost"] for job in jobs] == ["0.04", "0.00", "0.02"]
    today = datetime.now(UTC).date().isoformat()

    answer = client.get("/admin/usage", headers=ADMIN)
    assert answer.status_code == 200, answer.text
    data = answer.json()["data"]
    assert data["tenant"] is None
    assert data["since"] == (datetime.now(UTC).date() - timedelta(days=30)).isoformat()
    by_tenant = {record["tenant"]: record for record in data["records"]}
    assert set(by_tenant) == {"demo", "other"} and len(data["records"]) == 2
    assert by_tenant["demo"] == {
        "day": today,
        "tenant": "demo",
        "model": "procedural",
        "backend": "procedural",
        "jobs": 1,
        "attempts": 1,
        "images": 2,
        "chargedUsd": "0.04",
        "savedJobs": 1,
        "savedUsd": "0.04",
    }
    assert by_tenant["other"]["chargedUsd"] == "0.02"
    job_costs = sum((Decimal(job["cost"]) for job in jobs), Decimal("0"))
    assert data["totals"] == {
        "jobs": 2,
        "attempts": 2,
        "images": 3,
        "chargedUsd": str(job_costs),
        "savedJobs": 1,
        "savedUsd": "0.04",
    }

    one = client.get("/admin/usage", params={"tenant": "other", "since": today}, headers=ADMIN)
    assert [r["tenant"] for r in one.json()["data"]["records"]] == ["other"]
    assert one.json()["data"]["tenant"] == "other"
    later = (datetime.now(UTC).date() + timedelta(days=1)).isoformat()
    none = client.get("/admin/usage", params={"since": later}, headers=ADMIN).json()["data"]
    assert none["records"] == [] and none["totals"]["chargedUsd"] == "0.00"


@pytest.mark.parametrize(
    ("params", "named"),
    [
        ({"since": "yesterday"}, "since"),
        ({"since": "2026-13-01"}, "since"),
        ({"tenant": "x" * 65}, "tenant"),
        ({"tennant": "demo"}, "'tennant'"),
    ],
)
def test_usage_refuses_bad_parameters_by_name(
    client: TestClient, params: dict[str, str], named: str
) -> None:
    answer = client.get("/admin/usage", params=params, headers=ADMIN)
    assert answer.status_code == 400
    error = answer.json()["error"]
    assert error["code"] == "invalid_request" and named in error["message"], error


def test_admin_api_listings_are_for_admin_keys_only(client: TestClient) -> None:
    for path in ("/admin/usage", "/admin/jobs"):
        assert client.get(path, headers=AUTH).status_code == 403
        assert client.get(path).status_code == 401


def newest_first(jobs: list[dict]) -> list[dict]:
    return sorted(jobs, key=lambda job: (job["createdAt"], job["id"]), reverse=True)


def test_jobs_of_every_tenant_newest_first_paged_with_failures_and_codes(
    client: TestClient,
) -> None:
    done = [run(client, AUTH, f"demo {i}") for i in range(3)]
    done += [run(client, OTHER_AUTH, f"other {i}") for i in range(2)]
    failed = run(client, AUTH, "never", model="broken")
    done.append(failed)
    assert failed["status"] == "FAILED"

    seen: list[dict] = []
    cursor = None
    for _ in range(10):
        params = {"limit": "2", **({"cursor": cursor} if cursor else {})}
        answer = client.get("/admin/jobs", params=params, headers=ADMIN)
        assert answer.status_code == 200, answer.text
        page = answer.json()["data"]
        assert len(page["jobs"]) <= 2 and page["tenant"] is None
        seen += page["jobs"]
        cursor = page["nextCursor"]
        if cursor is None:
            break
    assert [job["id"] for job in seen] == [job["id"] for job in newest_first(done)]
    tenants = {job["id"]: job["tenant"] for job in seen}
    assert tenants[done[0]["id"]] == "demo" and tenants[done[3]["id"]] == "other"

    failures = client.get("/admin/jobs", params={"status": "FAILED"}, headers=ADMIN)
    (listed,) = failures.json()["data"]["jobs"]
    assert listed["id"] == failed["id"] and listed["tenant"] == "demo"
    assert listed["error"] == failed["error"] and listed["error"]["code"]
    others = client.get("/admin/jobs", params={"tenant": "other"}, headers=ADMIN).json()["data"]
    assert others["tenant"] == "other"
    assert [job["id"] for job in others["jobs"]] == [job["id"] for job in newest_first(done[3:5])]
    # The admin listing is no tenant's read: the tenant's own listing is unchanged by it.
    own = client.get("/images/jobs", headers=OTHER_AUTH).json()["data"]["jobs"]
    assert [job["id"] for job in own] == [job["id"] for job in others["jobs"]]


@pytest.mark.parametrize(
    ("params", "named"),
    [
        ({"status": "DONE"}, "status"),
        ({"limit": "0"}, "limit"),
        ({"cursor": "not-a-cursor"}, "cursor"),
        ({"createdAfter": "2026-12-01"}, "createdAfter"),
        ({"tenant": "x" * 65}, "tenant"),
        ({"since": "2026-12-01"}, "since"),
    ],
)
def test_jobs_refuse_bad_parameters_by_name(
    client: TestClient, params: dict[str, str], named: str
) -> None:
    answer = client.get("/admin/jobs", params=params, headers=ADMIN)
    assert answer.status_code == 400
    error = answer.json()["error"]
    assert error["code"] == "invalid_request" and named in error["message"]


def job(job_id: str, tenant: str, ms: int) -> Job:
    created = datetime(2026, 12, 1, tzinfo=UTC) + timedelta(milliseconds=ms)
    spec = JobSpec(prompt="p", model="procedural", size="512x512")
    return Job(id=job_id, tenant=tenant, spec=spec, fingerprint="f", created_at=created)


def test_a_merged_page_stops_where_a_tenants_page_stopped_early() -> None:
    """A tenant read only down to its `next` (its scan ran out) may hold more jobs below
    it: the merged page must not pass that position, or the cursor would skip them."""
    a = [job(f"job_a{i}", "a", ms) for i, ms in enumerate((90, 50))]
    b = [job(f"job_b{i}", "b", ms) for i, ms in enumerate((80, 70, 40, 30))]
    stopped_early = Page([a[0]], position(a[0]))  # a's job at 50 was not read yet
    page = merged([stopped_early, Page(b, None)], limit=10)
    assert [j.id for j in page.jobs] == ["job_a0"]
    assert page.next == position(a[0])
    wide = Page(a[:1], position(job("job_a9", "a", 60)))  # read down to 60
    page = merged([wide, Page(b, None)], limit=10)
    assert [j.id for j in page.jobs] == ["job_a0", "job_b0", "job_b1"]
    assert page.next == position(job("job_a9", "a", 60))
    full = merged([Page(a, None), Page(b, None)], limit=3)
    assert [j.id for j in full.jobs] == ["job_a0", "job_b0", "job_b1"]
    assert full.next == position(b[1])
    rest = merged([Page(a, None), Page(b, None)], limit=10)
    assert len(rest.jobs) == 6 and rest.next is None
