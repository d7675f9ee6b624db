"""Refuse at submit what the route's first target cannot honour (400 naming the parameter).

A parameter a vendor cannot honour is never dropped silently. Fallback targets are checked
when the job runs: one that cannot honour the request is skipped and recorded.
"""

from __future__ import annotations

from collections.abc import Mapping

from backends.base import Backend
from gateway.errors import ApiError, invalid_request
from gateway.jobs import JobSpec
from gateway.runner import generation_request
from gateway.settings import Settings

# Request field (backend contract) -> the job API's field name.
PUBLIC_FIELDS = {
    "negative_prompt": "negativePrompt",
    "output_format": "outputFormat",
}


def public_field(param: str) -> str:
    return PUBLIC_FIELDS.get(param, param)


def unsupported_at_submit(
    settings: Settings, backends: Mapping[str, Backend], spec: JobSpec
) -> ApiError | None:
    target = settings.models[spec.model].targets[0]
    request = generation_request(spec, target.model)
    unsupported = backends[target.backend].capabilities(target.model).check(request)
    if unsupported is None:
        return None
    if unsupported.param == "operation":
        return invalid_request(
            f"model {spec.model!r} has no variations ({unsupported.message})", "model"
        )
    return invalid_request(
        f"{public_field(unsupported.param)}: model {spec.model!r} cannot honour it "
        f"({unsupported.message})",
        public_field(unsupported.param),
    )
