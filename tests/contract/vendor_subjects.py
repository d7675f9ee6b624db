"""Contract-suite subjects for the vendors added with issue 14: one `HttpSubject` each
(see subjects.py for what each behaviour means); `subjects.SUBJECTS` includes them."""

from __future__ import annotations

from pathlib import Path

from tests.contract.subjects import SLOW, HttpSubject
from tests.fakes.automatic1111_server import FakeAutomatic1111, out_of_memory
from tests.fakes.azure_openai_server import (
    FakeAzureOpenAI,
    azure_error,
    content_filtered,
    rate_limit_body,
)
from tests.fakes.bfl_server import FakeBFL, too_many_tasks
from tests.fakes.comfyui_server import FakeComfyUI
from tests.fakes.fal_server import FakeFal, request_error
from tests.fakes.gemini_server import FakeGemini, overloaded, quota_exceeded
from tests.fakes.openai_compatible_server import (
    FakeOpenAICompatible,
    local_error,
    no_model_loaded,
)
from tests.fakes.script import Step, error, html, rate_limited, slow, truncated

WORKFLOW = Path(__file__).resolve().parents[2] / "config" / "comfyui" / "txt2img-sdxl.json"
COMFY_INPUTS = {
    "prompt": "6.text",
    "negative_prompt": "7.text",
    "width": "5.width",
    "height": "5.height",
    "seed": "3.seed",
    "n": "5.batch_size",
}
BAD_BYTES = {"truncated": [truncated()], "not_an_image": [html()]}

VENDOR_SUBJECTS = [
    HttpSubject(
        id="bfl",
        type="bfl",
        model="flux-pro-1.1",
        fake=FakeBFL,
        options={"poll_interval": 0.02},
        steps={
            "refused": [Step("request_moderated")],
            "rate_limited": [rate_limited(too_many_tasks())],
            "server_error": [error(500, {"detail": "Internal Server Error"})],
            "timeout_after_send": [Step("stuck")],
            **BAD_BYTES,
        },
    ),
    HttpSubject(
        id="gemini",
        type="gemini",
        model="gemini-2.5-flash-image",
        fake=FakeGemini,
        steps={
            "refused": [Step("blocked")],
            "rate_limited": [error(429, quota_exceeded("2s"))],  # RetryInfo, no header
            "server_error": [error(503, overloaded())],
            "timeout_after_send": [slow(SLOW)],
            **BAD_BYTES,
        },
    ),
    HttpSubject(
        id="gemini-imagen",
        type="gemini",
        model="imagen-4.0-generate-001",
        fake=FakeGemini,
        steps={
            "refused": [Step("all_filtered"), Step("all_filtered")],
            "rate_limited": [error(429, quota_exceeded("2s"))],
            "server_error": [error(503, overloaded())],
            "timeout_after_send": [slow(SLOW)],
            **BAD_BYTES,
        },
    ),
    HttpSubject(
        id="fal",
        type="fal",
        model="fal-ai/flux/dev",
        fake=FakeFal,
        options={"poll_interval": 0.02},
        steps={
            "refused": [Step("refused")],
            "rate_limited": [rate_limited({"detail": "Too many requests"})],
            "server_error": [
                error(503, request_error("No runner available", "runner_scheduling_failure"))
            ],
            "timeout_after_send": [Step("stuck")],
            **BAD_BYTES,
        },
        cancel_path="/cancel",
        cancel_method="PUT",
        stuck=Step("stuck"),
    ),
    HttpSubject(
        id="azure-openai",
        type="azure-openai",
        model="images",
        size=(256, 256),
        fake=lambda key: FakeAzureOpenAI(key, {"images": "dall-e-2"}),
        options={"deployments": {"images": "dall-e-2"}, "api_version": "2024-10-21"},
        steps={
            "refused": [error(400, content_filtered())],
            "rate_limited": [rate_limited(rate_limit_body(2))],
            "server_error": [error(500, azure_error("InternalServerError", "Backend failed"))],
            "timeout_after_send": [slow(SLOW)],
            **BAD_BYTES,
        },
    ),
    HttpSubject(
        id="openai-compatible",
        type="openai-compatible",
        model="sdxl",
        api_path="/v1",
        fake=lambda key: FakeOpenAICompatible(key, models=("sdxl",)),
        steps={
            "rate_limited": [rate_limited(local_error(429, "Too many requests"))],
            "server_error": [error(503, no_model_loaded())],
            "timeout_after_send": [slow(SLOW)],
            **BAD_BYTES,
        },
    ),
    HttpSubject(
        id="automatic1111",
        type="automatic1111",
        model="default",
        fake=lambda key: FakeAutomatic1111((key,)),  # `--api-auth`: the key is "user:pass"
        steps={
            "server_error": [error(500, out_of_memory())],
            "timeout_after_send": [slow(SLOW)],
            **BAD_BYTES,
        },
    ),
    HttpSubject(
        id="comfyui",
        type="comfyui",
        model="sdxl",
        fake=FakeComfyUI,  # with a key: the Bearer-checking proxy in front of it
        options={"workflow": str(WORKFLOW), "inputs": COMFY_INPUTS, "poll_interval": 0.02},
        steps={
            "server_error": [error(500, {"error": "Internal Server Error"})],
            "timeout_after_send": [Step("stuck")],
            **BAD_BYTES,
        },
        cancel_path="/interrupt",
        stuck=Step("stuck"),
    ),
]
