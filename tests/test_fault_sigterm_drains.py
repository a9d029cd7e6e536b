"""SIGTERM with streams in flight: new requests get 503, open streams finish, the ledger is flushed, exit 0."""
import signal
import threading
import time

import httpx
import pytest

from usage.models import UsageRecord

from .conftest import add_route, chat_body, make_tenant
from .live import GatewayServer

pytestmark = pytest.mark.django_db(transaction=True)


def DrainingGateway(env: dict[str, str]) -> GatewayServer:
    """The gateway under `python -m gateway_project.serve`, the entry point with graceful shutdown."""
    return GatewayServer(env=env, module="gateway_project.serve")


def read_stream(url: str, key: str, started: threading.Event, out: list) -> None:
    with httpx.Client(timeout=15) as client:
        with client.stream("POST", f"{url}/v1/chat/completions", json=chat_body("chat", stream=True),
                           headers={"X-API-Key": key}) as response:
            body = b""
            try:
                for part in response.iter_bytes():
                    started.set()
                    body += part
            except httpx.RemoteProtocolError:  # the gateway cut the stream at the drain deadline
                body += b"<cut>"
            out.append((response.status_code, response.headers["x-request-id"], body))


def open_streams(server: GatewayServer, key: str, count: int, results: list) -> list[threading.Thread]:
    """`count` streams reading in threads, returned once each has received its first bytes."""
    events = [threading.Event() for _ in range(count)]
    threads = [threading.Thread(target=read_stream, args=(server.url, key, e, results)) for e in events]
    for thread in threads:
        thread.start()
    assert all(e.wait(10) for e in events), "streams did not start"
    return threads


def assert_finished_and_billed(threads: list[threading.Thread], results: list) -> None:
    for thread in threads:
        thread.join(15)
    assert len(results) == len(threads)
    assert all(status == 200 and body.endswith(b"data: [DONE]\n\n") for status, _, body in results)
    assert set(UsageRecord.objects.values_list("request_id", flat=True)) == {rid for _, rid, _ in results}


def test_sigterm_lets_open_streams_finish_and_refuses_new_requests(upstream):
    add_route(upstream, "openai", "chat")
    tenant = make_tenant("acme")
    upstream.set_mode("slow", delay=0.3)  # each stream takes about two seconds
    results: list = []
    # The writer would wait a minute: only the shutdown flush can write the rows.
    with DrainingGateway(env={"LEDGER_FLUSH_INTERVAL": "60", "DRAIN_SECONDS": "10"}) as server:
        threads = open_streams(server, tenant.raw, 3, results)
        server.proc.send_signal(signal.SIGTERM)
        time.sleep(0.2)
        refused = httpx.post(f"{server.url}/v1/chat/completions", json=chat_body("chat"),
                             headers={"X-API-Key": tenant.raw}, timeout=5)
        health = httpx.get(f"{server.url}/health", timeout=5)
        assert server.proc.wait(15) == 0  # after the streams end: the drain waits for them
        assert_finished_and_billed(threads, results)
    assert refused.status_code == 503 and refused.json()["error"]["code"] == "shutting_down"
    assert health.status_code == 503  # load balancers route away


def test_open_streams_past_the_drain_timeout_are_cut_and_still_billed(upstream):
    add_route(upstream, "openai", "chat")
    tenant = make_tenant("acme")
    upstream.set_mode("slow", delay=2.0)  # far longer than the drain allows
    results: list = []
    with DrainingGateway(env={"LEDGER_FLUSH_INTERVAL": "60", "DRAIN_SECONDS": "1"}) as server:
        (thread,) = open_streams(server, tenant.raw, 1, results)
        began = time.monotonic()
        server.proc.send_signal(signal.SIGTERM)
        assert server.proc.wait(15) == 0
        assert time.monotonic() - began < 6
        thread.join(10)
    assert UsageRecord.objects.count() == 1


def test_under_granian_sigterm_refuses_new_connections_and_lets_open_streams_finish(upstream):
    """The README's production server: Granian stops listening (a balancer retries elsewhere), then drains."""
    add_route(upstream, "openai", "chat")
    tenant = make_tenant("acme")
    upstream.set_mode("slow", delay=0.3)
    results: list = []
    with GatewayServer(env={"LEDGER_FLUSH_INTERVAL": "60"}, module="granian") as server:
        threads = open_streams(server, tenant.raw, 3, results)
        server.proc.send_signal(signal.SIGTERM)
        time.sleep(0.2)
        with pytest.raises(httpx.ConnectError):
            httpx.post(f"{server.url}/v1/chat/completions", json=chat_body("chat"), headers={"X-API-Key": tenant.raw},
                       timeout=5)
        assert server.proc.wait(15) == 0  # after the streams end: the drain waits for them
        assert_finished_and_billed(threads, results)
