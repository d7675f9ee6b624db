"""The BFL fake speaks BFL's flow: submit, poll `polling_url`, download a signed sample."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest

from tests.fakes.bfl_server import FakeBFL, insufficient_credits
from tests.fakes.kit import decoded, serving
from tests.fakes.script import Step, error, ok

KEY = "bfl_test_key_0123456789"


@pytest.fixture
def fake() -> Iterator[FakeBFL]:
    with serving(FakeBFL(KEY)) as fake:
        yield fake


def submit(fake: FakeBFL, key: str = KEY, **body: object) -> httpx.Response:
    return httpx.post(
        f"{fake.base_url}/v1/flux-pro-1.1",
        json={"prompt": "a fox", "width": 96, "height": 64, **body},
        headers={"x-key": key},
    )


def poll(url: str, key: str = KEY) -> dict[str, object]:
    answer: dict[str, object] = httpx.get(url, headers={"x-key": key}).json()
    return answer


def test_task_is_pending_then_ready_with_a_signed_sample(fake: FakeBFL) -> None:
    fake.will(ok(polls=1))
    task = submit(fake, output_format="png").json()
    assert set(task) == {"id", "polling_url"}

    assert poll(task["polling_url"])["status"] == "Pending"
    ready = poll(task["polling_url"])
    assert ready["status"] == "Ready"
    sample = ready["result"]["sample"]  # type: ignore[index]
    assert "se=" in sample and "sig=" in sample
    image = httpx.get(sample)
    assert image.headers["content-type"] == "image/png"
    assert decoded(image.content) == (96, 64)


def test_wrong_key_and_bad_sizes_are_refused_like_bfl(fake: FakeBFL) -> None:
    assert submit(fake, key="nope").status_code == 401
    assert submit(fake, key="nope").json() == {"detail": "Not authenticated"}
    refused = submit(fake, width=100)
    assert refused.status_code == 422
    assert refused.json()["detail"][0]["loc"] == ["body", "width"]
    unknown = httpx.post(f"{fake.base_url}/v1/flux-nope", json={}, headers={"x-key": KEY})
    assert unknown.status_code == 404


def test_scripted_errors_keep_their_status_body_and_headers(fake: FakeBFL) -> None:
    fake.will(
        error(402, insufficient_credits()), error(429, {"detail": "busy"}, **{"Retry-After": "3"})
    )
    assert submit(fake).status_code == 402
    limited = submit(fake)
    assert (limited.status_code, limited.headers["retry-after"]) == (429, "3")


@pytest.mark.parametrize(
    ("kind", "status"),
    [
        ("request_moderated", "Request Moderated"),
        ("content_moderated", "Content Moderated"),
        ("failed", "Error"),
        ("lost", "Task not found"),
    ],
)
def test_terminal_statuses_other_than_ready(fake: FakeBFL, kind: str, status: str) -> None:
    fake.will(Step(kind, reason="GPU fell over"))
    answer = poll(submit(fake).json()["polling_url"])
    assert answer["status"] == status
    assert answer.get("result") is None


def test_an_expired_sample_url_is_refused_by_the_delivery_store(fake: FakeBFL) -> None:
    fake.will(Step("expired"))
    sample = poll(submit(fake).json()["polling_url"])["result"]["sample"]  # type: ignore[index]
    expired = httpx.get(sample)
    assert expired.status_code == 403
    assert b"AuthenticationFailed" in expired.content
    tampered = httpx.get(sample.replace("sig=", "sig=0"))
    assert tampered.status_code == 403
