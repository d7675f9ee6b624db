"""FalBackend against the local fal queue fake: submit, poll, result, cancel, moderation."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator

import httpx
import pytest

from backends.errors import (
    AuthError,
    BadImage,
    ContentRefused,
    OutputFiltered,
    RateLimited,
    Timeout,
    VendorUnavailable,
)
from backends.fal import FalBackend
from tests.fakes.fal_server import FakeFal, request_error
from tests.fakes.kit import built, decoded, raised, request, serving
from tests.fakes.script import Step, error, ok, rate_limited, truncated

KEY = "key-id:key-secret"
MODEL = "fal-ai/flux/dev"


@pytest.fixture
def fake() -> Iterator[FakeFal]:
    with serving(FakeFal(KEY)) as fake:
        yield fake


def make(
    fake: FakeFal, http: httpx.AsyncClient, key: str = KEY, timeout: float = 3.0
) -> FalBackend:
    backend: FalBackend = built(
        FalBackend, fake.base_url, http, key=key, timeout=timeout, poll_interval=0.01
    )
    return backend


class Handles:
    def __init__(self) -> None:
        self.handles: list[str] = []

    async def submitted(self, handle: str) -> None:
        self.handles.append(handle)

    async def partial(self, index: int, image: object) -> None:
        return None


async def test_one_queue_request_for_n_images(fake: FakeFal, http: httpx.AsyncClient) -> None:
    fake.will(ok(polls=2))
    progress = Handles()
    generation = await make(fake, http).generate(
        request(MODEL, n=2, seed=3, output_format="png"), progress
    )

    assert [decoded(image.data) for image in generation.images] == [(64, 48)] * 2
    [submit] = fake.requests_to(f"/{MODEL}")
    assert submit.headers["authorization"] == f"Key {KEY}"
    assert submit.json["image_size"] == {"width": 64, "height": 48}
    assert (submit.json["num_images"], submit.json["seed"]) == (2, 3)
    assert "negative_prompt" not in submit.json
    [handle] = progress.handles
    assert handle.startswith("fal-ai/flux/")
    files = fake.requests_to("/files/", method="GET")
    assert len(files) == 2 and all("authorization" not in f.headers for f in files)


@pytest.mark.parametrize(
    ("step", "kind", "retryable", "charged"),
    [
        (Step("refused"), ContentRefused, False, False),
        (Step("nsfw"), OutputFiltered, False, True),
        (Step("failed", reason="CUDA error"), VendorUnavailable, True, False),
        (rate_limited({"detail": "Too many requests"}, "4"), RateLimited, True, False),
        (
            error(503, request_error("No runner", "runner_scheduling_failure")),
            VendorUnavailable,
            True,
            False,
        ),
        (truncated(), BadImage, True, True),
    ],
)
async def test_failures_map_to_their_types(
    fake: FakeFal,
    http: httpx.AsyncClient,
    step: Step,
    kind: type,
    retryable: bool,
    charged: bool,
) -> None:
    fake.will(step)
    err = await raised(make(fake, http).generate(request(MODEL)))
    assert type(err) is kind
    assert (err.retryable, err.charged) == (retryable, charged)


async def test_wrong_key_is_an_auth_error(fake: FakeFal, http: httpx.AsyncClient) -> None:
    err = await raised(make(fake, http, key="nope:nope").generate(request(MODEL)))
    assert isinstance(err, AuthError)
    assert "nope:nope" not in err.message


async def test_an_abandoned_attempt_cancels_its_queue_request(
    fake: FakeFal, http: httpx.AsyncClient
) -> None:
    fake.will(Step("stuck"))
    err = await raised(make(fake, http, timeout=0.3).generate(request(MODEL)))
    assert isinstance(err, Timeout) and err.charged
    [cancel] = fake.requests_to("/cancel", method="PUT")
    assert cancel.headers["authorization"] == f"Key {KEY}"
    assert next(iter(fake.requests.values())).status == "CANCELLED"


async def test_cancel_by_handle_from_another_backend(
    fake: FakeFal, http: httpx.AsyncClient
) -> None:
    fake.will(Step("stuck"))
    progress = Handles()
    task = asyncio.create_task(make(fake, http, timeout=10).generate(request(MODEL), progress))
    while not progress.handles:
        await asyncio.sleep(0.01)
    await make(fake, http).cancel(progress.handles[0])
    assert next(iter(fake.requests.values())).status == "CANCELLED"
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
