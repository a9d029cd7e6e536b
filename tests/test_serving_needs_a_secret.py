"""With DJANGO_DEBUG=0 and no DJANGO_SECRET_KEY, every serving command refuses to start (the development key is public)."""
import os
import subprocess
import sys

import pytest

from .live import ROOT, free_port

APP = "gateway_project.asgi:application"
COMMANDS = {
    "plain": ["-m", "daphne", "-b", "127.0.0.1", "-p", "{port}", APP],
    "graceful": ["-m", "gateway_project.serve", "-b", "127.0.0.1", "-p", "{port}", APP],
    "production": ["-m", "granian", "--interface", "asginl", "--host", "127.0.0.1", "--port", "{port}", "--workers", "1",
                   "--loop", "uvloop", "--no-access-log", APP],
}


@pytest.mark.parametrize("command", COMMANDS)
def test_the_server_refuses_to_start_without_a_secret(command):
    env = {k: v for k, v in os.environ.items() if k not in ("DJANGO_SECRET_KEY", "DJANGO_DEBUG")}
    args = [a.format(port=free_port()) for a in COMMANDS[command]]
    # A server that started would run until the timeout: the test fails then, not hangs.
    done = subprocess.run([sys.executable, *args], cwd=ROOT, env={**env, "DJANGO_DEBUG": "0"},
                          capture_output=True, text=True, timeout=120)
    assert done.returncode != 0
    refusals = [line for line in done.stderr.splitlines() if line.startswith("Refusing to serve")]
    assert refusals and "DJANGO_SECRET_KEY is not set" in refusals[0]
    if command != "production":  # granian adds its own lines about the worker that exited
        assert done.stderr.strip() == refusals[0]
