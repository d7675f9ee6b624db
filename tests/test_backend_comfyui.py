"""ComfyUIBackend against the local ComfyUI fake: template substitution, history, /view."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from pydantic import ValidationError

from backends.comfyui import ComfyUIBackend, ComfyUIOptions
from backends.errors import InvalidRequest, Timeout, VendorFailed
from tests.fakes.comfyui_server import FakeComfyUI
from tests.fakes.kit import built, decoded, raised, request, serving
from tests.fakes.script import Step, ok

WORKFLOW = str(Path(__file__).resolve().parent.parent / "config" / "comfyui" / "txt2img-sdxl.json")
INPUTS = {
    "prompt": "6.text",
    "negative_prompt": "7.text",
    "width": "5.width",
    "height": "5.height",
    "seed": "3.seed",
    "n": "5.batch_size",
}


@pytest.fixture
def fake() -> Iterator[FakeComfyUI]:
    with serving(FakeComfyUI()) as fake:
        yield fake


def make(fake: FakeComfyUI, http: httpx.AsyncClient, **options: Any) -> ComfyUIBackend:
    fields: dict[str, Any] = {"workflow": WORKFLOW, "inputs": INPUTS, "poll_interval": 0.01}
    backend: ComfyUIBackend = built(ComfyUIBackend, fake.base_url, http, **(fields | options))
    return backend


async def test_values_land_in_their_node_inputs(fake: FakeComfyUI, http: httpx.AsyncClient) -> None:
    fake.will(ok(polls=2))
    generation = await make(fake, http).generate(
        request("sdxl", n=2, seed=41, negative_prompt="blurry", width=100, height=60)
    )
    assert [decoded(i.data) for i in generation.images] == [(100, 60)] * 2
    [queued] = fake.requests_to("/prompt")
    graph = queued.json["prompt"]
    assert graph["6"]["inputs"]["text"] == "a koi pond"
    assert graph["7"]["inputs"]["text"] == "blurry"
    assert graph["3"]["inputs"]["seed"] == 41
    assert graph["5"]["inputs"] == {"width": 96, "height": 64, "batch_size": 2}
    assert graph["4"]["inputs"]["ckpt_name"] == "sd_xl_base_1.0.safetensors"  # untouched
    assert len(fake.requests_to("/view", method="GET")) == 2


async def test_without_a_seed_each_job_gets_a_random_one(
    fake: FakeComfyUI, http: httpx.AsyncClient
) -> None:
    backend = make(fake, http)
    await backend.generate(request("sdxl"))
    await backend.generate(request("sdxl"))
    seeds = {call.json["prompt"]["3"]["inputs"]["seed"] for call in fake.requests_to("/prompt")}
    assert len(seeds) == 2


async def test_unmapped_parameters_are_refused_by_capabilities(
    fake: FakeComfyUI, http: httpx.AsyncClient
) -> None:
    minimal = {"prompt": "6.text", "width": "5.width", "height": "5.height"}
    caps = make(fake, http, inputs=minimal).capabilities("sdxl")
    assert (caps.seed, caps.negative_prompt, caps.max_n) == (False, False, 1)
    refused = caps.check(request("sdxl", negative_prompt="blurry"))
    assert refused is not None and refused.param == "negative_prompt"


@pytest.mark.parametrize(
    ("inputs", "problem"),
    [
        ({**INPUTS, "seed": "3.noise"}, "inputs.seed"),
        ({**INPUTS, "prompt": "99.text"}, "inputs.prompt"),
    ],
)
def test_mappings_are_checked_against_the_workflow(inputs: dict[str, str], problem: str) -> None:
    with pytest.raises(ValidationError, match=problem):
        ComfyUIOptions.model_validate({"workflow": WORKFLOW, "inputs": inputs})


def test_an_unreadable_or_foreign_workflow_is_a_config_error(tmp_path: Path) -> None:
    with pytest.raises(ValidationError, match="cannot be read"):
        ComfyUIOptions.model_validate({"workflow": str(tmp_path / "none.json"), "inputs": INPUTS})
    ui_format = tmp_path / "ui.json"
    ui_format.write_text(json.dumps({"nodes": [], "links": []}))
    with pytest.raises(ValidationError, match="API format"):
        ComfyUIOptions.model_validate({"workflow": str(ui_format), "inputs": INPUTS})


@pytest.fixture
def refused_workflow(tmp_path: Path) -> str:
    graph = json.loads(Path(WORKFLOW).read_text())
    graph["4"]["inputs"]["ckpt_name"] = "missing.safetensors"
    path = tmp_path / "wf.json"
    path.write_text(json.dumps(graph))
    return str(path)


async def test_a_workflow_the_server_refuses_is_invalid_request(
    fake: FakeComfyUI, http: httpx.AsyncClient, refused_workflow: str
) -> None:
    err = await raised(make(fake, http, workflow=refused_workflow).generate(request("sdxl")))
    assert isinstance(err, InvalidRequest) and not err.retryable
    assert "missing.safetensors" in err.message


@pytest.mark.parametrize(
    ("step", "kind"),
    [(Step("failed", reason="CUDA out of memory."), VendorFailed)],
)
async def test_failures(fake: FakeComfyUI, http: httpx.AsyncClient, step: Step, kind: type) -> None:
    fake.will(step)
    err = await raised(make(fake, http).generate(request("sdxl")))
    assert type(err) is kind and err.retryable


async def test_an_abandoned_prompt_is_deleted_and_interrupted(
    fake: FakeComfyUI, http: httpx.AsyncClient
) -> None:
    fake.will(Step("stuck"))
    backend: ComfyUIBackend = built(
        ComfyUIBackend,
        fake.base_url,
        http,
        timeout=0.3,
        workflow=WORKFLOW,
        inputs=INPUTS,
        poll_interval=0.01,
    )
    err = await raised(backend.generate(request("sdxl")))
    assert isinstance(err, Timeout)
    [prompt_id] = fake.queue
    assert fake.deleted == [prompt_id] and fake.interrupts == 1
