"""The README shows the HAProxy configuration the fleet runs, and HAProxy accepts it as it is.

scripts/haproxy.cfg is the one file for `make fleet`, the fleet tests and docker-compose.yml;
the README's "Replicas behind a load balancer" copies it, and must not drift from it.
"""
from __future__ import annotations

import os
import re
import shutil
import subprocess

import pytest

from scripts.fleet import CONFIG, ROOT


def test_the_readme_shows_scripts_haproxy_cfg_as_it_is():
    readme = (ROOT / "README.md").read_text()
    shown = re.search(r"```haproxy\n(.*?)```", readme, re.S)
    assert shown is not None and shown.group(1) == CONFIG.read_text()


def test_haproxy_accepts_the_configuration_with_docker_compose_addresses():
    if shutil.which("haproxy") is None:
        pytest.skip("needs HAProxy: apt-get install -y haproxy")  # a failure under CI=true (tests/conftest.py)
    env = {**os.environ, "GW1": "gateway1:8000", "GW2": "gateway2:8000", "GW3": "gateway3:8000"}
    checked = subprocess.run(["haproxy", "-c", "-f", str(CONFIG)], env=env, capture_output=True, text=True, timeout=30)
    assert checked.returncode == 0, checked.stdout + checked.stderr
    compose = (ROOT / "docker-compose.yml").read_text()
    assert "./scripts/haproxy.cfg:/usr/local/etc/haproxy/haproxy.cfg:ro" in compose
    assert all(f"GW{n}: gateway{n}:8000" in compose for n in (1, 2, 3))
