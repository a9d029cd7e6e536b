"""A rolling restart of three replicas behind HAProxy, under load: no client sees a failure, and the ledger
holds each answered request exactly once.

README "Replicas behind a load balancer": one replica at a time, drain it in HAProxy, SIGTERM it (it
finishes what it has open), start it again, make it ready, wait until HAProxy has it UP, next. Clients keep sending requests and streams through
HAProxy the whole time, and a stream is open on each replica when it is told to stop. The recording
function runs in other processes, so the proof is the request ids: every x-request-id a client got is
one ledger row, and the ledger has no other row and no row twice.
"""
from __future__ import annotations

import threading
from dataclasses import dataclass, field

import httpx
import pytest

from usage.models import UsageRecord

from .conftest import add_route, chat_body, make_tenant

pytestmark = pytest.mark.django_db(transaction=True)

CLIENTS = 3  # threads sending requests in a loop (every third one streamed) through HAProxy
DONE = b"data: [DONE]\n\n"


@dataclass
class Outcomes:
    """What the clients saw: answered request ids and anything that was not a complete 200."""

    lock: threading.Lock = field(default_factory=threading.Lock)
    answered: list[str] = field(default_factory=list)
    kinds: dict[str, str] = field(default_factory=dict)  # request id: "request", "stream" or "long stream"
    failures: list[str] = field(default_factory=list)
    streams: list[tuple[str, str]] = field(default_factory=list)  # (replica, request id) of the long streams

    def ok(self, request_id: str, kind: str) -> None:
        with self.lock:
            self.answered.append(request_id)
            self.kinds[request_id] = kind

    def fail(self, what: str) -> None:
        with self.lock:
            self.failures.append(what)


def send_forever(url: str, key: str, stop: threading.Event, out: Outcomes) -> None:
    with httpx.Client(base_url=url, headers={"X-API-Key": key}, timeout=60) as client:
        i = 0
        while not stop.is_set():
            i += 1
            stream = i % 3 == 0
            try:
                with client.stream("POST", "/v1/chat/completions",
                                   json=chat_body(text=f"load {i}", stream=stream)) as response:
                    body = response.read()
                if response.status_code != 200 or (stream and not body.endswith(DONE)):
                    out.fail(f"{response.status_code} {body[-200:]!r}")
                else:
                    out.ok(response.headers["x-request-id"], "stream" if stream else "request")
            except httpx.HTTPError as exc:
                out.fail(repr(exc))


def long_stream(url: str, key: str, opened: threading.Event, seen: list, out: Outcomes) -> None:
    """A slow stream (a few seconds) read to its end; `seen` gets the replica that answers it."""
    try:
        with httpx.Client(timeout=60) as client, client.stream(
            "POST", f"{url}/v1/chat/completions", json=chat_body("slow-chat", stream=True), headers={"X-API-Key": key},
        ) as response:
            seen.append(response.headers.get("x-gateway-replica"))
            opened.set()
            body = response.read()
        if response.status_code != 200 or not body.endswith(DONE):
            out.fail(f"long stream: {response.status_code} {body[-200:]!r}")
        else:
            out.ok(response.headers["x-request-id"], "long stream")
            with out.lock:
                out.streams.append((seen[0], response.headers["x-request-id"]))
    except httpx.HTTPError as exc:
        out.fail(f"long stream: {exc!r}")
    finally:
        opened.set()


def open_stream_on(replica: str, url: str, key: str, out: Outcomes, threads: list) -> None:
    """Open long streams through HAProxy until one is answered by `replica` (the others stay open too)."""
    for _ in range(12):
        opened, seen = threading.Event(), []
        thread = threading.Thread(target=long_stream, args=(url, key, opened, seen, out))
        thread.start()
        threads.append(thread)
        assert opened.wait(30), "a long stream did not open"
        if seen and seen[0] == replica:
            return
    raise AssertionError(f"no long stream landed on {replica}")


def test_rolling_restart_under_load_fails_no_request_and_records_each_exactly_once(upstream, mock_provider,
                                                                                    start_fleet):
    add_route(upstream, "openai", "slow-chat")
    upstream.set_mode("slow", model="openai-model", delay=0.5)  # a long stream lasts about three seconds
    tenant = make_tenant("acme")
    fleet = start_fleet()
    out, stop = Outcomes(), threading.Event()
    clients = [threading.Thread(target=send_forever, args=(fleet.url, tenant.raw, stop, out)) for _ in range(CLIENTS)]
    streams: list[threading.Thread] = []
    exit_codes, answered_during = [], []
    try:
        for thread in clients:
            thread.start()
        for name in fleet.replicas:
            before = len(out.answered)
            open_stream_on(name, fleet.url, tenant.raw, out, streams)
            exit_codes.append(fleet.restart(name))  # drain in HAProxy, SIGTERM, start, ready, wait until UP
            answered_during.append(len(out.answered) - before)
    finally:
        stop.set()
        for thread in clients + streams:
            thread.join(60)
    codes = fleet.stop()  # the last replicas write what they have queued
    sent = len(out.answered) + len(out.failures)
    ledger = list(UsageRecord.objects.values_list("request_id", flat=True))
    print(f"\nrolling restart: {sent} requests sent ({len(out.streams)} long streams), {len(out.failures)} failed, "
          f"{len(ledger)} ledger rows, {len(set(ledger))} distinct, answered per restart step {answered_during}")

    assert out.failures == [], out.failures[:5]
    assert exit_codes == [0, 0, 0] and all(code == 0 for code in codes.values()), (exit_codes, codes)
    assert all(count > 0 for count in answered_during)  # the load ran through every step
    assert {replica for replica, _ in out.streams} == set(fleet.replicas)  # a stream finished on each one stopped
    assert len(out.answered) == len(set(out.answered)) == sent
    assert len(ledger) == len(set(ledger))  # nothing recorded twice
    lost = {request_id: out.kinds[request_id] for request_id in set(out.answered) - set(ledger)}
    assert not lost  # nothing lost
    assert set(ledger) <= set(out.answered)  # nothing extra
