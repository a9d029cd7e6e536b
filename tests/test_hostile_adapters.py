"""Provider translations under hostile input: any valid request builds a JSON call or a clean 400; any
upstream bytes parse to an answer or an UpstreamError, never another exception."""
import json

import orjson
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from completions.validation import parse_chat_request
from infra.errors import GatewayError
from providers import adapters
from providers.types import ChatResponse, SSEEvent, Target, UpstreamError

from .test_hostile_validation import json_values, near_valid

KINDS = ["openai", "azure", "anthropic", "ollama", "mock"]
PARSERS = ["openai", "azure", "anthropic", "ollama"]
FAST = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def target(kind: str) -> Target:
    return Target(provider=f"{kind}-main", kind=kind, base_url="http://127.0.0.1:9/v1", api_key="sk-secret-xyz",
                  timeout=5.0, upstream_model="up-model", public_model="model",
                  options={"api_version": "2024-10-21"} if kind == "azure" else {})


def parsed(value: dict):
    try:
        return parse_chat_request(orjson.loads(json.dumps(value)))
    except (GatewayError, orjson.JSONDecodeError):
        return None


@pytest.mark.parametrize("kind", KINDS)
@FAST
@given(value=near_valid)
def test_every_valid_request_builds_a_json_call_or_a_clean_refusal(kind, value):
    req = parsed(value)
    if req is None:
        return
    try:
        call = adapters.get(kind).build_request(req, target(kind), stream=req.stream)
    except UpstreamError as err:
        assert err.status == 400 and not err.retryable
        return
    except GatewayError as err:
        assert err.status == 400
        return
    assert isinstance(orjson.loads(call.body), dict)
    assert call.url.startswith("http://127.0.0.1:9")


@pytest.mark.parametrize("kind", PARSERS)
@FAST
@given(status=st.sampled_from([200, 400, 429, 500, 503]), body=json_values | st.binary(max_size=100))
def test_any_upstream_body_parses_to_an_answer_or_an_upstream_error(kind, status, body):
    raw = body if isinstance(body, bytes) else json.dumps(body).encode()
    try:
        answer = adapters.get(kind).parse_response(status, raw, target(kind))
    except UpstreamError as err:
        assert "sk-secret-xyz" not in err.message
        return
    assert isinstance(answer, ChatResponse)


@pytest.mark.parametrize("kind", PARSERS)
@FAST
@given(events=st.lists(st.tuples(st.none() | st.sampled_from(["error", "message_start", "content_block_delta",
                                                               "message_delta", "message_stop", "ping"]),
                                  st.text(max_size=30) | json_values.map(json.dumps)), max_size=6))
def test_any_upstream_events_parse_to_chunks_or_an_upstream_error(kind, events):
    parser = adapters.get(kind).StreamParser(target(kind))
    try:
        for event, data in events:
            assert isinstance(parser.feed(SSEEvent(data=data, event=event)), list)
    except UpstreamError:
        pass
