"""Per-tenant quotas over both state stores: rate, poll rate, concurrency, headers."""

from __future__ import annotations

from collections.abc import Callable

from limits import parse
from starlette.testclient import TestClient

from gateway.settings import Settings
from tests.conftest import AUTH, OTHER_AUTH


def window_remaining(client: TestClient, rule: str, namespace: str, tenant: str = "demo") -> int:
    """Read a window of the running app's limiter, on the app's own event loop."""
    rates = client.app.state.gateway.admission.rates  # type: ignore[attr-defined]
    item = parse(rule)
    assert client.portal is not None
    stats = client.portal.call(rates.strategy.get_window_stats, item, namespace, tenant)
    return int(stats.remaining)


def test_rate_limit_admits_exactly_the_rate(
    make_client: Callable[..., TestClient], make_settings: Callable[..., Settings], store_url: str
) -> None:
    settings = make_settings(
        state={"url": store_url}, plans={"free": {"rate": "5/minute", "max_concurrent": None}}
    )
    client = make_client(settings)
    answers = [
        client.post("/images/jobs", json={"prompt": f"p{i}"}, headers=AUTH) for i in range(8)
    ]
    admitted = [a for a in answers if a.status_code == 202]
    refused = [a for a in answers if a.status_code == 429]
    assert len(admitted) == 5 and len(refused) == 3
    assert [a.headers["RateLimit-Remaining"] for a in admitted] == ["4", "3", "2", "1", "0"]
    for answer in admitted:
        assert answer.headers["RateLimit-Limit"] == "5"
        assert 0 <= int(answer.headers["RateLimit-Reset"]) <= 60
    for answer in refused:
        assert answer.json()["error"]["code"] == "rate_limited"
        assert answer.headers["RateLimit-Remaining"] == "0"
        assert 1 <= int(answer.headers["Retry-After"]) <= 60
    # Another tenant has its own window.
    assert client.post("/images/jobs", json={"prompt": "x"}, headers=OTHER_AUTH).status_code == 202


def test_several_windows_report_the_tightest(
    make_client: Callable[..., TestClient], make_settings: Callable[..., Settings], store_url: str
) -> None:
    settings = make_settings(
        state={"url": store_url},
        plans={"free": {"rate": "100/minute;3/hour", "max_concurrent": None}},
    )
    client = make_client(settings)
    codes = [
        client.post("/images/jobs", json={"prompt": f"w{i}"}, headers=AUTH).status_code
        for i in range(4)
    ]
    assert codes == [202, 202, 202, 429]
    refused = client.post("/images/jobs", json={"prompt": "again"}, headers=AUTH)
    assert refused.headers["RateLimit-Limit"] == "3"
    # The two refused requests spent nothing from the minute window.
    assert window_remaining(client, "100/minute", "submit") == 97


def test_poll_rate(
    make_client: Callable[..., TestClient], make_settings: Callable[..., Settings], store_url: str
) -> None:
    settings = make_settings(state={"url": store_url}, plans={"free": {"poll_rate": "3/minute"}})
    client = make_client(settings)
    job_id = client.post("/images/jobs", json={"prompt": "p"}, headers=AUTH).json()["data"]["jobId"]
    codes = [client.get(f"/images/jobs/{job_id}", headers=AUTH).status_code for _ in range(5)]
    assert codes == [200, 200, 200, 429, 429]


def test_max_concurrent_refuses_without_spending_rate(
    make_client: Callable[..., TestClient], make_settings: Callable[..., Settings], store_url: str
) -> None:
    settings = make_settings(
        state={"url": store_url},
        plans={"free": {"rate": "50/minute", "max_concurrent": 2}},
        backends={"procedural": {"latency": "3s"}},
        # The slow jobs only hold the slots while the test runs: shutdown need not wait.
        workers={"shutdown_grace": "100ms"},
    )
    client = make_client(settings)
    first = [
        client.post("/images/jobs", json={"prompt": f"slow {i}"}, headers=AUTH) for i in range(2)
    ]
    assert [a.status_code for a in first] == [202, 202]
    refused = client.post("/images/jobs", json={"prompt": "one too many"}, headers=AUTH)
    assert refused.status_code == 429
    assert refused.json()["error"]["code"] == "concurrency_limited"
    assert refused.headers["Retry-After"] == "1"
    assert window_remaining(client, "50/minute", "submit") == 48  # the refusal spent nothing
    assert client.post("/images/jobs", json={"prompt": "x"}, headers=OTHER_AUTH).status_code == 202
