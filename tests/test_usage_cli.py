"""`imagegate usage` as users run it: records that other processes wrote to Redis (one node
or a cluster), as a table or JSON, filtered by tenant and day; a memory:// config is
refused with a reason."""

from __future__ import annotations

import asyncio
import json
import subprocess
import tomllib
from datetime import date
from decimal import Decimal
from pathlib import Path

from gateway.money.format import to_micros
from gateway.settings import default_config_path
from gateway.usage import UsageDelta, UsageKey, usage_from_url
from tests.processes import IMAGEGATE, cli_env, write_config


def run_usage(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*IMAGEGATE, "usage", *args], capture_output=True, text=True, env=cli_env(), timeout=60
    )


def config(tmp_path: Path, state_url: str) -> Path:
    data = tomllib.loads(default_config_path().read_text())
    data["state"]["url"] = state_url
    data["server"]["data_dir"] = str(tmp_path / "data")
    return write_config(tmp_path / "gateway.toml", data)


async def write(url: str) -> None:
    store = usage_from_url(url)
    micros = to_micros(Decimal("0.496665"))
    try:
        await store.add(
            [
                UsageDelta(
                    UsageKey(date(2026, 12, 1), "acme", "gpt-image", "openai"),
                    {"jobs": 1, "attempts": 1, "images": 2, "charged_micros": micros},
                ),
                UsageDelta(
                    UsageKey(date(2026, 12, 2), "acme", "gpt-image", "openai"),
                    {"saved_jobs": 3, "saved_micros": to_micros(Decimal("0.75"))},
                ),
                UsageDelta(
                    UsageKey(date(2026, 12, 2), "zeta", "procedural", "procedural"),
                    {"jobs": 4, "attempts": 4, "images": 4},
                ),
            ]
        )
    finally:
        await store.aclose()


def test_usage_prints_a_table_and_json(tmp_path: Path, shared_url: str) -> None:
    asyncio.run(write(shared_url))
    path = str(config(tmp_path, shared_url))
    table = run_usage("--config", path, "--since", "2026-12-01")
    assert table.returncode == 0, table.stderr
    lines = table.stdout.splitlines()
    assert lines[0].split() == [
        "day",
        "tenant",
        "model",
        "backend",
        "jobs",
        "attempts",
        "images",
        "charged",
        "saved",
        "jobs",
        "saved",
    ]
    assert lines[1].split() == [
        "2026-12-01",
        "acme",
        "gpt-image",
        "openai",
        "1",
        "1",
        "2",
        "0.496665",
        "0",
        "0.00",
    ]
    assert lines[-1].split() == ["total", "5", "5", "6", "0.496665", "3", "0.75"]

    only = run_usage("--config", path, "--since", "2026-12-02", "--tenant", "acme", "--json")
    assert only.returncode == 0, only.stderr
    document = json.loads(only.stdout)
    assert document["since"] == "2026-12-02"
    assert [
        (r["day"], r["tenant"], r["savedJobs"], r["savedUsd"]) for r in document["records"]
    ] == [("2026-12-02", "acme", 3, "0.75")]


def test_usage_refuses_a_bad_day_and_memory_state(tmp_path: Path, redis_url: str) -> None:
    bad = run_usage("--config", str(config(tmp_path, redis_url)), "--since", "12/01/2026")
    assert (
        bad.returncode != 0 and "since: '12/01/2026' is not a day written YYYY-MM-DD" in bad.stderr
    )
    memory = run_usage("--config", str(config(tmp_path, "memory://")))
    assert memory.returncode != 0 and "GET /v1/usage" in memory.stderr
