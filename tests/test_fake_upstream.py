"""The upstream provider speaks each wire format for real and fails on demand."""
from __future__ import annotations

import json
import time

import httpx
import pytest

from tests.fakes.upstream import FakeUpstream, closed_port

MESSAGES = [{"role": "user", "content": "hi"}]
ANTHROPIC_HEADERS = {"anthropic-version": "2023-06-01", "x-api-key": "sk-ant-test"}


@pytest.fixture
def http():
    with httpx.Client(timeout=5) as client:
        yield client


def openai_body(**fields) -> dict:
    return {"model": "gpt-test", "messages": MESSAGES, **fields}


def anthropic_body(**fields) -> dict:
    return {"model": "claude-test", "max_tokens": 100, "messages": MESSAGES, **fields}


def data_lines(text: str) -> list[str]:
    return [line[len("data: "):] for line in text.split("\n") if line.startswith("data: ")]


def test_it_answers_openai_chat_completions_and_records_the_request(upstream, http):
    r = http.post(f"{upstream.url}/v1/chat/completions", json=openai_body(), headers={"Authorization": "Bearer sk-x"})
    assert r.status_code == 200
    data = r.json()
    assert data["object"] == "chat.completion"
    assert data["choices"][0]["message"]["content"] == "Hello from fake-openai"
    assert data["usage"] == {
        "prompt_tokens": 12, "completion_tokens": 7, "total_tokens": 19,
        "prompt_tokens_details": {"cached_tokens": 0, "audio_tokens": 0},
        "completion_tokens_details": {"reasoning_tokens": 0, "audio_tokens": 0, "accepted_prediction_tokens": 0,
                                      "rejected_prediction_tokens": 0},
    }
    seen = upstream.last
    assert (seen.method, seen.path) == ("POST", "/v1/chat/completions")
    assert seen.headers["authorization"] == "Bearer sk-x"
    assert seen.body == openai_body()
    assert upstream.calls == 1


def test_it_answers_under_a_base_path_prefix(upstream, http):
    r = http.post(f"{upstream.base_url('openai', '/primary')}/chat/completions", json=openai_body())
    assert r.status_code == 200
    assert upstream.last.path == "/primary/v1/chat/completions"


def test_it_streams_openai_chunks_ending_with_done(upstream, http):
    r = http.post(f"{upstream.url}/v1/chat/completions", json=openai_body(stream=True))
    assert r.headers["content-type"].startswith("text/event-stream")
    payloads = data_lines(r.text)
    assert payloads[-1] == "[DONE]"
    chunks = [json.loads(p) for p in payloads[:-1]]
    assert "".join(c["choices"][0]["delta"].get("content") or "" for c in chunks) == "Hello from fake-openai"
    assert len(chunks) >= 4
    assert all("usage" not in c for c in chunks)


def test_it_sends_a_usage_chunk_when_asked(upstream, http):
    body = openai_body(stream=True, stream_options={"include_usage": True})
    chunks = [json.loads(p) for p in data_lines(http.post(f"{upstream.url}/v1/chat/completions", json=body).text)[:-1]]
    assert chunks[-1]["choices"] == []
    assert chunks[-1]["usage"]["completion_tokens"] == 7


def test_it_answers_azure_deployments_and_checks_the_key(http):
    with FakeUpstream(api_key="az-key") as upstream:
        url = f"{upstream.url}/openai/deployments/gpt4o/chat/completions?api-version=2024-10-21"
        assert http.post(url, json={"messages": MESSAGES}, headers={"api-key": "wrong"}).status_code == 401
        r = http.post(url, json={"messages": MESSAGES}, headers={"api-key": "az-key"})
        assert r.status_code == 200
        assert r.json()["model"] == "gpt4o"
        assert upstream.last.query == {"api-version": "2024-10-21"}
        no_version = http.post(url.split("?")[0], json={"messages": MESSAGES}, headers={"api-key": "az-key"})
        assert no_version.status_code == 404


def test_azure_streams_lead_with_a_prompt_filter_chunk(upstream, http):
    url = f"{upstream.url}/openai/deployments/gpt4o/chat/completions?api-version=2024-10-21"
    payloads = data_lines(http.post(url, json={"messages": MESSAGES, "stream": True}).text)
    assert json.loads(payloads[0])["prompt_filter_results"]
    assert payloads[-1] == "[DONE]"


def test_it_answers_anthropic_messages_with_usage(http):
    with FakeUpstream(api_key="sk-ant-test") as upstream:
        r = http.post(f"{upstream.url}/v1/messages", json=anthropic_body(), headers=ANTHROPIC_HEADERS)
        assert r.status_code == 200
        data = r.json()
        assert data["type"] == "message"
        assert data["content"] == [{"type": "text", "text": "Hello from fake-anthropic"}]
        assert data["stop_reason"] == "end_turn"
        assert data["usage"] == {"input_tokens": 12, "cache_creation_input_tokens": 0, "cache_read_input_tokens": 0,
                                 "output_tokens": 7}


def test_anthropic_checks_version_and_key(http):
    with FakeUpstream(api_key="sk-ant-test") as upstream:
        no_version = http.post(f"{upstream.url}/v1/messages", json=anthropic_body(), headers={"x-api-key": "sk-ant-test"})
        assert no_version.status_code == 400
        assert no_version.json()["type"] == "error"
        wrong = http.post(f"{upstream.url}/v1/messages", json=anthropic_body(),
                          headers={"anthropic-version": "2023-06-01", "x-api-key": "nope"})
        assert wrong.status_code == 401
        assert wrong.json()["error"]["type"] == "authentication_error"


def test_it_streams_the_anthropic_event_sequence(upstream, http):
    r = http.post(f"{upstream.url}/v1/messages", json=anthropic_body(stream=True), headers=ANTHROPIC_HEADERS)
    names = [line[len("event: "):] for line in r.text.split("\n") if line.startswith("event: ")]
    assert names == ["message_start", "content_block_start", "ping", "content_block_delta", "content_block_delta",
                     "content_block_delta", "content_block_stop", "message_delta", "message_stop"]
    events = [json.loads(p) for p in data_lines(r.text)]
    assert events[0]["message"]["usage"]["input_tokens"] == 12
    assert events[-2]["usage"] == {"output_tokens": 7}


@pytest.mark.parametrize("status", [500, 429, 400])
def test_it_fails_with_the_providers_error_shape(upstream, http, status):
    upstream.set_mode(str(status))
    openai = http.post(f"{upstream.url}/v1/chat/completions", json=openai_body())
    assert openai.status_code == status
    assert openai.json()["error"]["message"]
    anthropic = http.post(f"{upstream.url}/v1/messages", json=anthropic_body(), headers=ANTHROPIC_HEADERS)
    assert anthropic.status_code == status
    assert anthropic.json()["type"] == "error"


def test_429_carries_retry_after(upstream, http):
    upstream.set_mode("429")
    upstream.retry_after = 7
    r = http.post(f"{upstream.url}/v1/chat/completions", json=openai_body())
    assert r.headers["retry-after"] == "7"
    assert r.json()["error"]["code"] == "rate_limit_exceeded"


def test_400_is_a_caller_fault_in_provider_format(upstream, http):
    upstream.set_mode("400")
    r = http.post(f"{upstream.url}/v1/chat/completions", json=openai_body())
    assert r.json()["error"]["type"] == "invalid_request_error"


def test_it_hangs_until_the_client_gives_up(upstream, http):
    upstream.set_mode("hang")
    started = time.monotonic()
    with pytest.raises(httpx.ReadTimeout):
        http.post(f"{upstream.url}/v1/chat/completions", json=openai_body(), timeout=0.3)
    assert time.monotonic() - started < 1
    assert upstream.wait_disconnect(2)


def test_it_sends_garbage_with_status_200(upstream, http):
    upstream.set_mode("garbage")
    r = http.post(f"{upstream.url}/v1/chat/completions", json=openai_body())
    assert r.status_code == 200
    with pytest.raises(ValueError):
        r.json()


def test_a_cut_stream_ends_without_done(upstream, http):
    upstream.set_mode("cut")
    received = b""
    with pytest.raises(httpx.RemoteProtocolError):
        with http.stream("POST", f"{upstream.url}/v1/chat/completions", json=openai_body(stream=True)) as r:
            for piece in r.iter_bytes():
                received += piece
    assert b"Hello" in received
    assert b"[DONE]" not in received


def test_a_cut_answer_is_an_incomplete_body(upstream, http):
    upstream.set_mode("cut")
    with pytest.raises(httpx.RemoteProtocolError):
        http.post(f"{upstream.url}/v1/chat/completions", json=openai_body())


def test_a_slow_stream_paces_its_chunks(upstream, http):
    upstream.set_mode("slow", delay=0.1)
    started = time.monotonic()
    payloads = data_lines(http.post(f"{upstream.url}/v1/chat/completions", json=openai_body(stream=True)).text)
    assert time.monotonic() - started >= 0.1 * (len(payloads) - 1)
    assert payloads[-1] == "[DONE]"
    assert upstream.stream_done.wait(2)  # set just after the last chunk is written


def test_an_error_event_arrives_mid_stream(upstream, http):
    upstream.set_mode("error_event")
    payloads = data_lines(http.post(f"{upstream.url}/v1/chat/completions", json=openai_body(stream=True)).text)
    assert "Hello" in payloads[-2]
    assert json.loads(payloads[-1])["error"]["type"] == "server_error"
    r = http.post(f"{upstream.url}/v1/messages", json=anthropic_body(stream=True), headers=ANTHROPIC_HEADERS)
    assert "event: error" in r.text
    assert "message_stop" not in r.text


def test_modes_apply_per_model_per_path_and_from_a_queue(upstream, http):
    upstream.set_mode("500", model="broken-model")
    upstream.set_mode("429", path="/backup")
    chat = f"{upstream.url}/v1/chat/completions"
    assert http.post(chat, json=openai_body(model="broken-model")).status_code == 500
    assert http.post(chat, json=openai_body()).status_code == 200
    assert http.post(f"{upstream.url}/backup/v1/chat/completions", json=openai_body()).status_code == 429
    upstream.queue_modes("400", "500")
    assert [http.post(chat, json=openai_body()).status_code for _ in range(3)] == [400, 500, 200]


def test_it_refuses_unknown_modes(upstream):
    with pytest.raises(ValueError):
        upstream.set_mode("explode")


def test_it_sees_a_client_leave_a_slow_stream(upstream, http):
    upstream.set_mode("slow", delay=0.2)
    with http.stream("POST", f"{upstream.url}/v1/chat/completions", json=openai_body(stream=True)) as r:
        next(r.iter_bytes())
    assert upstream.wait_disconnect(2)
    assert upstream.disconnects == 1
    assert not upstream.stream_done.is_set()


def test_it_keeps_connections_alive(upstream, http):
    http.post(f"{upstream.url}/v1/chat/completions", json=openai_body())
    http.post(f"{upstream.url}/v1/chat/completions", json=openai_body(stream=True))
    http.post(f"{upstream.url}/v1/chat/completions", json=openai_body())
    assert len({r.peer_port for r in upstream.requests}) == 1


def test_stop_drops_kept_alive_connections(http):
    upstream = FakeUpstream().start()
    url = f"{upstream.url}/v1/chat/completions"
    assert http.post(url, json=openai_body()).status_code == 200
    upstream.stop()
    with pytest.raises(httpx.TransportError):
        http.post(url, json=openai_body())


def test_closed_port_refuses_connections(http):
    with pytest.raises(httpx.ConnectError):
        http.post(f"http://127.0.0.1:{closed_port()}/v1/chat/completions", json=openai_body())
