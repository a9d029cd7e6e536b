"""Real gateway processes for end-to-end tests: Daphne (or Granian) serving the app on a free port."""
from __future__ import annotations

import os
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx
from django.db import connection

ROOT = Path(__file__).resolve().parent.parent
# The serving commands of ../shared/INTERFACE.md "Serving": plain, graceful, production.
SERVING_COMMANDS = ("daphne", "gateway_project.serve", "granian")
GRACEFUL = "gateway_project.serve"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def database_url() -> str:
    """The URL of the database pytest-django created, for child processes."""
    settings = connection.settings_dict
    if settings["ENGINE"].endswith("sqlite3"):
        return f"sqlite:///{settings['NAME']}"
    host, port = settings.get("HOST") or "127.0.0.1", settings.get("PORT") or 5432
    user = settings.get("USER") or "postgres"
    return f"postgres://{user}@{host}:{port}/{settings['NAME']}"


class GatewayServer:
    """One Daphne (or Granian) process; env overrides tune caches so tests see their own changes at once."""

    def __init__(self, env: dict[str, str] | None = None, module: str = "daphne"):
        self.module = module  # "gateway_project.serve" for the entry point with graceful shutdown; "granian"
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.env = {
            **os.environ,
            "DATABASE_URL": database_url(),
            "ROUTE_CACHE_TTL": "0",
            "KEY_CACHE_LOCAL_TTL": "0.5",
            "LEDGER_FLUSH_INTERVAL": "0.05",
            "DJANGO_SECRET_KEY": "test-secret-key-for-live-servers-only-0123456789",
            **(env or {}),
        }
        self.proc: subprocess.Popen | None = None

    def start(self, timeout: float = 20.0) -> "GatewayServer":
        app = "gateway_project.asgi:application"
        if self.module == "granian":  # the production command of the README, one worker
            cmd = [sys.executable, "-m", "granian", "--interface", "asginl", "--host", "127.0.0.1", "--port",
                   str(self.port), "--workers", "1", "--loop", "uvloop", "--no-access-log",
                   "--backlog", "4096", "--backpressure", "10000", app]
        else:
            cmd = [sys.executable, "-m", self.module, "-b", "127.0.0.1", "-p", str(self.port), app]
        # A file, not a pipe: nobody reads a pipe while the gateway runs, and a full one would block it.
        self._stderr = tempfile.TemporaryFile()
        self._stdout = tempfile.TemporaryFile()  # the request log lines: one per ledger record (records())
        self.proc = subprocess.Popen(cmd, cwd=ROOT, env=self.env, stdout=self._stdout, stderr=self._stderr)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"gateway exited: {self.logs()[-2000:]}")
            try:
                httpx.get(f"{self.url}/health", timeout=1.0)
                return self
            except httpx.HTTPError:
                time.sleep(0.1)
        self.stop()
        raise RuntimeError("gateway did not start in time")

    def logs(self) -> str:
        """What the gateway wrote to standard error so far."""
        self._stderr.seek(0)
        return self._stderr.read().decode(errors="replace")

    def records(self, request_id: str) -> int:
        """How many times the gateway recorded this request: its request log lines, written once per ledger entry.

        Count these, not ledger rows: the ledger's insert skips a request id it holds (ON CONFLICT DO NOTHING)."""
        self._stdout.seek(0)
        needle = f'"request_id":"{request_id}"'.encode()
        return sum(1 for line in self._stdout.read().splitlines() if b'"event":"request"' in line and needle in line)

    def stop(self, sig_timeout: float = 10.0) -> int | None:
        if self.proc is None or self.proc.poll() is not None:
            return self.proc.returncode if self.proc else None
        self.proc.terminate()
        try:
            return self.proc.wait(sig_timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            return self.proc.wait()

    def __enter__(self) -> "GatewayServer":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()
