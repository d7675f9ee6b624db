"""The AUTOMATIC1111 and ComfyUI fakes speak those servers' HTTP APIs, errors included."""

from __future__ import annotations

import base64
import copy
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.fakes.automatic1111_server import FakeAutomatic1111, out_of_memory
from tests.fakes.comfyui_server import FakeComfyUI
from tests.fakes.kit import decoded, serving
from tests.fakes.script import Step, error, ok, png

WORKFLOW = Path(__file__).resolve().parent.parent / "config" / "comfyui" / "txt2img-sdxl.json"
BASIC = ("imagegate", "s3cret")


@pytest.fixture
def a1111() -> Iterator[FakeAutomatic1111]:
    with serving(FakeAutomatic1111(BASIC)) as fake:
        yield fake


def txt2img(fake: FakeAutomatic1111, path: str = "txt2img", **body: Any) -> httpx.Response:
    fields = {"prompt": "a fox", "width": 64, "height": 48, "batch_size": 2, "seed": 11}
    return httpx.post(f"{fake.base_url}/sdapi/v1/{path}", json=fields | body, auth=BASIC)


def test_txt2img_answers_base64_images_and_an_info_string(a1111: FakeAutomatic1111) -> None:
    answer = txt2img(a1111).json()
    assert [decoded(base64.b64decode(image)) for image in answer["images"]] == [(64, 48)] * 2
    assert json.loads(answer["info"])["all_seeds"] == [11, 12]


def test_img2img_needs_init_images(a1111: FakeAutomatic1111) -> None:
    missing = txt2img(a1111, "img2img")
    assert (missing.status_code, missing.json()["detail"]) == (404, "Init image not found")
    init = base64.b64encode(png(8, 8)).decode()
    assert txt2img(a1111, "img2img", init_images=[init]).status_code == 200


def test_a1111_errors_are_its_exception_bodies(a1111: FakeAutomatic1111) -> None:
    no_auth = httpx.post(f"{a1111.base_url}/sdapi/v1/txt2img", json={})
    assert no_auth.status_code == 401
    assert no_auth.headers["www-authenticate"] == "Basic"
    wrong = httpx.post(f"{a1111.base_url}/sdapi/v1/txt2img", json={}, auth=("x", "y"))
    assert wrong.json()["detail"] == "Incorrect username or password"
    assert txt2img(a1111, sampler_name="Nope").json()["detail"] == "Sampler not found"
    a1111.will(error(500, out_of_memory()))
    crashed = txt2img(a1111)
    assert (crashed.status_code, crashed.json()["error"]) == (500, "OutOfMemoryError")


def test_an_extension_may_append_pictures(a1111: FakeAutomatic1111) -> None:
    a1111.will(Step("extra"))
    assert len(txt2img(a1111).json()["images"]) == 3


@pytest.fixture
def comfy() -> Iterator[FakeComfyUI]:
    with serving(FakeComfyUI()) as fake:
        yield fake


def workflow(**inputs: Any) -> dict[str, Any]:
    graph: dict[str, Any] = json.loads(WORKFLOW.read_text())
    graph["6"]["inputs"]["text"] = "a fox"
    graph["5"]["inputs"].update(width=64, height=48, batch_size=2)
    for path, value in inputs.items():
        node, _, name = path.partition("__")
        graph[node]["inputs"][name] = value
    return graph


def queue_prompt(fake: FakeComfyUI, graph: dict[str, Any]) -> httpx.Response:
    return httpx.post(f"{fake.base_url}/prompt", json={"prompt": graph, "client_id": "ig"})


def test_prompt_history_and_view(comfy: FakeComfyUI) -> None:
    comfy.will(ok(polls=1))
    queued = queue_prompt(comfy, workflow()).json()
    assert queued["node_errors"] == {}
    history_url = f"{comfy.base_url}/history/{queued['prompt_id']}"
    assert httpx.get(history_url).json() == {}  # not run yet

    entry = httpx.get(history_url).json()[queued["prompt_id"]]
    assert entry["status"]["status_str"] == "success"
    assert entry["status"]["messages"][-1][0] == "execution_success"
    images = entry["outputs"]["9"]["images"]
    assert len(images) == 2
    view = httpx.get(f"{comfy.base_url}/view", params=images[0])
    assert decoded(view.content) == (64, 48)
    api = httpx.get(f"{comfy.base_url}/api/view", params=images[1])  # the /api alias
    assert api.status_code == 200


def test_invalid_workflows_are_400_with_comfys_error_types(comfy: FakeComfyUI) -> None:
    bad_ckpt = queue_prompt(comfy, workflow(**{"4__ckpt_name": "missing.safetensors"})).json()
    assert bad_ckpt["error"]["type"] == "prompt_outputs_failed_validation"
    assert bad_ckpt["node_errors"]["4"]["errors"][0]["type"] == "value_not_in_list"
    graph = workflow()
    graph["99"] = {"class_type": "NoSuchNode", "inputs": {}}
    assert queue_prompt(comfy, graph).json()["error"]["type"] == "invalid_prompt"
    no_output = copy.deepcopy(workflow())
    del no_output["9"]
    assert queue_prompt(comfy, no_output).json()["error"]["type"] == "prompt_no_outputs"
    missing = workflow()
    del missing["3"]["inputs"]["seed"]
    errors = queue_prompt(comfy, missing).json()["node_errors"]["3"]["errors"]
    assert errors[0]["type"] == "required_input_missing"


def test_execution_errors_and_interrupts_land_in_history(comfy: FakeComfyUI) -> None:
    comfy.will(Step("failed", reason="CUDA out of memory."), Step("stuck"))
    failed = queue_prompt(comfy, workflow()).json()["prompt_id"]
    entry = httpx.get(f"{comfy.base_url}/history/{failed}").json()[failed]
    kind, detail = entry["status"]["messages"][-1]
    assert (kind, detail["node_type"]) == ("execution_error", "KSampler")

    stuck = queue_prompt(comfy, workflow()).json()["prompt_id"]
    assert httpx.get(f"{comfy.base_url}/history/{stuck}").json() == {}
    httpx.post(f"{comfy.base_url}/interrupt")
    entry = httpx.get(f"{comfy.base_url}/history/{stuck}").json()[stuck]
    assert entry["status"]["messages"][-1][0] == "execution_interrupted"


def test_a_proxied_comfyui_wants_the_bearer_key() -> None:
    with serving(FakeComfyUI(key="proxy-token")) as fake:
        assert queue_prompt(fake, workflow()).status_code == 401
        allowed = httpx.post(
            f"{fake.base_url}/prompt",
            json={"prompt": workflow()},
            headers={"Authorization": "Bearer proxy-token"},
        )
        assert allowed.status_code == 200
