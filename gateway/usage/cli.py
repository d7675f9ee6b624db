"""`imagegate usage [--config FILE] [--tenant T] [--since YYYY-MM-DD] [--json]`.

Reads the records the gateway's processes share in the state store (`redis://`); a
`memory://` gateway keeps them inside its own process, so there it answers only through
`GET /v1/usage` and `GET /admin/usage`.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from typing import Any

from gateway.errors import redact
from gateway.settings import ConfigError, load_settings
from gateway.state.base import StateUnavailable
from gateway.usage import UsageRecord, usage_from_url
from gateway.usage.query import parse_since
from gateway.usage.table import render_table


def add_command(commands: Any) -> None:
    usage = commands.add_parser("usage", help="print per-tenant, per-UTC-day usage records")
    usage.add_argument("--config", help="TOML file (default: $IMAGEGATE_CONFIG or embedded)")
    usage.add_argument("--tenant", help="only this tenant (default: every tenant)")
    usage.add_argument("--since", help="first UTC day, YYYY-MM-DD (default: 30 days ago)")
    usage.add_argument("--json", action="store_true", help="JSON (one object) instead of a table")
    usage.set_defaults(run=run)


def run(args: argparse.Namespace) -> None:
    try:
        settings = load_settings(args.config)
        since = parse_since(args.since)
    except (ConfigError, ValueError) as exc:
        sys.exit(f"imagegate: {exc}")
    if settings.state.url.startswith("memory:"):
        sys.exit(
            "imagegate: usage needs the state the gateway shares (state.url = redis://...): "
            "a memory:// gateway keeps its records in its own process; ask it with "
            "GET /v1/usage (a tenant key) or GET /admin/usage"
        )

    async def read() -> list[UsageRecord]:
        store = usage_from_url(settings.state.url)
        try:
            return await store.records(args.tenant, since)
        finally:
            await store.aclose()

    try:
        records = asyncio.run(read())
    except StateUnavailable as exc:
        sys.exit(f"imagegate: usage: {redact(str(exc))}")
    if args.json:
        document = {"since": since.isoformat(), "records": [r.to_json() for r in records]}
        print(json.dumps(document, indent=2))
    else:
        print(render_table(records))
