"""The run as Markdown: throughput and latency with ratios, Redis cost, memory."""

from __future__ import annotations

from benchmarks.redis_cost import RedisCost
from benchmarks.results import BASELINE, SCENARIO_ORDER, VENDOR, Report, Row

TARGET_ORDER = [BASELINE, "memory", "redis"]
VENDOR_TARGETS = [VENDOR, "memory (before)", "memory", "redis (before)", "redis", "redis x2"]


def _order(row: Row) -> tuple[int, int, int]:
    def index(items: list[str], item: str) -> int:
        return items.index(item) if item in items else len(items)

    return (
        index(SCENARIO_ORDER, row.scenario),
        row.concurrency,
        index(TARGET_ORDER, row.target),
    )


HOW_TO_READ = """\
How to read: *ratio* is the gateway's rate divided by the bare Starlette baseline's rate
for the same scenario at the same concurrency, measured in this run (1.00 = as fast as a
do-nothing endpoint on the same server; 0.25 = the gateway's own work costs three times
what uvicorn + Starlette + wrk cost per request). "Quotas on" rows (tenant bench-quotas)
are divided by the baseline's plain poll or new-prompt submit. For end to end, the ratio
is jobs/s over the baseline's new-prompt submit req/s: how many complete jobs per request
the bare server could answer. Errors must be 0 for a row to count. Redis figures are per
request (per job for the worker), averaged over a fixed number of requests sent one at a
time."""


def _fmt(value: float | None, digits: int = 2) -> str:
    return "—" if value is None else f"{value:,.{digits}f}"


def _load_table(rows: list[Row]) -> list[str]:
    lines = [
        "| scenario | target | concurrency | rate | p50 ms | p99 ms | ratio to baseline | errors |",
        "|---|---|--:|--:|--:|--:|--:|--:|",
    ]
    for row in sorted(rows, key=_order):
        ratio = "1.00 (baseline)" if row.target == BASELINE else _fmt(row.ratio)
        lines.append(
            f"| {row.scenario} | {row.target} | {row.concurrency} | "
            f"{row.rate:,.0f} {row.unit} | {_fmt(row.p50_ms)} | {_fmt(row.p99_ms)} | "
            f"{ratio} | {row.errors} |"
        )
    return lines


VENDOR_NOTE = """\
Each mock vendor (benchmarks/vendor.py) is its own process; the gateways reach it through
the `openai` backend. *direct* rows are clients calling the vendor itself: what the vendor
alone serves, the base of the *ratio* column here. *poll* clients submit and poll until
SUCCEEDED; *wait* clients submit with `Prefer: wait` and get the finished job. CPU columns:
CPU time of the gateway's processes (all of them with `--workers N`) and of redis-server
during the measurement, divided by the jobs it delivered."""


def _vendor_table(rows: list[Row]) -> list[str]:
    lines = [
        "| scenario | target | concurrency | jobs/s | p50 ms | p99 ms | ratio to vendor alone "
        "| gateway CPU ms/job | redis CPU ms/job | polls/job | errors |",
        "|---|---|--:|--:|--:|--:|--:|--:|--:|--:|--:|",
    ]
    order = {name: i for i, name in enumerate(VENDOR_TARGETS)}
    ranked = sorted(
        rows,
        key=lambda r: (
            r.scenario.rpartition(":")[0],
            r.concurrency,
            order.get(r.target, len(order)),
            r.scenario,
        ),
    )
    for row in ranked:
        ratio = "1.00 (vendor)" if row.target == VENDOR else _fmt(row.ratio)
        cpu = row.extra.get("gateway_cpu_ms")
        redis_cpu = row.extra.get("redis_cpu_ms")
        polls = row.extra.get("polls_per_job")
        lines.append(
            f"| {row.scenario} | {row.target} | {row.concurrency} | {row.rate:,.0f} | "
            f"{_fmt(row.p50_ms)} | {_fmt(row.p99_ms)} | {ratio} | {_fmt(cpu)} | "
            f"{_fmt(redis_cpu)} | {_fmt(polls) if row.target != VENDOR else '—'} | "
            f"{row.errors} |"
        )
    return lines


def _polls(rows: list[Row]) -> str:
    polls = [
        f"{row.target} c={row.concurrency}: {row.extra['polls_per_job']:g}"
        for row in sorted(rows, key=_order)
        if "polls_per_job" in row.extra
    ]
    return f"End to end, polls per job: {'; '.join(polls)}." if polls else ""


def _commands(counts: dict[str, float]) -> str:
    return ", ".join(f"{name} ({count:g})" for name, count in counts.items()) or "—"


def _redis_table(costs: list[RedisCost]) -> list[str]:
    lines = [
        "| scenario | tenant | round trips | sent (client side) "
        "| executed by Redis (scripts' inner calls included) | Redis µs |",
        "|---|---|--:|---|---|--:|",
    ]
    for cost in costs:
        lines.append(
            f"| {cost.scenario} | {cost.tenant} | {cost.round_trips:g} | {_commands(cost.sent)} "
            f"| {_commands(cost.executed)} | {_fmt(cost.server_usec, 1)} |"
        )
    return lines


def _meta(report: Report) -> list[str]:
    meta = report.meta
    keys = (
        "date", "commit", "machine", "python", "server", "load generator", "redis",
        "concurrencies", "seconds_per_measurement", "log_level", "elapsed_s",
        "before", "load", "peers",
    )  # fmt: skip
    return [f"- {key}: {meta[key]}" for key in keys if key in meta]


PEERS_NOTE = """\
Images delivered per second against the same mock vendors, clients as in the vendor path
(one job at a time each). *LiteLLM /v1*: the LiteLLM proxy's synchronous
`POST /v1/images/generations`; *Imagegate T /v1*: Imagegate's OpenAI surface (the call
waits for its job); *Imagegate T jobs*: `POST /images/jobs`, then polls until SUCCEEDED.
Start-up: from process start to the first answered request. Refusals: 429 answers per
second from 16 clients once the key (LiteLLM: a deployment with `rpm: 1`; Imagegate: a
tenant with `rate = "1/minute"`) is over its limit."""


def _peer_section(report: Report) -> list[str]:
    names = list(dict.fromkeys(row.target for row in report.peer_rows))
    cells = {(r.scenario, r.concurrency, r.target): r for r in report.peer_rows}
    keys = list(dict.fromkeys((r.scenario, r.concurrency) for r in report.peer_rows))
    lines = [
        "## Peers (same mock vendors)",
        "",
        f"| case | concurrency | {' | '.join(names)} |",
        "|---|--:|" + "--:|" * len(names),
    ]
    for scenario, c in keys:
        values = []
        for name in names:
            row = cells.get((scenario, c, name))
            values.append("—" if row is None else f"{row.rate:,.0f}" + (
                f" ({row.errors} failed)" if row.errors else ""))  # fmt: skip
        lines.append(f"| {scenario} | {c} | {' | '.join(values)} |")
    lines += [
        "",
        "| gateway | start-up s | RSS MiB (after the run) | refusals (429) per s |",
        "|---|--:|--:|--:|",
    ]
    for name, facts in report.peer_facts.items():
        lines.append(
            f"| {name} | {facts['start_s']:.2f} | {facts['rss_mib']:.1f} | "
            f"{facts['refusals_per_s']:,.0f} |"
        )
    return [*lines, "", PEERS_NOTE, ""]


def _vendor_section(report: Report) -> list[str]:
    return [
        "## Vendor path (openai backend -> mock vendor process)",
        "",
        *_vendor_table(report.vendor_rows),
        "",
        VENDOR_NOTE,
        "",
    ]


def markdown(report: Report) -> str:
    n = report.redis_cost[0].n if report.redis_cost else 0
    lines = [
        "# Imagegate benchmarks",
        "",
        *_meta(report),
        "",
        "## Throughput and latency",
        "",
        *_load_table(report.rows),
        "",
        _polls(report.rows),
        "",
        *(_vendor_section(report) if report.vendor_rows else []),
        *(_peer_section(report) if report.peer_rows else []),
        f"## Redis cost per request ({n} requests per row)",
        "",
        "Tenant `bench` has no limits (the load runs above use it); `bench-quotas` has every",
        "limit (two rate windows, poll rate, concurrency cap, budget) set far above use.",
        "",
        *_redis_table(report.redis_cost),
        "",
        "## Memory (RSS)",
        "",
        "| process | idle MiB (after warm-up) | peak MiB (VmHWM, any phase) |",
        "|---|--:|--:|",
        *(f"| {m.target} | {m.idle_mib:.1f} | {m.peak_mib:.1f} |" for m in report.memory),
        "",
        HOW_TO_READ,
        "",
    ]
    return "\n".join(lines)
