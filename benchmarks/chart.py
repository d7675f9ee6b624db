"""The run as a PNG: rate per scenario and concurrency, one bar per target, ratio on top.

matplotlib is an optional dependency (`pip install -e '.[bench]'`): without it the run
still writes its Markdown and JSON and says the chart was skipped.
"""

from __future__ import annotations

from pathlib import Path

from benchmarks.results import E2E, Report

COLOURS = {"baseline": "#9e9e9e", "memory": "#1f77b4", "redis": "#d62728"}


def write_chart(report: Report, path: Path) -> bool:
    """Draw the chart to `path`; False when matplotlib is not installed."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return False
    scenarios = list(dict.fromkeys(row.scenario for row in report.rows))
    targets = list(dict.fromkeys(row.target for row in report.rows))
    concurrencies = sorted({row.concurrency for row in report.rows})
    columns = min(2, len(scenarios))
    lines = -(-len(scenarios) // columns)
    fig, axes = plt.subplots(lines, columns, figsize=(6 * columns, 4 * lines), squeeze=False)
    for ax, scenario in zip(axes.flat, scenarios, strict=False):
        unit = "req/s"
        present = [
            t for t in targets if any(r.target == t for r in report.rows if r.scenario == scenario)
        ]
        width = 0.8 / len(present)
        for t, target in enumerate(present):
            for x, c in enumerate(concurrencies):
                row = report.row(scenario, target, c)
                if row is None:
                    continue
                unit = row.unit
                bar = ax.bar(x + (t - (len(present) - 1) / 2) * width, row.rate, width,
                             color=COLOURS.get(target, "#2ca02c"),
                             label=target if x == 0 else None)  # fmt: skip
                if row.ratio is not None:
                    ax.bar_label(bar, labels=[f"{row.ratio:.2f}"], fontsize=7)
        if scenario == E2E:
            scenario += "\n(ratio: jobs/s over baseline new-prompt submit req/s)"
        ax.set_title(scenario, fontsize=10)
        ax.set_xticks(range(len(concurrencies)), [f"c={c}" for c in concurrencies])
        ax.set_ylabel(unit)
        ax.legend(fontsize=8)
    fig.suptitle("Imagegate vs bare Starlette baseline (labels: ratio to baseline)", fontsize=11)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return True
