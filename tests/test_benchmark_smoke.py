"""`python -m benchmarks --quick` runs end to end and reports every row with sane numbers.

No wall-clock time or speed ratio is asserted: those belong to the benchmark's report,
not to a test that must pass on any machine.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from tests.processes import ROOT, cli_env

TARGETS = {"baseline", "memory", "redis"}
REQUEST_SCENARIOS = {"poll", "submit (cache hit)", "submit (new prompt)"}
E2E = "end to end (submit -> SUCCEEDED)"
V1_SCENARIOS = {"v1 generate (cache hit)", "v1 generate (new prompt, waited for)"}
GATEWAY_ONLY = {"poll (quotas on)", "submit (new prompt, quotas on)", E2E}
REDIS_SCENARIOS = {"job (worker side)", *REQUEST_SCENARIOS}


def test_quick_benchmark_reports_every_row(tmp_path: Path) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "benchmarks", "--quick", "--out", str(tmp_path)],
        cwd=ROOT,
        env=cli_env(),
        capture_output=True,
        text=True,
        timeout=360,  # a safety net under load, not a speed check
    )
    assert done.returncode == 0, done.stdout + done.stderr
    report = json.loads((tmp_path / "quick.json").read_text())

    cells = {(row["scenario"], row["target"]) for row in report["rows"]}
    expected = {(s, t) for s in REQUEST_SCENARIOS | V1_SCENARIOS for t in TARGETS}
    expected |= {(s, t) for s in GATEWAY_ONLY for t in ("memory", "redis")}
    assert cells == expected
    for row in report["rows"]:
        assert row["rate"] > 0, row
        assert row["errors"] == 0, row
        assert 0 < row["p50_ms"] <= row["p99_ms"], row
        if row["target"] != "baseline":
            assert row["ratio"] > 0, row

    costs = {(c["scenario"], c["tenant"]): c for c in report["redis_cost"]}
    assert set(costs) == {(s, t) for s in REDIS_SCENARIOS for t in ("bench", "bench-quotas")}
    # A finished job, once read, is answered from the process's own cache: no round trip.
    assert costs["poll", "bench"]["round_trips"] == 0, costs["poll", "bench"]
    for (scenario, tenant), cost in costs.items():
        if (scenario, tenant) != ("poll", "bench"):
            assert cost["round_trips"] >= 1 and cost["sent"], cost
    # The quota path does more round trips than no quota at all, whatever the machine.
    for scenario in REQUEST_SCENARIOS:
        assert (
            costs[scenario, "bench-quotas"]["round_trips"] > costs[scenario, "bench"]["round_trips"]
        )

    # The vendor path: every case through each gateway (and `serve --workers 2`), by both
    # kinds of client, beside the vendor alone; the CPU each job cost is reported.
    vendor = {(row["scenario"], row["target"]): row for row in report["vendor_rows"]}
    cases = ["vendor 1x1 PNG, 0 ms", "vendor 1024x1024 PNG, 100 ms"]  # --quick's two
    expected_vendor = {(f"{case}: direct", "vendor") for case in cases}
    expected_vendor |= {
        (f"{case}: {client}", target)
        for case in cases
        for client in ("poll", "wait")
        for target in ("memory", "redis", "redis x2")
    }
    assert set(vendor) == expected_vendor
    for (scenario, target), row in vendor.items():
        assert row["rate"] > 0 and row["errors"] == 0, row
        if target != "vendor":
            assert row["ratio"] > 0 and row["extra"]["gateway_cpu_ms"] > 0, row
            assert ("redis_cpu_ms" in row["extra"]) == target.startswith("redis"), row
        if scenario.endswith(": wait"):
            assert row["extra"]["polls_per_job"] == 0, row

    memory = {m["target"]: m for m in report["memory"]}
    assert set(memory) >= TARGETS
    for m in memory.values():
        assert 0 < m["idle_mib"] <= m["peak_mib"], m

    text = (tmp_path / "quick.md").read_text()
    for scenario in {*REQUEST_SCENARIOS, *V1_SCENARIOS, *GATEWAY_ONLY, "job (worker side)"}:
        assert scenario in text
    assert "## Vendor path" in text and "vendor 1024x1024 PNG, 100 ms: wait" in text
