"""Logging for `imagegate serve` and `imagegate worker`: one format, and no URL query string
in any line at any level (vendor result URLs carry presigned signatures; the access log
would print our own `/files/...?exp=&sig=`).

The filter sits on the handlers, not the loggers: a logger's filter does not see records
its children propagate (httpcore.connection, uvicorn.access ...).
"""

from __future__ import annotations

import copy
import logging
import re
from typing import Any

FORMAT = "%(asctime)s %(levelname)s %(name)s %(message)s"
# A `?` right after a path or host character that starts `key=value` pairs.
_QUERY = re.compile(r"(?<=[\w/.%~-])\?[^\s\"'<>]*=[^\s\"'<>]*")
# httpx logs every request URL at INFO and httpcore every connection step at DEBUG.
QUIET_LOGGERS = ("httpx", "httpcore")


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


def configure_logging(level: int | str = logging.INFO) -> None:
    """The root handler with the redacting filter; httpx and httpcore kept at WARNING."""
    logging.basicConfig(level=level, format=FORMAT)
    for handler in logging.getLogger().handlers:
        if not any(isinstance(f, RedactQueryStrings) for f in handler.filters):
            handler.addFilter(RedactQueryStrings())
    for name in QUIET_LOGGERS:
        logging.getLogger(name).setLevel(logging.WARNING)


def uvicorn_log_config() -> dict[str, Any]:
    """uvicorn's own logging config with the same filter on its handlers."""
    from uvicorn.config import LOGGING_CONFIG

    config = copy.deepcopy(LOGGING_CONFIG)
    config.setdefault("filters", {})["redact_query"] = {"()": RedactQueryStrings}
    for handler in config["handlers"].values():
        handler.setdefault("filters", []).append("redact_query")
    return config
