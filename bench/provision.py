"""Migrate the bench database and make its tenant, key, provider and route with the management commands.

Run by bench/fixture.py in one process (one Django start instead of five); prints the key last.
"""
from __future__ import annotations

import io
import os
import sys

import django
from django.core.management import call_command

from .fixture import EMBEDDINGS_MODEL


def _run(*args: str) -> str:
    out = io.StringIO()
    call_command(*args, stdout=out)
    return out.getvalue()


def main(upstream_port: int, model: str) -> None:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "gateway_project.settings")
    django.setup()
    _run("migrate", "--noinput", "--verbosity", "0")
    _run("create_tenant", "bench", "--rpm", "100000000", "--tpm", "2000000000", "--monthly-budget", "1000000")
    key = _run("create_api_key", "bench", "--name", "bench").strip().splitlines()[-1]
    _run("add_provider", "fast", "--kind", "openai", "--base-url", f"http://127.0.0.1:{upstream_port}/v1")
    _run("add_model", model, "--provider", "fast", "--upstream-model", "bench-upstream",
         "--input-price", "0.15", "--output-price", "0.60")
    _run("add_model", EMBEDDINGS_MODEL, "--provider", "fast", "--upstream-model", "bench-upstream-embed",
         "--mode", "embeddings", "--input-price", "0.02")
    print(key)


if __name__ == "__main__":
    main(int(sys.argv[1]), sys.argv[2])
