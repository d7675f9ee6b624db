"""The OpenAI surface's error body: `{"error": {"message", "type", "param", "code"}}`.

The status comes from the error tree, so the official SDK raises its own class for it
(400 BadRequestError, 401 AuthenticationError, 403 PermissionDeniedError, 404
NotFoundError, 429 RateLimitError, 5xx InternalServerError). `type` and `code` follow what
OpenAI sends for the same situation; codes OpenAI has no name for keep the gateway's.
"""

from __future__ import annotations

from starlette.responses import JSONResponse

from gateway.errors import ApiError

# The gateway's code -> OpenAI's code for the same situation.
OPENAI_CODES = {
    "unauthorized": "invalid_api_key",
    "rate_limited": "rate_limit_exceeded",
    "concurrency_limited": "rate_limit_exceeded",
    "budget_exhausted": "insufficient_quota",
    "content_rejected": "content_policy_violation",
}
# 429s are typed by what ran out, as OpenAI does ("requests", "insufficient_quota").
TOO_MANY_TYPES = {"budget_exhausted": "insufficient_quota"}
# The gateway already retried these within the job's cost budget: the SDK's own retries
# would pay the vendor again for the same outcome.
NO_CLIENT_RETRY = frozenset({"retry_budget_exhausted", "worker_lost", "job_canceled"})


def openai_type(error: ApiError) -> str:
    if error.status == 429:
        return TOO_MANY_TYPES.get(error.code, "requests")
    if error.status >= 500:
        return "server_error"
    return "invalid_request_error"


def openai_error_body(error: ApiError) -> dict[str, dict[str, str | None]]:
    """`{"error": {...}}`: the body of a failed answer, and of a stream's `error` event."""
    return {
        "error": {
            "message": error.message,
            "type": openai_type(error),
            "param": error.param,
            "code": OPENAI_CODES.get(error.code, error.code),
        }
    }


def openai_failure(error: ApiError) -> JSONResponse:
    headers = dict(error.headers)
    if error.code in NO_CLIENT_RETRY:
        headers["x-should-retry"] = "false"
    return JSONResponse(openai_error_body(error), status_code=error.status, headers=headers)
