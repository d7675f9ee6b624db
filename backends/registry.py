"""Backends by type name: the built-ins plus any package's `imagegate.backends` entry points."""

from __future__ import annotations

from importlib import import_module
from importlib.metadata import entry_points

from backends.base import BackendClass

ENTRY_POINT_GROUP = "imagegate.backends"

# Imported lazily so that a deployment only loads the vendors it configures.
BUILTIN: dict[str, str] = {
    "procedural": "backends.procedural:ProceduralBackend",
    "openai": "backends.openai:OpenAIBackend",
    "stability": "backends.stability:StabilityBackend",
    "replicate": "backends.replicate:ReplicateBackend",
    "bfl": "backends.bfl:BFLBackend",
    "gemini": "backends.gemini:GeminiBackend",
    "fal": "backends.fal:FalBackend",
    "azure-openai": "backends.azure_openai:AzureOpenAIBackend",
    "openai-compatible": "backends.openai_compatible:OpenAICompatibleBackend",
    "automatic1111": "backends.automatic1111:Automatic1111Backend",
    "comfyui": "backends.comfyui:ComfyUIBackend",
}


class UnknownBackendType(LookupError):
    pass


def _load(target: str) -> BackendClass:
    module, _, attr = target.partition(":")
    factory: BackendClass = getattr(import_module(module), attr)
    return factory


def available_types() -> list[str]:
    plugins = {ep.name for ep in entry_points(group=ENTRY_POINT_GROUP)}
    return sorted(set(BUILTIN) | plugins)


def backend_factory(type_name: str) -> BackendClass:
    """The class registered for `type_name` (built as `Class(config, deps)`)."""
    if type_name in BUILTIN:
        return _load(BUILTIN[type_name])
    for ep in entry_points(group=ENTRY_POINT_GROUP, name=type_name):
        factory: BackendClass = ep.load()
        return factory
    raise UnknownBackendType(
        f"unknown backend type {type_name!r}; available: {', '.join(available_types())}"
    )
