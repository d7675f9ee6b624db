"""Decode a request body as JSON, refusing what `json.loads` accepts but the gateway cannot
hold: nesting deeper than `MAX_DEPTH` (the C decoder recurses), integers past Python's
4300-digit conversion limit (a ValueError, not a JSONDecodeError) and lone UTF-16
surrogates (`"\\ud800"` decodes to a str that cannot be encoded again)."""

from __future__ import annotations

import json
import re
from typing import Any

from gateway.errors import ApiError, invalid_request

MAX_DEPTH = 32  # no accepted body needs more than 3
_STRING_OR_BRACKET = re.compile(rb'"(?:[^"\\]|\\.)*"|[\[\]{}]', re.DOTALL)


def decode_json(body: bytes) -> Any:
    _check_depth(body)
    try:
        value = json.loads(body)
    except UnicodeDecodeError:
        raise invalid_request("the body is not valid UTF-8") from None
    except json.JSONDecodeError as exc:
        raise invalid_request(f"the body is not valid JSON: {exc}") from None
    except ValueError as exc:  # "Exceeds the limit (4300 digits) for integer string conversion"
        raise invalid_request(f"the body holds an integer that is too large: {exc}") from None
    _check_strings(value)
    return value


def _check_depth(body: bytes) -> None:
    # Fast path: fewer brackets than the bound cannot nest past it.
    if body.count(b"[") + body.count(b"{") <= MAX_DEPTH:
        return
    depth = 0
    for match in _STRING_OR_BRACKET.finditer(body):
        token = match.group()
        if token in (b"[", b"{"):
            depth += 1
            if depth > MAX_DEPTH:
                raise invalid_request(f"the body nests deeper than {MAX_DEPTH} levels")
        elif token in (b"]", b"}"):
            depth -= 1


def _check_strings(value: Any, path: str = "body") -> None:
    """Every string (keys too) must be valid Unicode; the message names where."""
    if isinstance(value, str):
        _check_text(value, path)
    elif isinstance(value, dict):
        for key, item in value.items():
            _check_text(key, f"{path} key")
            _check_strings(item, key if path == "body" else f"{path}.{key}")
    elif isinstance(value, list):
        for index, item in enumerate(value):
            _check_strings(item, f"{path}[{index}]")


def _check_text(text: str, where: str) -> None:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        raise ApiError(
            400, "invalid_request", f"{where!r}: holds a lone UTF-16 surrogate (invalid Unicode)"
        ) from None


def integral(value: Any) -> Any:
    """A JSON number with no fraction is an integer (JSON Schema says `2.0` is one): it
    reaches a strict int field as that int; any other value is left for the field to judge."""
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return value
