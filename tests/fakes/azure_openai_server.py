"""A fake Azure OpenAI resource: image generations on named deployments.

Based on Microsoft's Azure OpenAI inference reference (learn.microsoft.com, "Image
generations - Create": `POST {endpoint}/openai/deployments/{deployment-id}/images/generations
?api-version=...`, header `api-key`, the generateImagesResponse with `revised_prompt`,
`prompt_filter_results` and `content_filter_results`, and dalleErrorResponse whose
`inner_error` has code `ResponsibleAIPolicyViolation` and `content_filter_results`) and the
error bodies Azure's gateway answers (401 "Access denied due to invalid subscription key...",
404 DeploymentNotFound, 404 "Resource not found" for an unknown api-version, 429 with
`Retry-After` and `retry-after-ms`).

The fake's deployments map a deployment name to the model it runs (the `model` field of the
body is ignored, as Azure does). dall-e-3 takes n=1 only and answers `url` unless
`response_format: "b64_json"`; gpt-image-1 always answers `b64_json` and refuses
`response_format`. Step kinds: ok, error, slow, truncated, html (a URL whose download is HTML).
"""

from __future__ import annotations

import base64
import time
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from tests.fakes.script import FakeVendor, Step, pause, payload

API_VERSIONS = frozenset({"2024-02-01", "2024-10-21", "2025-04-01-preview"})
SAFE = {"filtered": False, "severity": "safe"}


def azure_error(code: str, message: str, **extra: Any) -> dict[str, Any]:
    return {"error": {"code": code, "message": message, **extra}}


def access_denied() -> dict[str, Any]:
    return azure_error(
        "401",
        "Access denied due to invalid subscription key or wrong API endpoint. Make sure to "
        "provide a valid key for an active subscription and use a correct regional API "
        "endpoint for your resource.",
    )


def rate_limit_body(seconds: int = 2) -> dict[str, Any]:
    return azure_error(
        "429",
        "Requests to the ImageGenerations_Create Operation under Azure OpenAI API version "
        "2024-10-21 have exceeded call rate limit of your current OpenAI S0 pricing tier. "
        f"Please retry after {seconds} seconds.",
    )


def content_filtered(category: str = "sexual") -> dict[str, Any]:
    results = {name: dict(SAFE) for name in ("hate", "self_harm", "sexual", "violence")}
    results[category] = {"filtered": True, "severity": "high"}
    return azure_error(
        "content_policy_violation",
        "Your request was rejected as a result of our safety system. Your prompt may contain "
        "text that is not allowed by our safety system.",
        param=None,
        type=None,
        inner_error={"code": "ResponsibleAIPolicyViolation", "content_filter_results": results},
    )


class FakeAzureOpenAI(FakeVendor):
    def __init__(self, key: str, deployments: dict[str, str]) -> None:
        super().__init__(key)
        self.deployments = deployments
        self.app = Starlette(
            routes=[
                Route(
                    "/openai/deployments/{deployment}/images/generations",
                    self.generations,
                    methods=["POST"],
                ),
                Route("/files/{name}", self.file),
            ]
        )

    def authorized(self, request: Request) -> bool:
        return request.headers.get("api-key") == self.key

    async def generations(self, request: Request) -> Response:
        received = await self.record(request)
        if request.query_params.get("api-version") not in API_VERSIONS:
            return JSONResponse(azure_error("404", "Resource not found"), 404)
        if not self.authorized(request):
            return JSONResponse(access_denied(), 401)
        model = self.deployments.get(request.path_params["deployment"])
        if model is None:
            return JSONResponse(
                azure_error(
                    "DeploymentNotFound",
                    "The API deployment for this resource does not exist. If you created the "
                    "deployment within the last 5 minutes, please wait a moment and try again.",
                ),
                404,
            )
        body = received.json or {}
        refused = _refused(model, body)
        if refused:
            return JSONResponse(refused, 400)
        step = self.next_step()
        if step.kind == "error":
            return JSONResponse(step.body, step.status, headers=dict(step.headers))
        if step.kind == "slow":
            await pause(self, request, step.delay)
        return JSONResponse(
            {"created": int(time.time()), "data": self._items(request, model, body, step)}
        )

    def _items(
        self, request: Request, model: str, body: dict[str, Any], step: Step
    ) -> list[dict[str, Any]]:
        width, _, height = str(body.get("size", "1024x1024")).partition("x")
        fmt = str(body.get("output_format", "png"))
        wants_url = model.startswith("dall-e") and body.get("response_format", "url") == "url"
        filters = {name: dict(SAFE) for name in ("hate", "self_harm", "sexual", "violence")}
        items: list[dict[str, Any]] = []
        for _ in range(int(body.get("n", 1))):
            data, media_type = payload(step, int(width), int(height), fmt)  # each one differs
            item: dict[str, Any] = {
                "content_filter_results": filters,
                "prompt_filter_results": filters,
            }
            if model.startswith("dall-e"):
                item["revised_prompt"] = f"A detailed picture of {body.get('prompt')}"
            if wants_url or step.kind == "html":
                item["url"] = self.store(request, data, media_type)
            else:
                item["b64_json"] = base64.b64encode(data).decode()
            items.append(item)
        return items


def _refused(model: str, body: dict[str, Any]) -> dict[str, Any] | None:
    """Azure's own 400s for what a model cannot take."""
    if not isinstance(body.get("prompt"), str) or not body["prompt"]:
        return azure_error(
            "invalid_request_error", "'prompt' is a required property", param="prompt"
        )
    if model.startswith("dall-e-3") and int(body.get("n", 1)) != 1:
        return azure_error(
            "invalid_request_error", "Please provide a value for n that is 1.", param="n"
        )
    if model.startswith("gpt-image") and "response_format" in body:
        return azure_error(
            "invalid_request_error",
            "Unknown parameter: 'response_format'.",
            param="response_format",
        )
    return None
