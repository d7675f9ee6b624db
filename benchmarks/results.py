"""What a run produces: one record per measured cell, and the whole run as JSON.

A ratio is always the gateway's figure over the baseline's *in the same run* at the same
concurrency, so it survives a change of machine where the raw numbers do not.
"""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from benchmarks.redis_cost import RedisCost

BASELINE = "baseline"
VENDOR = "vendor"  # the vendor-path rows' base: the mock vendor called directly
E2E = "end to end (submit -> SUCCEEDED)"
V1_CACHE_HIT = "v1 generate (cache hit)"
V1_NEW = "v1 generate (new prompt, waited for)"
SCENARIO_ORDER = [
    "poll",
    "poll (quotas on)",
    "submit (cache hit)",
    V1_CACHE_HIT,
    V1_NEW,
    "submit (new prompt)",
    "submit (new prompt, quotas on)",
    E2E,
]
# Scenarios the baseline has no twin of, and the baseline scenario each is divided by.
BASELINE_OF = {
    "poll (quotas on)": "poll",
    "submit (new prompt, quotas on)": "submit (new prompt)",
    E2E: "submit (new prompt)",
}


@dataclass
class Row:
    """One scenario on one target at one concurrency."""

    scenario: str
    target: str
    concurrency: int
    rate: float  # requests/s, or jobs/s for the end-to-end scenario
    p50_ms: float
    p99_ms: float
    errors: int  # wrk socket and non-2xx/3xx errors, or failed jobs
    unit: str = "req/s"
    ratio: float | None = None  # rate / the baseline rate (`Report.apply_ratios`)
    baseline_scenario: str | None = None
    extra: dict[str, float] = field(default_factory=dict)  # e.g. polls per job (end to end)


@dataclass
class MemoryRow:
    """Resident memory of one server process: after start-up and warm-up, and its peak."""

    target: str
    idle_mib: float
    peak_mib: float


@dataclass
class Report:
    meta: dict[str, Any]
    rows: list[Row] = field(default_factory=list)
    memory: list[MemoryRow] = field(default_factory=list)
    redis_cost: list[RedisCost] = field(default_factory=list)
    # The vendor path (benchmarks/vendor_path.py): its ratios are over the vendor alone.
    vendor_rows: list[Row] = field(default_factory=list)
    # `--peers litellm` (benchmarks/peers.py): images/s per gateway, and start-up, RSS, 429/s.
    peer_rows: list[Row] = field(default_factory=list)
    peer_facts: dict[str, dict[str, Any]] = field(default_factory=dict)

    def row(self, scenario: str, target: str, concurrency: int) -> Row | None:
        for row in self.rows:
            if (row.scenario, row.target, row.concurrency) == (scenario, target, concurrency):
                return row
        return None

    def apply_ratios(self) -> None:
        """Divide every gateway figure by the baseline's for the same scenario, or its twin
        in `BASELINE_OF` (end to end: new-prompt submits, the request that starts a job)."""
        for row in self.rows:
            if row.target == BASELINE:
                continue
            scenario = BASELINE_OF.get(row.scenario, row.scenario)
            base = self.row(scenario, BASELINE, row.concurrency)
            if base is not None and base.rate > 0:
                row.ratio, row.baseline_scenario = row.rate / base.rate, scenario
        for row in self.vendor_rows:
            if row.target == VENDOR:
                continue
            direct = row.scenario.rpartition(":")[0] + ": direct"
            for base in self.vendor_rows:
                key = (base.scenario, base.target, base.concurrency)
                if key == (direct, VENDOR, row.concurrency) and base.rate > 0:
                    row.ratio, row.baseline_scenario = row.rate / base.rate, direct

    def write_json(self, path: Path) -> None:
        path.write_text(json.dumps(dataclasses.asdict(self), indent=2) + "\n")
