"""The gateway's bench setup: its own PostgreSQL database and Redis db, a tenant, a key, a route."""
from __future__ import annotations

import os
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import psycopg
import redis

ROOT = Path(__file__).resolve().parent.parent
PG_ADMIN = "postgres://postgres@127.0.0.1:5432/postgres"
# BENCH_DATABASE / BENCH_REDIS_URL: another database and Redis db, for two benches on one host at once.
DATABASE = os.environ.get("BENCH_DATABASE") or "gateway_bench"
REDIS_URL = os.environ.get("BENCH_REDIS_URL") or "redis://127.0.0.1:6379/13"
MODEL = "bench-model"
EMBEDDINGS_MODEL = "bench-embed"  # an embeddings route to the same upstream (bench/endpoints.py)


@dataclass(frozen=True)
class Fixture:
    key: str
    model: str
    env: dict[str, str]


def gateway_env() -> dict[str, str]:
    """Everything on: PostgreSQL ledger, Redis limits and caches, metrics; no debug, no OTLP export."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("OTEL_", "PROMETHEUS_MULTIPROC"))}
    env.update(
        DATABASE_URL=f"postgres://postgres@127.0.0.1:5432/{DATABASE}",
        REDIS_URL=REDIS_URL,
        DJANGO_SECRET_KEY="bench-secret-key-not-for-production-0123456789abcdefghijkl",
        DJANGO_DEBUG="0",
        ALLOWED_HOSTS="localhost,127.0.0.1",
        PYTHONUNBUFFERED="1",
    )
    env.pop("METRICS_TOKEN", None)
    return env


def preflight() -> list[str]:
    """What is missing to run the bench, each with how to get it."""
    problems = []
    if shutil.which("wrk") is None:
        problems.append("wrk is not installed: apt-get install -y wrk")
    try:
        psycopg.connect(PG_ADMIN, connect_timeout=3).close()
    except psycopg.Error as exc:
        problems.append(f"PostgreSQL is not reachable at 127.0.0.1:5432 as postgres ({exc}); "
                        "start it, e.g. `. scripts/test-env.sh`")
    try:
        redis.Redis.from_url(REDIS_URL, socket_timeout=2).ping()
    except redis.RedisError as exc:
        problems.append(f"Redis is not reachable at {REDIS_URL} ({exc}); start it, e.g. `. scripts/test-env.sh`")
    return problems


def _fresh_database() -> None:
    with psycopg.connect(PG_ADMIN, autocommit=True, connect_timeout=3) as conn:
        conn.execute(f"DROP DATABASE IF EXISTS {DATABASE} WITH (FORCE)")
        conn.execute(f"CREATE DATABASE {DATABASE}")
    redis.Redis.from_url(REDIS_URL).flushdb()


def build(upstream_port: int) -> Fixture:
    """A new bench database, migrated, with one tenant (generous limits and budget), a key and a route."""
    _fresh_database()
    env = gateway_env()
    done = subprocess.run([sys.executable, "-m", "bench.provision", str(upstream_port), MODEL], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=300)
    if done.returncode != 0:
        raise SystemExit(f"provisioning the bench database failed:\n{done.stdout}\n{done.stderr}")
    return Fixture(done.stdout.strip().splitlines()[-1], MODEL, env)
