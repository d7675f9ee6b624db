"""`python -m benchmarks --peers litellm`: the LiteLLM proxy beside Imagegate, same mock vendor.

LiteLLM is installed into a virtualenv of its own (`~/.cache/imagegate-benchmarks/litellm`,
made once with `pip install 'litellm[proxy]'`; never part of the project or its tests) and
started as `litellm --config FILE --port P` with one model routed to the mock vendor
(benchmarks/vendor.py) through its `openai/` provider. For each vendor case and
concurrency the same clients measure images delivered per second:

- LiteLLM's `POST /v1/images/generations` (synchronous: the answer carries the image);
- Imagegate's `POST /v1/images/generations` (its OpenAI surface: waits for the job);
- Imagegate end to end: `POST /images/jobs`, then polls until SUCCEEDED.

Beside the rates: refusals (429) per second once a key is over its limit, resident memory
after the run, and start-up time (process start to the first answered request).
"""

from __future__ import annotations

import asyncio
import subprocess
import sys
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from benchmarks import memory
from benchmarks.config import BENCH_KEY, LIMITED_KEY, vendor_alias, vendor_size
from benchmarks.e2e import E2EResult, OneJob, complete_job, drive
from benchmarks.http1 import Http1
from benchmarks.results import Row
from benchmarks.targets import Target
from benchmarks.vendor import KEY as VENDOR_KEY
from tests.processes import cli_env, terminate
from tests.servers import free_port, wait_for_port

VENV = Path.home() / ".cache" / "imagegate-benchmarks" / "litellm"
MASTER_KEY = "sk-litellm-bench-master"
V1 = "/v1/images/generations"
LIMITED_MODEL = "bench-limited"  # LiteLLM: a deployment with rpm=1; Imagegate: rate 1/minute


@dataclass
class PeerReport:
    rows: list[Row] = field(default_factory=list)
    facts: dict[str, dict[str, Any]] = field(default_factory=dict)  # target -> figures


def ensure_litellm() -> Path:
    """The `litellm` executable of the benchmark's own virtualenv, made on first use."""
    executable = VENV / "bin" / "litellm"
    if executable.exists():
        return executable
    print(f"benchmarks: installing LiteLLM into {VENV} (once)", flush=True)
    VENV.parent.mkdir(parents=True, exist_ok=True)
    subprocess.run([sys.executable, "-m", "venv", str(VENV)], check=True)
    pip = [str(VENV / "bin" / "pip"), "install", "--quiet", "litellm[proxy]"]
    subprocess.run(pip, check=True)
    return executable


def litellm_config(path: Path, vendors: dict[str, str]) -> Path:
    """One model per mock vendor, named like Imagegate's aliases, plus a rate-limited one."""
    lines = ["model_list:"]
    for alias, base_url in vendors.items():
        lines += [
            f"  - model_name: {alias}",
            "    litellm_params:",
            "      model: openai/bench-image",
            f"      api_base: {base_url}/v1",
            f"      api_key: {VENDOR_KEY}",
        ]
    first = next(iter(vendors.values()))
    lines += [
        f"  - model_name: {LIMITED_MODEL}",
        "    litellm_params:",
        "      model: openai/bench-image",
        f"      api_base: {first}/v1",
        f"      api_key: {VENDOR_KEY}",
        "      rpm: 1",
        "router_settings:",
        "  num_retries: 0",  # a refusal answered at once, as Imagegate answers it
        "  enable_pre_call_checks: true",
        "  routing_strategy: usage-based-routing-v2",
        "general_settings:",
        f"  master_key: {MASTER_KEY}",
        "litellm_settings:",
        "  drop_params: true",
    ]
    path.write_text("\n".join(lines) + "\n")
    return path


class LiteLLM:
    """The proxy as a child process (one uvicorn worker, like each Imagegate target)."""

    def __init__(self, executable: Path, config: Path, workdir: Path) -> None:
        self.executable, self.config, self.workdir = executable, config, workdir
        self.port = free_port()
        self.process: subprocess.Popen[bytes] | None = None
        self.started_s = 0.0

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> None:
        env = {k: v for k, v in cli_env().items() if k != "PYTHONPATH"}
        env["LITELLM_LOG"] = "ERROR"
        began = time.monotonic()
        with (self.workdir / "litellm.log").open("ab") as log:
            self.process = subprocess.Popen(
                [str(self.executable), "--config", str(self.config), "--port", str(self.port)],
                cwd=self.workdir,
                env=env,
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        wait_for_port(self.port, timeout=180)
        self.started_s = _first_answer(self.base_url, MASTER_KEY, began)

    def stop(self) -> None:
        if self.process is not None:
            terminate(self.process)
            self.process = None


def _first_answer(base_url: str, key: str, began: float) -> float:
    """Seconds from `began` to the first answered request (a server that listens before it
    can answer is not started yet)."""

    async def until_answered() -> None:
        while True:
            try:
                async with Http1(base_url, key) as http:
                    status, _ = await http.send("GET", "/v1/models")
                    if status == 200:
                        return
            except (OSError, ValueError, IndexError):
                pass
            await asyncio.sleep(0.05)

    async def ask() -> None:
        async with asyncio.timeout(180):
            await until_answered()

    asyncio.run(ask())
    return time.monotonic() - began


def _v1_job(alias: str, image: str) -> OneJob:
    async def one_job(http: Http1, index: int, number: int) -> tuple[bool, int]:
        body = {"model": alias, "prompt": f"peer {uuid.uuid4().hex} {index} {number}"}
        body.update(n=1, size=vendor_size(image), response_format="url")
        status, answer = await http.send("POST", V1, body)
        if status != 200:
            raise RuntimeError(f"{V1} answered {status}: {str(answer)[:200]}")
        return bool(answer.get("data")), 0

    return one_job


def _poll_job(alias: str, image: str) -> OneJob:
    async def one_job(http: Http1, index: int, number: int) -> tuple[bool, int]:
        body = {"prompt": f"peer {uuid.uuid4().hex} {index} {number}", "model": alias}
        job, polls = await complete_job(http, {**body, "size": vendor_size(image)})
        return job["status"] == "SUCCEEDED", polls

    return one_job


def _refusals(base_url: str, key: str, path: str, body: dict[str, Any], seconds: float) -> float:
    """429 answers per second from 16 clients once the key is over its limit."""
    refused = 0

    async def client() -> None:
        nonlocal refused
        async with Http1(base_url, key) as http:
            end = time.monotonic() + seconds
            while time.monotonic() < end:
                status, _ = await http.send("POST", path, body)
                refused += status == 429

    async def run() -> float:
        async with Http1(base_url, key) as http:  # spend the window first
            await http.send("POST", path, body)
        began = time.monotonic()
        await asyncio.gather(*(client() for _ in range(16)))
        return refused / (time.monotonic() - began)

    return asyncio.run(run())


def _row(scenario: str, target: str, c: int, result: E2EResult) -> Row:
    row = Row(scenario, target, c, result.jobs_per_s, result.p50_ms, result.p99_ms, result.failed)
    row.unit = "images/s"
    print(f"  {target:18} {scenario:36} c={c:<3} {result.jobs_per_s:8.0f} images/s", flush=True)
    if result.first_error:
        print(f"    {result.failed} failed; the first: {result.first_error}", flush=True)
    return row


def measure_peers(
    cases: tuple[tuple[str, int], ...],
    vendors: dict[str, str],
    gateways: list[Target],
    concurrencies: tuple[int, ...],
    seconds: float,
    workdir: Path,
) -> PeerReport:
    """Every peer row against the running mock vendors and Imagegate targets (each started
    here, so its start-up is timed like LiteLLM's)."""
    report = PeerReport()
    litellm = LiteLLM(ensure_litellm(), litellm_config(workdir / "litellm.yaml", vendors), workdir)
    litellm.start()
    try:
        started = {}
        for gateway in gateways:
            began = time.monotonic()
            gateway.start()
            started[gateway.name] = _first_answer(gateway.base_url, BENCH_KEY, began)
        for image, delay in cases:
            alias = vendor_alias(image, delay)
            scenario = f"{'1x1' if image == '1x1' else '1024x1024'} PNG, {delay} ms"
            runs = [("LiteLLM /v1", litellm.base_url, MASTER_KEY, _v1_job(alias, image))]
            for gateway in gateways:
                runs += [
                    (f"Imagegate {gateway.name} /v1", gateway.base_url, BENCH_KEY,
                     _v1_job(alias, image)),
                    (f"Imagegate {gateway.name} jobs", gateway.base_url, BENCH_KEY,
                     _poll_job(alias, image)),
                ]  # fmt: skip
            for _, url, key, one_job in runs:  # warm-up, not measured (first calls are slow)
                asyncio.run(drive(url, key, 4, 1.0, 1_000, one_job))
            for c in concurrencies:
                for name, url, key, one_job in runs:
                    result = asyncio.run(drive(url, key, c, seconds, 100_000, one_job))
                    report.rows.append(_row(scenario, name, c, result))
        limited = {"model": LIMITED_MODEL, "prompt": "over the limit", "size": "1x1"}
        report.facts["LiteLLM"] = {
            "start_s": round(litellm.started_s, 2),
            "rss_mib": round(memory.rss_mib(litellm.process.pid), 1) if litellm.process else 0,
            "refusals_per_s": round(
                _refusals(litellm.base_url, MASTER_KEY, V1, limited, seconds), 1
            ),
        }
        body = {"prompt": "over the limit", "model": vendor_alias(*cases[0]), "size": "1x1"}
        for gateway in gateways:
            report.facts[f"Imagegate {gateway.name}"] = {
                "start_s": round(started[gateway.name], 2),
                "rss_mib": round(memory.rss_mib(gateway.pid), 1),
                "refusals_per_s": round(
                    _refusals(gateway.base_url, LIMITED_KEY, V1, body, seconds), 1
                ),
            }
    finally:
        litellm.stop()
        for gateway in gateways:
            gateway.stop()
    return report


def environment_note() -> str:
    version = subprocess.run(
        [str(VENV / "bin" / "python"), "-c", "import importlib.metadata as m; "
         "print(m.version('litellm'))"],
        capture_output=True, text=True, check=False,
    ).stdout.strip()  # fmt: skip
    return f"LiteLLM {version or '?'} (its own virtualenv, {VENV}), Python {sys.version.split()[0]}"
