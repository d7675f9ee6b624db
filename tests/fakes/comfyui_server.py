"""A fake ComfyUI server: `POST /prompt`, `GET /history/{id}`, `GET /view`, cancel.

Based on comfyanonymous/ComfyUI server.py (routes `/prompt`, `/history/{prompt_id}`,
`/view?filename&subfolder&type`, `/queue` with `{"delete": [...]}`, `/interrupt`, all also
under `/api`; `POST /prompt` answers `{"prompt_id", "number", "node_errors"}` or 400
`{"error": {type, message, details, extra_info}, "node_errors"}`) and execution.py
(validate_prompt's `invalid_prompt`, `prompt_no_outputs`, `prompt_outputs_failed_validation`
with per-node `value_not_in_list` / `required_input_missing`; history entries `{"prompt",
"outputs": {node: {"images": [{filename, subfolder, type}]}}, "status": {status_str,
completed, messages: [["execution_start", ...], ["execution_error" | "execution_interrupted"
| "execution_success", {...}]]}}`; history is `{}` until the prompt has run).

The fake validates and "runs" the API-format workflow it is sent: a known set of node
classes, required inputs, links to existing nodes, a checkpoint list; each output node
(SaveImage, PreviewImage) yields `batch_size` images of the EmptyLatentImage it descends
from. ComfyUI has no auth of its own; `key` makes the fake act like the Bearer-checking
reverse proxy such servers usually sit behind (401).

Step kinds: ok(polls: empty history answers before the entry), error (at POST /prompt),
slow, truncated, html (what /view serves), failed (execution_error, `reason`), stuck.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.routing import Route

from tests.fakes.script import FakeVendor, Step, pause, payload

CHECKPOINTS = ("sd_xl_base_1.0.safetensors", "v1-5-pruned-emaonly.safetensors")
# class_type -> required inputs (ComfyUI's INPUT_TYPES()["required"], trimmed)
NODES: dict[str, tuple[str, ...]] = {
    "CheckpointLoaderSimple": ("ckpt_name",),
    "CLIPTextEncode": ("text", "clip"),
    "EmptyLatentImage": ("width", "height", "batch_size"),
    "KSampler": ("model", "seed", "steps", "cfg", "sampler_name", "scheduler", "positive",
                 "negative", "latent_image", "denoise"),
    "VAEDecode": ("samples", "vae"),
    "SaveImage": ("images", "filename_prefix"),
    "PreviewImage": ("images",),
}  # fmt: skip
OUTPUT_NODES = {"SaveImage": "output", "PreviewImage": "temp"}


def comfy_error(kind: str, message: str, details: str = "") -> dict[str, Any]:
    return {"type": kind, "message": message, "details": details, "extra_info": {}}


@dataclass
class Queued:
    id: str
    number: int
    workflow: dict[str, Any]
    step: Step
    polls_left: int
    outcome: str = ""  # "", success, error, interrupted
    outputs: dict[str, Any] = field(default_factory=dict)


class FakeComfyUI(FakeVendor):
    def __init__(self, key: str | None = None) -> None:
        super().__init__(key or "")
        self.queue: dict[str, Queued] = {}
        self.interrupts = 0
        self.deleted: list[str] = []
        routes = [
            ("/prompt", self.prompt, ["POST"]),
            ("/history/{prompt_id}", self.history, ["GET"]),
            ("/view", self.view, ["GET"]),
            ("/queue", self.delete, ["POST"]),
            ("/interrupt", self.interrupt, ["POST"]),
        ]
        self.app = Starlette(
            routes=[
                Route(prefix + path, endpoint, methods=methods)
                for prefix in ("", "/api")
                for path, endpoint, methods in routes
            ]
        )

    def authorized(self, request: Request) -> bool:
        return not self.key or super().authorized(request)

    async def prompt(self, request: Request) -> Response:
        received = await self.record(request)
        if not self.authorized(request):
            return PlainTextResponse("401: Unauthorized", 401)
        body = received.json if isinstance(received.json, dict) else {}
        workflow = body.get("prompt")
        if not isinstance(workflow, dict):
            error = comfy_error("no_prompt", "No prompt provided", "No prompt provided")
            return JSONResponse({"error": error, "node_errors": {}}, 400)
        refused = _validate(workflow)
        if refused:
            return JSONResponse(refused, 400)
        step = self.next_step()
        if step.kind == "error":
            return JSONResponse(step.body, step.status, headers=dict(step.headers))
        if step.kind == "slow":
            await pause(self, request, step.delay)
        queued = Queued(str(uuid.uuid4()), len(self.queue), workflow, step, step.polls)
        self.queue[queued.id] = queued
        return JSONResponse({"prompt_id": queued.id, "number": queued.number, "node_errors": {}})

    async def history(self, request: Request) -> Response:
        await self.record(request)
        if not self.authorized(request):
            return PlainTextResponse("401: Unauthorized", 401)
        queued = self.queue.get(request.path_params["prompt_id"])
        if queued is None or queued.id in self.deleted:
            return JSONResponse({})
        if not queued.outcome:
            if queued.polls_left > 0 or queued.step.kind == "stuck":
                queued.polls_left -= 1
                return JSONResponse({})
            self._run(queued)
        return JSONResponse({queued.id: self._entry(queued)})

    async def view(self, request: Request) -> Response:
        await self.record(request)
        if not self.authorized(request):
            return PlainTextResponse("401: Unauthorized", 401)
        query = request.query_params
        name = f"{query.get('type', 'output')}/{query.get('subfolder', '')}/{query.get('filename')}"
        data, media_type = self.files.get(name, (b"", ""))
        if not media_type:
            return Response(status_code=404)
        return Response(data, media_type=media_type)

    async def delete(self, request: Request) -> Response:
        received = await self.record(request)
        if not self.authorized(request):
            return PlainTextResponse("401: Unauthorized", 401)
        for prompt_id in (received.json or {}).get("delete", []):
            queued = self.queue.get(prompt_id)
            if queued is not None and not queued.outcome:
                self.deleted.append(prompt_id)
        return Response(status_code=200)

    async def interrupt(self, request: Request) -> Response:
        """Stops the prompt that is running (the oldest unfinished one)."""
        await self.record(request)
        if not self.authorized(request):
            return PlainTextResponse("401: Unauthorized", 401)
        self.interrupts += 1
        running = [q for q in self.queue.values() if not q.outcome and q.id not in self.deleted]
        if running:
            running[0].outcome = "interrupted"
        return Response(status_code=200)

    def _run(self, queued: Queued) -> None:
        if queued.step.kind == "failed":
            queued.outcome = "error"
            return
        queued.outcome = "success"
        for node_id, node in queued.workflow.items():
            kind = OUTPUT_NODES.get(node["class_type"])
            if kind is None:
                continue
            latent = _ancestor(queued.workflow, node_id, "EmptyLatentImage")["inputs"]
            width, height = int(latent["width"]), int(latent["height"])
            prefix = str(node["inputs"].get("filename_prefix", "ComfyUI"))
            images = []
            for _ in range(int(latent["batch_size"])):
                filename = f"{prefix}_{len(self.files) + 1:05d}_.png"
                self.files[f"{kind}//{filename}"] = payload(queued.step, width, height, "png")
                images.append({"filename": filename, "subfolder": "", "type": kind})
            queued.outputs[node_id] = {"images": images}

    def _entry(self, queued: Queued) -> dict[str, Any]:
        start = ["execution_start", {"prompt_id": queued.id, "timestamp": 1}]
        end: list[Any] = ["execution_success", {"prompt_id": queued.id, "timestamp": 2}]
        if queued.outcome == "error":
            end = [
                "execution_error",
                {
                    "prompt_id": queued.id,
                    "node_id": _node_of(queued.workflow, "KSampler"),
                    "node_type": "KSampler",
                    "executed": [],
                    "exception_message": queued.step.reason or "CUDA out of memory.",
                    "exception_type": "torch.OutOfMemoryError",
                    "traceback": ['  File "/opt/ComfyUI/execution.py", line 327\n'],
                    "current_inputs": {},
                    "current_outputs": {},
                },
            ]
        elif queued.outcome == "interrupted":
            node = _node_of(queued.workflow, "KSampler")
            end = [
                "execution_interrupted",
                {"prompt_id": queued.id, "node_id": node, "node_type": "KSampler", "executed": []},
            ]
        ok = queued.outcome == "success"
        return {
            "prompt": [queued.number, queued.id, queued.workflow, {}, list(queued.outputs)],
            "outputs": queued.outputs,
            "status": {
                "status_str": "success" if ok else "error",
                "completed": ok,
                "messages": [start, end],
            },
            "meta": {node: {"node_id": node, "display_node": node} for node in queued.outputs},
        }


def _node_of(workflow: dict[str, Any], class_type: str) -> str:
    return next((nid for nid, node in workflow.items() if node["class_type"] == class_type), "")


def _ancestor(workflow: dict[str, Any], node_id: str, class_type: str) -> dict[str, Any]:
    """The nearest node of `class_type` that `node_id` takes input from (depth first)."""
    seen: set[str] = set()
    stack = [node_id]
    while stack:
        node = workflow[stack.pop()]
        if node["class_type"] == class_type:
            return dict(node)
        for value in node["inputs"].values():
            if isinstance(value, list) and len(value) == 2 and str(value[0]) not in seen:
                seen.add(str(value[0]))
                stack.append(str(value[0]))
    return {"inputs": {"width": 512, "height": 512, "batch_size": 1}}


def _validate(workflow: dict[str, Any]) -> dict[str, Any] | None:
    for node_id, node in workflow.items():
        if not isinstance(node, dict) or "class_type" not in node:
            message = "Cannot execute because a node is missing the class_type property."
            return _invalid_prompt(message, node_id)
        if node["class_type"] not in NODES:
            message = f"Cannot execute because node {node['class_type']} does not exist."
            return _invalid_prompt(message, node_id)
    outputs = [nid for nid, node in workflow.items() if node["class_type"] in OUTPUT_NODES]
    if not outputs:
        return {
            "error": comfy_error("prompt_no_outputs", "Prompt has no outputs"),
            "node_errors": [],
        }
    node_errors: dict[str, Any] = {}
    for node_id, node in workflow.items():
        errors = _input_errors(workflow, node)
        if errors:
            node_errors[node_id] = {
                "errors": errors,
                "dependent_outputs": outputs,
                "class_type": node["class_type"],
            }
    if not node_errors:
        return None
    details = "\n".join(
        f"{e['message']}: {e['details']}" for n in node_errors.values() for e in n["errors"]
    )
    error = comfy_error("prompt_outputs_failed_validation", "Prompt outputs failed validation")
    return {"error": {**error, "details": details}, "node_errors": node_errors}


def _input_errors(workflow: dict[str, Any], node: dict[str, Any]) -> list[dict[str, Any]]:
    inputs = node.get("inputs") or {}
    errors = []
    for name in NODES[node["class_type"]]:
        value = inputs.get(name)
        if value is None:
            errors.append(_input_error("required_input_missing", "Required input is missing", name))
        elif isinstance(value, list) and str(value[0]) not in workflow:
            errors.append(_input_error("bad_linked_input", "Bad linked input", name))
    ckpt = inputs.get("ckpt_name")
    if node["class_type"] == "CheckpointLoaderSimple" and ckpt not in CHECKPOINTS:
        errors.append(
            {
                "type": "value_not_in_list",
                "message": "Value not in list",
                "details": f"ckpt_name: '{ckpt}' not in {list(CHECKPOINTS)}",
                "extra_info": {"input_name": "ckpt_name", "received_value": ckpt},
            }
        )
    return errors


def _invalid_prompt(message: str, node_id: str) -> dict[str, Any]:
    return {
        "error": comfy_error("invalid_prompt", message, f"Node ID '#{node_id}'"),
        "node_errors": {},
    }


def _input_error(kind: str, message: str, name: str) -> dict[str, Any]:
    return {"type": kind, "message": message, "details": name, "extra_info": {"input_name": name}}
