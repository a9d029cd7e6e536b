"""The dashboard's live feed: staff get a snapshot and then every written ledger batch over a WebSocket; nobody else connects."""
import json
import os
from datetime import UTC, datetime
from decimal import Decimal

import httpx
import pytest
from asgiref.sync import sync_to_async
from channels.testing import WebsocketCommunicator
from django.conf import settings
from django.contrib.auth.hashers import PBKDF2PasswordHasher
from django.contrib.auth.models import Permission, User
from django.test import Client

from gateway_project import routing
from usage import ledger, live
from usage.ledger import LedgerEntry
from usage.models import UsageRecord

from .conftest import chat_body, make_tenant, requires_redis
from .live import GatewayServer

pytestmark = pytest.mark.django_db(transaction=True)

PATH = "/ws/admin/live/"
ORIGIN = (b"origin", b"http://127.0.0.1")


def entry(tenant_id: int, key_id: int, request_id: str, **fields) -> LedgerEntry:
    values = {
        "request_id": request_id, "tenant_id": tenant_id, "api_key_id": key_id, "model": "mock-small", "provider": "mock",
        "upstream_model": "mock-small", "prompt_tokens": 7, "completion_tokens": 5, "tokens_estimated": False,
        "input_price_per_mtok": Decimal("0.15"), "output_price_per_mtok": Decimal("0.6"), "cost_usd": Decimal("0.000004050000"),
        "status": 200, "error_type": "", "cached": False, "streamed": False, "client_disconnected": False,
        "latency_ms": 42, "ttft_ms": None, "created_at": datetime.now(UTC),
    }
    return LedgerEntry(**{**values, **fields})


def session_cookie(user: User | None) -> tuple[bytes, bytes]:
    """The Cookie header of a browser logged in as the user (None: not logged in)."""
    if user is None:
        return b"cookie", b""
    client = Client()
    client.force_login(user)
    return b"cookie", f"{settings.SESSION_COOKIE_NAME}={client.cookies[settings.SESSION_COOKIE_NAME].value}".encode()


@pytest.fixture(autouse=True)
def _flush_by_hand(settings):
    """In this process the tests flush the ledger themselves; the gateway processes run their writer."""
    settings.GATEWAY = {**settings.GATEWAY, "LEDGER_WRITER": False}


@pytest.fixture
def installed():
    live.install()
    yield
    ledger.publishers.remove(live.publish)


def staff(name: str, superuser: bool = False, usage: bool = False) -> User:
    user = User.objects.create_user(name, password="pw", is_staff=True, is_superuser=superuser)
    if usage:  # what the finance group grants (transactional tests flush the group its migration made)
        user.user_permissions.add(Permission.objects.get(codename="view_usagerecord"))
    return user


async def communicator(*headers) -> WebsocketCommunicator:
    return WebsocketCommunicator(live.serving(routing.websocket_application), PATH, headers=list(headers))


async def test_staff_get_a_snapshot_then_each_written_batch(installed):
    acme = await sync_to_async(make_tenant)("acme")
    cookie = await sync_to_async(session_cookie)(await sync_to_async(staff)("boss", superuser=True))
    socket = await communicator(ORIGIN, cookie)
    connected, _ = await socket.connect()
    assert connected
    snapshot = await socket.receive_json_from()
    assert snapshot["kind"] == "snapshot"
    assert snapshot["today"] == {"requests": 0, "errors": 0, "cost_usd": "0"}

    ledger.record(entry(acme.tenant.pk, acme.key.pk, "live-1"))
    ledger.record(entry(acme.tenant.pk, acme.key.pk, "live-2", status=502, error_type="upstream_error", cost_usd=Decimal(0)))
    await sync_to_async(ledger.flush)()

    message = await socket.receive_json_from(timeout=5)
    assert message["kind"] == "batch"
    today = datetime.now(UTC).date().isoformat()
    assert message["days"] == [{"day": today, "requests": 2, "errors": 1, "cost_usd": "0.000004050000"}]
    newest, older = message["rows"]
    assert (newest["tenant"], newest["status"], newest["provider"], older["tokens"], older["latency_ms"]) == ("acme", 502, "mock", 12, 42)
    text = json.dumps(message)
    assert acme.key.prefix not in text and acme.raw not in text and "live-1" not in text
    await socket.disconnect()


async def test_staff_who_may_view_usage_may_watch(installed):
    cookie = await sync_to_async(session_cookie)(await sync_to_async(staff)("fin", usage=True))
    socket = await communicator(ORIGIN, cookie)
    connected, _ = await socket.connect()
    assert connected
    await socket.disconnect()


@pytest.mark.parametrize("who", ["anonymous", "staff without usage permission", "non-staff superuser"])
async def test_others_are_refused(installed, who):
    if who == "anonymous":
        cookie = await sync_to_async(session_cookie)(None)
    elif who == "staff without usage permission":
        cookie = await sync_to_async(session_cookie)(await sync_to_async(staff)("clerk"))
    else:
        user = await sync_to_async(User.objects.create_user)("ex", password="pw", is_staff=False, is_superuser=True)
        cookie = await sync_to_async(session_cookie)(user)
    socket = await communicator(ORIGIN, cookie)
    connected, _ = await socket.connect()
    assert not connected


async def test_another_sites_page_cannot_connect_with_the_admins_cookie(installed):
    cookie = await sync_to_async(session_cookie)(await sync_to_async(staff)("boss", superuser=True))
    socket = await communicator((b"origin", b"https://evil.example"), cookie)
    connected, _ = await socket.connect()
    assert not connected


def test_a_failing_publisher_loses_no_records(db):
    acme = make_tenant("acme")

    def broken(batch):
        raise RuntimeError("publisher down")

    ledger.publishers.append(broken)
    try:
        ledger.record(entry(acme.tenant.pk, acme.key.pk, "kept-1"))
        assert ledger.flush() == 1
    finally:
        ledger.publishers.remove(broken)
    assert UsageRecord.objects.filter(request_id="kept-1").exists()


def test_without_a_server_loop_publishing_is_a_no_op(db, installed, monkeypatch):
    acme = make_tenant("acme")
    monkeypatch.setattr(live, "_loop", None)
    ledger.record(entry(acme.tenant.pk, acme.key.pk, "quiet-1"))
    assert ledger.flush() == 1


def admin_session(server: GatewayServer) -> str:
    """Log in to the server's admin as a new superuser; returns the session cookie's value."""
    hasher = PBKDF2PasswordHasher()  # what the server checks with; this process hashes with MD5 (conftest)
    User.objects.create(username="root", is_staff=True, is_superuser=True, password=hasher.encode("pw-for-tests", hasher.salt()))
    login = f"{server.url}/admin/login/"
    with httpx.Client(timeout=10) as client:
        client.get(login)
        form = {"username": "root", "password": "pw-for-tests", "csrfmiddlewaretoken": client.cookies["csrftoken"]}
        assert client.post(login, data=form, headers={"Referer": login}).status_code == 302
        return client.cookies["sessionid"]


def watch(server: GatewayServer, session: str):
    from websockets.sync.client import connect

    return connect(
        server.url.replace("http", "ws", 1) + PATH, origin=server.url,
        additional_headers={"Cookie": f"sessionid={session}"}, open_timeout=10,
    )


def next_batch(socket) -> dict:
    while True:
        message = json.loads(socket.recv(timeout=10))
        if message["kind"] == "batch":
            return message


def call(server: GatewayServer, raw_key: str) -> None:
    response = httpx.post(f"{server.url}/v1/chat/completions", json=chat_body(), headers={"X-API-Key": raw_key}, timeout=10)
    assert response.status_code == 200


def test_the_feed_works_under_daphne_with_the_in_memory_layer(mock_provider):
    acme = make_tenant("acme")
    env = {"REDIS_URL": "", "LEDGER_WRITER": "1"}
    with GatewayServer(env) as server, watch(server, admin_session(server)) as socket:
        assert json.loads(socket.recv(timeout=10))["kind"] == "snapshot"
        call(server, acme.raw)
        row = next_batch(socket)["rows"][0]
        assert (row["tenant"], row["model"], row["provider"], row["status"]) == ("acme", "mock-small", "mock", 200)


@requires_redis
def test_the_redis_layer_carries_the_feed_across_replicas(mock_provider):
    acme = make_tenant("acme")
    env = {"REDIS_URL": os.environ["REDIS_URL"], "LEDGER_WRITER": "1"}
    with GatewayServer(env) as watched, GatewayServer(env) as serving:
        with watch(watched, admin_session(watched)) as socket:
            assert json.loads(socket.recv(timeout=10))["kind"] == "snapshot"
            call(serving, acme.raw)
            assert next_batch(socket)["rows"][0]["tenant"] == "acme"
