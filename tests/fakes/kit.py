"""What the backend tests share: running a fake vendor, catching the error, decoding bytes."""

from __future__ import annotations

import io
from collections.abc import Awaitable, Iterator
from contextlib import contextmanager
from typing import Any, TypeVar

import pytest
from PIL import Image

from backends.base import BackendError
from tests.fakes.serve import running

Fake = TypeVar("Fake")


@contextmanager
def serving(fake: Fake) -> Iterator[Fake]:
    """Run a fake vendor's app on 127.0.0.1 and point `fake.base_url` at it."""
    app: Any = fake.app  # type: ignore[attr-defined]
    with running(app) as base_url:
        fake.base_url = base_url  # type: ignore[attr-defined]
        yield fake


async def raised(call: Awaitable[object]) -> BackendError:
    """The `BackendError` that `call` raises (the test fails if it raises none)."""
    with pytest.raises(BackendError) as caught:
        await call
    return caught.value


def decoded(data: bytes) -> tuple[int, int]:
    with Image.open(io.BytesIO(data)) as image:
        image.load()
        return image.size
