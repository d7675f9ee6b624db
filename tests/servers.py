"""Real processes for tests on free loopback ports: redis-server, an S3 server; port helpers."""

from __future__ import annotations

import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import redis


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def wait_for_port(port: int, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with socket.socket() as sock:
            if sock.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.02)
    raise TimeoutError(f"nothing listens on 127.0.0.1:{port} after {timeout}s")


class RedisServer:
    """A `redis-server` child process; `stop()`/`start()` keep the same port and data dir."""

    def __init__(self, workdir: Path, port: int | None = None, aof: bool = False) -> None:
        binary = shutil.which("redis-server")
        if binary is None:
            raise RuntimeError(
                "redis-server is not installed: run the README's test command, which installs it"
            )
        self.binary = binary
        self.workdir = workdir
        self.port = port or free_port()
        self.aof = aof
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        self.workdir.mkdir(parents=True, exist_ok=True)
        args = [
            self.binary,
            "--port",
            str(self.port),
            "--bind",
            "127.0.0.1",
            "--dir",
            str(self.workdir),
            "--save",
            "",
            "--daemonize",
            "no",
            "--appendonly",
            "yes" if self.aof else "no",
            "--appendfsync",
            "always",
            "--logfile",
            str(self.workdir / "redis.log"),
        ]
        self.process = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT)
        wait_for_port(self.port)
        client = redis.Redis(port=self.port)
        deadline = time.monotonic() + 10
        while True:  # the port opens before an AOF is loaded
            try:
                client.ping()
                break
            except redis.exceptions.BusyLoadingError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.05)
        client.close()

    def stop(self) -> None:
        if self.process is not None:
            self.process.terminate()
            self.process.wait(10)
            self.process = None

    def flush(self) -> None:
        client = redis.Redis(port=self.port)
        client.flushall()
        client.close()


@contextmanager
def redis_server(workdir: Path, aof: bool = False) -> Iterator[RedisServer]:
    server = RedisServer(workdir, aof=aof)
    server.start()
    try:
        yield server
    finally:
        server.stop()


class S3Server:
    """`tests.fakes.s3_server` (moto behind a SigV4 check) as a child process on loopback.

    `environ` holds the AWS_* variables a client needs; `stop()` takes the server away
    (an outage), `start()` brings it back on the same port.
    """

    ACCESS_KEY = "AKIAIMAGEGATETEST01"
    SECRET_KEY = "imagegate-test-secret-key-0123456789"
    SESSION_TOKEN = "imagegate-test-session-token"
    REGION = "eu-west-1"

    def __init__(self) -> None:
        self.port = free_port()
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def endpoint(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def environ(self) -> dict[str, str]:
        return {
            "AWS_ACCESS_KEY_ID": self.ACCESS_KEY,
            "AWS_SECRET_ACCESS_KEY": self.SECRET_KEY,
            "AWS_SESSION_TOKEN": self.SESSION_TOKEN,
            "AWS_DEFAULT_REGION": self.REGION,
            "AWS_ENDPOINT_URL": self.endpoint,
        }

    def start(self) -> None:
        args = [
            sys.executable,
            "-m",
            "tests.fakes.s3_server",
            f"--port={self.port}",
            f"--access-key={self.ACCESS_KEY}",
            f"--secret-key={self.SECRET_KEY}",
            f"--region={self.REGION}",
            f"--session-token={self.SESSION_TOKEN}",
        ]
        root = Path(__file__).resolve().parent.parent
        self.process = subprocess.Popen(
            args, cwd=root, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
        )
        wait_for_port(self.port)

    def stop(self) -> None:
        if self.process is not None:
            self.process.terminate()
            self.process.wait(10)
            self.process = None

    def create_bucket(self, name: str) -> None:
        # Anonymous bucket creation: the fake checks signatures only on signed requests.
        httpx.put(f"{self.endpoint}/{name}").raise_for_status()


@contextmanager
def s3_server() -> Iterator[S3Server]:
    server = S3Server()
    server.start()
    try:
        yield server
    finally:
        server.stop()
