"""Query parameters, checked like a body: one rule for every listing of every surface.

An empty value (`?status=`) is the parameter left out: forms and SDKs send empty fields
for "no filter". A name the endpoint does not know, or one given twice (which one would
win is the client's guess), is a 400 naming it.
"""

from __future__ import annotations

from collections.abc import Iterable

from starlette.datastructures import QueryParams

from gateway.errors import invalid_request

MAX_NAME = 40  # of an unknown name echoed back


def checked_query(params: QueryParams, allowed: Iterable[str]) -> dict[str, str]:
    """The parameters that hold a value, by name; a 400 for an unknown or repeated one."""
    known = frozenset(allowed)
    values: dict[str, str] = {}
    seen: set[str] = set()
    for name, value in params.multi_items():
        if name not in known:
            shown = name[:MAX_NAME]
            raise invalid_request(
                f"unknown query parameter {shown!r}; allowed: {', '.join(sorted(known))}", shown
            )
        if name in seen:
            raise invalid_request(f"{name!r} is given more than once", name)
        seen.add(name)
        if value:
            values[name] = value
    return values
