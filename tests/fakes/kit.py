"""What the backend tests share: running a fake vendor, catching the error, decoding bytes."""

from __future__ import annotations

import io
from collections.abc import Awaitable, Iterator
from contextlib import contextmanager
from typing import Any, TypeVar

import httpx
import pytest
from PIL import Image

from backends.base import (
    BackendConfig,
    BackendDeps,
    BackendError,
    GenerationRequest,
    options_model,
    plain_download,
)
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


def built(
    cls: Any,
    base_url: str,
    http: httpx.AsyncClient,
    *,
    key: str | None = None,
    timeout: float = 5.0,
    **options: Any,
) -> Any:
    """A backend of class `cls` built the way the host builds it: a `BackendConfig` with the
    key resolved and `options` validated by the class's own model, plus injected deps."""
    config = BackendConfig(
        name=cls.vendor,
        type=cls.vendor,
        options=options_model(cls).model_validate(options),
        base_url=base_url,
        api_key=key,
        timeout=timeout,
    )
    return cls(config, BackendDeps(http=http, download=plain_download(http)))


def request(model: str, **overrides: Any) -> GenerationRequest:
    fields: dict[str, Any] = {"prompt": "a koi pond", "model": model, "width": 64, "height": 48}
    return GenerationRequest(**(fields | overrides))
