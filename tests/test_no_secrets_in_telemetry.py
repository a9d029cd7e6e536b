"""No API key, provider secret or prompt text reaches metrics, spans or the request log."""
import json
import logging

import pytest
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from providers.models import Provider

from .conftest import add_route, chat_body, post_chat
from .fakes.upstream import FakeUpstream

pytestmark = pytest.mark.django_db(transaction=True)

UPSTREAM_SECRET = "sk-upstream-secret-0123456789abcdef"
PROMPT = "the launch code is swordfish-7731"


@pytest.fixture
def log_text():
    kept: list[str] = []

    class Keep(logging.Handler):
        def emit(self, record):
            kept.append(record.getMessage())

    logger, handler = logging.getLogger("gateway.requests"), Keep()
    logger.addHandler(handler)
    yield kept
    logger.removeHandler(handler)


@pytest.fixture
def guarded(monkeypatch):
    """A provider that wants a secret key, read from the environment as in production."""
    monkeypatch.setenv("GW_TEST_UPSTREAM_API_KEY", UPSTREAM_SECRET)
    with FakeUpstream(api_key=UPSTREAM_SECRET) as fake:
        add_route(fake, "openai", "chat", name="guarded")
        Provider.objects.filter(name="guarded").update(api_key_env="GW_TEST_UPSTREAM_API_KEY")
        yield fake


def spans_text(exporter: InMemorySpanExporter) -> str:
    return "\n".join(span.to_json() for span in exporter.get_finished_spans())


async def test_secrets_and_prompts_stay_out_of_metrics_spans_and_logs(async_client, acme, guarded, spans, log_text):
    for stream in (False, True):
        response = await post_chat(async_client, acme, chat_body("chat", text=PROMPT, stream=stream))
        assert response.status_code == 200
        if stream:
            b"".join([part async for part in response.streaming_content])
    await post_chat(async_client, acme, chat_body("unknown-model", text=PROMPT))
    assert guarded.calls == 2  # the upstream accepted the secret key

    exposition = (await async_client.get("/metrics")).content.decode()
    telemetry_text = {"metrics": exposition, "spans": spans_text(spans), "logs": "\n".join(log_text)}
    assert len(log_text) == 3 and len(spans.get_finished_spans()) >= 5
    for where, text in telemetry_text.items():
        for secret in (acme.raw, UPSTREAM_SECRET, "swordfish"):
            assert secret not in text, f"{secret!r} found in {where}"
    assert acme.key.prefix in log_text[0]
    assert all(json.loads(line)["key_prefix"] == acme.key.prefix for line in log_text)
