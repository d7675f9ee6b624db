"""Every backend type under the contract suite, each with its fake: ONE ENTRY PER BACKEND.

To add a backend, append an `HttpSubject` to `SUBJECTS`: its type, a model the fake serves,
how to start the fake (`fake=lambda key: FakeX(key)`), and for each behaviour the fake can
show, the scripted answers (`tests.fakes.script.Step`s in the vendor's own wire format):

    refused           the vendor's content refusal            -> ContentRefused
    rate_limited      HTTP 429 with `Retry-After: 2`          -> RateLimited(retry_after=2.0)
    server_error      a 5xx                                    -> VendorUnavailable
    truncated         image bytes cut in half                  -> BadImage (charged)
    not_an_image      HTML where an image should be            -> BadImage (charged)
    timeout_after_send  an answer slower than the timeout (or a vendor job that never ends)
                                                               -> Timeout(sent=True), charged

`auth` (a wrong key; only for subjects with a `key`) and `timeout_before_send` (a port whose
connects hang) need no script: the suite does them for every HTTP subject. A behaviour left
out is not run for that subject (never skipped: it is simply not in the matrix). Set
`cancel_path` when the backend has a `cancel` hook, with `stuck` the step that keeps the
vendor's job running.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass, field
from typing import Any, Protocol

import httpx

from backends.base import Backend, Generation, GenerationRequest, Progress
from backends.errors import AuthError, ContentRefused, RateLimited, Timeout, VendorUnavailable
from backends.mock import MockBackend, Outcome
from gateway.backend_setup import build_backend
from gateway.settings import BackendSettings
from tests.fakes import openai_server, replicate_server, stability_server
from tests.fakes.kit import serving
from tests.fakes.script import FakeVendor, Step, error, html, rate_limited, slow, truncated

KEY = "sk-contract-0123456789abcdef"
WRONG_KEY = "sk-wrong-contract-9876543210"
KEY_ENV = "IMAGEGATE_CONTRACT_KEY"
SLOW = 5.0  # seconds a "slow" answer takes; the suite's timeouts are well below

SCRIPTED = (
    "refused",
    "rate_limited",
    "server_error",
    "truncated",
    "not_an_image",
    "timeout_after_send",
)
GENERIC = ("auth", "timeout_before_send")


@dataclass
class Rig:
    """A backend under test, and the fake (if any) behind it."""

    backend: Backend
    fake: FakeVendor | None = None


class Subject(Protocol):
    id: str
    model: str
    size: tuple[int, int]
    refused_charged: bool
    cancel_path: str | None

    @property
    def behaviours(self) -> frozenset[str]: ...

    def rig(
        self,
        http: httpx.AsyncClient,
        *,
        timeout: float = 10.0,
        wrong_key: bool = False,
        base_url: str | None = None,
    ) -> AbstractContextManager[Rig]: ...

    def will(self, rig: Rig, behaviour: str) -> None: ...

    def stick(self, rig: Rig) -> None: ...

    def cancels_seen(self, rig: Rig) -> int: ...


@dataclass(frozen=True)
class HttpSubject:
    id: str
    type: str
    model: str
    fake: Callable[[str], FakeVendor]
    steps: Mapping[str, Sequence[Step]]
    key: str | None = KEY  # None: the backend takes no key (the `auth` behaviour is not run)
    api_path: str = ""  # appended to the fake's root to make `base_url`, e.g. "/v1"
    options: Mapping[str, Any] = field(default_factory=dict)
    size: tuple[int, int] = (64, 64)
    refused_charged: bool = False  # the vendor refuses after running the job (billed)
    cancel_path: str | None = None  # the fake's path a vendor cancel hits
    cancel_method: str = "POST"  # fal cancels with PUT
    stuck: Step | None = None  # a step that keeps the vendor's job running

    @property
    def behaviours(self) -> frozenset[str]:
        generic = set(GENERIC) if self.key else {"timeout_before_send"}
        return frozenset(self.steps) | generic

    @contextmanager
    def rig(
        self,
        http: httpx.AsyncClient,
        *,
        timeout: float = 10.0,
        wrong_key: bool = False,
        base_url: str | None = None,
    ) -> Iterator[Rig]:
        with serving(self.fake(self.key or "")) as fake:
            settings = BackendSettings(
                type=self.type,
                base_url=(base_url or fake.base_url) + self.api_path,
                api_key_env=KEY_ENV if self.key else None,
                timeout=timeout,
                options=dict(self.options),
            )
            environ = {KEY_ENV: WRONG_KEY if wrong_key else (self.key or "")}
            backend = build_backend(self.id, settings, http, environ)
            yield Rig(backend, fake)

    def will(self, rig: Rig, behaviour: str) -> None:
        assert rig.fake is not None
        rig.fake.will(*self.steps[behaviour])

    def stick(self, rig: Rig) -> None:
        assert rig.fake is not None and self.stuck is not None
        rig.fake.will(self.stuck)

    def cancels_seen(self, rig: Rig) -> int:
        assert rig.fake is not None and self.cancel_path is not None
        return len(rig.fake.requests_to(self.cancel_path, self.cancel_method))


@dataclass(frozen=True)
class MockSubject:
    """`MockBackend`: the same contract, scripted with our own error types."""

    id: str = "mock"
    model: str = "mock-1"
    size: tuple[int, int] = (64, 64)
    refused_charged: bool = False
    cancel_path: str | None = "mock"

    @property
    def behaviours(self) -> frozenset[str]:
        return frozenset(MOCK_OUTCOMES)

    @contextmanager
    def rig(
        self,
        http: httpx.AsyncClient,
        *,
        timeout: float = 10.0,
        wrong_key: bool = False,
        base_url: str | None = None,
    ) -> Iterator[Rig]:
        yield Rig(MockBackend(self.id))

    def will(self, rig: Rig, behaviour: str) -> None:
        assert isinstance(rig.backend, MockBackend)
        rig.backend.will(MOCK_OUTCOMES[behaviour])

    def stick(self, rig: Rig) -> None:
        assert isinstance(rig.backend, MockBackend)
        rig.backend.will(_stuck)

    def cancels_seen(self, rig: Rig) -> int:
        assert isinstance(rig.backend, MockBackend)
        return len(rig.backend.canceled)


async def _stuck(request: GenerationRequest, progress: Progress) -> Generation:
    """A vendor job that was accepted and never ends."""
    await progress.submitted("mock-job-1")
    await asyncio.sleep(3600)
    raise AssertionError("unreachable")


MOCK_OUTCOMES: dict[str, Outcome] = {
    "auth": AuthError("mock: invalid key"),
    "refused": ContentRefused("mock: refused by the safety system"),
    "rate_limited": RateLimited("mock: slow down", retry_after=2.0),
    "server_error": VendorUnavailable("mock: 503"),
    "timeout_before_send": Timeout("mock: connect timed out", sent=False),
    "timeout_after_send": Timeout("mock: read timed out", sent=True),
}


@dataclass(frozen=True)
class ProceduralSubject:
    """The local generator: no network, so only success, `n > 1` and usage apply."""

    id: str = "procedural"
    model: str = "procedural-v1"
    size: tuple[int, int] = (64, 64)
    refused_charged: bool = False
    cancel_path: str | None = None

    @property
    def behaviours(self) -> frozenset[str]:
        return frozenset()

    @contextmanager
    def rig(
        self,
        http: httpx.AsyncClient,
        *,
        timeout: float = 10.0,
        wrong_key: bool = False,
        base_url: str | None = None,
    ) -> Iterator[Rig]:
        yield Rig(build_backend(self.id, BackendSettings(type="procedural"), http, {}))

    def will(self, rig: Rig, behaviour: str) -> None:
        raise AssertionError(f"procedural has no {behaviour}")

    def stick(self, rig: Rig) -> None:
        raise AssertionError("procedural has no vendor jobs")

    def cancels_seen(self, rig: Rig) -> int:
        return 0


SUBJECTS: list[Subject] = [
    ProceduralSubject(),
    MockSubject(),
    HttpSubject(
        id="openai",
        type="openai",
        model="dall-e-2",
        size=(256, 256),
        fake=openai_server.FakeOpenAI,
        api_path="/v1",
        steps={
            "refused": [error(400, openai_server.content_policy())],
            "rate_limited": [
                rate_limited(
                    openai_server.error_body("Rate limit reached.", code="rate_limit_exceeded")
                )
            ],
            "server_error": [
                error(500, openai_server.error_body("The server had an error.", "server_error"))
            ],
            "truncated": [truncated()],
            "not_an_image": [html()],
            "timeout_after_send": [slow(SLOW)],
        },
    ),
    HttpSubject(
        id="stability",
        type="stability",
        model="core",
        fake=stability_server.FakeStability,
        steps={
            "refused": [error(403, stability_server.moderation())],
            "rate_limited": [
                rate_limited(
                    stability_server.error_body(
                        "rate_limit_exceeded", "You have exceeded the limit"
                    )
                )
            ],
            "server_error": [
                error(500, stability_server.error_body("internal_error", "An unexpected error"))
            ],
            "truncated": [truncated()],
            "not_an_image": [html()],
            "timeout_after_send": [slow(SLOW)],
        },
    ),
    HttpSubject(
        id="replicate",
        type="replicate",
        model="black-forest-labs/flux-schnell",
        fake=replicate_server.FakeReplicate,
        options={"poll_interval": 0.02},
        steps={
            "refused": [Step("failed", reason="NSFW content detected. Try a different prompt.")],
            "rate_limited": [
                rate_limited(
                    replicate_server.problem(
                        429, "Request was throttled.", "Expected available in 2 seconds."
                    )
                )
            ],
            "server_error": [
                error(500, replicate_server.problem(500, "Internal Server Error", "try again"))
            ],
            "truncated": [truncated()],
            "not_an_image": [html()],
            "timeout_after_send": [Step("stuck")],
        },
        refused_charged=True,  # the prediction ran before its output was refused
        cancel_path="/cancel",
        stuck=Step("stuck"),
    ),
]

# The vendors of issue 14 live in their own module; imported last (it uses HttpSubject).
from tests.contract.vendor_subjects import VENDOR_SUBJECTS  # noqa: E402

SUBJECTS += VENDOR_SUBJECTS
