"""Reusable parts of the OpenAPI document: schemas, headers, parameters and the two error
shapes (the job API's envelope, OpenAI's `{"error": ...}` under /v1).

Error responses list the codes each operation can answer at each status; the union over the
document is `gateway.errors.PUBLIC_ERRORS` (tests/test_openapi.py keeps them equal).
"""

from __future__ import annotations

from typing import Any

from gateway.api.idempotent import KEY_PATTERN
from gateway.api.openai_errors import OPENAI_CODES
from gateway.jobs import JobStatus

Schema = dict[str, Any]

STRING: Schema = {"type": "string"}
NULLABLE_STRING: Schema = {"type": ["string", "null"]}
INTEGER: Schema = {"type": "integer"}
# The one money format (gateway/money/format.usd): two places, up to six without a
# trailing zero past the second.
USD: Schema = {
    "type": "string",
    "pattern": r"^(0|[1-9][0-9]*)\.[0-9]{2}([0-9]{0,3}[1-9])?$",
    "description": "USD, e.g. 0.00, 0.04, 0.0025",
}
TIMESTAMP: Schema = {"type": ["string", "null"], "description": "ISO-8601 UTC"}
STATUSES = [status.value for status in JobStatus]


def ref(name: str) -> Schema:
    return {"$ref": f"#/components/schemas/{name}"}


def obj(properties: dict[str, Schema], required: list[str] | None = None, **extra: Any) -> Schema:
    """An object whose listed properties are all required unless `required` says otherwise."""
    return {
        "type": "object",
        "properties": properties,
        "required": list(properties) if required is None else required,
        **extra,
    }


def envelope(data: Schema) -> Schema:
    return obj({"ok": {"const": True}, "data": data})


ERROR_BODY = obj(
    {"code": STRING, "message": STRING, "checks": {"type": "object"}}, required=["code", "message"]
)

SCHEMAS: dict[str, Schema] = {
    "Image": obj(
        {
            "url": STRING,
            "sha256": STRING,
            "width": INTEGER,
            "height": INTEGER,
            "bytes": INTEGER,
            "contentType": STRING,
        }
    ),
    "InputImage": obj({"url": STRING, "sha256": STRING}),
    "JobError": {"type": ["object", "null"], "properties": {"code": STRING, "message": STRING}},
    "Attempt": obj(
        {
            "backend": STRING,
            "model": STRING,
            "outcome": STRING,
            "estimatedCost": {"oneOf": [USD, {"type": "null"}]},
            "cost": USD,
            "usage": {"type": ["object", "null"]},
            "durationMs": {"type": ["integer", "null"]},
        }
    ),
    "Job": obj(
        {
            "id": STRING,
            "status": {"enum": STATUSES},
            "prompt": STRING,
            "model": STRING,
            "size": STRING,
            "n": INTEGER,
            "seed": {"type": ["integer", "null"]},
            "outputFormat": {"enum": ["png", "webp", "jpeg"]},
            "metadata": {"type": "object", "additionalProperties": STRING},
            "operation": {"enum": ["generate", "edit", "variation"]},
            "inputImages": {"type": "array", "items": ref("InputImage")},
            "mask": {"oneOf": [ref("InputImage"), {"type": "null"}]},
            "imageUrl": NULLABLE_STRING,
            "images": {"type": "array", "items": ref("Image")},
            "error": ref("JobError"),
            "cached": {"type": "boolean"},
            "joined": {"type": "boolean"},
            "cancelRequested": {"type": "boolean"},
            "deadline": TIMESTAMP,
            "createdAt": TIMESTAMP,
            "startedAt": TIMESTAMP,
            "finishedAt": TIMESTAMP,
            "durationMs": {"type": ["integer", "null"]},
            "cost": USD,
            "attempts": INTEGER,
            "attemptLog": {"type": "array", "items": ref("Attempt")},
            "backend": NULLABLE_STRING,
            "webhook": {"oneOf": [ref("Webhook"), {"type": "null"}]},
        }
    ),
    "Webhook": obj(
        {
            "status": {"enum": ["pending", "delivered", "failed"]},
            "attempts": INTEGER,
            "lastStatus": {"type": ["integer", "null"]},
            "lastError": NULLABLE_STRING,
            "nextAttemptAt": TIMESTAMP,
        }
    ),
    "WebhookRedelivery": obj({"jobId": STRING, "webhook": ref("Webhook")}),
    "JobAccepted": obj(
        {"jobId": STRING, "status": {"enum": STATUSES}, "cached": {"type": "boolean"}}
    ),
    "Error": obj({"ok": {"const": False}, "error": ERROR_BODY}),
    "OpenAIError": obj(
        {
            "error": obj(
                {
                    "message": STRING,
                    "type": STRING,
                    "param": NULLABLE_STRING,
                    "code": NULLABLE_STRING,
                }
            )
        }
    ),
    "Status": envelope(obj({"status": STRING}, required=["status"])),
    "Model": obj(
        {"id": STRING, "object": {"const": "model"}, "created": INTEGER, "owned_by": STRING}
    ),
    # gateway/usage/base.py `UsageRecord.to_json`
    "UsageRecord": obj(
        {
            "day": {"type": "string", "format": "date", "description": "UTC day the jobs ended"},
            "tenant": STRING,
            "model": STRING,
            "backend": STRING,
            "jobs": INTEGER,
            "attempts": INTEGER,
            "images": INTEGER,
            "chargedUsd": USD,
            "savedJobs": INTEGER,
            "savedUsd": USD,
        }
    ),
}

HEADERS: dict[str, Schema] = {
    "X-Request-Id": {
        "description": "The id the gateway's log lines for this request name.",
        "schema": STRING,
    },
    "Location": {"description": "Where the created resource is read.", "schema": STRING},
    "Retry-After": {"description": "Seconds to wait before retrying.", "schema": STRING},
    "RateLimit-Limit": {"description": "The tightest window's limit.", "schema": STRING},
    "RateLimit-Remaining": {"description": "What is left of it.", "schema": STRING},
    "RateLimit-Reset": {"description": "Seconds until it resets.", "schema": STRING},
    "Allow": {"description": "The methods the route has.", "schema": STRING},
}
RATE_HEADERS = ("RateLimit-Limit", "RateLimit-Remaining", "RateLimit-Reset")

PARAMETERS: dict[str, Schema] = {
    "IdempotencyKey": {
        "name": "Idempotency-Key",
        "in": "header",
        "required": False,
        "description": "Makes a retry safe: the same key and request replay the first answer "
        "(1..255 printable ASCII characters, or the RFC 8941 string form).",
        "schema": {"type": "string", "pattern": f"^(?:{KEY_PATTERN})$"},
    },
    "CancelAfter": {
        "name": "Cancel-After",
        "in": "header",
        "required": False,
        "description": "The job's deadline as a duration, any the config takes (`500ms`, "
        "`30s`, `5m`, `1h`, `7d`, `1h30m`; beyond 7 days it is 7 days; empty: none); not "
        "with `deadline` in the body.",
        "schema": {
            "type": "string",
            "pattern": r"^$|^(?=[^1-9]*[1-9])[ \t]*([0-9]+(\.[0-9]+)?[ \t]*(ms|s|m|h|d)[ \t]*)+$",
        },
    },
    "Prefer": {
        "name": "Prefer",
        "in": "header",
        "required": False,
        "description": "RFC 7240: `wait=N` (seconds) waits for the job; `respond-async` on "
        "/v1 answers 202 at once. Unknown preferences are ignored.",
        "schema": STRING,
    },
}


def headers(*names: str) -> dict[str, Schema]:
    return {name: {"$ref": f"#/components/headers/{name}"} for name in ("X-Request-Id", *names)}


def response(description: str, schema: Schema | None, *header_names: str) -> Schema:
    answer: Schema = {"description": description, "headers": headers(*header_names)}
    if schema is not None:
        answer["content"] = {"application/json": {"schema": schema}}
    return answer


def error_responses(codes: dict[int, list[str]], openai: bool = False) -> dict[str, Schema]:
    """One response per status, its body's `code` one of those listed."""
    answers: dict[str, Schema] = {}
    for status, listed in sorted(codes.items()):
        extra = ["Retry-After"] if status in (409, 429, 503) else []
        if status == 429:
            extra += RATE_HEADERS
        if status == 405:
            extra.append("Allow")
        if openai:
            shown = sorted({OPENAI_CODES.get(code, code) for code in listed})
            body = {
                "allOf": [
                    ref("OpenAIError"),
                    obj({"error": obj({"code": {"enum": shown}})}),
                ],
                "x-imagegate-codes": sorted(listed),
            }
        else:
            body = {
                "allOf": [ref("Error"), obj({"error": obj({"code": {"enum": sorted(listed)}})})],
                "x-imagegate-codes": sorted(listed),
            }
        answers[str(status)] = response(", ".join(sorted(listed)), body, *extra)
    return answers
