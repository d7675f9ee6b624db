"""Logging: `[logging] format = "text" | "json"` and `level`, the context of each line, and
no URL query string in any line at any level (vendor result URLs carry presigned
signatures; the access log would print our own `/files/...?exp=&sig=`).

Every line carries the request id of the request it belongs to, and the tenant and job id
once known (context variables: set by the request middleware, by authentication and by the
worker around each job). JSON is one object per line:
`{"time", "level", "logger", "message", "request_id", "tenant"?, "job_id"?}`, plus
`method`, `path` and `status` on uvicorn's access lines.

The filters sit on the handler, not the loggers: a logger's filter does not see records
its children propagate (httpcore.connection, uvicorn.access ...).
"""

from __future__ import annotations

import json
import logging
import re
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from datetime import UTC, datetime
from typing import IO, Any

from gateway.settings import LoggingSettings

request_id: ContextVar[str | None] = ContextVar("request_id", default=None)
tenant: ContextVar[str | None] = ContextVar("tenant", default=None)
job_id: ContextVar[str | None] = ContextVar("job_id", default=None)

REQUEST_ID = re.compile(r"[A-Za-z0-9._:-]{1,128}")
# A `?` right after a path or host character that starts `key=value` pairs.
_QUERY = re.compile(r"(?<=[\w/.%~-])\?[^\s\"'<>]*=[^\s\"'<>]*")
# httpx logs every request URL at INFO and httpcore every connection step at DEBUG.
QUIET_LOGGERS = ("httpx", "httpcore")
TEXT_FORMAT = "%(asctime)s %(levelname)s %(name)s [%(request_id)s] %(context)s%(message)s"
ACCESS_LOGGER = "uvicorn.access"


def valid_request_id(value: str | None) -> str | None:
    """An incoming `X-Request-Id` worth keeping: bounded, and only safe characters."""
    return value if value is not None and REQUEST_ID.fullmatch(value) else None


def without_query(text: str) -> str:
    return _QUERY.sub("?[redacted]", text)


class RedactQueryStrings(logging.Filter):
    """Rewrites a record's message and string arguments without their query strings
    (arguments stay a tuple: uvicorn's access formatter reads them by position)."""

    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.msg, str):
            record.msg = without_query(record.msg)
        if isinstance(record.args, tuple):
            record.args = tuple(
                without_query(arg) if isinstance(arg, str) else arg for arg in record.args
            )
        elif isinstance(record.args, dict):
            record.args = {
                key: without_query(value) if isinstance(value, str) else value
                for key, value in record.args.items()
            }
        if record.exc_info and not record.exc_text:
            record.exc_text = without_query(logging.Formatter().formatException(record.exc_info))
        return True


@contextmanager
def job_context(job_tenant: str, job: str) -> Iterator[None]:
    """Lines logged inside carry this job's id and tenant."""
    tokens = (tenant.set(job_tenant), job_id.set(job))
    try:
        yield
    finally:
        job_id.reset(tokens[1])
        tenant.reset(tokens[0])


class ContextFilter(logging.Filter):
    """Copies the context variables onto the record, and the fields of uvicorn's access
    lines (`args` = client, method, path, http version, status) for the JSON format."""

    def filter(self, record: logging.LogRecord) -> bool:
        record.request_id = request_id.get()
        record.tenant = tenant.get()
        record.job_id = job_id.get()
        known = [f"{k}={v}" for k in ("tenant", "job_id") if (v := getattr(record, k))]
        record.context = " ".join(known) + " " if known else ""
        args = record.args
        if record.name == ACCESS_LOGGER and isinstance(args, tuple) and len(args) == 5:
            _, method, path, _, status = args
            record.http = {"method": method, "path": str(path).partition("?")[0], "status": status}
        return True


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        line: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, UTC)
            .isoformat(timespec="milliseconds")
            .replace("+00:00", "Z"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
            "request_id": getattr(record, "request_id", None),
        }
        for key in ("tenant", "job_id"):
            if value := getattr(record, key, None):
                line[key] = value
        line.update(getattr(record, "http", {}))
        if record.exc_info and record.exc_info[1] is not None:
            # The type only: exception texts can hold what the message was careful to omit.
            line["error"] = type(record.exc_info[1]).__name__
        return json.dumps(line, ensure_ascii=False, default=str)


class TextFormatter(logging.Formatter):
    def __init__(self) -> None:
        super().__init__(TEXT_FORMAT)

    def format(self, record: logging.LogRecord) -> str:
        if record.request_id is None:  # type: ignore[attr-defined]
            record.request_id = "-"
        if record.exc_info:  # replaces a traceback another filter may have rendered
            record.exc_text = self.formatException(record.exc_info)
        return super().format(record)

    def formatException(self, ei: Any) -> str:
        # The type only: tracebacks and exception texts stay out of the log.
        return f"  error: {ei[0].__name__}" if ei and ei[0] else ""


def configure_logging(settings: LoggingSettings, stream: IO[str] | None = None) -> None:
    """One handler on the root logger for every library (uvicorn's included); httpx and
    httpcore kept at WARNING."""
    handler = logging.StreamHandler(stream or sys.stderr)
    handler.addFilter(RedactQueryStrings())
    handler.addFilter(ContextFilter())
    handler.setFormatter(JsonFormatter() if settings.format == "json" else TextFormatter())
    root = logging.getLogger()
    root.handlers = [handler]
    root.setLevel(settings.level.upper())
    for name in ("uvicorn", "uvicorn.error", ACCESS_LOGGER):
        # uvicorn's own config is skipped (log_config=None): its lines go to the root.
        logging.getLogger(name).handlers = []
        logging.getLogger(name).propagate = True
    for name in QUIET_LOGGERS:
        logging.getLogger(name).setLevel(logging.WARNING)
