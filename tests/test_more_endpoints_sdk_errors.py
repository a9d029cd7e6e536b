"""Errors on /v1/messages come in Anthropic's shape and status, so the `anthropic` SDK raises its typed
exceptions; errors on /v1/responses come in OpenAI's, for the `openai` SDK. Bearer and x-api-key both work."""
import anthropic
import openai
import pytest

from .conftest import add_route, make_tenant

pytestmark = pytest.mark.django_db(transaction=True)

HELLO = [{"role": "user", "content": "hi"}]


def shape(err: anthropic.APIStatusError) -> tuple[str, str]:
    assert err.body["type"] == "error" and err.body["error"]["message"]
    return err.status_code, err.body["error"]["type"]


def test_the_anthropic_sdk_raises_its_typed_errors(gateway, upstream):
    add_route(upstream, "openai", "chat")
    acme = make_tenant("acme", rpm_limit=2)
    wrong = anthropic.Anthropic(base_url=gateway.url, api_key="gw-wrong-key", max_retries=0)
    with pytest.raises(anthropic.AuthenticationError) as refused:
        wrong.messages.create(model="chat", max_tokens=10, messages=HELLO)
    assert shape(refused.value) == (401, "authentication_error")

    bearer = anthropic.Anthropic(base_url=gateway.url, auth_token=acme.raw, max_retries=0)  # Authorization: Bearer
    assert bearer.messages.create(model="chat", max_tokens=10, messages=HELLO).content[0].text

    client = anthropic.Anthropic(base_url=gateway.url, api_key=acme.raw, max_retries=0)
    with pytest.raises(anthropic.BadRequestError) as bad:
        client.messages.create(model="chat", max_tokens=0, messages=HELLO)
    assert shape(bad.value) == (400, "invalid_request_error") and "max_tokens" in bad.value.body["error"]["message"]

    client.messages.create(model="chat", max_tokens=10, messages=HELLO)  # the second admitted this minute
    with pytest.raises(anthropic.RateLimitError) as limited:  # the third
        client.messages.create(model="chat", max_tokens=10, messages=HELLO)
    assert shape(limited.value) == (429, "rate_limit_error")
    assert limited.value.response.headers["retry-after"]


def test_a_failing_provider_is_an_internal_server_error_whole_or_streamed(gateway, upstream):
    add_route(upstream, "anthropic", "chat")
    upstream.set_mode("500")
    client = anthropic.Anthropic(base_url=gateway.url, api_key=make_tenant("acme").raw, max_retries=0)
    with pytest.raises(anthropic.InternalServerError) as failed:
        client.messages.create(model="chat", max_tokens=10, messages=HELLO)
    assert shape(failed.value) == (502, "api_error")
    with pytest.raises(anthropic.InternalServerError):
        with client.messages.stream(model="chat", max_tokens=10, messages=HELLO) as stream:
            list(stream)
    with pytest.raises(anthropic.NotFoundError) as missing:
        client.messages.create(model="no-such-model", max_tokens=10, messages=HELLO)
    assert shape(missing.value) == (404, "not_found_error")


def test_a_stream_cut_by_the_provider_ends_with_an_error_event(gateway, upstream):
    add_route(upstream, "openai", "chat")
    upstream.set_mode("error_event")
    client = anthropic.Anthropic(base_url=gateway.url, api_key=make_tenant("acme").raw, max_retries=0)
    with pytest.raises(anthropic.APIStatusError) as failed:
        with client.messages.stream(model="chat", max_tokens=10, messages=HELLO) as stream:
            list(stream)
    assert failed.value.body["error"]["type"] == "api_error"


def test_the_openai_sdk_gets_its_errors_from_responses(gateway, upstream):
    add_route(upstream, "openai", "chat")
    acme = make_tenant("acme")
    client = openai.OpenAI(base_url=f"{gateway.url}/v1", api_key=acme.raw, max_retries=0)
    with pytest.raises(openai.BadRequestError) as stateful:
        client.responses.create(model="chat", input="and then?", previous_response_id="resp_123")
    error = stateful.value.body
    assert error["param"] == "previous_response_id" and "keeps no responses" in error["message"]
    assert "whole conversation" in error["message"]
    assert upstream.calls == 0

    wrong = openai.OpenAI(base_url=f"{gateway.url}/v1", api_key="gw-wrong", max_retries=0)
    with pytest.raises(openai.AuthenticationError):
        wrong.responses.create(model="chat", input="hi")
    upstream.set_mode("500")
    with pytest.raises(openai.InternalServerError) as failed:
        client.responses.create(model="chat", input="hi")
    assert failed.value.status_code == 502 and failed.value.body["type"] == "upstream_error"
