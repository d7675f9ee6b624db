"""FalBackend against the local fal queue fake: submit, poll, result, cancel, moderation."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest

from backends.errors import (
    ContentRefused,
    OutputFiltered,
    VendorUnavailable,
)
from backends.fal import FalBackend
from tests.fakes.fal_server import FakeFal
from tests.fakes.kit import built, decoded, raised, request, serving
from tests.fakes.script import Step, ok

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
