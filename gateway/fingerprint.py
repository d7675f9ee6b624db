"""Canonical request -> cache key. Two requests with the same fingerprint get the same images."""

from __future__ import annotations

import hashlib
import json
import re
import unicodedata

from gateway.jobs import JobSpec

_WHITESPACE = re.compile(r"\s+")


def normalize_prompt(prompt: str) -> str:
    """Unicode NFC, trimmed, inner whitespace collapsed to one space."""
    return _WHITESPACE.sub(" ", unicodedata.normalize("NFC", prompt)).strip()


def fingerprint(spec: JobSpec, tenant: str | None = None) -> str:
    """sha256 of the canonical JSON of what determines the images.

    `tenant` is given when the cache scope is per tenant, so reuse never crosses tenants.
    """
    canonical: dict[str, object] = {
        "model": spec.model,
        "prompt": normalize_prompt(spec.prompt),
        "size": spec.size,
        "n": spec.n,
        "seed": spec.seed,
        "negativePrompt": normalize_prompt(spec.negative_prompt) if spec.negative_prompt else None,
        "quality": spec.quality,
        "outputFormat": spec.output_format,
        "tenant": tenant,
    }
    if spec.operation != "generate":
        # Only edits and variations carry these, so older fingerprints stay as they were.
        canonical.update(
            operation=spec.operation,
            images=list(spec.images),  # keys named by each input's sha256, in order
            mask=spec.mask,
            inputFidelity=spec.input_fidelity,
        )
    encoded = json.dumps(canonical, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(encoded.encode()).hexdigest()


def prompt_digest(prompt: str) -> str:
    return hashlib.sha256(normalize_prompt(prompt).encode()).hexdigest()
