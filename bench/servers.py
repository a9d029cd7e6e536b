"""Start and stop the fake upstream and the gateway under Daphne, Uvicorn or Granian."""
from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
OUT = Path(__file__).resolve().parent / "out"
APP = "gateway_project.asgi:application"
BIN = Path(sys.executable).parent
SERVERS = ("daphne", "uvicorn", "granian")
GRANIAN_CAPACITY = ("--backlog", "4096", "--backpressure", "10000")  # as the README's production command


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass
class Running:
    """Processes the bench started (each leads its own process group) and where they listen."""

    name: str
    port: int
    procs: list[subprocess.Popen] = field(default_factory=list)
    scratch: str | None = None

    @property
    def pids(self) -> list[int]:
        return [p.pid for p in self.procs]

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def alive(self) -> bool:
        return all(p.poll() is None for p in self.procs)

    def stop(self, grace: float = 15.0) -> None:
        """SIGTERM each process group we started (lets the ledger flush), then SIGKILL what is left."""
        for proc in self.procs:
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGTERM)
        deadline = time.monotonic() + grace
        for proc in self.procs:
            try:
                proc.wait(max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait(5)
        if self.scratch:
            shutil.rmtree(self.scratch, ignore_errors=True)


def _spawn(cmd: list[str], env: dict[str, str], log: str, pass_fds: tuple[int, ...] = ()) -> subprocess.Popen:
    OUT.mkdir(exist_ok=True)
    # Servers write one log line per request to stdout: drop it, as a log shipper would take it away.
    with open(OUT / log, "w") as err:
        return subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=err,
                                pass_fds=pass_fds, start_new_session=True)


def start_upstream(chunks: int = 20, interval_ms: float = 5.0, answer_bytes: int = 0, name: str = "upstream") -> Running:
    port = free_port()
    cmd = [sys.executable, str(Path(__file__).with_name("upstream.py")), "--port", str(port),
           "--chunks", str(chunks), "--interval-ms", str(interval_ms), "--answer-bytes", str(answer_bytes)]
    running = Running(name, port, [_spawn(cmd, dict(os.environ), f"{name}.log")])
    _wait_port(running)
    return running


def _daphne(port: int, workers: int, env: dict[str, str]) -> list[subprocess.Popen]:
    # No access log: the gateway writes its own JSON line per request (Uvicorn and Granian run without theirs too).
    flags = ["--access-log", os.devnull]
    if workers == 1:
        return [_spawn([str(BIN / "daphne"), "-b", "127.0.0.1", "-p", str(port), *flags, APP], env, "daphne.log")]
    # Daphne has no worker option: N processes accept on one inherited listening socket.
    sock = socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", port))
    sock.listen(4096)
    sock.set_inheritable(True)
    fd = sock.fileno()
    procs = [_spawn([str(BIN / "daphne"), "--fd", str(fd), *flags, APP], env, f"daphne-{i}.log", (fd,))
             for i in range(workers)]
    sock.close()
    return procs


def server_command(server: str, port: int, workers: int) -> list[str]:
    """The command line of Uvicorn or Granian serving the gateway."""
    if server == "uvicorn":
        return [str(BIN / "uvicorn"), APP, "--host", "127.0.0.1", "--port", str(port), "--workers", str(workers),
                "--loop", "uvloop", "--http", "httptools", "--no-access-log", "--lifespan", "off"]
    # asginl: ASGI without lifespan, which Django does not speak. --backpressure: Granian serves at most
    # backlog/workers (1,024) requests at once per worker by default, and holds the rest unread (README).
    return [str(BIN / "granian"), "--interface", "asginl", "--host", "127.0.0.1", "--port", str(port),
            "--workers", str(workers), "--loop", "uvloop", "--no-access-log", *GRANIAN_CAPACITY, APP]


def start_gateway(server: str, workers: int, env: dict[str, str]) -> Running:
    """The gateway under `server` with `workers` processes; several share metrics through a multiprocess dir."""
    port = free_port()
    env = dict(env, PYTHONMALLOC="malloc")  # as the README's production command
    scratch = None
    if workers > 1:
        scratch = tempfile.mkdtemp(prefix="bench-prom-")
        env["PROMETHEUS_MULTIPROC_DIR"] = scratch
    if server == "daphne":
        procs = _daphne(port, workers, env)
    else:
        procs = [_spawn(server_command(server, port, workers), env, f"{server}.log")]
    running = Running(f"{server} x{workers}", port, procs, scratch)
    _wait_health(running)
    return running


def _wait_port(running: Running, timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", running.port), 0.5).close()
            return
        except OSError:
            time.sleep(0.1)
    running.stop()
    raise SystemExit(f"{running.name} did not listen on {running.port} within {timeout:.0f}s (see bench/out/)")


def _wait_health(running: Running, timeout: float = 60.0) -> None:
    """Wait until /health answers 200 from every worker's point of view (a few in a row)."""
    deadline, ok = time.monotonic() + timeout, 0
    while time.monotonic() < deadline and ok < 5:
        if not running.alive():
            break
        try:
            with urllib.request.urlopen(running.url + "/health", timeout=5) as resp:
                ok = ok + 1 if resp.status == 200 else 0
        except (urllib.error.URLError, OSError):
            ok = 0
            time.sleep(0.2)
    if ok < 5:
        running.stop()
        raise SystemExit(f"{running.name} did not become healthy within {timeout:.0f}s (see bench/out/*.log)")
