"""Real `imagegate serve` / `imagegate worker` processes, started the way users start them."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

import tomli_w

from tests.servers import free_port, wait_for_port

ROOT = Path(__file__).resolve().parent.parent
IMAGEGATE = [sys.executable, "-m", "gateway.cli"]


def cli_env(**extra: str) -> dict[str, str]:
    """This checkout's code (not whichever one is installed), no IMAGEGATE_* from the caller."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("IMAGEGATE_")}
    return {**env, "PYTHONPATH": str(ROOT), **extra}


def without_none(value: Any) -> Any:
    """TOML has no null: a key set to None in a test config means "leave it unset"."""
    if isinstance(value, dict):
        return {k: without_none(v) for k, v in value.items() if v is not None}
    return value


def write_config(path: Path, config: dict[str, Any]) -> Path:
    path.write_bytes(tomli_w.dumps(without_none(config)).encode())
    return path


def terminate(process: subprocess.Popen[bytes]) -> None:
    """SIGTERM (a graceful shutdown), SIGKILL if it has not ended after 30 s."""
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(10)


class GatewayProcess:
    """One `imagegate` child process; output goes to a log file for post-mortems."""

    def __init__(self, args: list[str], cwd: Path, log: Path, env: dict[str, str]) -> None:
        self.log_path = log
        self._log = log.open("w")
        self.process = subprocess.Popen(
            [*IMAGEGATE, *args], cwd=cwd, env=env, stdout=self._log, stderr=subprocess.STDOUT
        )

    def output(self) -> str:
        return self.log_path.read_text()

    def kill(self) -> None:
        """SIGKILL: no shutdown, no requeue, exactly like a crashed machine."""
        self.process.kill()
        self.process.wait(10)
        self._log.close()

    def stop(self) -> None:
        terminate(self.process)
        self._log.close()


def serve(config: Path, cwd: Path, name: str = "serve", **env: str) -> tuple[GatewayProcess, str]:
    port = free_port()
    process = GatewayProcess(
        ["serve", "--config", str(config), "--port", str(port)],
        cwd,
        cwd / f"{name}.log",
        cli_env(**env),
    )
    try:
        wait_for_port(port, timeout=30)
    except TimeoutError:
        process.stop()
        raise AssertionError(process.output()) from None
    return process, f"http://127.0.0.1:{port}"


def worker(config: Path, cwd: Path, name: str = "worker", **env: str) -> GatewayProcess:
    return GatewayProcess(
        ["worker", "--config", str(config)], cwd, cwd / f"{name}.log", cli_env(**env)
    )
