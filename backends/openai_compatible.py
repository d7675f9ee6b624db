"""Any self-hosted server that speaks OpenAI's images API (LocalAI, sd.cpp server, ...).

The same wire format as `openai` (`POST {base_url}/images/generations`, `{"data": [{"url" |
"b64_json"}]}`, errors as `{"error": {...}}`), with what self-hosted servers differ in made
explicit: `base_url` is required (e.g. `http://gpu-box:8080/v1`), the Bearer key is optional
(set `api_key_env` when the server has one), `response_format` is asked for as configured
(either answer shape is accepted, `url` results are downloaded through the host's guard),
and the extra fields such servers accept (`seed`, `negative_prompt`) are sent only when
`options` say the server honours them, so the capability check refuses them otherwise.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from backends.base import BackendConfig, BackendDeps, GenerationRequest
from backends.capabilities import ModelCapabilities
from backends.openai import OpenAIBackend


class OpenAICompatibleOptions(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    response_format: Literal["b64_json", "url"] | None = "b64_json"
    seed: bool = False  # the server takes a `seed` field
    negative_prompt: bool = False  # the server takes a `negative_prompt` field
    sizes: list[str] | None = None  # "WxH" the server can make; default: any
    max_n: int = Field(4, ge=1, le=10)


class OpenAICompatibleBackend(OpenAIBackend):
    vendor = "openai-compatible"
    default_base_url = ""
    Options = OpenAICompatibleOptions
    needs_key = False

    def __init__(self, config: BackendConfig[Any], deps: BackendDeps) -> None:
        super().__init__(config, deps)
        if not self.base_url:
            raise ValueError(f"backends.{self.name}: base_url must name the server")

    @property
    def server(self) -> OpenAICompatibleOptions:
        options = self.options
        assert isinstance(options, OpenAICompatibleOptions)
        return options

    def capabilities(self, model: str) -> ModelCapabilities:
        sizes = self.server.sizes
        return ModelCapabilities(
            sizes=frozenset(sizes) if sizes is not None else None,
            qualities=None,
            max_n=self.server.max_n,
            seed=self.server.seed,
            negative_prompt=self.server.negative_prompt,
        )

    @property
    def auth(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self._key}"} if self._key else {}

    def family(self, model: str) -> str:
        return ""  # no OpenAI model family: never dall-e-3's one-image-per-call rule

    def body(self, request: GenerationRequest) -> dict[str, Any]:
        body = super().body(request)
        if self.server.response_format:
            body["response_format"] = self.server.response_format
        if request.seed is not None and self.server.seed:
            body["seed"] = request.seed
        if request.negative_prompt and self.server.negative_prompt:
            body["negative_prompt"] = request.negative_prompt
        return body
