"""Recent backend calls of this process, per backend: what `GET /admin/backends` reports
(success rate, latency percentiles, the last errors). A bounded ring per backend, so memory
stays flat however long the process runs."""

from __future__ import annotations

import math
import time
from collections import deque
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from gateway.jobs import iso

RECENT = 200  # calls kept per backend
LAST_ERRORS = 5


@dataclass(frozen=True)
class Sample:
    at: float  # epoch seconds
    outcome: str  # "ok" or the error's outcome name
    seconds: float
    error: str | None  # already redacted


def percentile(sorted_values: list[float], p: float) -> float:
    """Nearest-rank percentile of a sorted, non-empty list."""
    rank = max(1, math.ceil(p / 100 * len(sorted_values)))
    return sorted_values[rank - 1]


class RecentAttempts:
    def __init__(self, size: int = RECENT) -> None:
        self.size = size
        self._calls: dict[str, deque[Sample]] = {}

    def record(self, backend: str, outcome: str, seconds: float, error: str | None) -> None:
        ring = self._calls.setdefault(backend, deque(maxlen=self.size))
        ring.append(Sample(time.time(), outcome, seconds, error))

    def summary(self, backend: str) -> dict[str, Any]:
        """`{calls, successRate, latencySeconds: {p50, p90, p99}, lastErrors: [...]}`;
        rate and percentiles are null before the first call."""
        calls = list(self._calls.get(backend, ()))
        durations = sorted(sample.seconds for sample in calls)
        failures = [sample for sample in calls if sample.outcome != "ok"]
        return {
            "calls": len(calls),
            "successRate": round(1 - len(failures) / len(calls), 4) if calls else None,
            "latencySeconds": (
                {f"p{p}": round(percentile(durations, p), 4) for p in (50, 90, 99)}
                if durations
                else None
            ),
            "lastErrors": [
                {
                    "at": iso(datetime.fromtimestamp(sample.at, UTC)),
                    "outcome": sample.outcome,
                    "message": sample.error,
                }
                for sample in reversed(failures[-LAST_ERRORS:])
            ],
        }
