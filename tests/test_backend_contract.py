"""One contract suite over every backend and its fake (subjects: tests/contract/subjects.py).

Each subject runs success, `n > 1` with usage, and every failure behaviour it can show:
the error's TYPE (which decides retry and charge), `Retry-After`, timeouts before and after
the request was sent, no secret or internal address in the message, and cancel where the
backend has the hook. Vendor-specific wire details stay in tests/test_backend_<vendor>.py.
"""

from __future__ import annotations

import asyncio
import io
from decimal import Decimal

import httpx
import pytest
from PIL import Image

from backends.base import Cancellable, GeneratedImage, GenerationRequest
from backends.errors import (
    AuthError,
    BackendError,
    BadImage,
    ContentRefused,
    RateLimited,
    Timeout,
    VendorUnavailable,
)
from backends.registry import BUILTIN
from gateway.money.book import PriceBook
from gateway.settings import BackendSettings
from tests.contract.subjects import KEY, SUBJECTS, WRONG_KEY, HttpSubject, Rig, Subject
from tests.fakes.blackhole import blackhole
from tests.fakes.kit import raised

# behaviour -> (error type, retryable, charged)
EXPECTED: dict[str, tuple[type[BackendError], bool, bool]] = {
    "auth": (AuthError, False, False),
    "refused": (ContentRefused, False, False),
    "rate_limited": (RateLimited, True, False),
    "server_error": (VendorUnavailable, True, False),
    "truncated": (BadImage, True, True),
    "not_an_image": (BadImage, True, True),
    "timeout_before_send": (Timeout, True, False),
    "timeout_after_send": (Timeout, True, True),
}
SHORT_TIMEOUT = 0.8  # the slow answers take seconds longer


def ids(subject: Subject) -> str:
    return subject.id


FAILURES = [
    pytest.param(subject, behaviour, id=f"{subject.id}-{behaviour}")
    for subject in SUBJECTS
    for behaviour in sorted(subject.behaviours)
]
CANCELLABLE = [subject for subject in SUBJECTS if subject.cancel_path is not None]


def request(subject: Subject, **changes: object) -> GenerationRequest:
    width, height = subject.size
    fields: dict = {"prompt": "a lighthouse at dusk", "model": subject.model}
    return GenerationRequest(**(fields | {"width": width, "height": height} | changes))


def decoded_size(image: GeneratedImage) -> tuple[int, int]:
    assert image.media_type.startswith("image/")
    with Image.open(io.BytesIO(image.data)) as picture:
        picture.load()
        return picture.size


def test_every_builtin_backend_type_has_a_subject() -> None:
    covered = {"procedural"} | {s.type for s in SUBJECTS if isinstance(s, HttpSubject)}
    assert set(BUILTIN) <= covered, f"add a subject for {sorted(set(BUILTIN) - covered)}"


@pytest.mark.parametrize("subject", SUBJECTS, ids=ids)
async def test_success_is_one_whole_image_of_the_size(
    subject: Subject, http: httpx.AsyncClient
) -> None:
    with subject.rig(http) as rig:
        req = request(subject)
        assert rig.backend.capabilities(subject.model).check(req) is None
        generation = await rig.backend.generate(req)
    [image] = generation.images
    assert decoded_size(image) == subject.size
    assert generation.usage.images == 1


@pytest.mark.parametrize("subject", SUBJECTS, ids=ids)
async def test_n_above_one_gives_n_distinct_images_and_reports_usage(
    subject: Subject, http: httpx.AsyncClient
) -> None:
    with subject.rig(http) as rig:
        req = request(subject, n=2)
        generation = await rig.backend.generate(req)
    assert [decoded_size(image) for image in generation.images] == [subject.size] * 2
    assert len({image.data for image in generation.images}) == 2
    assert generation.usage.images == 2
    # The host prices what was asked; a backend only reports usage.
    book = PriceBook({"x": BackendSettings(type="x", prices={subject.model: "0.04"})})
    assert book.estimate("x", req.model, req.size, req.quality, req.n) == Decimal("0.08")


@pytest.mark.parametrize(("subject", "behaviour"), FAILURES)
async def test_each_failure_has_its_type(
    subject: Subject, behaviour: str, http: httpx.AsyncClient
) -> None:
    error = await _failure(subject, behaviour, http)
    kind, retryable, charged = EXPECTED[behaviour]
    if behaviour == "refused":
        charged = subject.refused_charged
    assert isinstance(error, kind), repr(error)
    assert (error.retryable, error.charged) == (retryable, charged), repr(error)
    if behaviour == "rate_limited":
        assert error.retry_after == 2.0
    if isinstance(error, Timeout):
        assert error.sent is (behaviour == "timeout_after_send")
    for secret in (KEY, WRONG_KEY, "127.0.0.1"):
        assert secret not in error.message and secret not in repr(error)


async def _failure(subject: Subject, behaviour: str, http: httpx.AsyncClient) -> BackendError:
    if behaviour == "timeout_before_send" and isinstance(subject, HttpSubject):
        with blackhole() as url, subject.rig(http, timeout=SHORT_TIMEOUT, base_url=url) as rig:
            return await raised(rig.backend.generate(request(subject)))
    if behaviour == "auth" and isinstance(subject, HttpSubject):
        with subject.rig(http, wrong_key=True) as rig:
            return await raised(rig.backend.generate(request(subject)))
    timeout = SHORT_TIMEOUT if behaviour == "timeout_after_send" else 10.0
    with subject.rig(http, timeout=timeout) as rig:
        subject.will(rig, behaviour)
        return await raised(rig.backend.generate(request(subject)))


@pytest.mark.parametrize("subject", SUBJECTS, ids=ids)
def test_the_cancel_hook_is_declared_where_cancel_is_supported(
    subject: Subject, http: httpx.AsyncClient
) -> None:
    with subject.rig(http) as rig:
        assert isinstance(rig.backend, Cancellable) is (subject.cancel_path is not None)


class Handles:
    """A `Progress` that hands the first vendor job id to the test."""

    def __init__(self) -> None:
        self.first: asyncio.Future[str] = asyncio.get_running_loop().create_future()

    async def submitted(self, handle: str) -> None:
        if not self.first.done():
            self.first.set_result(handle)

    async def partial(self, index: int, image: GeneratedImage) -> None:
        return None


async def _running(subject: Subject, rig: Rig) -> tuple[asyncio.Task[object], str]:
    """A generation whose vendor job was accepted and keeps running, and its handle."""
    subject.stick(rig)
    progress = Handles()
    task: asyncio.Task[object] = asyncio.create_task(
        rig.backend.generate(request(subject), progress)  # type: ignore[arg-type]
    )
    async with asyncio.timeout(10):
        handle = await asyncio.shield(progress.first)
    return task, handle


@pytest.mark.parametrize("subject", CANCELLABLE, ids=ids)
async def test_an_abandoned_attempt_cancels_its_vendor_job(
    subject: Subject, http: httpx.AsyncClient
) -> None:
    with subject.rig(http) as rig:
        task, _ = await _running(subject, rig)
        assert subject.cancels_seen(rig) == 0
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        assert subject.cancels_seen(rig) == 1


@pytest.mark.parametrize("subject", CANCELLABLE, ids=ids)
async def test_cancel_by_handle_reaches_the_vendor(
    subject: Subject, http: httpx.AsyncClient
) -> None:
    with subject.rig(http) as rig:
        task, handle = await _running(subject, rig)
        assert isinstance(rig.backend, Cancellable)
        await rig.backend.cancel(handle)  # what another process holding only the id can do
        assert subject.cancels_seen(rig) >= 1
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
