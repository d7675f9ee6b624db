"""The gateway config every benchmark target runs: generated, so nothing is refused.

Load runs use tenant `bench`, which has no plan: no rate, poll-rate, budget or concurrency
limit, so the gateway never answers 429 and the figures measure work, not refusals.
Tenant `bench-quotas` has every kind of limit, set far above what a run can reach and on a
priced model, so the Redis accounting can show what an enforced quota costs per request.
"""

from __future__ import annotations

import tomllib
from pathlib import Path
from typing import Any

import tomli_w

from gateway.auth import key_hash
from gateway.settings import default_config_path

BENCH_KEY = "ig_bench_unlimited_0123456789abcdef"
QUOTA_KEY = "ig_bench_quotas_0123456789abcdef"
LIMITED_KEY = "ig_bench_limited_0123456789abcdef"  # rate 1/minute: the refusal rows
SIZE = "64x64"  # the smallest image: rendering stays cheap, the gateway's path dominates
PRICED_MODEL = "priced"

GENEROUS_PLAN = {
    # The embedded plan's shape (two rate windows, poll rate, cap, budget) scaled up.
    "rate": "1000000/minute;100000000/day",
    "poll_rate": "1000000/minute",
    "max_concurrent": 1000000,
    "budget": "1000000.00/day",
    "max_cost_per_job": "1.00",
}


def bench_config(workdir: Path, state_url: str) -> dict[str, Any]:
    """The embedded default, with its tenants replaced and its procedural backend at zero
    latency (its settings are otherwise kept: 4 in-process workers, file storage)."""
    config = tomllib.loads(default_config_path().read_text())
    config["server"]["data_dir"] = str(workdir / "data")
    config["state"]["url"] = state_url
    config["storage"]["url"] = f"file://{workdir / 'data' / 'images'}"
    # A restart between scenarios must not wait out a backlog left by the previous one.
    config["workers"]["shutdown_grace"] = "0s"
    config["plans"] = {"generous": GENEROUS_PLAN}
    config["tenants"] = {
        "bench": {"keys": [key_hash(BENCH_KEY)]},
        "bench-quotas": {"plan": "generous", "keys": [key_hash(QUOTA_KEY)]},
        "bench-limited": {"rate": "1/minute", "keys": [key_hash(LIMITED_KEY)]},
    }
    procedural = config["models"]["procedural"]
    procedural["sizes"] = [SIZE, *procedural["sizes"]]
    config["models"][PRICED_MODEL] = {
        "targets": [{"backend": "procedural-priced", "model": "procedural-v1"}],
        "sizes": [SIZE],
    }
    config["backends"]["procedural"].update(latency="0s", fail_rate=0.0)
    config["backends"]["procedural-priced"] = {
        "type": "procedural",
        "latency": "0s",
        "prices": {"default": "0.0001"},
    }
    return config


def write_bench_config(
    workdir: Path, state_url: str, vendors: dict[str, str] | None = None
) -> Path:
    """The config file of one gateway target; `vendors` (alias -> mock vendor base URL)
    adds the vendor path's models."""
    config = bench_config(workdir, state_url)
    if vendors:
        config = add_vendors(config, vendors)
    suffix = "-vendors" if vendors else ""
    path = workdir / f"gateway-{state_url.split(':')[0]}{suffix}.toml"
    path.write_text(tomli_w.dumps(config))
    return path


# The vendor path: the `openai` backend against a mock vendor process (benchmarks/vendor.py).
VENDOR_KEY_ENV = "BENCH_VENDOR_KEY"
VENDOR_MODEL = "bench-image"  # not an OpenAI family name: sizes pass through (1x1 included)
# A worker is an asyncio task that waits on one vendor call: enough of them that 64
# concurrent clients never queue behind the pool (a vendor call is I/O, not CPU). Idle ones
# cost nothing of their own: one claim loop per process claims for them all.
VENDOR_WORKERS = 80


def vendor_alias(image: str, delay_ms: int) -> str:
    return f"vendor-{image}-{delay_ms}ms"


def vendor_size(image: str) -> str:
    return "1x1" if image == "1x1" else f"{image}x{image}"


def add_vendors(config: dict[str, Any], vendors: dict[str, str]) -> dict[str, Any]:
    """One model alias and one `openai` backend per mock vendor (alias -> its base URL)."""
    config["workers"]["concurrency"] = VENDOR_WORKERS
    for alias, base_url in vendors.items():
        image = alias.split("-")[1]
        config["models"][alias] = {
            "targets": [{"backend": alias, "model": VENDOR_MODEL}],
            "sizes": [vendor_size(image)],
        }
        config["backends"][alias] = {
            "type": "openai",
            "base_url": f"{base_url}/v1",
            "api_key_env": VENDOR_KEY_ENV,
            "timeout": "30s",
            "prices": {"default": "0.01"},
        }
    return config
