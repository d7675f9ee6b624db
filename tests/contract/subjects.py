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
from pathlib import Path
from typing import Any, Protocol

import httpx

from backends.base import Backend, Generation, GenerationRequest, Progress
from backends.errors import AuthError, ContentRefused, RateLimited, Timeout, VendorUnavailable
from backends.mock import MockBackend, Outcome
from gateway.backend_setup import build_backend
from gateway.settings import BackendSettings
from tests.fakes import (
    azure_openai_server,
    bfl_server,
    fal_server,
    gemini_server,
    openai_compatible_server,
    openai_server,
    replicate_server,
    stability_server,
)
from tests.fakes.automatic1111_server import FakeAutomatic1111, out_of_memory
from tests.fakes.comfyui_server import FakeComfyUI
from tests.fakes.kit import serving
from tests.fakes.script import FakeVendor, Step, error, html, rate_limited, slow, truncated

KEY = "sk-contract-0123456789abcdef"
WRONG_KEY = "sk-wrong-contract-9876543210"
KEY_ENV = "IMAGEGATE_CONTRACT_KEY"
SLOW = 5.0  # seconds a "slow" answer takes; the suite's timeouts are well below

COMFY_WORKFLOW = str(
    Path(__file__).resolve().parents[2] / "config" / "comfyui" / "txt2img-sdxl.json"
)
COMFY_INPUTS = {
    "prompt": "6.text",
    "negative_prompt": "7.text",
    "width": "5.width",
    "height": "5.height",
    "seed": "3.seed",
    "n": "5.batch_size",
}

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

    @property
    def secrets(self) -> tuple[str, ...]: ...

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
    wrong_key: str = WRONG_KEY
    api_path: str = ""  # appended to the fake's root to make `base_url`, e.g. "/v1"
    options: Mapping[str, Any] = field(default_factory=dict)
    size: tuple[int, int] = (64, 64)
    refused_charged: bool = False  # the vendor refuses after running the job (billed)
    cancel_path: str | None = None  # the fake's path a vendor cancel hits
    stuck: Step | None = None  # a step that keeps the vendor's job running

    @property
    def secrets(self) -> tuple[str, ...]:
        return (self.key or KEY, self.wrong_key)

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
            environ = {KEY_ENV: self.wrong_key if wrong_key else (self.key or "")}
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
        return len([r for r in rig.fake.received if self.cancel_path in r.path])  # any method


@dataclass(frozen=True)
class MockSubject:
    """`MockBackend`: the same contract, scripted with our own error types."""

    id: str = "mock"
    model: str = "mock-1"
    size: tuple[int, int] = (64, 64)
    refused_charged: bool = False
    cancel_path: str | None = "mock"

    @property
    def secrets(self) -> tuple[str, ...]:
        return ()

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
    def secrets(self) -> tuple[str, ...]:
        return ()

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
    HttpSubject(
        id="bfl",
        type="bfl",
        model="flux-pro-1.1",
        fake=bfl_server.FakeBFL,
        options={"poll_interval": 0.01},
        steps={
            "refused": [Step("request_moderated")],
            "rate_limited": [rate_limited(bfl_server.too_many_tasks())],
            "server_error": [error(500, {"detail": "Internal Server Error"})],
            "truncated": [truncated()],
            "not_an_image": [html()],
            "timeout_after_send": [Step("stuck")],
        },
    ),
    HttpSubject(
        id="gemini",
        type="gemini",
        model="gemini-2.5-flash-image",
        key="AIzaContractKey0123456789",
        wrong_key="AIzaWrongContractKey0123",
        fake=gemini_server.FakeGemini,
        steps={
            "refused": [Step("blocked")],
            "rate_limited": [error(429, gemini_server.quota_exceeded("2s"))],
            "server_error": [error(503, gemini_server.overloaded())],
            "truncated": [truncated()],
            "timeout_after_send": [slow(SLOW)],
        },
    ),
    HttpSubject(
        id="fal",
        type="fal",
        model="fal-ai/flux/dev",
        key="contract-id:contract-secret",
        wrong_key="wrong-id:wrong-secret",
        fake=fal_server.FakeFal,
        options={"poll_interval": 0.01},
        steps={
            "refused": [Step("refused")],
            "rate_limited": [rate_limited({"detail": "Too many requests"})],
            "server_error": [
                error(503, fal_server.request_error("No runner", "runner_scheduling_failure"))
            ],
            "truncated": [truncated()],
            "not_an_image": [html()],
            "timeout_after_send": [Step("stuck")],
        },
        cancel_path="/cancel",
        stuck=Step("stuck"),
    ),
    HttpSubject(
        id="azure-openai",
        type="azure-openai",
        model="images-dalle2",
        size=(256, 256),
        key="azurecontract0123456789",
        fake=lambda key: azure_openai_server.FakeAzureOpenAI(key, {"images-dalle2": "dall-e-2"}),
        options={"deployments": {"images-dalle2": "dall-e-2"}, "api_version": "2024-10-21"},
        steps={
            "refused": [error(400, azure_openai_server.content_filtered())],
            "rate_limited": [rate_limited(azure_openai_server.rate_limit_body(2))],
            "server_error": [
                error(500, {"error": {"code": "InternalServerError", "message": "x"}})
            ],
            "truncated": [truncated()],
            "not_an_image": [html()],
            "timeout_after_send": [slow(SLOW)],
        },
    ),
    HttpSubject(
        id="openai-compatible",
        type="openai-compatible",
        model="sdxl",
        key="sk-local-contract-0123456789",
        fake=lambda key: openai_compatible_server.FakeOpenAICompatible(key=key, models=("sdxl",)),
        api_path="/v1",
        steps={
            "rate_limited": [
                rate_limited(openai_compatible_server.local_error(429, "busy, retry later"))
            ],
            "server_error": [error(503, openai_compatible_server.no_model_loaded())],
            "truncated": [truncated()],
            "not_an_image": [html()],
            "timeout_after_send": [slow(SLOW)],
        },
    ),
    HttpSubject(
        id="automatic1111",
        type="automatic1111",
        model="sd_xl_base_1.0",
        key="imagegate:s3cret",
        wrong_key="imagegate:wrong",
        fake=lambda key: FakeAutomatic1111((key.partition(":")[0], key.partition(":")[2])),
        steps={
            "server_error": [error(500, out_of_memory())],
            "truncated": [truncated()],
            "timeout_after_send": [slow(SLOW)],
        },
    ),
    HttpSubject(
        id="comfyui",
        type="comfyui",
        model="sdxl",
        key="sk-comfy-proxy-0123456789",  # the Bearer-checking proxy such servers sit behind
        fake=FakeComfyUI,
        options={"workflow": COMFY_WORKFLOW, "inputs": COMFY_INPUTS, "poll_interval": 0.01},
        steps={
            "server_error": [error(500, {"error": "Internal Server Error"})],
            "truncated": [truncated()],
            "not_an_image": [html()],
            "timeout_after_send": [Step("stuck")],
        },
        cancel_path="/queue",
        stuck=Step("stuck"),
    ),
]
