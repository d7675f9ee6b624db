"""ComfyUI: queue a workflow template with this request's values, poll history, fetch /view.

`options.workflow` names a workflow file in ComfyUI's API format ("Export (API)": `{node_id:
{"class_type", "inputs"}}`), read and checked at start-up and by `config check` (a path
relative to the working directory). `options.inputs` says which node input receives each
value, as `"node_id.input_name"`: `prompt`, `width`, `height` always; `negative_prompt`,
`seed` and `n` (a batch size) when the workflow has them; a request for a parameter the
workflow has no input for is refused by the capability check. Without a requested seed a
mapped seed input gets a random one, so two jobs do not render the same picture.

`POST {base_url}/prompt {"prompt": <workflow>, "client_id"}` answers `{"prompt_id"}` or a
400 whose `error.type` and `node_errors` name what the server refused (a checkpoint it
lacks, a node it has no class for): a configuration problem, not retried.
`GET /history/{prompt_id}` is `{}` until the prompt ran, then its `status` (success, or
an `execution_error` / `execution_interrupted` message) and `outputs` with
`{filename, subfolder, type}` per image, fetched from `GET /view`. The prompt id is reported
through `progress.submitted`; cancel deletes it from the queue and interrupts it if it runs
(`POST /interrupt {"prompt_id"}`; servers older than per-prompt interrupts stop whatever
runs). ComfyUI has no key; `api_key_env` sends one as a Bearer token to the proxy in front.
"""

from __future__ import annotations

import asyncio
import contextlib
import copy
import json
import random
from pathlib import Path
from typing import Any

import httpx
from pydantic import BaseModel, ConfigDict, Field, PrivateAttr, model_validator

from backends.base import Generation, GenerationRequest, Progress, Usage
from backends.capabilities import ModelCapabilities
from backends.errors import BackendError, BadResponse, InvalidRequest, VendorFailed
from backends.http_errors import clean, json_object, transport_errors
from backends.imaging import snap
from backends.vendor import VendorBackend

CANCEL_TIMEOUT = 5.0


class ComfyInputs(BaseModel):
    """Where each value goes: `"node_id.input_name"` in the workflow."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    prompt: str
    width: str
    height: str
    negative_prompt: str | None = None
    seed: str | None = None
    n: str | None = None


class ComfyUIOptions(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    workflow: str
    inputs: ComfyInputs
    output_node: str | None = None  # default: every output node's images, in node order
    poll_interval: float = Field(0.5, gt=0, le=30)
    client_id: str = "imagegate"
    _graph: dict[str, Any] = PrivateAttr(default_factory=dict)

    @model_validator(mode="after")
    def _load(self) -> ComfyUIOptions:
        path = Path(self.workflow)
        try:
            graph = json.loads(path.read_text())
        except OSError as exc:
            raise ValueError(
                f"workflow {self.workflow!r} cannot be read ({exc.strerror})"
            ) from None
        except ValueError as exc:
            raise ValueError(f"workflow {self.workflow!r} is not JSON ({exc})") from None
        if not isinstance(graph, dict) or not all(
            isinstance(node, dict) and isinstance(node.get("inputs"), dict)
            for node in graph.values()
        ):
            raise ValueError(f"workflow {self.workflow!r} is not in API format (Export (API))")
        for field, target in self.inputs.model_dump().items():
            if target is not None and _split(graph, target) is None:
                raise ValueError(f"inputs.{field}: {target!r} is no node input of the workflow")
        if self.output_node is not None and self.output_node not in graph:
            raise ValueError(f"output_node {self.output_node!r} is not a node of the workflow")
        self._graph = graph
        return self

    @property
    def graph(self) -> dict[str, Any]:
        return self._graph


class ComfyUIBackend(VendorBackend[ComfyUIOptions]):
    vendor = "comfyui"
    default_base_url = "http://127.0.0.1:8188"
    Options = ComfyUIOptions
    needs_key = False

    def capabilities(self, model: str) -> ModelCapabilities:
        inputs = self.options.inputs
        return ModelCapabilities(
            max_n=4 if inputs.n else 1,
            seed=inputs.seed is not None,
            negative_prompt=inputs.negative_prompt is not None,
        )

    @property
    def auth(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self._key}"} if self._key else {}

    def workflow(self, request: GenerationRequest) -> dict[str, Any]:
        """The template with this request's values in their node inputs."""
        graph = copy.deepcopy(self.options.graph)
        inputs = self.options.inputs
        seed = request.seed if request.seed is not None else random.randrange(2**32)
        values: dict[str | None, Any] = {
            inputs.prompt: request.prompt,
            inputs.width: snap(request.width, 8, 64),
            inputs.height: snap(request.height, 8, 64),
            inputs.negative_prompt: request.negative_prompt or "",
            inputs.seed: seed,
            inputs.n: request.n,
        }
        for target, value in values.items():
            if target is not None:
                node, name = _split(graph, target) or ("", "")
                graph[node]["inputs"][name] = value
        return graph

    async def _generate(self, request: GenerationRequest, progress: Progress) -> Generation:
        prompt_id = await self._queue(request)
        await progress.submitted(prompt_id)
        try:
            entry = await self._settle(prompt_id)
            images = [await self.image(await self._view(ref), request) for ref in self._refs(entry)]
        except BackendError as error:
            await self.cancel(prompt_id)
            raise error from None
        except asyncio.CancelledError:
            await self.cancel(prompt_id)
            raise
        if len(images) < request.n:
            raise BadResponse(f"comfyui made {len(images)} of {request.n} images")
        return Generation(images[: request.n], Usage(images=request.n))

    async def cancel(self, handle: str) -> None:
        """Drop the prompt from the queue, or stop it if it runs. Best effort."""
        with contextlib.suppress(httpx.HTTPError):
            await self.http.post(
                f"{self.base_url}/queue",
                json={"delete": [handle]},
                headers=self.auth,
                timeout=CANCEL_TIMEOUT,
            )
            await self.http.post(
                f"{self.base_url}/interrupt",
                json={"prompt_id": handle},
                headers=self.auth,
                timeout=CANCEL_TIMEOUT,
            )

    async def _queue(self, request: GenerationRequest) -> str:
        body = {"prompt": self.workflow(request), "client_id": self.options.client_id}
        with transport_errors(self.vendor):
            response = await self.http.post(
                f"{self.base_url}/prompt", json=body, headers=self.auth, timeout=self.timeout
            )
        if response.status_code != 200:
            raise self._refusal(response)
        prompt_id = json_object(response).get("prompt_id")
        if not isinstance(prompt_id, str):
            raise BadResponse("comfyui queued the prompt without a prompt_id")
        return prompt_id

    async def _settle(self, prompt_id: str) -> dict[str, Any]:
        while True:
            await asyncio.sleep(self.options.poll_interval)
            with transport_errors(self.vendor):
                response = await self.http.get(
                    f"{self.base_url}/history/{prompt_id}", headers=self.auth, timeout=self.timeout
                )
            if response.status_code != 200:
                raise self.error(response, response.reason_phrase)
            entry = json_object(response).get(prompt_id)
            if not isinstance(entry, dict):
                continue  # not run yet
            status = entry.get("status") or {}
            if status.get("status_str") == "success":
                return entry
            raise _execution_failure(status.get("messages") or [])

    def _refs(self, entry: dict[str, Any]) -> list[dict[str, Any]]:
        outputs = entry.get("outputs") or {}
        nodes = (
            [self.options.output_node] if self.options.output_node else sorted(outputs, key=_order)
        )
        refs = []
        for node in nodes:
            for image in (outputs.get(node) or {}).get("images") or []:
                if isinstance(image, dict) and isinstance(image.get("filename"), str):
                    refs.append(image)
        return refs

    async def _view(self, ref: dict[str, Any]) -> bytes:
        params = {key: str(ref.get(key, "")) for key in ("filename", "subfolder", "type")}
        with transport_errors(self.vendor):
            response = await self.http.get(
                f"{self.base_url}/view", params=params, headers=self.auth, timeout=self.timeout
            )
        if response.status_code != 200:
            raise self.error(response, "fetching the image from /view failed")
        return response.content

    def _refusal(self, response: httpx.Response) -> BackendError:
        body = json_object(response)
        error = body.get("error")
        if response.status_code != 400 or not isinstance(error, (dict, str)):
            return self.error(response, response.reason_phrase)
        detail = error if isinstance(error, str) else f"{error.get('type')}: {error.get('message')}"
        node_errors = body.get("node_errors")
        if isinstance(node_errors, dict):
            for node, found in node_errors.items():
                for item in (found or {}).get("errors") or []:
                    detail += f"; node {node}: {item.get('message')} ({item.get('details')})"
        return InvalidRequest(f"comfyui refused the workflow: {clean(detail)}")


def _split(graph: dict[str, Any], target: str) -> tuple[str, str] | None:
    node, dot, name = target.partition(".")
    if not dot or node not in graph or name not in graph[node].get("inputs", {}):
        return None
    return node, name


def _order(node_id: str) -> tuple[int, str]:
    return (int(node_id), "") if node_id.isdigit() else (1 << 30, node_id)


def _execution_failure(messages: list[Any]) -> BackendError:
    for message in messages:
        if not (isinstance(message, list) and len(message) == 2 and isinstance(message[1], dict)):
            continue
        kind, detail = message
        if kind == "execution_error":
            what = f"{detail.get('node_type')}: {detail.get('exception_message')}"
            return VendorFailed(f"comfyui execution failed in {clean(what)}")
        if kind == "execution_interrupted":
            return VendorFailed("comfyui interrupted the prompt")
    return VendorFailed("comfyui ended the prompt without success")
