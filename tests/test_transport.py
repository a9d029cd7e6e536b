"""The seam to providers (providers/http) sends real bytes to a real server, times out, streams incrementally
and closes at once."""
from __future__ import annotations

import asyncio
import gzip
import json
import time

import pytest

from providers import http
from providers.types import Target, UpstreamError, UpstreamRequest
from tests.fakes.upstream import FakeUpstream, closed_port
from tests.test_http1_transport import OK, Server, keep_alive, serve

BODY = json.dumps({"model": "gpt-test", "messages": [{"role": "user", "content": "hi"}]}).encode()
STREAM_BODY = json.dumps({"model": "gpt-test", "messages": [{"role": "user", "content": "hi"}], "stream": True}).encode()
HEADERS = {"Content-Type": "application/json", "Authorization": "Bearer sk-test", "traceparent": "00-abc-def-01"}


@pytest.fixture(autouse=True)
async def _close_clients():
    yield
    await http.close_all()


def target(base_url: str, timeout: float = 5.0, provider: str = "fake", **options) -> Target:
    return Target(provider=provider, kind="openai", base_url=base_url, api_key="sk-test", timeout=timeout,
                  upstream_model="gpt-test", public_model="gpt-test", options=options)


def chat(base_url: str, *, stream: bool = False) -> UpstreamRequest:
    return UpstreamRequest("POST", f"{base_url}/chat/completions", HEADERS, STREAM_BODY if stream else BODY, stream)


async def test_send_returns_status_and_body(upstream):
    base = upstream.base_url("openai")
    status, body = await http.send(target(base), chat(base))
    assert status == 200
    assert json.loads(body)["choices"][0]["message"]["content"] == "Hello from fake-openai"


async def test_send_passes_headers_and_body_as_given(upstream):
    base = upstream.base_url("openai")
    await http.send(target(base), chat(base))
    seen = upstream.last
    assert seen.headers["authorization"] == "Bearer sk-test"
    assert seen.headers["traceparent"] == "00-abc-def-01"
    assert seen.raw == BODY


async def test_default_and_given_headers_reach_the_server_once_in_the_callers_order_and_casing():
    headers = {"Content-Type": "application/json", "Accept": "application/json", "Authorization": "Bearer sk-test",
               "traceparent": "00-abc-def-01"}
    async with Server(serve(OK)) as server:
        assert await http.send(target(server.url), UpstreamRequest("POST", server.url, headers, BODY)) == (
            200, b"hello")
    lines = server.requests[0].split(b"\r\n\r\n", 1)[0].split(b"\r\n")
    given = [f"{name}: {value}".encode() for name, value in headers.items()]
    assert lines[0] == b"POST /v1/chat HTTP/1.1" and lines[1] == b"Host: 127.0.0.1:%d" % server.port
    assert lines[-len(given) - 1:] == [*given, b"Content-Length: %d" % len(BODY)]
    names = [line.split(b":", 1)[0].lower() for line in lines[1:]]
    assert len(names) == len(set(names))  # the caller's Accept replaced the default one
    assert {b"user-agent", b"accept-encoding", b"accept"} <= set(names)
    assert b"User-Agent: ai-gateway" in lines and b"Accept-Encoding: gzip" in lines


@pytest.mark.parametrize("call", [http.send, http.open_stream])
async def test_a_header_with_a_line_break_is_refused_unsent(call):
    async with Server(keep_alive) as server:
        with pytest.raises(UpstreamError) as caught:
            await call(target(server.url), UpstreamRequest("POST", server.url, {"X-A": "1\r\nEvil: yes"}, BODY))
        assert caught.value.kind == "connect" and "LocalProtocolError" in str(caught.value)
        assert server.requests == []


@pytest.mark.parametrize("encoding, wire", [(b"gzip", gzip.compress(BODY)), (b"identity", BODY), (None, BODY)],
                         ids=["gzip", "identity", "none"])
async def test_an_encoded_answer_comes_out_decoded(encoding, wire):
    field = b"Content-Encoding: %s\r\n" % encoding if encoding else b""
    answer = b"HTTP/1.1 200 OK\r\n%sContent-Length: %d\r\n\r\n%s" % (field, len(wire), wire)
    async with Server(serve(answer, answer)) as server:
        for _ in range(2):
            assert await http.send(target(server.url), UpstreamRequest("POST", server.url, {}, b"")) == (200, BODY)
        assert server.connections == 1  # read to its end either way: the connection went back to the pool


async def test_send_returns_a_500_as_status_and_body(upstream):
    upstream.set_mode("500")
    base = upstream.base_url("openai")
    status, body = await http.send(target(base), chat(base))
    assert status == 500
    assert json.loads(body)["error"]["type"] == "server_error"


async def test_send_times_out_within_the_target_timeout(upstream):
    upstream.set_mode("hang")
    base = upstream.base_url("openai")
    started = time.monotonic()
    with pytest.raises(UpstreamError) as caught:
        await http.send(target(base, timeout=0.3), chat(base))
    assert time.monotonic() - started < 1.0
    assert (caught.value.kind, caught.value.retryable) == ("timeout", True)
    assert await asyncio.to_thread(upstream.wait_disconnect, 2)


async def test_send_to_a_closed_port_is_a_connect_error():
    base = f"http://127.0.0.1:{closed_port()}/v1"
    with pytest.raises(UpstreamError) as caught:
        await http.send(target(base), chat(base))
    assert (caught.value.kind, caught.value.retryable) == ("connect", True)


async def test_send_with_a_cut_body_is_a_connect_error(upstream):
    upstream.set_mode("cut")
    base = upstream.base_url("openai")
    with pytest.raises(UpstreamError) as caught:
        await http.send(target(base), chat(base))
    assert caught.value.kind == "connect"


async def test_stream_events_arrive_before_the_stream_ends(upstream):
    upstream.set_mode("slow", delay=0.3)
    base = upstream.base_url("openai")
    stream = await http.open_stream(target(base), chat(base, stream=True))
    try:
        assert stream.status == 200
        events = stream.events()
        started = time.monotonic()
        first = await events.__anext__()
        assert time.monotonic() - started < 0.3
        assert json.loads(first.data)["object"] == "chat.completion.chunk"
        assert not upstream.stream_done.is_set()
        rest = [event async for event in events]
        assert rest[-1].data == "[DONE]"
        assert upstream.stream_done.wait(2)  # set by the server thread just after it writes the last chunk
    finally:
        await stream.aclose()


async def test_stream_keeps_anthropic_event_names(upstream):
    url = f"{upstream.url}/v1/messages"
    body = json.dumps({"model": "claude", "max_tokens": 10, "messages": [], "stream": True}).encode()
    request = UpstreamRequest("POST", url, {"anthropic-version": "2023-06-01"}, body, True)
    stream = await http.open_stream(target(upstream.url), request)
    names = [event.event async for event in stream.events()]
    assert names[0] == "message_start" and names[-1] == "message_stop"


async def test_a_cut_stream_raises_a_stream_error(upstream):
    upstream.set_mode("cut")
    base = upstream.base_url("openai")
    stream = await http.open_stream(target(base), chat(base, stream=True))
    received = []
    with pytest.raises(UpstreamError) as caught:
        async for event in stream.events():
            received.append(event)
    assert (caught.value.kind, caught.value.retryable) == ("stream", False)
    assert received and received[-1].data != "[DONE]"
    await stream.aclose()


async def test_a_stalled_stream_raises_a_timeout(upstream):
    upstream.set_mode("slow", delay=2.0)
    base = upstream.base_url("openai")
    stream = await http.open_stream(target(base, timeout=0.3), chat(base, stream=True))
    started = time.monotonic()
    with pytest.raises(UpstreamError) as caught:
        async for _ in stream.events():
            pass
    assert caught.value.kind == "timeout"
    assert time.monotonic() - started < 1.5
    await stream.aclose()


async def test_aclose_mid_stream_is_seen_by_the_server(upstream):
    upstream.set_mode("slow", delay=0.2)
    base = upstream.base_url("openai")
    stream = await http.open_stream(target(base), chat(base, stream=True))
    await stream.events().__anext__()
    await stream.aclose()
    await stream.aclose()
    assert await asyncio.to_thread(upstream.wait_disconnect, 2)
    assert not upstream.stream_done.is_set()


async def test_an_error_status_stream_reads_its_body(upstream):
    upstream.set_mode("429")
    base = upstream.base_url("openai")
    stream = await http.open_stream(target(base), chat(base, stream=True))
    assert stream.status == 429
    assert json.loads(await stream.read_body())["error"]["code"] == "rate_limit_exceeded"
    await stream.aclose()


async def test_open_stream_to_a_closed_port_is_a_connect_error():
    base = f"http://127.0.0.1:{closed_port()}/v1"
    with pytest.raises(UpstreamError) as caught:
        await http.open_stream(target(base), chat(base, stream=True))
    assert caught.value.kind == "connect"


async def test_open_stream_that_never_answers_times_out(upstream):
    upstream.set_mode("hang")
    base = upstream.base_url("openai")
    with pytest.raises(UpstreamError) as caught:
        await http.open_stream(target(base, timeout=0.3), chat(base, stream=True))
    assert caught.value.kind == "timeout"


async def test_one_pooled_connection_is_reused_across_calls(upstream):
    base = upstream.base_url("openai")
    await http.send(target(base), chat(base))
    stream = await http.open_stream(target(base), chat(base, stream=True))
    [event async for event in stream.events()]
    await http.send(target(base), chat(base))
    assert len({r.peer_port for r in upstream.requests}) == 1  # one kept-alive connection served all three
    await http.send(target(base, provider="other"), chat(base))
    assert len({r.peer_port for r in upstream.requests}) == 2  # another provider: a pool of its own


async def test_close_all_closes_the_pooled_connections():
    async with Server(keep_alive) as server:
        assert await http.send(target(server.url), UpstreamRequest("POST", server.url, {}, BODY)) == (200, b"hello")
        await http.close_all()
        await asyncio.wait_for(server.eof.wait(), 2.0)  # the kept-alive connection was closed, not left open
        assert await http.send(target(server.url), UpstreamRequest("POST", server.url, {}, BODY)) == (200, b"hello")
        assert server.connections == 2


async def test_the_mock_provider_needs_no_network():
    pytest.importorskip("providers.adapters.mock")
    request = UpstreamRequest("POST", "mock://local/chat/completions", {}, BODY, False)
    status, body = await http.send(target("", provider="mock"), request)
    assert status == 200
    assert json.loads(body)["object"] == "chat.completion"


async def test_the_mock_stream_is_paced_by_delay_ms():
    pytest.importorskip("providers.adapters.mock")
    request = UpstreamRequest("POST", "mock://local/chat/completions", {}, STREAM_BODY, True)
    stream = await http.open_stream(target("", provider="mock", delay_ms=20), request)
    started = time.monotonic()
    events = [event async for event in stream.events()]
    assert stream.status == 200
    assert events[-1].data == "[DONE]"
    assert time.monotonic() - started >= 0.02 * (len(events) - 1) * 0.9
    await stream.aclose()


async def test_provider_calls_honour_the_proxy_environment(upstream, monkeypatch):
    proxy = FakeUpstream().start()  # a forward proxy's view: it receives the absolute-form request
    try:
        monkeypatch.setenv("HTTP_PROXY", proxy.url)
        monkeypatch.delenv("NO_PROXY", raising=False)
        monkeypatch.delenv("no_proxy", raising=False)
        status, _ = await http.send(target(upstream.base_url("openai")), chat(upstream.base_url("openai")))
        assert status == 200
        assert proxy.calls == 1 and upstream.calls == 0
        assert proxy.last.raw == BODY and proxy.last.headers["authorization"] == "Bearer sk-test"
    finally:
        proxy.stop()


async def test_no_proxy_sends_a_host_straight_to_it(upstream, monkeypatch):
    proxy = FakeUpstream().start()
    try:
        monkeypatch.setenv("HTTP_PROXY", proxy.url)
        monkeypatch.setenv("NO_PROXY", "127.0.0.1")
        status, _ = await http.send(target(upstream.base_url("openai")), chat(upstream.base_url("openai")))
        assert status == 200
        assert proxy.calls == 0 and upstream.calls == 1
    finally:
        proxy.stop()


def test_the_served_application_does_not_load_aiohttp_without_a_proxy():
    # aiohttp (~12 MB a process) serves only proxied calls, and is imported on the first of them.
    import subprocess
    import sys

    from tests.live import ROOT

    code = "import sys, gateway_project.asgi; print('aiohttp' in sys.modules)"
    env = {"DJANGO_SETTINGS_MODULE": "gateway_project.settings", "DJANGO_SECRET_KEY": "x" * 50, "PATH": ""}
    done = subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "False"
