"""Real processes for tests on free loopback ports: redis-server (one, or a Redis Cluster of
several), an S3 server; port helpers."""

from __future__ import annotations

import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import redis


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def free_ports(count: int) -> list[int]:
    """`count` distinct free ports (each socket stays bound until all are picked, so the
    kernel cannot hand the same port out twice)."""
    sockets = [socket.socket() for _ in range(count)]
    try:
        for sock in sockets:
            sock.bind(("127.0.0.1", 0))
        return [sock.getsockname()[1] for sock in sockets]
    finally:
        for sock in sockets:
            sock.close()


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

    def __init__(
        self,
        workdir: Path,
        port: int | None = None,
        aof: bool = False,
        extra: tuple[str, ...] = (),
    ) -> None:
        binary = shutil.which("redis-server")
        if binary is None:
            raise RuntimeError(
                "redis-server is not installed: run the README's test command, which installs it"
            )
        self.binary = binary
        self.workdir = workdir
        self.port = port or free_port()
        self.aof = aof
        self.extra = extra
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def client(self) -> redis.Redis:
        return redis.Redis(port=self.port)

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
            *self.extra,
        ]
        self.process = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT)
        wait_for_port(self.port)
        client = self.client()
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

    def kill(self) -> None:
        """SIGKILL: the process dies at once, as in a crash."""
        if self.process is not None:
            self.process.kill()
            self.process.wait(10)
            self.process = None

    def flush(self) -> None:
        client = self.client()
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


class TestCa:
    """A test CA (trustme) and the certificate it issued for 127.0.0.1, as files in
    `workdir`; `server_args` are what a TLS redis-server needs of them."""

    def __init__(self, workdir: Path) -> None:
        import trustme  # only the TLS tests need it

        workdir.mkdir(parents=True, exist_ok=True)
        ca = trustme.CA()
        self.ca_file = workdir / "ca.pem"
        ca.cert_pem.write_to_path(str(self.ca_file))
        cert = ca.issue_cert("127.0.0.1")
        self.key_file, self.cert_file = workdir / "server.key", workdir / "server.pem"
        cert.private_key_pem.write_to_path(str(self.key_file))
        cert.cert_chain_pems[0].write_to_path(str(self.cert_file))

    @property
    def server_args(self) -> tuple[str, ...]:
        return (
            *("--tls-auth-clients", "no"),
            *("--tls-cert-file", str(self.cert_file), "--tls-key-file", str(self.key_file)),
            *("--tls-ca-cert-file", str(self.ca_file)),
        )


class RedisTlsServer(RedisServer):
    """`redis-server` answering TLS only (`--port 0 --tls-port N`), with a certificate for
    127.0.0.1 from a test CA; `url` is `rediss://` naming that CA's file."""

    def __init__(
        self,
        workdir: Path,
        ca: TestCa | None = None,
        port: int | None = None,
        extra: tuple[str, ...] = (),
    ) -> None:
        self.ca = ca or TestCa(workdir)
        port = port or free_port()
        tls = ("--port", "0", "--tls-port", str(port), *self.ca.server_args)
        # The later --port wins over RedisServer's own: plain TCP is off.
        super().__init__(workdir, port=port, extra=(*tls, *extra))

    @property
    def ca_file(self) -> Path:
        return self.ca.ca_file

    @property
    def url(self) -> str:
        return f"rediss://127.0.0.1:{self.port}/0?ssl_ca_certs={self.ca_file}"

    def client(self) -> redis.Redis:
        return redis.Redis(
            host="127.0.0.1", port=self.port, ssl=True, ssl_ca_certs=str(self.ca_file)
        )


@contextmanager
def redis_tls_server(workdir: Path) -> Iterator[RedisTlsServer]:
    server = RedisTlsServer(workdir)
    server.start()
    try:
        yield server
    finally:
        server.stop()


def _wait(what: str, check: Callable[[], bool], timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise TimeoutError(f"{what} after {timeout}s")
        time.sleep(0.05)


class RedisClusterServers:
    """A Redis Cluster of `masters` primaries (each with `replicas` replicas), every node a
    `redis-server --cluster-enabled yes` child on a loopback port, joined by
    `redis-cli --cluster create`; `url` is the gateway's `redis+cluster://` form.

    `node_timeout` is long by default: on a loaded test machine a short one lets a slow
    node be voted down mid-test. The failover test promotes a replica itself.
    """

    def __init__(
        self,
        workdir: Path,
        masters: int = 3,
        replicas: int = 0,
        node_timeout_ms: int = 20000,
        *,
        tls: bool = False,
    ) -> None:
        cli = shutil.which("redis-cli")
        if cli is None:
            raise RuntimeError("redis-cli is not installed: run tests/bootstrap.sh")
        self.cli = cli
        count = masters * (1 + replicas)
        ports = free_ports(2 * count)  # each node's port and its cluster bus port
        # With TLS, clients, the cluster bus and replication all speak it (one test CA).
        self.ca = TestCa(workdir / "ca") if tls else None
        self.nodes = [
            self._node(workdir / f"node{i}", ports[i], ports[count + i], node_timeout_ms)
            for i in range(count)
        ]
        self.replicas = replicas

    def _node(self, workdir: Path, port: int, bus: int, node_timeout_ms: int) -> RedisServer:
        cluster = (
            *("--cluster-enabled", "yes"),
            *("--cluster-config-file", str(workdir / "nodes.conf")),
            *("--cluster-node-timeout", str(node_timeout_ms)),
            # the bus port, else port + 10000 (which may be taken, or above 65535)
            *("--cluster-port", str(bus)),
        )
        if self.ca is None:
            return RedisServer(workdir, port=port, extra=cluster)
        tls = ("--tls-cluster", "yes", "--tls-replication", "yes")
        return RedisTlsServer(workdir, self.ca, port, extra=(*cluster, *tls))

    @property
    def url(self) -> str:
        live = [node for node in self.nodes if node.process is not None]
        nodes = ",".join(f"127.0.0.1:{node.port}" for node in live)
        if self.ca is None:
            return f"redis+cluster://{nodes}"
        return f"rediss+cluster://{nodes}?ssl_ca_certs={self.ca.ca_file}"

    def start(self) -> None:
        for node in self.nodes:
            node.start()
        tls = ("--tls", "--cacert", str(self.ca.ca_file)) if self.ca is not None else ()
        subprocess.run(
            [
                self.cli,
                *tls,
                "--cluster",
                "create",
                *(f"127.0.0.1:{node.port}" for node in self.nodes),
                "--cluster-replicas",
                str(self.replicas),
                "--cluster-yes",
            ],
            check=True,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.STDOUT,
        )
        self.wait_ok()

    def wait_ok(self) -> None:
        """Until every live node says `cluster_state:ok` and each replica is in sync."""

        def ok() -> bool:
            for node in self.nodes:
                if node.process is None:
                    continue
                with node.client() as client:
                    info = client.execute_command("CLUSTER", "INFO")
                    if b"cluster_state:ok" not in info and "cluster_state:ok" not in str(info):
                        return False
                    info = client.info("replication")
                    if info["role"] == "slave" and info.get("master_link_status") != "up":
                        return False
            return True

        _wait("the cluster is not ok", ok)

    def role(self, node: RedisServer) -> str:
        with node.client() as client:
            role: str = client.info("replication")["role"]
            return role

    def masters(self) -> list[RedisServer]:
        return [node for node in self.nodes if node.process and self.role(node) == "master"]

    def owner(self, key: str) -> RedisServer:
        """The master serving `key`'s slot."""
        with self.masters()[0].client() as client:
            slot = int(client.execute_command("CLUSTER", "KEYSLOT", key))
            ranges = client.execute_command("CLUSTER", "SLOTS")
        for start, end, (_, port, *_ids), *_replicas in ranges:
            if start <= slot <= end:
                return next(node for node in self.nodes if node.port == int(port))
        raise LookupError(f"no master serves slot {slot}")

    def replica_of(self, master: RedisServer) -> RedisServer:
        for node in self.nodes:
            if node.process is None or node is master:
                continue
            with node.client() as client:
                info = client.info("replication")
            if info["role"] == "slave" and int(info["master_port"]) == master.port:
                return node
        raise LookupError(f"127.0.0.1:{master.port} has no replica")

    def flush(self) -> None:
        for node in self.masters():
            with node.client() as client:
                client.flushall()

    def stop(self) -> None:
        for node in self.nodes:
            node.stop()


@contextmanager
def redis_cluster(
    workdir: Path, masters: int = 3, replicas: int = 0, *, tls: bool = False
) -> Iterator[RedisClusterServers]:
    for attempt in range(3):
        cluster = RedisClusterServers(workdir / f"start{attempt}", masters, replicas, tls=tls)
        try:
            cluster.start()
            break
        except TimeoutError:
            # A node that exited lost its port to another process between the pick and
            # the bind (other suites run beside this one): start again on fresh ports.
            exited = any(
                n.process is not None and n.process.poll() is not None for n in cluster.nodes
            )
            cluster.stop()
            if not exited or attempt == 2:
                raise
        except BaseException:
            cluster.stop()  # no node outlives a start that failed otherwise
            raise
    try:
        yield cluster
    finally:
        cluster.stop()


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
