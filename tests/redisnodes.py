"""Throwaway Redis topologies for tests: redis-server and redis-sentinel from Debian, on free loopback ports.

Every wait here polls for a state (a PING answered, a replica in sync, a master named) with a
generous bound, never a fixed sleep: a busy machine is slow, not wrong.
"""
from __future__ import annotations

import contextlib
import random
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import pytest
import redis

from .live import free_port

PASSWORD = "s3cret-redis"
SENTINEL_PASSWORD = "s3cret-sentinel"
MASTER = "gwmaster"


def need(*programs: str) -> None:
    """Skip without the programs (a failure under CI=true: tests/conftest.py CI_NEEDS, .ci/run installs them)."""
    missing = [p for p in programs if shutil.which(p) is None]
    if missing:
        pytest.skip(f"needs Redis's {', '.join(missing)}: apt-get install -y redis-server redis-sentinel redis-tools")


def wait_for(what: str, check: Callable[[], object], timeout: float = 30.0, every: float = 0.05) -> object:
    """Poll `check` until it returns something true (exceptions count as not yet); fail naming `what`."""
    deadline = time.monotonic() + timeout
    last: object = None
    while time.monotonic() < deadline:
        try:
            last = check()
            if last:
                return last
        except (redis.RedisError, redis.exceptions.RedisClusterException, OSError) as exc:
            last = exc
        time.sleep(every)
    raise AssertionError(f"timed out after {timeout}s waiting for {what} (last: {last!r})")


def cluster_port() -> int:
    """A free port below 55536 whose cluster bus port (10000 higher) is free too, as a cluster node needs."""
    for _ in range(200):
        port = random.randint(20000, 55000)
        try:
            with socket.socket() as a, socket.socket() as b:
                a.bind(("127.0.0.1", port))
                b.bind(("127.0.0.1", port + 10000))
            return port
        except OSError:
            continue
    raise RuntimeError("no free port pair for a cluster node")


class Node:
    """One redis-server (or redis-sentinel) process in its own directory."""

    def __init__(self, workdir: Path, args: list[str], password: str | None = PASSWORD, program: str = "redis-server",
                 port: int | None = None, tls: dict[str, Path] | None = None):
        self.port = port or free_port()
        self.dir = workdir / str(self.port)
        self.dir.mkdir()
        self.args, self.password, self.program, self.tls = args, password, program, tls
        self.proc: subprocess.Popen | None = None

    def start(self) -> "Node":
        listen = ["--port", str(self.port), "--bind", "127.0.0.1", "--dir", str(self.dir)]
        if self.tls:  # TLS only, to clients, replicas and (from a sentinel) masters alike
            listen = ["--port", "0", "--tls-port", str(self.port), "--bind", "127.0.0.1", "--dir", str(self.dir),
                      "--tls-cert-file", str(self.tls["cert"]), "--tls-key-file", str(self.tls["key"]),
                      "--tls-ca-cert-file", str(self.tls["ca"]), "--tls-auth-clients", "no", "--tls-replication", "yes"]
        if self.program == "redis-sentinel":  # a sentinel rewrites its configuration file: it must have one
            conf = self.dir / "sentinel.conf"
            conf.write_text("\n".join(self.args) + "\n")
            cmd = [self.program, str(conf), *listen]
        else:
            cmd = [self.program, *listen, "--save", "", "--appendonly", "no", *self.args]
        log = open(self.dir / "log", "ab")
        self.proc = subprocess.Popen(cmd, cwd=self.dir, stdout=log, stderr=subprocess.STDOUT)
        log.close()
        wait_for(f"{self.program} on port {self.port}", lambda: self.client(timeout=0.5).ping(), timeout=20)
        return self

    def client(self, timeout: float = 2.0) -> redis.Redis:
        tls = {"ssl": True, "ssl_ca_certs": str(self.tls["ca"])} if self.tls else {}
        return redis.Redis(host="127.0.0.1", port=self.port, password=self.password, socket_timeout=timeout,
                           socket_connect_timeout=timeout, **tls)

    def kill(self) -> None:
        """SIGKILL: a machine lost, not a clean shutdown."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(10)

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.kill()


class Topology:
    """Owns a temporary directory and the nodes started in it; stop() ends them all."""

    def __init__(self) -> None:
        self.workdir = Path(tempfile.mkdtemp(prefix="gw-redis-"))
        self.nodes: list[Node] = []

    def node(self, args: list[str], **kwargs) -> Node:
        node = Node(self.workdir, args, **kwargs)
        self.nodes.append(node)
        return node.start()

    def stop(self) -> None:
        for node in reversed(self.nodes):
            node.stop()
        shutil.rmtree(self.workdir, ignore_errors=True)


@contextlib.contextmanager
def running(build: Callable[[Topology], object], *programs: str):
    """The nodes `build` starts in a fresh Topology, stopped on leaving; skips without `programs`."""
    need(*programs)
    top = Topology()
    try:
        yield build(top)
    finally:
        top.stop()


def sentinel_group(top: Topology, sentinels: int = 3, tls: dict[str, Path] | None = None) -> tuple[Node, Node, list[Node]]:
    """A password-protected primary, its replica in sync, and `sentinels` sentinels that agree on them
    (with `tls`, certificate files: every one of them speaks TLS only)."""
    auth = ["--requirepass", PASSWORD, "--masterauth", PASSWORD]
    primary = top.node(auth, tls=tls)
    replica = top.node([*auth, "--replicaof", "127.0.0.1", str(primary.port)], tls=tls)
    wait_for("the replica in sync", lambda: replica.client().info("replication").get("master_link_status") == "up")
    quorum = sentinels // 2 + 1
    conf = [
        f"requirepass {SENTINEL_PASSWORD}",  # also what a sentinel presents to the others
        f"sentinel monitor {MASTER} 127.0.0.1 {primary.port} {quorum}",
        f"sentinel auth-pass {MASTER} {PASSWORD}",
        f"sentinel down-after-milliseconds {MASTER} 500",
        f"sentinel failover-timeout {MASTER} 5000",
        f"sentinel parallel-syncs {MASTER} 1",
    ]
    nodes = [top.node(conf, password=SENTINEL_PASSWORD, program="redis-sentinel", tls=tls) for _ in range(sentinels)]

    def agreed() -> bool:
        for node in nodes:
            state = node.client().sentinel_master(MASTER)
            if state["num-other-sentinels"] < sentinels - 1 or state["num-slaves"] < 1:
                return False
        return True

    wait_for("the sentinels to know each other and the replica", agreed, timeout=60, every=0.2)
    return primary, replica, nodes


def master_port(sentinel: Node) -> int:
    return int(sentinel.client().sentinel_get_master_addr_by_name(MASTER)[1])


def cluster(top: Topology, masters: int = 3, replicas: int = 0) -> list[Node]:
    """A Redis Cluster of `masters` masters (and `replicas` replicas each), made by redis-cli --cluster create."""
    # Validity factor 0: a replica may always take over. With the default, replicas here refused with
    # "Disconnected from master for longer than allowed" (why, with a link that was up, is not pinned down).
    args = ["--cluster-enabled", "yes", "--cluster-config-file", "nodes.conf", "--cluster-node-timeout", "1000",
            "--cluster-replica-validity-factor", "0"]
    nodes = [top.node(args, password=None, port=cluster_port()) for _ in range(masters * (1 + replicas))]
    addresses = [f"127.0.0.1:{node.port}" for node in nodes]
    subprocess.run(["redis-cli", "--cluster", "create", *addresses, "--cluster-replicas", str(replicas), "--cluster-yes"],
                   check=True, capture_output=True, timeout=60)
    for node in nodes:
        wait_for(f"cluster_state:ok on {node.port}", lambda n=node: n.client().cluster("info")["cluster_state"] == "ok",
                 timeout=60, every=0.2)
    for node in nodes:
        wait_for(f"replica {node.port} in sync", lambda n=node: n.client().info("replication")["role"] == "master"
                 or n.client().info("replication").get("master_link_status") == "up", timeout=60, every=0.2)
    return nodes
