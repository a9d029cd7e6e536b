"""`make fleet`: three gateway replicas under the production command, Debian's HAProxy in front.

The replicas share this machine's PostgreSQL and Redis (`DATABASE_URL`, `REDIS_URL`, as
scripts/test-env.sh finds them); HAProxy reads scripts/haproxy.cfg, the file the README shows
and docker-compose.yml mounts, with the replicas' addresses in its environment. The tests
(tests/test_fleet_*.py) start the same `Fleet`, smaller in nothing but its logs and timeouts.

    python -m scripts.fleet [--port 8080] [--workers 1] [--kill-timeout 30]
"""
from __future__ import annotations

import argparse
import csv
import io
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import IO

import httpx

ROOT = Path(__file__).resolve().parent.parent
CONFIG = ROOT / "scripts" / "haproxy.cfg"
APP = "gateway_project.asgi:application"
NAMES = ("gw1", "gw2", "gw3")  # the `server` lines of scripts/haproxy.cfg
BACKEND = "replicas"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for(predicate, timeout: float, what: str, interval: float = 0.1) -> None:
    """Poll until `predicate()` is true; a bound for hangs, not a timing."""
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise TimeoutError(f"timed out waiting for {what}")
        time.sleep(interval)


class Replica:
    """One gateway process under the README's production command (Granian), on a fixed port across restarts."""

    def __init__(self, name: str, env: dict[str, str], log: IO[bytes] | None, *, workers: int, kill_timeout: int):
        self.name = name
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.env = env
        self.log = log  # None: the terminal
        self.workers = workers
        self.kill_timeout = kill_timeout
        self.proc: subprocess.Popen | None = None

    @property
    def command(self) -> list[str]:
        return [sys.executable, "-m", "granian", "--interface", "asginl", "--host", "127.0.0.1",
                "--port", str(self.port), "--workers", str(self.workers), "--loop", "uvloop", "--no-access-log",
                "--backlog", "4096", "--backpressure", "10000",  # as the README's production command
                "--workers-kill-timeout", str(self.kill_timeout), APP]

    def start(self) -> None:
        # A session of its own: Ctrl-C reaches the script, which stops replicas after HAProxy's clients.
        self.proc = subprocess.Popen(self.command, cwd=ROOT, env=self.env, stdout=self.log, stderr=self.log,
                                     start_new_session=True)

    def healthy(self) -> bool:
        if self.proc is None or self.proc.poll() is not None:
            raise RuntimeError(f"{self.name} exited with {self.proc and self.proc.returncode}")
        try:
            return httpx.get(f"{self.url}/health", timeout=2).status_code == 200
        except httpx.HTTPError:
            return False

    def stop(self) -> int | None:
        """SIGTERM, then wait while it drains (open requests and streams finish, usage is written)."""
        if self.proc is None or self.proc.poll() is not None:
            return self.proc.returncode if self.proc else None
        self.proc.terminate()
        try:
            return self.proc.wait(self.kill_timeout + 15)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            return self.proc.wait()


class Fleet:
    """Three replicas and HAProxy on loopback: start(), .url, restart(name), stop(); a context manager too."""

    def __init__(self, env: dict[str, str] | None = None, *, port: int | None = None, workers: int = 1,
                 kill_timeout: int = 30, log_dir: Path | None = None, quiet: bool = True):
        self.port = port or free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.workdir = Path(tempfile.mkdtemp(prefix="fleet-"))  # the admin socket's path must stay short
        self.log_dir = log_dir or self.workdir
        self.log_dir.mkdir(parents=True, exist_ok=True)
        self.quiet = quiet  # False: HAProxy's request log goes to the terminal
        self.socket_path = str(self.workdir / "haproxy.sock")
        replica_env = {
            **os.environ,
            "TRUSTED_PROXY": "1",  # the client's address is the X-Forwarded-For hop HAProxy adds
            "PYTHONMALLOC": "malloc",  # as the README's production command
            "DJANGO_SECRET_KEY": os.environ.get("DJANGO_SECRET_KEY") or secrets.token_urlsafe(50),  # one for all
            **(env or {}),
        }
        self._logs = {name: open(self.log_dir / f"{name}.log", "ab") for name in (*NAMES, "haproxy")}
        self.replicas = {name: Replica(name, replica_env, self._logs[name], workers=workers,
                                       kill_timeout=kill_timeout) for name in NAMES}
        self.haproxy: subprocess.Popen | None = None

    # Lifecycle

    def start(self, timeout: float = 90) -> Fleet:
        haproxy = shutil.which("haproxy")
        if haproxy is None:
            raise FileNotFoundError("haproxy is not installed: apt-get install -y haproxy")
        for replica in self.replicas.values():
            replica.start()
        try:
            for replica in self.replicas.values():
                wait_for(replica.healthy, timeout, f"{replica.name} to answer /health")
            env = {**os.environ, "HAPROXY_BIND": f"127.0.0.1:{self.port}", "HAPROXY_STATS_SOCKET": self.socket_path,
                   **{name.upper(): f"127.0.0.1:{r.port}" for name, r in self.replicas.items()}}
            out = self._logs["haproxy"] if self.quiet else None
            self.haproxy = subprocess.Popen([haproxy, "-db", "-f", str(CONFIG)], env=env, stdout=out, stderr=out,
                                            start_new_session=True)
            for name in NAMES:
                self.wait_state(name, "UP", timeout)
        except BaseException:
            self.stop()
            raise
        return self

    def restart(self, name: str, timeout: float = 90) -> int | None:
        """One step of a rolling restart, as the README's runbook: drain it in HAProxy, SIGTERM, wait for the
        drain, start again, make it ready in HAProxy, wait until HAProxy has it UP.

        Why drain in HAProxy first: a replica told to stop closes its listening socket, and a request that
        reached the socket's queue in that instant is reset by the kernel. HAProxy retries a refused
        connection or an empty answer on another replica, but a reset after the request was sent it
        answers by closing the client's kept-alive connection without a response (so that the client may
        retry), which a client sees as a failed request. In DRAIN, HAProxy sends the replica no new
        request and lets the open ones (and streams) finish.
        """
        replica = self.replicas[name]
        self.set_state(name, "drain")
        self.wait_state(name, "DRAIN", timeout)
        code = replica.stop()
        replica.start()
        wait_for(replica.healthy, timeout, f"{name} to answer /health again")
        self.set_state(name, "ready")
        self.wait_state(name, "UP", timeout)
        return code

    def stop(self) -> dict[str, int | None]:
        """Replicas first (they drain their streams through HAProxy), then HAProxy; their exit codes."""
        codes: dict[str, int | None] = {}
        threads = [threading.Thread(target=lambda r=r: codes.__setitem__(r.name, r.stop())) for r in self.replicas.values()]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        if self.haproxy is not None and self.haproxy.poll() is None:
            self.haproxy.send_signal(signal.SIGUSR1)  # soft stop: exits 0 once its sessions are gone
            try:
                codes["haproxy"] = self.haproxy.wait(10)
            except subprocess.TimeoutExpired:
                self.haproxy.kill()
                codes["haproxy"] = self.haproxy.wait()
        for log in self._logs.values():
            log.close()
        return codes

    def __enter__(self) -> Fleet:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

    # HAProxy's view

    def admin(self, command: str) -> str:
        """One command on HAProxy's admin socket (`show stat`, `show servers state`, ...)."""
        with socket.socket(socket.AF_UNIX) as s:
            s.settimeout(5)
            s.connect(self.socket_path)
            s.sendall(command.encode() + b"\n")
            chunks = []
            while chunk := s.recv(65536):
                chunks.append(chunk)
        return b"".join(chunks).decode()

    def set_state(self, name: str, state: str) -> None:
        """`set server replicas/NAME state ready|drain|maint` on the admin socket."""
        answer = self.admin(f"set server {BACKEND}/{name} state {state}").strip()
        if answer:  # HAProxy answers an accepted command with an empty line
            raise RuntimeError(f"HAProxy refused 'set server {BACKEND}/{name} state {state}': {answer}")

    def states(self) -> dict[str, str]:
        """Each replica's state in HAProxy: UP, DOWN, "UP 1/2" (rising), "DOWN 1/2" (falling), ..."""
        if self.haproxy is None or self.haproxy.poll() is not None:
            raise RuntimeError(f"haproxy is not running:\n{self.logs('haproxy')[-2000:]}")
        try:
            text = self.admin("show stat")
        except OSError:
            return {}
        rows = csv.DictReader(io.StringIO(text.lstrip("# ")))
        return {row["svname"]: row["status"] for row in rows if row["pxname"] == BACKEND and row["svname"] in NAMES}

    def wait_state(self, name: str, state: str, timeout: float = 90) -> None:
        wait_for(lambda: self.states().get(name) == state, timeout, f"HAProxy to see {name} {state}")

    def logs(self, name: str) -> str:
        path = self.log_dir / f"{name}.log"
        return path.read_text(errors="replace") if path.exists() else ""


# `make fleet`

def _require_shared_stores() -> None:
    database, redis = os.environ.get("DATABASE_URL", ""), os.environ.get("REDIS_URL", "")
    if not database.startswith("postgres") or not redis:
        sys.exit("make fleet needs PostgreSQL and Redis shared by the replicas: run them on 127.0.0.1 "
                 f"(scripts/test-env.sh finds them) or set DATABASE_URL and REDIS_URL; got DATABASE_URL='{database}' "
                 f"REDIS_URL='{redis}'")


def _create_database() -> None:
    """The database named by DATABASE_URL, made when missing (a fresh machine has only `postgres`)."""
    import dj_database_url
    import psycopg

    settings = dj_database_url.parse(os.environ["DATABASE_URL"])
    params = {"host": settings.get("HOST") or "127.0.0.1", "port": settings.get("PORT") or 5432,
              "user": settings.get("USER") or "postgres", "password": settings.get("PASSWORD") or None,
              "dbname": "postgres", "autocommit": True}
    with psycopg.connect(**{k: v for k, v in params.items() if v is not None}) as conn:
        if conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (settings["NAME"],)).fetchone() is None:
            conn.execute(f'CREATE DATABASE "{settings["NAME"]}"')


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, default=int(os.environ.get("FLEET_PORT", "8080")),
                        help="HAProxy's port on 127.0.0.1 (FLEET_PORT, default 8080)")
    parser.add_argument("--workers", type=int, default=1, help="Granian workers per replica (default 1)")
    parser.add_argument("--kill-timeout", type=int, default=30, help="seconds a stopping replica drains (default 30)")
    args = parser.parse_args(argv)
    if shutil.which("haproxy") is None:
        sys.exit("make fleet needs HAProxy: apt-get install -y haproxy")
    _require_shared_stores()
    _create_database()
    manage = [sys.executable, "manage.py"]
    subprocess.run([*manage, "migrate", "--noinput"], cwd=ROOT, check=True, stdout=subprocess.DEVNULL)
    # Prints the demo key and the admin login (at HAProxy's address).
    subprocess.run([*manage, "bootstrap"], cwd=ROOT, check=True, env={**os.environ, "PORT": str(args.port)})
    if not os.environ.get("DJANGO_SECRET_KEY"):  # one for every replica: the demo's, as `make serve` uses
        demo = (ROOT / ".demo-credentials").read_text() if (ROOT / ".demo-credentials").exists() else ""
        secret = next((line.split("=", 1)[1] for line in demo.splitlines() if line.startswith("DJANGO_SECRET_KEY=")), "")
        os.environ["DJANGO_SECRET_KEY"] = secret or secrets.token_urlsafe(50)
    stopping = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stopping.set())
    fleet = Fleet(port=args.port, workers=args.workers, kill_timeout=args.kill_timeout,
                  log_dir=ROOT / ".fleet", quiet=False)
    print(f"starting 3 replicas (logs in {fleet.log_dir}/) and HAProxy...", flush=True)
    fleet.start()
    replicas = ", ".join(f"{name} {r.url}" for name, r in fleet.replicas.items())
    print(f"\nfleet: {fleet.url}  ({replicas}; database {os.environ['DATABASE_URL']}, redis "
          f"{os.environ['REDIS_URL']}; HAProxy's admin socket {fleet.socket_path})\nCtrl-C stops it.\n", flush=True)
    try:
        while not stopping.wait(1):
            for replica in fleet.replicas.values():
                if replica.proc.poll() is not None:
                    print(f"{replica.name} exited with {replica.proc.returncode}: see {fleet.log_dir}/{replica.name}.log",
                          file=sys.stderr)
                    stopping.set()
    finally:
        print("stopping: replicas drain their open requests, then HAProxy stops", flush=True)
        codes = fleet.stop()
        shutil.rmtree(fleet.workdir, ignore_errors=True)  # the admin socket; the logs stay in .fleet/
    print("stopped: " + ", ".join(f"{name} exit {code}" for name, code in codes.items()))
    return 0


if __name__ == "__main__":
    sys.exit(main())
