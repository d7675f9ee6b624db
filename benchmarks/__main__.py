"""`python -m benchmarks [--quick]`: measure every hot path against a baseline, in one run.

`--quick` is a smoke run: one concurrency, 1 s per measurement, no warm-up, no restart
between scenarios and no chart; its numbers are only a sign of life.

Writes `<out>/latest.md`, `latest.json` and `latest.png` (the chart needs the `bench`
extra); `--quick` (one concurrency, 1 s per measurement) writes `quick.md` and `quick.json`
instead, so a smoke run never replaces the committed results.
"""

from __future__ import annotations

import argparse
import os
import platform
import shutil
import subprocess
import tempfile
from datetime import UTC, datetime
from importlib.metadata import version
from importlib.util import find_spec
from pathlib import Path

from benchmarks.chart import write_chart
from benchmarks.installs import ensure
from benchmarks.peers import environment_note
from benchmarks.report import markdown
from benchmarks.run import Options, run
from benchmarks.vendor_path import CASES, QUICK_CASES

RESULTS = Path(__file__).resolve().with_name("results")
ROOT = RESULTS.parent.parent


def _first_line(command: list[str]) -> str:
    """The first line a tool prints ("" when it prints nothing or cannot run)."""
    try:
        out = subprocess.run(command, capture_output=True, text=True, check=False, timeout=10)
    except OSError:
        return ""
    return next(iter((out.stdout or out.stderr).strip().splitlines()), "")


def _meta() -> dict[str, object]:
    commit = _first_line(["git", "-C", str(ROOT), "rev-parse", "--short", "HEAD"])
    dirty = _first_line(["git", "-C", str(ROOT), "status", "--porcelain", "--", "gateway"])
    loop = "uvloop" if find_spec("uvloop") else "asyncio"
    http = "httptools" if find_spec("httptools") else "h11"
    return {
        "date": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "commit": commit + (" (gateway/ modified)" if dirty else ""),
        "machine": f"{platform.machine()}, {os.cpu_count()} cores, {platform.system()}",
        "python": platform.python_version(),
        "server": f"uvicorn {version('uvicorn')} ({loop}, {http}), 1 process, "
        f"starlette {version('starlette')}",
        "load generator": _first_line([ensure("wrk"), "-v"]).split(" Copyright")[0].strip()
        + ", 1 thread",
        "redis": _first_line([ensure("redis-server"), "--version"]).split(" sha=")[0],
        "load": _load("at start"),
    }


def _load(when: str) -> str:
    one, five, _ = os.getloadavg()
    return f"{when}: load average {one:.1f} (1 min), {five:.1f} (5 min) on {os.cpu_count()} cores"


def parse(argv: list[str] | None) -> argparse.Namespace:
    args = argparse.ArgumentParser(prog="python -m benchmarks", description=__doc__)
    args.add_argument("--quick", action="store_true", help="smoke run: c=16, 1 s each")
    args.add_argument("--concurrency", type=int, nargs="+", help="default 1 16 64 (quick: 16)")
    args.add_argument("--seconds", type=float, help="per measurement: default 4 (quick: 1)")
    args.add_argument("--out", type=Path, default=RESULTS, help="where results go")
    args.add_argument("--log-level", default="info", help="uvicorn log level, every target")
    args.add_argument("--keep", action="store_true", help="keep the work dir (server logs)")
    args.add_argument(
        "--peers",
        nargs="+",
        choices=["litellm"],
        default=[],
        help="also measure these gateways against the same mock vendors (own virtualenvs)",
    )
    args.add_argument(
        "--before",
        type=Path,
        help="a checkout of an earlier commit: the vendor path measures its gateway too",
    )
    return args.parse_args(argv)


def main(argv: list[str] | None = None) -> Path:
    """Run, write the results, print the Markdown; the path of the Markdown file."""
    args = parse(argv)
    options = Options(
        concurrencies=tuple(args.concurrency or ((16,) if args.quick else (1, 16, 64))),
        seconds=args.seconds or (1.0 if args.quick else 4.0),
        redis_requests=20 if args.quick else 200,
        log_level=args.log_level,
        warmup=not args.quick,
        fresh=not args.quick,
        before=args.before,
        peers=tuple(args.peers),
        vendor_cases=QUICK_CASES if args.quick else CASES,
    )
    name = "quick" if args.quick else "latest"
    args.out.mkdir(parents=True, exist_ok=True)
    workdir = Path(tempfile.mkdtemp(prefix="imagegate-bench-"))
    try:
        report = run(options, workdir, _meta())
    except BaseException:
        print(f"benchmarks: failed; the servers' logs are under {workdir}", flush=True)
        raise
    report.meta["load"] = f"{report.meta['load']}; {_load('at the end')}"
    if args.peers:
        report.meta["peers"] = environment_note()
    if args.before is not None:
        report.meta["before"] = _first_line(
            ["git", "-C", str(args.before), "log", "-1", "--format=%h %s"]
        )
    report.write_json(args.out / f"{name}.json")
    text = markdown(report)
    (args.out / f"{name}.md").write_text(text)
    if not args.quick and not write_chart(report, args.out / f"{name}.png"):
        print("benchmarks: matplotlib is missing (pip install -e '.[bench]'): no chart")
    print(text)
    if args.keep:
        print(f"benchmarks: server logs kept under {workdir}")
    else:
        shutil.rmtree(workdir, ignore_errors=True)
    return args.out / f"{name}.md"


if __name__ == "__main__":
    main()
