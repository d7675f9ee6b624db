"""Azure OpenAI: OpenAI's images API on a resource's named deployments.

`POST {base_url}/openai/deployments/{deployment}/images/generations?api-version={version}`
with header `api-key` (base_url is the resource endpoint, `https://NAME.openai.azure.com`).
A route target's `model` is the deployment name; `options.deployments` says which OpenAI
model each deployment runs (dall-e-3, gpt-image-1, ...), which decides the body (dall-e
is asked for `b64_json`, gpt-image takes `output_format`), the fan-out (dall-e-3 makes one
image per call) and the capabilities. Errors are OpenAI's shape with Azure's codes: 401
"Access denied", 404 DeploymentNotFound or "Resource not found" (a wrong api-version), 429
with Retry-After, and 400 `content_policy_violation` with an `inner_error` of code
ResponsibleAIPolicyViolation (a refusal).
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any
from urllib.parse import quote

from pydantic import BaseModel, ConfigDict, Field

from backends.base import BackendConfig, BackendDeps, GenerationRequest, ModelCapabilities
from backends.openai import ENDPOINTS, OpenAIBackend

DEFAULT_API_VERSION = "2025-04-01-preview"  # the first with gpt-image-1; dall-e-3 too


class AzureOpenAIOptions(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    api_version: str = Field(DEFAULT_API_VERSION, pattern=r"^\d{4}-\d{2}-\d{2}(-preview)?$")
    deployments: dict[str, str] = Field(default_factory=dict)  # deployment -> OpenAI model


class AzureOpenAIBackend(OpenAIBackend):
    vendor = "azure-openai"
    default_base_url = ""  # every resource has its own endpoint
    Options = AzureOpenAIOptions

    def __init__(self, config: BackendConfig[Any], deps: BackendDeps) -> None:
        super().__init__(config, deps)
        if not self.base_url:
            raise ValueError(f"backends.{self.name}: base_url must be the resource endpoint")

    @property
    def azure(self) -> AzureOpenAIOptions:
        options = self.options
        assert isinstance(options, AzureOpenAIOptions)
        return options

    def family(self, model: str) -> str:
        return self.azure.deployments.get(model, model)

    def capabilities(self, model: str) -> ModelCapabilities:
        # Edits, variations and streaming are OpenAI's wire format on Azure too, but no fake
        # here checks Azure's take on them: they stay off until one does.
        return replace(
            super().capabilities(model),
            input_images=0,
            mask=False,
            input_fidelity=False,
            variations=False,
            streaming=False,
        )

    def images_url(self, request: GenerationRequest) -> str:
        deployment = quote(request.model, safe="")
        return (
            f"{self.base_url}/openai/deployments/{deployment}/images/"
            f"{ENDPOINTS[request.operation]}"
            f"?api-version={self.azure.api_version}"
        )

    @property
    def auth(self) -> dict[str, str]:
        return {"api-key": self._key}
