"""Without an OTLP endpoint nothing is traced, and the caller's traceparent goes upstream unchanged."""
import pytest
from asgiref.sync import sync_to_async

from infra import telemetry

from .conftest import add_route, chat_body, post_chat

pytestmark = pytest.mark.django_db(transaction=True)

TRACEPARENT = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"


def test_setup_installs_nothing_without_an_endpoint(monkeypatch):
    monkeypatch.delenv("OTEL_EXPORTER_OTLP_ENDPOINT", raising=False)
    monkeypatch.delenv("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", raising=False)
    telemetry.setup()
    assert not telemetry.enabled()
    assert not telemetry.tracer().start_span("probe").is_recording()


async def test_the_provider_gets_the_callers_traceparent_verbatim(async_client, acme, upstream):
    await sync_to_async(add_route)(upstream, "openai", "chat")
    response = await post_chat(async_client, acme, chat_body("chat"), headers={"traceparent": TRACEPARENT})
    assert response.status_code == 200
    assert upstream.last.headers["traceparent"] == TRACEPARENT


async def test_no_traceparent_is_invented_when_the_caller_sent_none(async_client, acme, upstream):
    await sync_to_async(add_route)(upstream, "openai", "chat")
    await post_chat(async_client, acme, chat_body("chat"))
    assert "traceparent" not in upstream.last.headers
