"""Any JSON into request validation gives a ChatRequest or a clean 400, never another exception."""
import json

import orjson
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from completions.validation import parse_chat_request, parse_json
from infra.errors import GatewayError
from providers.types import ChatRequest

FAST = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])

scalars = st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=20)
json_values = st.recursive(
    scalars, lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=10), inner, max_size=4),
    max_leaves=20,
)
ROLES = st.sampled_from(["system", "developer", "user", "assistant", "tool", "function", "robot", ""])
messages = st.lists(
    st.fixed_dictionaries({"role": ROLES}, optional={
        "content": json_values, "name": json_values, "tool_calls": json_values, "tool_call_id": json_values,
    }) | json_values,
    max_size=3,
)
FIELDS = ["stream", "stream_options", "temperature", "top_p", "max_tokens", "max_completion_tokens", "stop", "n",
          "seed", "tools", "tool_choice", "response_format", "user"]
near_valid = st.fixed_dictionaries(
    {"model": st.text(max_size=8) | json_values, "messages": messages},
    optional={name: json_values for name in FIELDS},
)


def outcome(body: bytes) -> ChatRequest | GatewayError:
    try:
        return parse_chat_request(parse_json(body))
    except GatewayError as err:
        return err


def assert_clean(result) -> None:
    if isinstance(result, GatewayError):
        assert result.status == 400 and result.type == "invalid_request_error"
        assert orjson.loads(orjson.dumps(result.payload()))["error"]["message"]
    else:
        assert isinstance(result, ChatRequest) and result.messages


@FAST
@given(json_values)
def test_any_json_value_is_a_request_or_a_400(value):
    assert_clean(outcome(json.dumps(value).encode()))


@FAST
@given(near_valid)
def test_any_near_valid_body_is_a_request_or_a_400(value):
    assert_clean(outcome(json.dumps(value).encode()))


@FAST
@given(st.binary(max_size=200))
def test_any_bytes_are_a_request_or_a_400(raw):
    assert_clean(outcome(raw))


@pytest.mark.parametrize("body", [
    b"[" * 100_000 + b"]" * 100_000,  # deeper than any parser should follow
    b'{"a":' * 50_000 + b"1" + b"}" * 50_000,
    b'{"model": "m", "messages": [{"role": "user", "content": "\xff\xfe"}]}',  # invalid UTF-8
    b'{"model": "m", "messages": [{"role": "user", "content": "\\ud800"}]}',  # a lone surrogate
    b'{"model": "m", "max_tokens": 1' + b"0" * 400 + b', "messages": [{"role": "user", "content": "x"}]}',
    b'{"model": "m", "temperature": 1e400, "messages": [{"role": "user", "content": "x"}]}',
    b'{"model": "m", "seed": 99999999999999999999999, "messages": [{"role": "user", "content": "x"}]}',
    b'{"model": "m", "temperature": NaN, "messages": [{"role": "user", "content": "x"}]}',
    b"\x00\x00\x00",
])
def test_hostile_bodies_are_a_clean_400(body):
    result = outcome(body)
    assert isinstance(result, GatewayError) and result.status == 400
