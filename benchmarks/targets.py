"""The servers under test: the bare Starlette baseline and `imagegate serve` processes.

Each is a real child process on a free loopback port, started with the same Python, the
same uvicorn settings and the same log level. A restart (fresh process, and a flushed
Redis for the redis target) gives a scenario a clean queue, whatever the last one left.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from benchmarks import memory
from tests.processes import cli_env, terminate
from tests.servers import RedisServer, free_port, wait_for_port


class Target:
    """One named server; `peak_rss_mib` keeps the highest VmHWM over all its restarts."""

    def __init__(
        self,
        name: str,
        argv: list[str],
        workdir: Path,
        redis: RedisServer | None = None,
        env: dict[str, str] | None = None,
    ) -> None:
        self.name = name
        self.env = env or {}
        self.argv = argv
        self.workdir = workdir
        self.redis = redis
        self.port = 0
        self.process: subprocess.Popen[bytes] | None = None
        self.peak_rss_mib = 0.0
        self.log_path = workdir / f"{name}.log"

    @classmethod
    def baseline(cls, workdir: Path, log_level: str) -> Target:
        return cls("baseline", ["-m", "benchmarks.baseline", "--log-level", log_level], workdir)

    @classmethod
    def gateway(
        cls,
        name: str,
        config: Path,
        workdir: Path,
        log_level: str,
        redis: RedisServer | None,
        env: dict[str, str] | None = None,
        extra: tuple[str, ...] = (),
    ) -> Target:
        argv = ["-m", "gateway.cli", "serve", "--config", str(config), "--log-level", log_level]
        return cls(name, [*argv, *extra], workdir, redis, env)

    @classmethod
    def vendor(cls, name: str, image: str, delay_ms: int, workdir: Path) -> Target:
        """The mock OpenAI vendor (benchmarks/vendor.py) in its own process."""
        argv = ["-m", "benchmarks.vendor", "--image", image, "--delay", str(delay_ms / 1000)]
        return cls(name, argv, workdir)

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def pid(self) -> int:
        assert self.process is not None, f"{self.name} is not running"
        return self.process.pid

    def start(self) -> None:
        self.port = free_port()
        with self.log_path.open("ab") as log:  # the child keeps its own descriptor
            self.process = subprocess.Popen(
                [sys.executable, *self.argv, "--port", str(self.port)],
                cwd=self.workdir,
                env=cli_env(**self.env),
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        try:
            wait_for_port(self.port, timeout=30)
        except TimeoutError:
            self.stop()
            raise RuntimeError(f"{self.name} did not start; see {self.log_path}") from None

    def stop(self) -> None:
        if self.process is None:
            return
        if self.process.poll() is None:
            self.peak_rss_mib = max(self.peak_rss_mib, memory.peak_rss_mib(self.pid))
            terminate(self.process)
        self.process = None

    def restart(self) -> None:
        self.stop()
        if self.redis is not None:
            self.redis.flush()
        self.start()
