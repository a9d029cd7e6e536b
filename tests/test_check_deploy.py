"""`manage.py check --deploy` is clean with production settings, and catches a missing secret key or metrics token."""
import os
import secrets
import subprocess
import sys

from .live import ROOT

PRODUCTION = {
    "DJANGO_DEBUG": "0",
    "DJANGO_SECRET_KEY": secrets.token_urlsafe(50),
    "ALLOWED_HOSTS": "gateway.example.com",
    "BEHIND_TLS_PROXY": "1",
    "METRICS_TOKEN": secrets.token_urlsafe(32),
    "PYTHONMALLOC": "malloc",
}


def check_deploy(env: dict[str, str]) -> subprocess.CompletedProcess:
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("DJANGO_", "PYTEST", "PYTHONMALLOC"))}
    return subprocess.run(
        [sys.executable, "manage.py", "check", "--deploy", "--fail-level", "WARNING"],
        cwd=ROOT, env={**clean, **env}, capture_output=True, text=True, timeout=60,
    )


def test_production_settings_pass_check_deploy():
    result = check_deploy(PRODUCTION)
    assert result.returncode == 0, result.stdout + result.stderr


def test_the_development_secret_key_fails_check_deploy():
    result = check_deploy({**PRODUCTION, "DJANGO_SECRET_KEY": ""})
    assert result.returncode != 0
    assert "security.W009" in result.stdout + result.stderr


def test_debug_fails_check_deploy():
    result = check_deploy({**PRODUCTION, "DJANGO_DEBUG": "1"})
    assert result.returncode != 0
    assert "security.W018" in result.stdout + result.stderr


def test_an_open_metrics_endpoint_fails_check_deploy():
    result = check_deploy({**PRODUCTION, "METRICS_TOKEN": ""})
    assert result.returncode != 0
    assert "gateway.W001" in result.stdout + result.stderr and "METRICS_TOKEN" in result.stdout + result.stderr


def test_pythons_own_allocator_fails_check_deploy():
    env = {k: v for k, v in PRODUCTION.items() if k != "PYTHONMALLOC"}
    result = check_deploy(env)
    assert result.returncode != 0
    assert "gateway.W002" in result.stdout + result.stderr and "PYTHONMALLOC" in result.stdout + result.stderr


def test_plain_check_leaves_an_open_metrics_endpoint_alone():
    result = subprocess.run([sys.executable, "manage.py", "check", "--fail-level", "WARNING"], cwd=ROOT,
                            env={**os.environ, **PRODUCTION, "METRICS_TOKEN": ""}, capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stdout + result.stderr
