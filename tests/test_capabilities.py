"""Parameters a target cannot honour: refused at submit (first target), skipped (fallbacks)."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from starlette.testclient import TestClient

from backends.base import GenerationRequest
from backends.capabilities import ModelCapabilities
from backends.errors import VendorUnavailable
from backends.mock import MockBackend
from gateway.settings import Settings
from tests.conftest import AUTH
from tests.polling import wait_for_job

PLAIN = ModelCapabilities(sizes=frozenset({"64x64"}), qualities=frozenset({"hd"}), max_n=2)


def two_targets(make_settings: Callable[..., Settings]) -> Settings:
    return make_settings(
        backends={"first": {"type": "procedural"}, "second": {"type": "procedural"}},
        models={
            "procedural": {"default": False},
            "chain": {
                "default": True,
                "sizes": ["64x64", "128x128"],
                "targets": [
                    {"backend": "first", "model": "m1"},
                    {"backend": "second", "model": "m2"},
                ],
            },
        },
    )


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"negativePrompt": "fog"}, "negativePrompt"),
        ({"seed": 7}, "seed"),
        ({"size": "128x128"}, "size"),
        ({"quality": "low"}, "quality"),
        ({"n": 3}, "n"),
    ],
)
def test_the_first_target_refuses_at_submit_naming_the_field(
    make_client: Callable[..., TestClient],
    make_settings: Callable[..., Settings],
    body: dict[str, object],
    field: str,
) -> None:
    first = MockBackend("first", capabilities=PLAIN)
    second = MockBackend("second")
    client = make_client(two_targets(make_settings), backends={"first": first, "second": second})
    answer = client.post("/images/jobs", json={"prompt": "p", "size": "64x64"} | body, headers=AUTH)
    assert answer.status_code == 400, answer.text
    error = answer.json()["error"]
    assert error["code"] == "invalid_request"
    assert error["message"].startswith(f"{field}: model 'chain' cannot honour it")
    assert first.calls == second.calls == 0


def test_what_the_target_honours_is_accepted(
    make_client: Callable[..., TestClient], make_settings: Callable[..., Settings]
) -> None:
    first = MockBackend("first", capabilities=PLAIN)
    client = make_client(two_targets(make_settings), backends={"first": first})
    body = {"prompt": "p", "size": "64x64", "quality": "hd", "n": 2}
    job = wait_for_job(
        client, client.post("/images/jobs", json=body, headers=AUTH).json()["data"]["jobId"], AUTH
    )
    assert job["status"] == "SUCCEEDED" and first.calls == 1


def test_a_fallback_that_cannot_honour_is_skipped_and_recorded(
    make_client: Callable[..., TestClient], make_settings: Callable[..., Settings]
) -> None:
    settings = two_targets(make_settings).model_copy(
        update={"retry": make_settings().retry.model_copy(update={"max_attempts": 1})}
    )
    first = MockBackend("first", script=[VendorUnavailable("down")])
    second = MockBackend("second", capabilities=ModelCapabilities(negative_prompt=False))
    client = make_client(settings, backends={"first": first, "second": second})
    body = {"prompt": "p", "size": "64x64", "negativePrompt": "fog"}
    job_id = client.post("/images/jobs", json=body, headers=AUTH).json()["data"]["jobId"]
    job = wait_for_job(client, job_id, AUTH)
    assert job["status"] == "FAILED"
    assert [(a["backend"], a["outcome"]) for a in job["attemptLog"]] == [
        ("first", "vendor_unavailable"),
        ("second", "unsupported_negative_prompt"),
    ]
    assert second.calls == 0 and job["cost"] in ("0", "0.00")
    assert job["attempts"] == 1  # the skipped fallback was recorded, not called
    assert job["error"]["message"].startswith("1 attempts failed")


def test_check_names_edits_and_variations() -> None:
    request = GenerationRequest("p", "m", 8, 8, operation="edit", images=(b"x",))
    unsupported = ModelCapabilities().check(request)
    assert unsupported is not None and unsupported.param == "images"
    variation = GenerationRequest("p", "m", 8, 8, operation="variation", images=(b"x",))
    assert ModelCapabilities(variations=True).check(variation) is None
    masked = GenerationRequest("p", "m", 8, 8, operation="edit", images=(b"x",), mask=b"m")
    assert ModelCapabilities(input_images=1).check(masked).param == "mask"  # type: ignore[union-attr]
