"""Public error codes and the `ApiError` raised by endpoints (`redact` lives in
`backends.redaction`, shared with the backends, and is re-exported here).

Tree::

    ApiError                      rendered by one handler as {"ok": false, "error": {...}}
    ├── code="unauthorized"            401
    ├── code="invalid_request"         400  (message names the field)
    ├── code="model_not_found"         400
    ├── code="payload_too_large"       413
    ├── code="job_not_found"           404
    ├── code="batch_not_found"         404
    ├── code="not_found"               404  (no such route or file)
    ├── code="method_not_allowed"      405
    ├── code="job_not_cancelable"      409  (the job already ended; the message names its status)
    ├── code="idempotency_key_in_use"  409  (gateway/api/idempotent.py)
    ├── code="idempotency_key_reused"  422
    ├── code="forbidden"               403  (bad or expired file signature)
    ├── code="request_header_fields_too_large"  431
    ├── code="rate_limited" | "concurrency_limited" | "budget_exhausted"  429
    ├── code="state_unavailable"       503
    ├── code="storage_unavailable"     503  (the /files/ route cannot read the store)
    └── code="internal_error"          500  (never with a traceback)

Job failures (stored on the job, not raised at the client): backend_unavailable,
content_rejected, retry_budget_exhausted, timeout, storage_unavailable, internal_error.
"""

from __future__ import annotations

from backends.redaction import redact
from gateway.jobs import Job, JobError

__all__ = [
    "PUBLIC_ERRORS",
    "ApiError",
    "from_job_error",
    "invalid_request",
    "job_not_cancelable",
    "job_not_found",
    "redact",
    "unauthorized",
    "webhook_not_redeliverable",
]

# Every code an HTTP answer of the job API can carry, with its statuses. The README's error
# table and the OpenAPI document are checked against this map (tests/test_error_codes.py);
# a new code goes here first.
PUBLIC_ERRORS: dict[str, tuple[int, ...]] = {
    "unauthorized": (401,),
    "invalid_request": (400, 415),
    "model_not_found": (400, 404),
    "payload_too_large": (413,),
    "job_not_found": (404,),
    "batch_not_found": (404,),
    "not_found": (404,),
    "method_not_allowed": (405,),
    "idempotency_key_in_use": (409,),
    "idempotency_key_reused": (422,),
    "forbidden": (403,),
    "request_header_fields_too_large": (431,),
    "rate_limited": (429,),
    "concurrency_limited": (429,),
    "budget_exhausted": (429,),
    "cost_cap_exceeded": (400,),
    "state_unavailable": (503,),
    "storage_unavailable": (503,),
    "not_ready": (503,),
    "reload_unavailable": (409,),
    "config_invalid": (422,),
    "internal_error": (500,),
    "timeout": (504,),
    "job_canceled": (409,),
    "job_not_cancelable": (409,),
    "webhook_not_redeliverable": (409,),
    "model_forbidden": (403,),
}


class ApiError(Exception):
    """An error answered to the client, rendered by the surface it reached: the job API's
    envelope, or OpenAI's `{"error": {...}}` under /v1 (gateway/api/surfaces.py).
    `param` names the request field at fault, when one is."""

    def __init__(
        self,
        status: int,
        code: str,
        message: str,
        headers: dict[str, str] | None = None,
        *,
        param: str | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.headers = headers or {}
        self.param = param


# A failed job's code -> the status a client that waited for it receives (/v1 waits).
JOB_FAILURE_STATUS = {
    "content_rejected": 400,
    "budget_exhausted": 429,
    "internal_error": 500,
    "storage_unavailable": 503,
    "timeout": 504,
}


def from_job_error(error: JobError) -> ApiError:
    """The error a client waiting on a job receives when the job failed with `error`
    (vendor and retry failures not listed above are a bad gateway: 502)."""
    return ApiError(JOB_FAILURE_STATUS.get(error.code, 502), error.code, error.message)


def invalid_request(message: str, param: str | None = None) -> ApiError:
    return ApiError(400, "invalid_request", message, param=param)


def unauthorized(message: str = "missing or unknown API key") -> ApiError:
    return ApiError(401, "unauthorized", message)


def job_not_found(job_id: str) -> ApiError:
    return ApiError(404, "job_not_found", f"no job with id {redact(job_id)[:64]!r}")


def webhook_not_redeliverable(why: str) -> ApiError:
    return ApiError(409, "webhook_not_redeliverable", why)


def job_not_cancelable(job: Job) -> ApiError:
    return ApiError(
        409,
        "job_not_cancelable",
        f"job {job.id} already ended with status {job.status.value}; "
        "only PENDING or RUNNING jobs can be canceled",
    )
