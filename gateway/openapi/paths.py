"""Every operation of the gateway: its parameters, body, answers and error codes."""

from __future__ import annotations

from typing import Any

from gateway.api.job_listing import DEFAULT_LIMIT, MAX_LIMIT
from gateway.api.listing_cursor import CURSOR_PATTERN
from gateway.batches import MAX_ITEMS
from gateway.openapi import bodies
from gateway.openapi.components import (
    INTEGER,
    NULLABLE_STRING,
    RATE_HEADERS,
    STATUSES,
    STRING,
    USD,
    Schema,
    envelope,
    error_responses,
    obj,
    ref,
    response,
)
from gateway.settings import Settings

TENANT: list[dict[str, list[str]]] = [{"bearer": []}, {"apiKey": []}]
ADMIN: list[dict[str, list[str]]] = [{"adminBearer": []}, {"adminApiKey": []}]
# Every answer may be one of these: the edge refuses huge headers; an unexpected exception
# is answered without a traceback.
EDGE = {431: ["request_header_fields_too_large"], 500: ["internal_error"]}
STATE = {503: ["state_unavailable"]}
AUTH = {401: ["unauthorized"]}
IDEMPOTENT = {
    400: ["invalid_request"],
    409: ["idempotency_key_in_use"],
    422: ["idempotency_key_reused"],
}
SUBMIT = {
    400: ["invalid_request", "model_not_found", "cost_cap_exceeded"],
    403: ["model_forbidden"],
    413: ["payload_too_large"],
    415: ["invalid_request"],
    429: ["rate_limited", "concurrency_limited", "budget_exhausted"],
    503: ["state_unavailable", "storage_unavailable"],
}
POLL = {429: ["rate_limited"]}
# What a failed job answers a /v1 call that waited for it (gateway.errors.JOB_FAILURE_STATUS;
# other failures are a bad gateway).
JOB_FAILURES = {
    400: ["content_rejected"],
    409: ["job_canceled"],
    429: ["budget_exhausted"],
    500: ["internal_error"],
    502: ["backend_unavailable", "retry_budget_exhausted", "worker_lost"],
    503: ["storage_unavailable"],
    504: ["timeout"],
}


def merged(*groups: dict[int, list[str]]) -> dict[int, list[str]]:
    codes: dict[int, list[str]] = {}
    for group in groups:
        for status, listed in group.items():
            codes[status] = sorted({*codes.get(status, []), *listed})
    return codes


def operation(
    summary: str,
    answers: dict[str, Schema],
    errors: dict[int, list[str]],
    *,
    security: list[dict[str, list[str]]] | None = None,
    parameters: list[Schema] | None = None,
    body: dict[str, Schema] | None = None,
    openai: bool = False,
) -> Schema:
    found: Schema = {
        "summary": summary,
        "responses": {**answers, **error_responses(merged(EDGE, errors), openai)},
    }
    found["security"] = security if security is not None else []
    if parameters:
        found["parameters"] = parameters
    if body:
        found["requestBody"] = {
            "required": True,
            "content": {kind: {"schema": schema} for kind, schema in body.items()},
        }
    return found


def sse_event(kinds: list[str]) -> Schema:
    """One Server-Sent Event as schemathesis reads a stream: its type and JSON data."""
    return {
        "type": "object",
        "required": ["event", "data"],
        "properties": {
            "event": {"enum": kinds},
            "data": {"type": "string", "contentMediaType": "application/json"},
            "id": STRING,
        },
    }


def path_param(name: str, description: str) -> Schema:
    return {
        "name": name,
        "in": "path",
        "required": True,
        "description": description,
        "schema": STRING,
    }


def param(name: str) -> Schema:
    return {"$ref": f"#/components/parameters/{name}"}


SINCE: Schema = {
    "name": "since",
    "in": "query",
    "required": False,
    "description": "YYYY-MM-DD, a UTC day (absent or empty: 30 days ago)",
    "schema": {"anyOf": [{"type": "string", "format": "date"}, {"const": ""}]},
}
JOB_ID = path_param("job_id", "A job id from POST /images/jobs.")


def query(name: str, description: str, schema: Schema) -> Schema:
    """An optional query parameter; an empty value is the parameter left out
    (gateway/api/query.py)."""
    return {
        "name": name,
        "in": "query",
        "required": False,
        "allowEmptyValue": True,
        "description": f"{description} Empty: as if absent.",
        "schema": schema,
    }


def up_to(maximum: int) -> Schema:
    """A count from 1 to `maximum` (a power of ten) as a query string carries it: ASCII
    digits, no sign, point or leading zero. A pattern, as an `integer` schema admits 20.0."""
    digits = len(str(maximum)) - 1
    assert maximum == 10**digits, "a power of ten"
    return {"type": "string", "pattern": f"^([1-9][0-9]{{0,{digits - 1}}}|{maximum})$"}


def _any_case(word: str) -> str:
    return "".join(f"[{c.upper()}{c.lower()}]" for c in word)


_STATUS = "(?:" + "|".join(_any_case(status) for status in STATUSES) + ")"
MOMENT: Schema = {"type": "string", "format": "date-time"}  # RFC 3339, with an offset
LISTING = [
    query(
        "status",
        "One status, or several comma-separated (any case).",
        {"type": "string", "pattern": rf"^\s*{_STATUS}\s*(,\s*{_STATUS}\s*)*$"},
    ),
    query("createdAfter", "RFC 3339 date-time with an offset or Z; exclusive.", MOMENT),
    query("createdBefore", "RFC 3339 date-time with an offset or Z; exclusive.", MOMENT),
    query(
        "limit",
        f"An integer, 1..{MAX_LIMIT}; default {DEFAULT_LIMIT}.",
        up_to(MAX_LIMIT),
    ),
    query(
        "cursor",
        "nextCursor of the page before, unchanged (opaque; good only for the listing "
        "that issued it).",
        {"type": "string", "pattern": f"^{CURSOR_PATTERN}$"},
    ),
]
TENANT_FILTER = query(
    "tenant",
    "One tenant's (absent or empty: every tenant's).",
    {"type": "string", "minLength": 1, "maxLength": 64},
)
BATCH_ID = path_param("batch_id", "A batch id from POST /images/batches.")


def _job_api(settings: Settings) -> dict[str, Any]:
    job = envelope(ref("Job"))
    batch_item = {
        "type": "object",
        "required": ["index"],
        "properties": {
            "index": INTEGER,
            "jobId": STRING,
            "status": STRING,
            "cached": {"type": "boolean"},
            "error": obj({"code": STRING, "message": STRING}),
            "job": {"oneOf": [ref("Job"), {"type": "null"}]},
        },
    }
    return {
        "/images/jobs": {
            "post": operation(
                "Submit a generation (or, with images, an edit) as a job",
                {
                    "202": response(
                        "Accepted: poll Location",
                        envelope(ref("JobAccepted")),
                        "Location",
                        *RATE_HEADERS,
                    ),
                    "200": response(
                        "Prefer: wait=N and the job ended in time", job, "Location", *RATE_HEADERS
                    ),
                },
                merged(AUTH, SUBMIT, IDEMPOTENT),
                security=TENANT,
                parameters=[param("IdempotencyKey"), param("CancelAfter"), param("Prefer")],
                body={"application/json": bodies.job_body(settings)},
            ),
            "get": operation(
                "The caller's jobs, newest first, a page at a time",
                {
                    "200": response(
                        "A page of jobs",
                        envelope(
                            obj(
                                {
                                    "jobs": {"type": "array", "items": ref("Job")},
                                    "nextCursor": NULLABLE_STRING,
                                }
                            )
                        ),
                    )
                },
                merged(AUTH, POLL, STATE, {400: ["invalid_request"]}),
                security=TENANT,
                parameters=LISTING,
            ),
        },
        "/images/jobs/{job_id}": {
            "get": operation(
                "Poll a job",
                {"200": response("The job", job)},
                merged(AUTH, POLL, STATE, {404: ["job_not_found"]}),
                security=TENANT,
                parameters=[JOB_ID],
            )
        },
        "/images/jobs/{job_id}/cancel": {
            "post": operation(
                "Cancel a job",
                {
                    "200": response("Canceled", job),
                    "202": response("Its worker is still stopping it", job),
                },
                merged(
                    AUTH, IDEMPOTENT, STATE, {404: ["job_not_found"], 409: ["job_not_cancelable"]}
                ),
                security=TENANT,
                parameters=[JOB_ID, param("IdempotencyKey")],
            )
        },
        "/images/jobs/{job_id}/webhook": {
            "post": operation(
                "Deliver an ended job's webhook again (same webhook-id, a fresh retry schedule)",
                {"202": response("Redelivery scheduled", envelope(ref("WebhookRedelivery")))},
                merged(AUTH, STATE, {404: ["job_not_found"], 409: ["webhook_not_redeliverable"]}),
                security=TENANT,
                parameters=[JOB_ID],
            )
        },
        "/images/jobs/{job_id}/events": {
            "get": operation(
                "The job's live status as Server-Sent Events (status, attempt, job, error)",
                {
                    "200": {
                        "description": "An event stream",
                        "headers": {},
                        "content": {
                            "text/event-stream": {
                                "schema": sse_event(["status", "attempt", "job", "error"])
                            }
                        },
                    }
                },
                merged(AUTH, POLL, STATE, {404: ["job_not_found"]}),
                security=TENANT,
                parameters=[JOB_ID],
            )
        },
        "/images/batches": {
            "post": operation(
                "Submit up to 100 jobs, each admitted or refused on its own",
                {
                    "202": response(
                        "Accepted",
                        envelope(
                            obj(
                                {
                                    "batchId": STRING,
                                    "admitted": INTEGER,
                                    "refused": INTEGER,
                                    "items": {"type": "array", "items": batch_item},
                                }
                            )
                        ),
                        "Location",
                        *RATE_HEADERS,
                    )
                },
                merged(
                    AUTH, IDEMPOTENT, STATE, {413: ["payload_too_large"], 415: ["invalid_request"]}
                ),
                security=TENANT,
                parameters=[param("IdempotencyKey"), param("CancelAfter")],
                body={"application/json": bodies.batch_body(settings)},
            )
        },
        "/images/batches/{batch_id}": {
            "get": operation(
                "Read a batch, a page of its items at a time",
                {
                    "200": response(
                        "The batch",
                        envelope(
                            obj(
                                {
                                    "batchId": STRING,
                                    "createdAt": STRING,
                                    "total": INTEGER,
                                    "counts": {"type": "object", "additionalProperties": INTEGER},
                                    "cost": USD,
                                    "items": {"type": "array", "items": batch_item},
                                    "nextCursor": {"type": ["string", "null"]},
                                }
                            )
                        ),
                    )
                },
                merged(AUTH, POLL, STATE, {400: ["invalid_request"], 404: ["batch_not_found"]}),
                security=TENANT,
                parameters=[
                    BATCH_ID,
                    query(
                        "limit",
                        f"An integer, 1..{MAX_ITEMS}.",
                        up_to(MAX_ITEMS),
                    ),
                    query(
                        "cursor",
                        "nextCursor of the page before",
                        {"type": "string", "pattern": "^[0-9]{1,9}$"},
                    ),
                ],
            )
        },
        "/images/batches/{batch_id}/cancel": {
            "post": operation(
                "Cancel every job of the batch that has not ended",
                {
                    "200": response(
                        "What was canceled",
                        envelope(
                            {
                                "type": "object",
                                "required": ["batchId"],
                                "properties": {"batchId": STRING},
                                "additionalProperties": INTEGER,
                            }
                        ),
                    )
                },
                merged(AUTH, IDEMPOTENT, POLL, STATE, {404: ["batch_not_found"]}),
                security=TENANT,
                parameters=[BATCH_ID, param("IdempotencyKey")],
            )
        },
        "/files/{key}": _files(),
    }


def _files() -> Schema:
    parameters = [
        path_param("key", "The stored image's key, as in the signed URL"),
        {"name": "exp", "in": "query", "required": True, "schema": STRING},
        {"name": "sig", "in": "query", "required": True, "schema": STRING},
    ]
    errors = {403: ["forbidden"], 404: ["not_found"], 503: ["storage_unavailable"]}
    image = {
        "description": "The image bytes",
        "headers": {},
        "content": {"image/*": {"schema": {"type": "string", "format": "binary"}}},
    }
    return {
        method: operation(
            f"{method.upper()} an image behind a signed, expiring URL",
            {"200": image},
            errors,
            parameters=parameters,
        )
        for method in ("get", "head")
    }


def _openai(settings: Settings) -> dict[str, Any]:
    images = obj(
        {
            "created": INTEGER,
            "data": {
                "type": "array",
                "items": {"type": "object", "properties": {"url": STRING, "b64_json": STRING}},
            },
            "size": STRING,
            "quality": STRING,
            "output_format": STRING,
        },
        required=["created", "data"],
    )
    answers = {
        "200": {
            "description": "OpenAI's ImagesResponse, or with stream: true one event per image",
            "headers": {"X-Imagegate-Job-Id": {"schema": STRING}},
            "content": {
                "application/json": {"schema": images},
                "text/event-stream": {
                    "schema": sse_event(["image_generation.completed", "image_edit.completed"])
                },
            },
        },
        "202": response("Prefer: respond-async: the job, not waited for", ref("Job"), "Location"),
    }
    errors = merged(AUTH, SUBMIT, JOB_FAILURES, IDEMPOTENT)
    model = {"name": "model_id", "in": "path", "required": True, "schema": STRING}
    return {
        "/v1/images/generations": {
            "post": operation(
                "OpenAI Images: generate",
                answers,
                errors,
                security=TENANT,
                openai=True,
                parameters=[param("IdempotencyKey"), param("Prefer")],
                body={"application/json": bodies.generation_body(settings)},
            )
        },
        "/v1/images/edits": {
            "post": operation(
                "OpenAI Images: edit (multipart as the SDK sends it, or JSON with image URLs)",
                answers,
                errors,
                security=TENANT,
                openai=True,
                parameters=[param("IdempotencyKey"), param("Prefer")],
                body={
                    "multipart/form-data": bodies.edit_form(settings),
                    "application/json": bodies.edit_json_body(settings),
                },
            )
        },
        "/v1/images/variations": {
            "post": operation(
                "OpenAI Images: variations of one image",
                answers,
                errors,
                security=TENANT,
                openai=True,
                parameters=[param("IdempotencyKey"), param("Prefer")],
                body={"multipart/form-data": bodies.variation_form(settings)},
            )
        },
        "/v1/models": {
            "get": operation(
                "The models this key may use",
                {
                    "200": response(
                        "A list",
                        obj(
                            {
                                "object": {"const": "list"},
                                "data": {"type": "array", "items": ref("Model")},
                            }
                        ),
                    )
                },
                AUTH,
                security=TENANT,
                openai=True,
            )
        },
        "/v1/models/{model_id}": {
            "get": operation(
                "One model",
                {"200": response("The model", ref("Model"))},
                merged(AUTH, {404: ["model_not_found", "not_found"]}),
                security=TENANT,
                openai=True,
                parameters=[model],
            )
        },
        "/v1/usage": {
            "get": operation(
                "The tenant's usage records since a UTC day",
                {
                    "200": response(
                        "Usage records",
                        obj(
                            {
                                "object": {"const": "list"},
                                "tenant": STRING,
                                "since": STRING,
                                "data": {"type": "array", "items": ref("UsageRecord")},
                            }
                        ),
                    )
                },
                merged(AUTH, POLL, STATE, {400: ["invalid_request"]}),
                security=TENANT,
                openai=True,
                parameters=[SINCE],
            )
        },
    }


def _operations() -> dict[str, Any]:
    status = ref("Status")
    ready = envelope(obj({"status": STRING, "checks": {"type": "object"}}))
    admin_errors = merged(AUTH, STATE, {403: ["forbidden"]})
    listed = envelope({"type": "object"})
    return {
        "/healthz": {
            "get": operation("The state store answers", {"200": response("ok", status)}, STATE)
        },
        "/livez": {"get": operation("The process answers", {"200": response("ok", status)}, {})},
        "/readyz": {
            "get": operation(
                "The process can do its work",
                {"200": response("ready", ready)},
                {503: ["not_ready"]},
            )
        },
        "/metrics": {
            "get": operation(
                "Prometheus metrics of this process",
                {
                    "200": {
                        "description": "Prometheus text format",
                        "headers": {},
                        "content": {"text/plain": {"schema": STRING}},
                    }
                },
                STATE,
            )
        },
        "/openapi.json": {
            "get": operation(
                "This document",
                {"200": response("OpenAPI 3.1", {"type": "object"})},
                {},
            )
        },
        "/admin/tenants": {
            "get": operation(
                "Every tenant: limits, windows, budget",
                {"200": response("Tenants", listed)},
                admin_errors,
                security=ADMIN,
            )
        },
        "/admin/backends": {
            "get": operation(
                "Every backend: windows, recent calls",
                {"200": response("Backends", listed)},
                admin_errors,
                security=ADMIN,
            )
        },
        "/admin/overview": {
            "get": operation(
                "This process's totals",
                {"200": response("Totals", listed)},
                admin_errors,
                security=ADMIN,
            )
        },
        "/admin/history": {
            "get": operation(
                "Samples of this process's totals over time, ending now",
                {
                    "200": response(
                        "Samples",
                        envelope(
                            obj({"everySeconds": {"type": "number"}, "samples": {"type": "array"}})
                        ),
                    )
                },
                admin_errors,
                security=ADMIN,
            )
        },
        "/admin/usage": {
            "get": operation(
                "Usage records of every tenant, or of one, since a UTC day",
                {"200": response("Records and their totals", listed)},
                merged(admin_errors, {400: ["invalid_request"]}),
                security=ADMIN,
                parameters=[
                    SINCE,
                    TENANT_FILTER,
                ],
            )
        },
        "/admin/jobs": {
            "get": operation(
                "Recent jobs of every tenant, or of one, newest first, a page at a time",
                {
                    "200": response(
                        "A page of jobs (each with its tenant)",
                        envelope(
                            obj(
                                {
                                    "tenant": NULLABLE_STRING,
                                    "jobs": {
                                        "type": "array",
                                        "items": {"allOf": [ref("Job"), obj({"tenant": STRING})]},
                                    },
                                    "nextCursor": NULLABLE_STRING,
                                }
                            )
                        ),
                    )
                },
                merged(admin_errors, {400: ["invalid_request"]}),
                security=ADMIN,
                parameters=[
                    *LISTING,
                    TENANT_FILTER,
                ],
            )
        },
        "/admin/reload": {
            "post": operation(
                "Re-read the config file; apply plans, tenants and admin keys",
                {"200": response("Applied", listed)},
                merged(admin_errors, {409: ["reload_unavailable"], 422: ["config_invalid"]}),
                security=ADMIN,
            )
        },
    }


def _console() -> dict[str, Any]:
    asset = {
        "description": "A file of the web console (with its ETag and security headers)",
        "headers": {"ETag": {"schema": STRING}},
        "content": {"*/*": {"schema": STRING}},
    }
    unchanged = {"description": "If-None-Match matched: not modified", "headers": {}}
    name = path_param("name", "A file of the console (index.html, app.js, ...)")
    return {
        path: {
            method: operation(
                f"{method.upper()} the web console" + (" file" if params else ""),
                {"200": asset, "304": unchanged},
                {404: ["not_found"]},
                parameters=params,
            )
            for method in ("get", "head")
        }
        for path, params in (("/console", []), ("/console/{name}", [name]))
    }


def _models() -> dict[str, Any]:
    model = obj(
        {
            "name": STRING,
            "default": {"type": "boolean"},
            "sizes": {"type": "array", "items": STRING},
            "defaultSize": STRING,
            "qualities": {"type": ["array", "null"], "items": STRING},
            "maxN": INTEGER,
            "seed": {"type": "boolean"},
            "negativePrompt": {"type": "boolean"},
        }
    )
    return {
        "/images/models": {
            "get": operation(
                "The model aliases this key may use, and what each accepts",
                {
                    "200": response(
                        "Models", envelope(obj({"models": {"type": "array", "items": model}}))
                    )
                },
                AUTH,
                security=TENANT,
            )
        }
    }


def paths(settings: Settings) -> dict[str, Any]:
    return {
        **_job_api(settings),
        **_models(),
        **_openai(settings),
        **_operations(),
        **_console(),
    }
