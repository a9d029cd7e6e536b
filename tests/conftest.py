"""Shared fixtures: tenants, keys, providers and routes made through the real code paths."""
from __future__ import annotations

import os
from dataclasses import dataclass
from decimal import Decimal

import orjson
import pytest
from django.core.cache import cache
from django.db import connection

from providers import routes
from providers.models import ModelRoute, Provider
from tenants import auth, keys
from tenants.models import ApiKey, Tenant

# What CI must have: under CI=true a test skipped for want of one of these fails instead (.ci/run installs them).
CI_NEEDS = ("needs Redis", "needs PostgreSQL", "needs Chromium", "needs the playwright package", "needs HAProxy")
CI_MARKERS = ("browser", "redis", "postgres")


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item, call):
    """Under CI=true, a browser, Redis or PostgreSQL test that would skip fails: a green run must have run it."""
    report = yield
    if report.skipped and os.environ.get("CI", "").lower() in ("1", "true", "yes") and isinstance(report.longrepr, tuple):
        reason = str(report.longrepr[2]).removeprefix("Skipped: ")
        if reason.startswith(CI_NEEDS) or any(item.get_closest_marker(name) for name in CI_MARKERS):
            report.outcome = "failed"
            report.longrepr = f"skipped under CI=true, which must run it: {reason}"
    return report


requires_redis = pytest.mark.skipif(not os.environ.get("REDIS_URL"), reason="needs Redis: set REDIS_URL (make test does when Redis runs)")
requires_postgres = pytest.mark.skipif(
    not os.environ.get("DATABASE_URL", "").startswith("postgres"),
    reason="needs PostgreSQL: set DATABASE_URL (make test does when PostgreSQL runs)",
)


@pytest.fixture(scope="session", autouse=True)
def _drop_worker_connections(django_db_setup, django_db_blocker):
    """Worker threads of sync_to_async keep their sessions open; end them so the test database can be dropped."""
    yield
    with django_db_blocker.unblock():
        if connection.vendor == "postgresql":
            with connection.cursor() as cursor:
                cursor.execute(
                    "SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
                    " WHERE datname = current_database() AND pid <> pg_backend_pid()"
                )


@pytest.fixture(autouse=True)
def _fast_passwords(settings):
    """Admin users in tests need no slow password hashing."""
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture(autouse=True)
def _fresh_caches():
    """Each test starts with empty key, route and response caches."""
    auth.clear_local()
    routes.invalidate()
    try:
        cache.clear()
    except Exception:
        pass
    yield
    auth.clear_local()
    routes.invalidate()


@dataclass
class TenantWithKey:
    tenant: Tenant
    key: ApiKey
    raw: str

    @property
    def headers(self) -> dict[str, str]:
        return {"X-API-Key": self.raw}


def make_tenant(slug: str = "acme", **fields) -> TenantWithKey:
    tenant = Tenant.objects.create(slug=slug, name=slug.title(), **fields)
    issued = keys.issue(tenant, name="test")
    return TenantWithKey(tenant, issued.key, issued.raw)


@pytest.fixture
def acme(db) -> TenantWithKey:
    return make_tenant("acme")


@pytest.fixture
def mock_provider(db) -> Provider:
    provider = Provider.objects.create(name="mock", kind="mock", base_url="", timeout_seconds=10)
    ModelRoute.objects.create(
        public_name="mock-small",
        provider=provider,
        upstream_model="mock-small",
        input_price_per_mtok=Decimal("0.15"),
        output_price_per_mtok=Decimal("0.60"),
    )
    ModelRoute.objects.create(public_name="mock-large", provider=provider, upstream_model="mock-large")
    return provider


@pytest.fixture(autouse=True)
def _quiet_ledger(settings):
    """Tests flush the ledger by hand; nothing queued leaks from one test into the next."""
    from usage import ledger

    settings.GATEWAY = {**settings.GATEWAY, "LEDGER_WRITER": False}
    ledger.discard()
    yield
    ledger.discard()


@pytest.fixture
def async_client():
    """pytest-django's async client, served by the production ASGI application (tests/asgi_client.py)."""
    from .asgi_client import ASGIClient

    return ASGIClient()


@pytest.fixture
def api(async_client):
    """An async client that speaks JSON to the gateway."""
    return async_client


async def post_chat(client, tenant: TenantWithKey | None, body, headers: dict[str, str] | None = None):
    """POST /v1/chat/completions with the tenant's key (or none)."""
    data = body if isinstance(body, (bytes, str)) else orjson.dumps(body)
    sent = {**(tenant.headers if tenant else {}), **(headers or {})}
    return await client.post("/v1/chat/completions", data=data, content_type="application/json", headers=sent)


def chat_body(model: str = "mock-small", text: str = "hi", **fields) -> dict:
    return {"model": model, "messages": [{"role": "user", "content": text}], **fields}


@pytest.fixture(autouse=True)
def _redis_trusted_again():
    """A test that made Redis fail must not leave the next one counting in process."""
    from infra.sharedredis import shared_redis

    shared_redis.forget()
    yield
    shared_redis.forget()


@pytest.fixture(autouse=True)
def _closed_breakers():
    """Breaker state is per process; each test starts with every circuit closed."""
    from providers import breaker

    breaker.reset()
    yield
    breaker.reset()


@pytest.fixture
def upstream():
    """A real fake provider on 127.0.0.1 speaking the OpenAI, Azure and Anthropic formats."""
    from .fakes.upstream import FakeUpstream

    with FakeUpstream() as fake:
        yield fake


def add_route(
    fake, kind: str, public: str, *, name: str | None = None, priority: int = 0, weight: int = 1,
    upstream_model: str | None = None, timeout: float = 5.0, prefix: str = "", options: dict | None = None,
    base_url: str | None = None, mode: str = "chat",
) -> ModelRoute:
    """A provider of `kind` pointed at the fake (or at `base_url`), with one route for `public` (chat or embeddings)."""
    name = name or f"{kind}-{priority}"
    if options is None:
        options = {"api_version": "2024-10-21"} if kind == "azure" else {}
    provider, _ = Provider.objects.update_or_create(
        name=name,
        defaults={"kind": kind, "base_url": base_url or fake.base_url(kind, prefix), "timeout_seconds": timeout,
                  "options": options},
    )
    return ModelRoute.objects.create(
        public_name=public, provider=provider, upstream_model=upstream_model or f"{kind}-model",
        priority=priority, weight=weight, input_price_per_mtok=Decimal("1"), output_price_per_mtok=Decimal("2"), mode=mode,
    )


@pytest.fixture
def gateway(transactional_db):
    """A real Daphne process serving the gateway on the test database."""
    from .live import GatewayServer

    with GatewayServer() as server:
        yield server


@pytest.fixture
def cached_route(upstream, settings, db):
    """Model "gpt-test" on the fake provider "fake", with the response cache on (60 s)."""
    settings.GATEWAY = {**settings.GATEWAY, "CACHE_TTL": 60}
    provider = Provider.objects.create(name="fake", kind="openai", base_url=upstream.base_url("openai"), timeout_seconds=5)
    ModelRoute.objects.create(public_name="gpt-test", provider=provider, upstream_model="gpt-4o-mini")
    return upstream


@pytest.fixture(params=["redis", "database"])
def backend(request, settings):
    """Budget counters kept in Redis, then in the database: the two stores budgets may use."""
    if request.param == "redis":
        if not os.environ.get("REDIS_URL"):
            pytest.skip("needs Redis: set REDIS_URL (make test does when Redis runs)")
        settings.REDIS_URL = os.environ["REDIS_URL"]
    else:
        settings.REDIS_URL = ""
    return request.param


@pytest.fixture
def spans():
    """Spans recorded in memory while the test runs (tracing on)."""
    from opentelemetry.sdk.trace.export import SimpleSpanProcessor
    from opentelemetry.sdk.trace.export.in_memory_span_exporter import (
        InMemorySpanExporter,
    )

    from infra import telemetry

    exporter = InMemorySpanExporter()
    telemetry.enable(SimpleSpanProcessor(exporter))
    yield exporter
    telemetry.disable()


@pytest.fixture
def gateway_role(transactional_db):
    """A PostgreSQL role for a gateway process alone, which the test may lock out (tests/dbrole.py)."""
    from .dbrole import gateway_role as make_role

    with make_role() as role:
        yield role


class LedgerSpy:
    """Every entry handed to usage.ledger.record, which still records it.

    Count these, not surviving rows: the ledger's insert skips a request id it already
    holds (ON CONFLICT DO NOTHING), so a request recorded twice would leave one row."""

    def __init__(self):
        self.entries = []

    def count(self, request_id: str) -> int:
        return sum(1 for entry in self.entries if entry.request_id == request_id)


@pytest.fixture
def ledger_spy(monkeypatch) -> LedgerSpy:
    from usage import ledger

    spy, record = LedgerSpy(), ledger.record

    def recording(entry):
        spy.entries.append(entry)
        record(entry)

    monkeypatch.setattr(ledger, "record", recording)
    return spy


@pytest.fixture
def admin_gateway(transactional_db):
    """A real gateway process for a management API test (one per test: a transactional test's flush makes
    content types anew, which a longer-lived process would still cache by their old ids)."""
    from .live import GatewayServer

    with GatewayServer() as server:
        yield server


def admin_client(server, username: str = "root", *, superuser: bool = True, groups: tuple[str, ...] = (),
                 perms: tuple[str, ...] = ()):
    """An httpx client for `server` sending the admin token of a new user (a superuser unless told otherwise)."""
    import httpx
    from django.contrib.auth.models import Group, Permission, User

    from tenants import admintokens

    if superuser:
        user = User.objects.create_superuser(username, password="pw")
    else:
        user = User.objects.create_user(username, password="pw", is_staff=True)
    for name in groups:
        user.groups.add(finance_group() if name == "finance" else Group.objects.get(name=name))
    for perm in perms:
        app_label, codename = perm.split(".")
        user.user_permissions.add(Permission.objects.get(content_type__app_label=app_label, codename=codename))
    token = admintokens.issue(username).raw
    return httpx.Client(base_url=server.url, headers={"Authorization": f"Bearer {token}"}, timeout=10)


def finance_group():
    """The finance group of tenants/migrations/0002 (a transactional test's flush empties the table it lives in)."""
    import importlib

    from django.contrib.auth.models import Group, Permission

    migration = importlib.import_module("tenants.migrations.0002_finance_group")
    group, _ = Group.objects.get_or_create(name=migration.FINANCE)
    for app_label, codename in migration.PERMISSIONS:
        group.permissions.add(Permission.objects.get(content_type__app_label=app_label, codename=codename))
    return group


@pytest.fixture
async def openai_sdk():
    """The official AsyncOpenAI client for a tenant, speaking to the production ASGI application in this process."""
    import httpx
    from openai import AsyncOpenAI

    from .asgi_client import application

    clients: list[httpx.AsyncClient] = []

    def client_for(tenant: TenantWithKey) -> AsyncOpenAI:
        http = httpx.AsyncClient(transport=httpx.ASGITransport(app=application()), timeout=30)
        clients.append(http)
        return AsyncOpenAI(base_url="http://testserver/v1", api_key=tenant.raw, max_retries=0, http_client=http)

    yield client_for
    for http in clients:
        await http.aclose()


@pytest.fixture
def start_fleet(transactional_db, request):
    """Three replicas under Granian behind Debian's HAProxy (scripts/fleet.py), on the test database and Redis.

    Call it with env overrides; the fleet stops at the end of the test (or earlier by `fleet.stop()`).
    Needs PostgreSQL and Redis shared by the replicas, and haproxy; under CI=true a missing one
    fails the test rather than skipping it (CI_NEEDS; .ci/run installs haproxy).
    """
    import shutil

    from scripts.fleet import Fleet

    from .live import database_url

    if not os.environ.get("REDIS_URL") or connection.vendor != "postgresql":
        pytest.skip("needs PostgreSQL and Redis shared by the replicas (make test finds them when they run)")
    if shutil.which("haproxy") is None:
        pytest.skip("needs HAProxy: apt-get install -y haproxy")
    fleets: list[Fleet] = []

    def start(env: dict[str, str] | None = None) -> Fleet:
        fleet = Fleet({
            "DATABASE_URL": database_url(),
            "ROUTE_CACHE_TTL": "0",
            "LEDGER_FLUSH_INTERVAL": "0.05",
            "REQUEST_LOG": "0",
            "DJANGO_SECRET_KEY": "test-secret-key-for-live-servers-only-0123456789",
            **(env or {}),
        })
        fleets.append(fleet)
        return fleet.start()

    failed_before = request.session.testsfailed
    yield start
    for fleet in fleets:
        fleet.stop()
        if request.session.testsfailed == failed_before:
            shutil.rmtree(fleet.workdir, ignore_errors=True)
        else:
            print(f"\nfleet logs (HAProxy's and each replica's): {fleet.workdir}")
