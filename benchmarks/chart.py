"""The run as a PNG: rate per scenario and concurrency, one bar per target, ratio on top.

A scenario the baseline has no twin of ("quotas on") shows the baseline scenario it is
divided by, in grey; end to end shows none (jobs/s and req/s share no axis).
matplotlib is an optional dependency (`pip install -e '.[bench]'`): without it the run
still writes its Markdown and JSON and says the chart was skipped.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from benchmarks.results import BASELINE, BASELINE_OF, E2E, SCENARIO_ORDER, Report, Row

COLOURS = {BASELINE: "#9e9e9e", "memory": "#1f77b4", "redis": "#d62728"}


def _bars(report: Report, scenario: str, c: int) -> list[tuple[str, Row]]:
    """(label, row) for each target at concurrency `c`, the baseline (or its twin) first."""
    bars: list[tuple[str, Row]] = []
    twin = BASELINE_OF.get(scenario, scenario) if scenario != E2E else None
    base = report.row(twin, BASELINE, c) if twin else None
    if base is not None:
        bars.append((BASELINE if twin == scenario else f"{BASELINE} (no quotas)", base))
    for row in report.rows:
        if row.scenario == scenario and row.concurrency == c and row.target != BASELINE:
            bars.append((row.target, row))
    return bars


def _panel(ax: Any, report: Report, scenario: str, concurrencies: list[int]) -> None:
    per_level = [_bars(report, scenario, c) for c in concurrencies]
    width = 0.8 / max(len(bars) for bars in per_level)
    for x, bars in enumerate(per_level):
        for i, (label, row) in enumerate(bars):
            offset = (i - (len(bars) - 1) / 2) * width
            colour = COLOURS.get(row.target, "#2ca02c")
            bar = ax.bar(x + offset, row.rate, width, color=colour, label=label if x == 0 else None)
            if row.ratio is not None:
                ax.bar_label(bar, labels=[f"{row.ratio:.2f}"], fontsize=7)
    title = scenario
    if scenario == E2E:
        title += "\n(ratio: jobs/s over baseline new-prompt submit req/s)"
    ax.set_title(title, fontsize=10)
    ax.set_xticks(range(len(concurrencies)), [f"c={c}" for c in concurrencies])
    ax.set_ylabel(per_level[0][-1][1].unit if per_level[0] else "req/s")
    ax.legend(fontsize=8)


def write_chart(report: Report, path: Path) -> bool:
    """Draw the chart to `path`; False when matplotlib is not installed."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return False
    present = {row.scenario for row in report.rows}
    scenarios = [s for s in SCENARIO_ORDER if s in present]
    concurrencies = sorted({row.concurrency for row in report.rows})
    columns = min(2, len(scenarios))
    lines = -(-len(scenarios) // columns)
    fig, axes = plt.subplots(lines, columns, figsize=(6 * columns, 4 * lines), squeeze=False)
    for ax, scenario in zip(axes.flat, scenarios, strict=False):
        _panel(ax, report, scenario, concurrencies)
    for ax in list(axes.flat)[len(scenarios) :]:
        ax.set_visible(False)
    fig.suptitle("Imagegate vs bare Starlette baseline (labels: ratio to baseline)", fontsize=11)
    fig.tight_layout(rect=(0, 0, 1, 0.97))
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return True
