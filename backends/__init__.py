"""Generator backends: the plug-in contract, the registry and the built-in backends."""

from backends.base import Backend, BackendError, GeneratedImage, GenerationRequest

__all__ = ["Backend", "BackendError", "GeneratedImage", "GenerationRequest"]
