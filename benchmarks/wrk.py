"""The load generator: `wrk` (C, one thread) driven by `lua/scenario.lua`.

wrk is used for every target and scenario because on a 2-core machine a Python client
would need most of a core itself and cap the baseline first, which would hide the very
ratios this harness reports. One thread leaves the other core to the server under test.
"""

from __future__ import annotations

import json
import subprocess
from dataclasses import dataclass
from pathlib import Path

from benchmarks.installs import ensure

SCRIPT = Path(__file__).with_name("lua") / "scenario.lua"


@dataclass(frozen=True)
class LoadResult:
    """One bounded wrk run: throughput, latency percentiles and every kind of error."""

    requests: int
    seconds: float
    p50_ms: float
    p99_ms: float
    errors: dict[str, int]

    @property
    def rps(self) -> float:
        return self.requests / self.seconds if self.seconds else 0.0

    @property
    def error_count(self) -> int:
        return sum(self.errors.values())


def run_wrk(
    base_url: str,
    mode: str,
    path: str,
    key: str,
    tag: str,
    connections: int,
    seconds: float,
    model: str = "",
) -> LoadResult:
    """Run `mode` ("new", "same" or "get") on `path` with `connections` for `seconds`."""
    command = [
        ensure("wrk"),
        "-t1",
        f"-c{connections}",
        f"-d{max(1, round(seconds))}s",
        "--timeout",
        "10s",
        "-s",
        str(SCRIPT),
        base_url + path,
        "--",
        mode,
        path,
        key,
        tag,
        model,
    ]
    out = subprocess.run(
        command, capture_output=True, text=True, timeout=seconds + 30, check=True
    ).stdout
    line = next((x for x in out.splitlines() if x.startswith("BENCH_JSON ")), None)
    if line is None:
        raise RuntimeError(f"wrk printed no result:\n{out}")
    raw = json.loads(line.removeprefix("BENCH_JSON "))
    return LoadResult(
        requests=raw["requests"],
        seconds=raw["duration_us"] / 1e6,
        p50_ms=raw["p50_us"] / 1000,
        p99_ms=raw["p99_us"] / 1000,
        errors=raw["errors"],
    )
