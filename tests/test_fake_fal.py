"""The fal fake speaks fal's queue: submit, status until COMPLETED, result, cancel."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from tests.fakes.fal_server import FakeFal
from tests.fakes.kit import decoded, serving
from tests.fakes.script import Step, ok

KEY = "key-id:key-secret"
AUTH = {"Authorization": f"Key {KEY}"}


@pytest.fixture
def fake() -> Iterator[FakeFal]:
    with serving(FakeFal(KEY)) as fake:
        yield fake


def submit(fake: FakeFal, headers: dict[str, str] = AUTH, **body: Any) -> httpx.Response:
    return httpx.post(
        f"{fake.base_url}/fal-ai/flux/dev",
        json={"prompt": "a fox", "image_size": {"width": 80, "height": 48}, **body},
        headers=headers,
    )


def test_submit_poll_and_fetch_the_result(fake: FakeFal) -> None:
    fake.will(ok(polls=1))
    handle = submit(fake, num_images=2, output_format="png").json()
    # The request URLs drop the endpoint's subpath, as fal_client's from_request_id builds them.
    assert handle["status_url"].endswith(f"/fal-ai/flux/requests/{handle['request_id']}/status")

    first = httpx.get(handle["status_url"], headers=AUTH)
    assert (first.status_code, first.json()["status"]) == (202, "IN_PROGRESS")
    assert httpx.get(handle["response_url"], headers=AUTH).status_code == 400  # too early
    done = httpx.get(handle["status_url"], params={"logs": 1}, headers=AUTH).json()
    assert done["status"] == "COMPLETED" and "metrics" in done
    result = httpx.get(handle["response_url"], headers=AUTH).json()
    assert result["has_nsfw_concepts"] == [False, False]
    [image, _] = result["images"]
    assert (image["width"], image["height"], image["content_type"]) == (80, 48, "image/png")
    assert decoded(httpx.get(image["url"]).content) == (80, 48)


def test_wrong_key_is_401_with_fals_detail(fake: FakeFal) -> None:
    refused = submit(fake, headers={"Authorization": "Key nope"})
    assert refused.status_code == 401
    assert refused.json() == {"detail": "No user found for Key ID and Secret"}


def test_cancel_answers_like_fal(fake: FakeFal) -> None:
    fake.will(Step("stuck"))
    handle = submit(fake).json()
    cancel = httpx.put(handle["cancel_url"], headers=AUTH)
    assert (cancel.status_code, cancel.json()) == (202, {"status": "CANCELLATION_REQUESTED"})

    done = submit(fake).json()
    httpx.get(done["status_url"], headers=AUTH)  # completes
    late = httpx.put(done["cancel_url"], headers=AUTH)
    assert (late.status_code, late.json()) == (400, {"status": "ALREADY_COMPLETED"})
    missing = httpx.put(f"{fake.base_url}/fal-ai/flux/requests/nope/cancel", headers=AUTH)
    assert (missing.status_code, missing.json()) == (404, {"status": "NOT_FOUND"})


def test_runner_failures_and_content_policy_come_from_the_result(fake: FakeFal) -> None:
    fake.will(Step("failed", reason="CUDA error"), Step("refused"))
    failed = submit(fake).json()
    status = httpx.get(failed["status_url"], headers=AUTH).json()
    assert status["status"] == "COMPLETED" and status["error"] == "CUDA error"
    runner = httpx.get(failed["response_url"], headers=AUTH)
    assert runner.status_code == 500
    assert runner.headers["x-fal-error-type"] == "runner_server_error"

    refused = submit(fake).json()
    httpx.get(refused["status_url"], headers=AUTH)
    policy = httpx.get(refused["response_url"], headers=AUTH)
    assert policy.status_code == 422
    assert policy.json()["detail"][0]["type"] == "content_policy_violation"


def test_the_safety_checker_blacks_out_a_flagged_image(fake: FakeFal) -> None:
    fake.will(Step("nsfw"))
    handle = submit(fake, num_images=2).json()
    httpx.get(handle["status_url"], headers=AUTH)
    result = httpx.get(handle["response_url"], headers=AUTH).json()
    assert result["has_nsfw_concepts"] == [True, False]
